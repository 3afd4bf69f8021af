"""Helpers of the after-sales stories: an order to make requests on, and the case that follows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain import ids
from domain.cases import AfterSaleRequest, CaseView
from domain.orders import LogisticsEvent, LogisticsStatus, OrderView, OrderWatchInput, Shipment
from tests.factories import place_order
from tests.waiting import until
from tests.workflows.conftest import remember
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow

T = TypeVar("T")
WORKFLOW_EXECUTION_STATUS_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
Order = WorkflowHandle[OrderWorkflow, OrderView]
Case = WorkflowHandle[AfterSaleWorkflow, CaseView]

ALL_LINES = [{"line_id": "L1", "quantity": 1}, {"line_id": "L2", "quantity": 2}]


async def paid_order(
    client: Client,
    settings: Settings,
    merchant_id: str,
    paid_at: datetime,
    *,
    case_max_history_events: int = 5000,
    **policy: Any,
) -> Order:
    """A paid order of a kettle (L1, ¥199) and two insured mugs (L2, ¥35 each), watched; its cases continue
    as new past ``case_max_history_events`` history events."""
    order = place_order(paid_at=paid_at, merchant_id=merchant_id)
    watch = OrderWatchInput(
        order=order,
        policy=settings.policy().model_copy(update=policy),
        case_max_history_events=case_max_history_events,
    )
    handle = await client.start_workflow(
        OrderWorkflow.run,
        watch,
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    remember(settings.task_queue, handle.id)
    return handle


async def delivered_order(
    client: Client,
    settings: Settings,
    merchant_id: str,
    now: datetime,
    *,
    case_max_history_events: int = 5000,
    **policy: Any,
) -> Order:
    """An order shipped and delivered at ``now``: its after-sales window is open."""
    order = await paid_order(
        client, settings, merchant_id, now, case_max_history_events=case_max_history_events, **policy
    )
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    await order.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now))
    return order


async def open_case(
    client: Client,
    settings: Settings,
    order: Order,
    kind: str,
    lines: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Case:
    """Asks for after-sales on ``order`` and answers the case's handle."""
    state = await order.query(OrderWorkflow.state)
    case_id = f"C-{state.order_id}-{len(state.history)}"
    request = AfterSaleRequest.model_validate(
        {
            "case_id": case_id,
            "order_id": state.order_id,
            "kind": kind,
            "lines": lines or ALL_LINES,
            "reason": "不想要了",
            **fields,
        }
    )
    opened = await order.execute_update(OrderWorkflow.request_after_sale, request)
    workflow_id = ids.after_sale(opened.case_id)
    remember(settings.task_queue, workflow_id)
    case = client.get_workflow_handle_for(AfterSaleWorkflow.run, workflow_id)
    await started(case)
    return case


async def started(handle: WorkflowHandle[Any, Any]) -> None:
    """Waits until a workflow a workflow started has run its first task.

    The order answers a request before it has started the case (in the background), so the case may not
    exist yet. The time-skipping server holds a query to a workflow whose first task is still running until
    the query times out; the dev server and production servers answer it once the task is done.
    """

    async def first_task_done() -> bool:
        try:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    return True
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        return False

    await until(first_task_done)


async def in_after_sales(order: Order, line_id: str, quantity: int) -> bool:
    """Whether ``quantity`` of ``line_id`` is held by open cases of ``order``."""
    state = await order.query(OrderWorkflow.state)
    return any(line.line_id == line_id and line.in_after_sales == quantity for line in state.lines)


def events(view: CaseView | OrderView) -> list[str]:
    """The event names of a history, in order."""
    return [entry.event for entry in view.history]


async def outcome(handle: WorkflowHandle[Any, T]) -> T:
    """The workflow's result once it has completed by itself (tests first sleep past its deadlines).

    The completion is awaited by polling, not by the result's long poll, which the time-skipping server
    sometimes ends early with no completion event.
    """
    service = handle._client.workflow_service
    request = DescribeWorkflowExecutionRequest(
        namespace=handle._client.namespace,
        execution=WorkflowExecution(workflow_id=handle.id),
    )

    async def closed() -> bool:
        described = await service.describe_workflow_execution(request)
        return described.workflow_execution_info.status != WORKFLOW_EXECUTION_STATUS_RUNNING

    try:
        await until(closed)
    except AssertionError as stuck:
        # Say what the workflow still waits for, so a stuck story explains itself in the failure.
        described = await service.describe_workflow_execution(request)
        activities, children = list(described.pending_activities), list(described.pending_children)
        raise AssertionError(f"{handle.id} did not close: activities {activities}, children {children}") from stuck
    return await handle.result()


async def idle(*handles: WorkflowHandle[Any, Any]) -> None:
    """Waits until no activity of these workflows is running (the time-skipping server stops its clock
    while one is outstanding, so a worker must not vanish under one)."""
    for handle in handles:
        service = handle._client.workflow_service
        request = DescribeWorkflowExecutionRequest(
            namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )

        async def no_activity(request: DescribeWorkflowExecutionRequest = request, service: Any = service) -> bool:
            return not (await service.describe_workflow_execution(request)).pending_activities

        await until(no_activity)
