"""Work orders: the mall opens them; merchants' agents take, answer and resolve them; customers confirm,
reopen or appeal; platform customer service decides appeals. Every action is an Update on the work order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from api.deps import Caller, CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow, owned_state
from api.errors import Problem
from api.idempotency import start_once
from api.routes.monitoring import PagingDep, _scope
from domain import ids
from domain.calendar_change import revision
from domain.work_orders import (
    Accept,
    Assign,
    ChangePriority,
    Confirm,
    Decision,
    OpenWorkOrder,
    Reopen,
    Reply,
    Resolve,
    Transfer,
    WorkOrderAppeal,
    WorkOrderInput,
    WorkOrderStatus,
    WorkOrderView,
)
from readmodel import queries
from readmodel.merchants import calendar_of, get_merchant, policy_of
from workflows import search_attributes as sa
from workflows.work_order import WorkOrderWorkflow

router = APIRouter(prefix="/v1/work-orders", tags=["work-orders"])
monitoring = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

WorkOrder = WorkflowHandle[WorkOrderWorkflow, WorkOrderView]

STAFF = (Role.MERCHANT, Role.MALL, Role.ADMIN)  # the merchant's agents' steps (the mall may act for them)
CUSTOMER = (Role.MALL, Role.ADMIN)  # the customer's steps, relayed by the mall


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkOrderView,
    dependencies=[allow(Role.MALL, Role.ADMIN)],
    responses={200: {"model": WorkOrderView, "description": "The same work order was opened before"}},
)
async def open_work_order(
    request: OpenWorkOrder, response: Response, client: ClientDep, engine: EngineDep, settings: SettingsDep
) -> WorkOrderView:
    """Opens a work order. The same body again answers 200 with its state; another body is a 409 ``duplicate``.

    The merchant's policy overrides and business calendar (holidays resolved now) travel in the workflow's
    input, so changing them later never changes a running work order behind its back.
    """
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=request.merchant_id)
    policy = policy_of(merchant, settings.policy())
    calendar = calendar_of(merchant, today=datetime.now(UTC).date())
    status_now = WorkOrderStatus.ASSIGNED if request.assignee_id else WorkOrderStatus.UNASSIGNED
    handle, created = await start_once(
        client,
        WorkOrderWorkflow.run,
        WorkOrderInput(
            request=request,
            policy=policy,
            calendar=calendar,
            calendar_revision=revision(merchant.updated_at) if merchant else 0,
            board_url=settings.public_url,
            max_history_events=settings.wo_max_history_events,
            callbacks=settings.callback_url is not None,
        ),
        id=ids.work_order(request.work_order_id),
        body=request,
        task_queue=settings.task_queue,
        named=f"work order {request.work_order_id}",
        search_attributes=sa.initial_work_order_attributes(
            merchant_id=request.merchant_id,
            order_id=request.order_id,
            status=status_now.value,
            priority=request.priority.value,
            assignee_id=request.assignee_id,
        ),
        static_summary=f"Work order {request.work_order_id} of {request.merchant_id}: {request.title}",
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    view: WorkOrderView = await handle.query(WorkOrderWorkflow.state)
    return view


async def _visible(handle: WorkOrder, caller: Caller, work_order_id: str) -> WorkOrderView:
    """The work order's state if ``caller`` may see it; a missing one and another merchant's read the same."""
    return await owned_state(handle, WorkOrderWorkflow.state, caller)


async def _work_order(client: Client, caller: Caller, work_order_id: str) -> WorkOrder:
    """The work order if the caller may see it; 404 otherwise, whoever owns it (a query for merchant keys)."""
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(work_order_id))
    if caller.role is Role.MERCHANT:
        await _visible(handle, caller, work_order_id)
    return handle


@router.get("/{work_order_id}", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def get_work_order(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The work order: status, every clock (due, consumed, paused, breached, level), history with actors."""
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(work_order_id))
    return await _visible(handle, caller, work_order_id)


