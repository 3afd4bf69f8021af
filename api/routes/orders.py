"""Orders: the mall reports paid orders; merchants ship; carriers move parcels; admins extend windows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import field_validator
from temporalio.client import WorkflowHandle

from api.deps import CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow, may_act, owned_state
from api.idempotency import act, start_once
from api.owners import owners
from domain import ids
from domain.orders import (
    DeadlineShift,
    LogisticsEvent,
    OrderView,
    OrderWatchInput,
    PlaceOrder,
    Shipment,
    WindowExtension,
    check_paid_at,
    opening_view,
)
from readmodel.merchants import get_merchant, policy_of
from workflows import search_attributes as sa
from workflows.order import LOGISTICS, SHIPMENT, OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])


class ReportedOrder(PlaceOrder):
    """A paid order as the mall reports it: paid within the last year, not in the future (by this API's clock).

    The check against the clock is made here, at the door, and not in :class:`PlaceOrder`, which the order's
    workflow decodes again on every replay, long after "now" has moved on.
    """

    @field_validator("paid_at")
    @classmethod
    def _recently_paid(cls, paid_at: datetime) -> datetime:
        return check_paid_at(paid_at, datetime.now(UTC))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderView,
    dependencies=[allow(Role.MALL)],
    responses={200: {"model": OrderView, "description": "The same order was reported before"}},
)
async def report_order(
    order: ReportedOrder, response: Response, client: ClientDep, engine: EngineDep, settings: SettingsDep
) -> OrderView:
    """Starts the watch of a paid order. Reporting the same order again answers 200 with its state.

    The same order is the same body, the same ``paid_at`` instant whatever its offset; another body under
    the same id is a 409 ``duplicate``.
    """
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=order.merchant_id)
    policy = policy_of(merchant, settings.policy())
    watch = OrderWatchInput(
        order=order,
        policy=policy,
        board_url=settings.public_url,
        callbacks=settings.callback_url is not None,
        max_history_events=settings.order_max_history_events,
        case_max_history_events=settings.case_max_history_events,
    )
    opening = opening_view(watch)
    handle, created = await start_once(
        client,
        OrderWorkflow.run,
        watch,
        id=ids.order(order.order_id),
        body=order,
        task_queue=settings.task_queue,
        named=f"order {order.order_id}",
        search_attributes=sa.initial_order_attributes(order, ship_deadline_at=opening.ship_deadline_at),
        static_summary=f"Order {order.order_id} of {order.merchant_id}",
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    else:
        owners(handle).remember(handle.id, order.merchant_id)  # started here with its MerchantId
    if created and opening.ship_deadline_at > datetime.now(UTC):
        # A new watch shows what it was started with: answered without a query round trip to the worker.
        return opening
    # A repeat shows the order as it stands; an order reported past its ship deadline is overdue at once.
    view: OrderView = await handle.query(OrderWorkflow.state)
    return view


async def _order(client: ClientDep, caller: CallerDep, order_id: str) -> WorkflowHandle[OrderWorkflow, OrderView]:
    """The watch of ``order_id`` if the caller may see it; a 404 otherwise, whoever owns it.

    Only a merchant key costs a round trip to check ownership (a describe, see :func:`~api.deps.may_act`);
    for the others an unknown order surfaces as Temporal's not-found on the call that follows.
    """
    handle = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order_id))
    await may_act(handle, OrderWorkflow.state, caller)
    return handle


async def _act(handle: WorkflowHandle[OrderWorkflow, OrderView], update: Any, body: Any, action: str) -> OrderView:
    view: OrderView = await act(
        handle, update, body, action=action, already_applied=OrderWorkflow.already_applied, state=OrderWorkflow.state
    )
    return view


@router.get("/{order_id}", response_model=OrderView, dependencies=[allow(Role.MALL, Role.MERCHANT, Role.ADMIN)])
async def get_order(order_id: str, client: ClientDep, caller: CallerDep) -> OrderView:
    """The order as it stands: status, deadlines, lines and history."""
    handle = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order_id))
    return await owned_state(handle, OrderWorkflow.state, caller)


@router.post("/{order_id}/shipment", response_model=OrderView, dependencies=[allow(Role.MERCHANT, Role.MALL)])
async def ship_order(order_id: str, shipment: Shipment, client: ClientDep, caller: CallerDep) -> OrderView:
    """The merchant shipped the order: the ship clock stops and the logistics watch begins.

    The same shipment again (a retry) answers the order; another one once shipped is a 409.
    """
    handle = await _order(client, caller, order_id)
    return await _act(handle, OrderWorkflow.ship, shipment, SHIPMENT)


@router.post("/{order_id}/logistics-events", response_model=OrderView, dependencies=[allow(Role.MALL)])
async def record_logistics(order_id: str, event: LogisticsEvent, client: ClientDep, caller: CallerDep) -> OrderView:
    """A carrier's tracking update for the order's parcel; the last one again (a retry) changes nothing."""
    handle = await _order(client, caller, order_id)
    return await _act(handle, OrderWorkflow.record_logistics, event, LOGISTICS)


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
