"""The callback catalogue names events the workflows really record, and data carries nothing personal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.callbacks import TYPES, callback_type
from domain.orders import LogisticsStatus
from domain.pickups import CourierStatus

ROOT = Path(__file__).parents[2]
SOURCES = {  # a workflow's modules: its own and its parts (workflows/work_order_timers.py …)
    "order": "workflows/order*.py",
    "case": "workflows/aftersale*.py",
    "pickup": "workflows/pickup.py",
    "work_order": "workflows/work_order*.py",
}
# Events whose names a workflow builds from a status: return_{logistics status}, courier_{courier status}.
BUILT = {
    "case": {f"return_{status.value}" for status in LogisticsStatus},
    "pickup": {f"courier_{status.value}" for status in CourierStatus},
}


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_every_event_in_the_catalogue_is_one_its_workflow_records(kind: str) -> None:
    source = "\n".join(path.read_text() for path in sorted(ROOT.glob(SOURCES[kind])))
    recorded = set(re.findall(r'"([a-z_]+)"', source)) | BUILT.get(kind, set())
    planned = {"deadline_moved"}  # platform-wide deadline shifts of work orders are being added
    assert sorted(set(TYPES[kind]) - recorded - planned) == []


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_every_callback_type_is_prefixed_with_its_kind(kind: str) -> None:
    assert all(type_.startswith(f"{kind}.") for type_ in TYPES[kind].values())


def test_reminders_and_failures_are_not_called_back() -> None:
    for kind in TYPES:
        for event in ("reminder_sent", "reminder", "notification_failed", "callback_failed", "customer_message"):
            assert callback_type(kind, event) is None
    assert callback_type("order", "ship_overdue") == "order.overdue"
    assert callback_type("case", "refund_issued") == "case.refunded"
    assert callback_type("work_order", "escalated") == "work_order.breached"