@router.post("/{work_order_id}/assign", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def assign(work_order_id: str, body: Assign, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Assigns an unassigned work order; the assignee must accept within AFTERSALES_WO_ACCEPT."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.assign, body)


@router.post("/{work_order_id}/accept", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def accept(work_order_id: str, body: Accept, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The assignee accepts the work order."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.accept, body)


@router.post("/{work_order_id}/reply", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def reply(work_order_id: str, body: Reply, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """A message; the assignee's first reply is the first response."""
    if body.by.value == "customer" and caller.role is Role.MERCHANT:
        raise Problem("forbidden", "a merchant key replies as the assignee")
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.reply, body)


@router.post("/{work_order_id}/transfer", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def transfer(work_order_id: str, body: Transfer, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Hands the work order to another agent, who must accept it in turn."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.transfer, body)


@router.post("/{work_order_id}/wait-customer", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def wait_customer(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Waits on the customer: the first-response and resolution clocks pause."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.wait_customer)


@router.post("/{work_order_id}/customer-replied", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def customer_replied(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer answered: the paused clocks resume with the time they had consumed."""
    handle = await _work_order(client, caller, work_order_id)
    return await handle.execute_update(WorkOrderWorkflow.customer_replied)


@router.post("/{work_order_id}/priority", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def change_priority(
    work_order_id: str, body: ChangePriority, client: ClientDep, caller: CallerDep
) -> WorkOrderView:
    """A new priority: the resolution clock takes the new budget and keeps the time consumed."""
    handle = await _work_order(client, caller, work_order_id)
    return await handle.execute_update(WorkOrderWorkflow.change_priority, body)


@router.post("/{work_order_id}/resolve", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def resolve(work_order_id: str, body: Resolve, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The assignee's resolution; the customer confirms, or it closes after AFTERSALES_WO_AUTO_CLOSE."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.resolve, body)


@router.post("/{work_order_id}/confirm", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def confirm(work_order_id: str, body: Confirm, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer confirms the resolution, with a satisfaction score 1–5."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.confirm, body)


@router.post("/{work_order_id}/reopen", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def reopen(work_order_id: str, body: Reopen, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer reopens within AFTERSALES_WO_REOPEN_WINDOW: the resolution clock starts again."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.reopen, body)


@router.post("/{work_order_id}/appeal", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def appeal(work_order_id: str, body: WorkOrderAppeal, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer appeals to platform customer service, which decides within AFTERSALES_WO_APPEAL_RESPONSE."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.appeal, body)


@router.post("/{work_order_id}/decide", response_model=WorkOrderView, dependencies=[allow(Role.ADMIN)])
async def decide(work_order_id: str, body: Decision, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Platform customer service decides an appealed work order, or a case's platform work order in any open
    status; a linked case settles as decided."""
    return await (await _work_order(client, caller, work_order_id)).execute_update(WorkOrderWorkflow.decide, body)


class WatchedWorkOrder(BaseModel):
    """A work order on a monitoring list."""

    work_order_id: str
    merchant_id: str
    category: str
    status: str
    priority: str
    assignee_id: str | None
    escalation_level: int
    breached_clocks: list[str]
    deadline_at: datetime | None
    overdue_since: datetime | None
    opened_at: datetime


class WorkOrderList(BaseModel):
    """A page of a monitoring list of work orders: ``count`` rows on it, ``total`` in the whole list."""

    count: int
    total: int
    limit: int
    offset: int
    items: list[WatchedWorkOrder]


@monitoring.get("/overdue-work-orders", response_model=WorkOrderList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def overdue_work_orders(
    engine: EngineDep, caller: CallerDep, page: PagingDep, merchant_id: str | None = Query(default=None)
) -> WorkOrderList:
    """Open work orders with a clock past its budget, the longest overdue first."""
    rows = await asyncio.to_thread(
        queries.overdue_work_orders, engine, merchant_id=_scope(caller, merchant_id), **page.model_dump()
    )
    return WorkOrderList(
        count=len(rows),
        total=rows.total,
        limit=page.limit,
        offset=page.offset,
        items=[WatchedWorkOrder.model_validate(row, from_attributes=True) for row in rows],
    )
