"""Work orders: the mall opens them; merchants' agents take, answer and resolve them; customers confirm,
reopen or appeal; platform customer service decides appeals. Every action is an Update on the work order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Caller, CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow, may_act, owned_state, owner_of
from api.errors import Problem
from api.idempotency import act, start_once
from api.owners import owners
from api.routes.monitoring import PagingDep, _scope, page_of
from domain import ids
from domain.calendar_change import revision
from domain.orders import Actor
from domain.work_orders import (
    Accept,
    Acting,
    Assign,
    ChangePriority,
    Confirm,
    Decision,
    OpenWorkOrder,
    Reopen,
    Reply,
    ReplyBy,
    Resolve,
    Transfer,
    WorkOrderAction,
    WorkOrderAppeal,
    WorkOrderInput,
    WorkOrderStatus,
    WorkOrderView,
)
from readmodel import queries
from readmodel.merchants import calendar_of, get_merchant, policy_of
from readmodel.tables import Merchant
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow
from workflows.work_order import WorkOrderWorkflow

router = APIRouter(prefix="/v1/work-orders", tags=["work-orders"])
monitoring = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

WorkOrder = WorkflowHandle[WorkOrderWorkflow, WorkOrderView]

STAFF = (Role.MERCHANT, Role.MALL, Role.ADMIN)  # the merchant's agents' steps (the mall may act for them)
CUSTOMER = (Role.MALL, Role.ADMIN)  # the customer's steps, relayed by the mall
ACTORS = {Role.MERCHANT: Actor.MERCHANT, Role.MALL: Actor.MALL, Role.ADMIN: Actor.PLATFORM}
"""Who a staff step's history names: the key that called, never a field the client could set."""


async def _merchant(engine: EngineDep, merchant_id: str) -> Merchant:
    """The configured merchant ``merchant_id``; 422 if the platform never configured it (PUT /v1/merchants)."""
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
    if merchant is None:
        raise Problem("validation_error", f"merchant_id: no merchant {merchant_id} is configured")
    return merchant


def _require_agent(merchant: Merchant, assignee_id: str) -> None:
    """422 unless ``assignee_id`` is one of the merchant's agents as configured now.

    Checked here, against the merchant's current configuration, not in the workflow: an agent hired after
    the work order was opened can take it, and the workflow reads no database.
    """
    if assignee_id not in {str(agent.get("agent_id")) for agent in merchant.agents}:
        raise Problem("validation_error", f"assignee_id: {assignee_id} is not an agent of {merchant.merchant_id}")


async def _owned_by(client: Client, workflow_id: str, query: Any, merchant_id: str) -> bool:
    """Whether the workflow ``workflow_id`` exists and belongs to ``merchant_id``.

    Read from the server alone first (its ``MerchantId`` search attribute, by a describe), as
    :func:`~api.deps.owned_state` does: another merchant's id then costs what a missing one does. A workflow
    started without the attribute is asked its state.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
        owner = described.typed_search_attributes.get(sa.MERCHANT_ID)
        if owner is None:
            owner = (await handle.query(query)).merchant_id
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return bool(owner == merchant_id)


async def _require_links(client: Client, request: OpenWorkOrder) -> None:
    """422 unless the order and case the work order names are the merchant's. Another merchant's id reads
    exactly as a missing one. Their workflows are asked, not the read model, which may lag a fresh case."""
    merchant_id = request.merchant_id
    if request.order_id and not await _owned_by(client, ids.order(request.order_id), OrderWorkflow.state, merchant_id):
        raise Problem("validation_error", f"order_id: {merchant_id} has no order {request.order_id}")
    if request.case_id and not await _owned_by(
        client, ids.after_sale(request.case_id), AfterSaleWorkflow.state, merchant_id
    ):
        raise Problem("validation_error", f"case_id: {merchant_id} has no after-sales case {request.case_id}")


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
    input, so changing them later never changes a running work order behind its back. The merchant must be
    configured, the assignee one of its agents, the order and case its own (422 ``validation_error``).
    """
    merchant = await _merchant(engine, request.merchant_id)
    if request.assignee_id:
        _require_agent(merchant, request.assignee_id)
    await _require_links(client, request)
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
            calendar_revision=revision(merchant.updated_at),
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
    else:
        owners(handle).remember(handle.id, request.merchant_id)  # started here with its MerchantId
    view: WorkOrderView = await handle.query(WorkOrderWorkflow.state)
    return view


async def _visible(handle: WorkOrder, caller: Caller, work_order_id: str) -> WorkOrderView:
    """The work order's state if ``caller`` may see it; a missing one and another merchant's read the same."""
    return await owned_state(handle, WorkOrderWorkflow.state, caller)


async def _work_order(client: Client, caller: Caller, work_order_id: str) -> WorkOrder:
    """The work order if the caller may see it; 404 otherwise, whoever owns it (a describe for merchant keys)."""
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(work_order_id))
    await may_act(handle, WorkOrderWorkflow.state, caller)
    return handle


