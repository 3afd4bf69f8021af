"""Orders: the mall reports paid orders; merchants ship; carriers move parcels; admins extend windows."""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import APIRouter, Response, status
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow, owned_state
from api.errors import Problem
from domain import ids
from domain.orders import (
    DeadlineShift,
    LogisticsEvent,
    OrderView,
    OrderWatchInput,
    PlaceOrder,
    Shipment,
    WindowExtension,
)
from domain.policy import with_overrides
from readmodel.merchants import get_merchant
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])

REQUEST_HASH = "request_sha256"


def _fingerprint(order: PlaceOrder) -> str:
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderView,
    dependencies=[allow(Role.MALL)],
    responses={200: {"model": OrderView, "description": "The same order was reported before"}},
)
async def report_order(
    order: PlaceOrder, response: Response, client: ClientDep, engine: EngineDep, settings: SettingsDep
) -> OrderView:
    """Starts the watch of a paid order. Reporting the same order again answers 200 with its state."""
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=order.merchant_id)
    policy = with_overrides(settings.policy(), merchant.policy if merchant else {})
    fingerprint = _fingerprint(order)
    try:
        handle: WorkflowHandle[OrderWorkflow, OrderView] = await client.start_workflow(
            OrderWorkflow.run,
            OrderWatchInput(order=order, policy=policy, board_url=settings.public_url),
            id=ids.order(order.order_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={REQUEST_HASH: fingerprint},
            search_attributes=sa.initial_order_attributes(order, ship_deadline_at=order.paid_at + policy.ship_deadline),
            static_summary=f"Order {order.order_id} of {order.merchant_id}",
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order.order_id))
        memo = await (await handle.describe()).memo()
        if memo.get(REQUEST_HASH) != fingerprint:
            raise Problem("duplicate", f"order {order.order_id} was reported with a different body") from None
        response.status_code = status.HTTP_200_OK
    return await handle.query(OrderWorkflow.state)


async def _order(client: ClientDep, caller: CallerDep, order_id: str) -> WorkflowHandle[OrderWorkflow, OrderView]:
    """The watch of ``order_id`` if the caller may see it; a 404 otherwise, whoever owns it.

    Only a merchant key costs a query to check ownership; for the others an unknown order surfaces as
    Temporal's not-found on the call that follows.
    """
    handle = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order_id))
    if caller.role is Role.MERCHANT:
        await owned_state(handle, OrderWorkflow.state, caller)
    return handle


@router.get("/{order_id}", response_model=OrderView, dependencies=[allow(Role.MALL, Role.MERCHANT, Role.ADMIN)])
async def get_order(order_id: str, client: ClientDep, caller: CallerDep) -> OrderView:
    """The order as it stands: status, deadlines, lines and history."""
    handle = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order_id))
    return await owned_state(handle, OrderWorkflow.state, caller)


@router.post("/{order_id}/shipment", response_model=OrderView, dependencies=[allow(Role.MERCHANT, Role.MALL)])
async def ship_order(order_id: str, shipment: Shipment, client: ClientDep, caller: CallerDep) -> OrderView:
    """The merchant shipped the order: the ship clock stops and the logistics watch begins."""
    handle = await _order(client, caller, order_id)
    return await handle.execute_update(OrderWorkflow.ship, shipment)


@router.post("/{order_id}/logistics-events", response_model=OrderView, dependencies=[allow(Role.MALL)])
async def record_logistics(order_id: str, event: LogisticsEvent, client: ClientDep, caller: CallerDep) -> OrderView:
    """A carrier's tracking update for the order's parcel."""
    handle = await _order(client, caller, order_id)
    return await handle.execute_update(OrderWorkflow.record_logistics, event)


@router.post("/{order_id}/after-sales-window/extensions", response_model=OrderView, dependencies=[allow(Role.ADMIN)])
async def extend_window(order_id: str, extension: WindowExtension, client: ClientDep, caller: CallerDep) -> OrderView:
    """Extends the order's after-sales window by ``days`` (default AFTERSALES_EXTENSION), also once closed."""
    handle = await _order(client, caller, order_id)
    return await handle.execute_update(OrderWorkflow.extend_window, extension)


@router.post("/{order_id}/deadline-shifts", response_model=OrderView, dependencies=[allow(Role.ADMIN)])
async def shift_deadlines(order_id: str, shift: DeadlineShift, client: ClientDep, caller: CallerDep) -> OrderView:
    """Moves the order's running deadline by ``hours``; its timers follow at once."""
    handle = await _order(client, caller, order_id)
    return await handle.execute_update(OrderWorkflow.shift_deadlines, shift)
