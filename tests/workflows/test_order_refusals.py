"""Illegal actions on an order are refused by Update validators: synchronously, and without a trace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.orders import DeadlineShift, LogisticsEvent, OrderView, Shipment, WindowExtension
from tests.workflows.test_order import start_order
from workflows.order import OrderWorkflow


async def refused_code(handle: WorkflowHandle[OrderWorkflow, OrderView], update: object, arg: object) -> str:
    """Sends an Update that must be refused; returns the refusal's code."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg)  # type: ignore[call-overload]
    assert isinstance(refused.value.cause, ApplicationError)
    return str(refused.value.cause.type)


async def accepted_updates(handle: WorkflowHandle[OrderWorkflow, OrderView]) -> int:
    history = await handle.fetch_history()
    return sum(
        1 for event in history.events if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_a_second_shipment_is_refused_and_changes_nothing(
    dev_env: WorkflowEnvironment, dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(dev_env, dev_client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF1"))
    before = await handle.query(OrderWorkflow.state)

    assert await refused_code(handle, OrderWorkflow.ship, Shipment(carrier="YTO", tracking_no="YT2")) == "invalid_state"

    assert await handle.query(OrderWorkflow.state) == before
    assert await accepted_updates(handle) == 1  # the refusal left no event in history


async def test_tracking_updates_and_extensions_need_the_right_state(
    dev_env: WorkflowEnvironment, dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(dev_env, dev_client, settings, merchant_id)
    now = await dev_env.get_current_time()

    assert await refused_code(handle, OrderWorkflow.extend_window, WindowExtension(days=7)) == "invalid_state"
    delivered = LogisticsEvent(status="delivered", at=now)
    assert await refused_code(handle, OrderWorkflow.record_logistics, delivered) == "invalid_state"

    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF2"))
    await handle.execute_update(OrderWorkflow.record_logistics, delivered)
    moving = LogisticsEvent(status="in_transit", at=now + timedelta(minutes=1))
    assert await refused_code(handle, OrderWorkflow.record_logistics, moving) == "invalid_state"
    shift = DeadlineShift(hours=24, reason="no clock is running")
    assert await refused_code(handle, OrderWorkflow.shift_deadlines, shift) == "invalid_state"
    assert await accepted_updates(handle) == 2
