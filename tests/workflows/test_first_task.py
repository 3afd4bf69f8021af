"""An Update delivered with a workflow's start runs in its first task, before ``run()`` begins."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from config.settings import Settings
from domain import ids
from domain.orders import OrderStatus, OrderWatchInput, Shipment
from tests.factories import place_order
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow


async def test_a_shipment_in_the_first_task_still_follows_the_payment_in_the_history(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    client = dev_client
    order = place_order(paid_at=datetime.now(UTC), merchant_id=merchant_id)
    # Update-with-start: the server creates the watch and admits the shipment at once, so both reach the worker
    # in one first task (no wall-clock wait for an Update to arrive before the worker polls).
    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy()),
        id=ids.order(order.order_id),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    shipped = await client.execute_update_with_start_workflow(
        OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF1"), start_workflow_operation=start
    )
    handle = await start.workflow_handle()
    view = await handle.query(OrderWorkflow.state)
    await handle.terminate("test over")
    assert shipped.status is OrderStatus.SHIPPED
    assert [entry.event for entry in view.history][:2] == ["order_paid", "shipped"]
    # The premise: the shipment was accepted by the order's very first workflow task, before run() began.
    kinds = [event.event_type for event in (await handle.fetch_history()).events]
    accepted = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert kinds[:accepted].count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