@router.get("/{work_order_id}", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def get_work_order(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The work order: status, every clock (due, consumed, paused, breached, level), history with actors."""
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(work_order_id))
    return await _visible(handle, caller, work_order_id)


async def _act(handle: WorkOrder, update: Any, body: BaseModel | None, action: WorkOrderAction) -> WorkOrderView:
    """An action on the work order; a retry of the one it applied last answers its state, also once it ended."""
    view: WorkOrderView = await act(
        handle,
        update,
        body,
        action=action.value,
        already_applied=WorkOrderWorkflow.already_applied,
        state=WorkOrderWorkflow.state,
    )
    return view


Step = TypeVar("Step", bound=Acting)


def _by(body: Step, caller: Caller) -> Step:
    """``body`` with who takes the step: the key that called. A client naming the actor itself is refused."""
    if body.actor is not None:
        raise Problem("validation_error", "actor: set from the API key, not by the client")
    return body.model_copy(update={"actor": ACTORS[caller.role]})


async def _with_agent(
    client: Client, caller: Caller, engine: EngineDep, work_order_id: str, assignee_id: str
) -> WorkOrder:
    """The work order, once ``assignee_id`` is known as an agent of its merchant (422 if not).

    Its merchant is told by the server (a describe, as for any action), not by a query of the workflow.
    """
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(work_order_id))
    merchant_id = await owner_of(handle, WorkOrderWorkflow.state, caller)
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
    if merchant is None:  # configured when the work order was opened; removed since
        raise Problem("validation_error", f"merchant_id: no merchant {merchant_id} is configured")
    _require_agent(merchant, assignee_id)
    return handle


@router.post("/{work_order_id}/assign", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def assign(
    work_order_id: str, body: Assign, client: ClientDep, caller: CallerDep, engine: EngineDep
) -> WorkOrderView:
    """Assigns an unassigned work order to one of the merchant's agents; they must accept within
    AFTERSALES_WO_ACCEPT."""
    handle = await _with_agent(client, caller, engine, work_order_id, body.assignee_id)
    return await _act(handle, WorkOrderWorkflow.assign, _by(body, caller), WorkOrderAction.ASSIGN)


@router.post("/{work_order_id}/accept", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def accept(work_order_id: str, body: Accept, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The assignee accepts the work order."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.accept, _by(body, caller), WorkOrderAction.ACCEPT)


@router.post("/{work_order_id}/reply", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def reply(work_order_id: str, body: Reply, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """A message; the assignee's first reply is the first response.

    The assignee replies with a merchant key (or platform customer service with an admin key); the mall
    relays the customer's messages only, so it can never stop the merchant's first-response clock.
    """
    if body.by is ReplyBy.CUSTOMER and caller.role is Role.MERCHANT:
        raise Problem("forbidden", "a merchant key replies as the assignee")
    if body.by is ReplyBy.ASSIGNEE and caller.role is Role.MALL:
        raise Problem(
            "forbidden", "a mall key relays the customer's messages; the assignee replies with a merchant key"
        )
    handle = await _work_order(client, caller, work_order_id)
    return await handle.execute_update(WorkOrderWorkflow.reply, _by(body, caller))


@router.post("/{work_order_id}/transfer", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def transfer(
    work_order_id: str, body: Transfer, client: ClientDep, caller: CallerDep, engine: EngineDep
) -> WorkOrderView:
    """Hands the work order to another of the merchant's agents, who must accept it in turn."""
    handle = await _with_agent(client, caller, engine, work_order_id, body.assignee_id)
    return await _act(handle, WorkOrderWorkflow.transfer, _by(body, caller), WorkOrderAction.TRANSFER)


@router.post("/{work_order_id}/wait-customer", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def wait_customer(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Waits on the customer: the first-response and resolution clocks pause."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.wait_customer, _by(Acting(), caller), WorkOrderAction.WAIT_CUSTOMER)


@router.post("/{work_order_id}/customer-replied", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def customer_replied(work_order_id: str, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer answered: the paused clocks resume with the time they had consumed."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.customer_replied, None, WorkOrderAction.CUSTOMER_REPLIED)


@router.post("/{work_order_id}/priority", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def change_priority(
    work_order_id: str, body: ChangePriority, client: ClientDep, caller: CallerDep
) -> WorkOrderView:
    """A new priority: the resolution clock takes the new budget and keeps the time consumed."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.change_priority, _by(body, caller), WorkOrderAction.PRIORITY)


@router.post("/{work_order_id}/resolve", response_model=WorkOrderView, dependencies=[allow(*STAFF)])
async def resolve(work_order_id: str, body: Resolve, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The assignee's resolution; the customer confirms, or it closes after AFTERSALES_WO_AUTO_CLOSE."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.resolve, _by(body, caller), WorkOrderAction.RESOLVE)


@router.post("/{work_order_id}/confirm", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def confirm(work_order_id: str, body: Confirm, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer confirms the resolution, with a satisfaction score 1–5."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.confirm, body, WorkOrderAction.CONFIRM)


@router.post("/{work_order_id}/reopen", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def reopen(work_order_id: str, body: Reopen, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer reopens within AFTERSALES_WO_REOPEN_WINDOW: the resolution clock starts again."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.reopen, body, WorkOrderAction.REOPEN)


@router.post("/{work_order_id}/appeal", response_model=WorkOrderView, dependencies=[allow(*CUSTOMER)])
async def appeal(work_order_id: str, body: WorkOrderAppeal, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """The customer appeals to platform customer service, which decides within AFTERSALES_WO_APPEAL_RESPONSE."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.appeal, body, WorkOrderAction.APPEAL)


@router.post("/{work_order_id}/decide", response_model=WorkOrderView, dependencies=[allow(Role.ADMIN)])
async def decide(work_order_id: str, body: Decision, client: ClientDep, caller: CallerDep) -> WorkOrderView:
    """Platform customer service decides an appealed work order, or a case's platform work order in any open
    status; a linked case settles as decided."""
    handle = await _work_order(client, caller, work_order_id)
    return await _act(handle, WorkOrderWorkflow.decide, body, WorkOrderAction.DECIDE)


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
    return page_of(WorkOrderList, WatchedWorkOrder, rows, page)
