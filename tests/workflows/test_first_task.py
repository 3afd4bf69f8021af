"""An Update delivered with a workflow's start runs in its first task, before ``run()`` begins."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.orders import OrderStatus, OrderWatchInput, Shipment
from tests.factories import place_order
from workers.main import build_worker
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow


async def test_a_shipment_in_the_first_task_still_follows_the_payment_in_the_history(
    ts_env: WorkflowEnvironment, settings: Settings, merchant_id: str, engine: Engine
) -> None:
    client: Client = ts_env.client
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id)
    # No worker yet: the start and the shipment wait on the server and reach the worker in one first task.
    handle = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy()),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    shipment = asyncio.create_task(handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF1")))
    await asyncio.sleep(0.5)  # for the Update to reach the server; the history below shows that it did
    async with build_worker(client, settings, engine=engine) as worker, worker:
        shipped = await shipment
        view = await handle.query(OrderWorkflow.state)
    assert shipped.status is OrderStatus.SHIPPED
    assert [entry.event for entry in view.history][:2] == ["order_paid", "shipped"]
    # The premise: the shipment was accepted by the order's very first workflow task, before run() began.
    kinds = [event.event_type for event in (await handle.fetch_history()).events]
    accepted = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert kinds[:accepted].count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
