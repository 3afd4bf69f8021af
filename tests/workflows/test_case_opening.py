"""A case's opening view: what the order answers a request with is what the case shows once it has started.

``POST /v1/after-sales`` answers the order's Update, whose view of the new case (:func:`domain.cases.opening_view`)
is computed before the case's workflow exists; the case then opens from the same state and records the same
entries at the same instant. Compared here with the case's first query, for every kind and for cooling-off.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import AfterSaleRequest, CaseStatus, CaseView
from domain.orders import Address
from tests.factories import place_order
from tests.peers.partners import PartnersPeer
from tests.workflows.cases import ALL_LINES, Case, Order, delivered_order, paid_order, started
from tests.workflows.conftest import remember
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
NEW_ADDRESS = {"name": "李四", "phone": "13900139000", "address": "杭州市西湖区文三路 1 号"}


async def request(client: Client, settings: Settings, order: Order, kind: str, **fields: Any) -> tuple[CaseView, Case]:
    """Asks ``order`` for a case; answers what the order answered, and the case once its first task has run."""
    order_id = (await order.query(OrderWorkflow.state)).order_id
    asked = AfterSaleRequest.model_validate(
        {"case_id": f"C-{order_id}-{kind}", "order_id": order_id, "kind": kind, "reason": "不合适", **fields}
    )
    opened = await order.execute_update(OrderWorkflow.request_after_sale, asked)
    case = client.get_workflow_handle_for(AfterSaleWorkflow.run, ids.after_sale(asked.case_id))
    remember(settings.task_queue, case.id)
    await started(case)
    return opened, case


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("refund_only", {"lines": [{"line_id": "L1", "quantity": 1}]}),
        ("return_refund", {"lines": [{"line_id": "L2", "quantity": 2}]}),
        ("exchange", {"lines": [{"line_id": "L2", "quantity": 1}]}),
        ("exchange", {"lines": [{"line_id": "L1", "quantity": 1}], "new_address": NEW_ADDRESS}),
    ],
    ids=["refund_only", "return_refund", "exchange", "exchange_to_a_new_address"],
)
async def test_the_order_answers_a_request_with_what_the_case_shows_once_started(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    kind: str,
    fields: dict[str, Any],
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    opened, case = await request(client, settings, order, kind, **fields)

    assert await case.query(AfterSaleWorkflow.state) == opened
    assert opened.status is CaseStatus.PENDING_REVIEW
    assert opened.deadline_at == opened.opened_at + timedelta(hours=48)
    assert [(entry.event, entry.at) for entry in opened.history] == [("case_opened", opened.opened_at)]
    if kind == "exchange":  # the replacement goes to the new address, or where the order went
        expected = fields.get("new_address", place_order(paid_at=opened.opened_at).shipping_address.model_dump())
        assert opened.replacement_address == Address.model_validate(expected)
    else:
        assert opened.replacement_address is None
    # Opened when its order accepted it: the order's entry and the case's opening are one instant.
    requested = (await order.query(OrderWorkflow.state)).history[-1]
    assert (requested.event, requested.at) == ("after_sale_requested", opened.opened_at)
    # The Web UI shows the opening's status and deadline from the start: the first task has nothing to upsert.
    shown = (await case.describe()).typed_search_attributes
    assert (shown.get(sa.CASE_STATUS), shown.get(sa.DEADLINE_AT)) == (opened.status.value, opened.deadline_at)
    assert [event async for event in case.fetch_history_events() if event.event_type == UPSERT] == []


async def test_a_cooling_off_refund_is_answered_refunding_as_the_case_shows_it(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    partners.stall_next(3)  # the refund under way while the case is asked: the first task's view, not the next
    opened, case = await request(client, settings, order, "refund_only", lines=ALL_LINES)

    assert await case.query(AfterSaleWorkflow.state) == opened
    assert (opened.status, opened.auto_decided, opened.deadline_at) == (CaseStatus.REFUNDING, True, None)
    assert [entry.event for entry in opened.history] == ["case_opened", "auto_refunded_cooling_off"]
