"""Saved histories replay against the current workflow code: a breaking change fails here first.

A history is recorded on purpose with ``AFTERSALES_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py``;
until the first release is tagged a re-recording is allowed, said so in its commit message. Afterwards a
change that breaks replay goes behind ``workflow.patched``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from config.settings import Settings
from domain import ids
from domain.orders import LogisticsEvent, OrderWatchInput, Shipment, WindowExtension
from tests.factories import place_order
from workers.main import WORKFLOWS
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def saved_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", saved_histories(), ids=lambda path: path.stem)
async def test_saved_history_replays_with_the_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240  (a small local file)
    await Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter).replay_workflow(history)


def test_every_workflow_type_has_a_saved_history() -> None:
    recorded = {path.name.split("-")[0] for path in saved_histories()}
    assert {workflow.__name__ for workflow in WORKFLOWS} <= recorded


@pytest.mark.skipif(not os.environ.get("AFTERSALES_RECORD_HISTORIES"), reason="records only when asked")
async def test_record_order_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """The order story every step of which a replay must reproduce: reminders, overdue, shipment,
    a stall, delivery, an extension, the window closing and the grace running out."""
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id, order_id="O-history")
    handle = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy(), board_url="http://board.test"),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    await ts_env.sleep(timedelta(hours=73))
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF-H1"))
    await ts_env.sleep(timedelta(days=4))
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now))
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=now))
    await handle.execute_update(OrderWorkflow.extend_window, WindowExtension(days=2))
    await handle.result()
    history = await handle.fetch_history()
    (HISTORIES / "OrderWorkflow-full-story.json").write_text(history.to_json())
