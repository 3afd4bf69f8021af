"""After-sales cases and their door-to-door pickups.

A request becomes an Update on the order's watch, whose validator decides (unknown line, quantity left,
window closed); an accepted one is answered with the case as it opens while the order starts the case's
workflow. Every later step is an Update on the case.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Caller, CallerDep, ClientDep, EngineDep, Role, allow, may_act, owned_state
from api.errors import Problem, refusal_of, workflow_closed
from api.idempotency import act
from api.starting import once_started, starting
from domain import ids
from domain.cases import (
    Action,
    AfterSaleRequest,
    Appeal,
    CaseView,
    DisputeDecision,
    OfflineRefund,
    ParcelShipment,
    Receipt,
    Rejection,
)
from domain.orders import DeadlineShift, LogisticsEvent
from domain.pickups import CourierEvent, PickupPayment, PickupRequest, PickupView
from domain.retries import Attempt
from readmodel.queries import order_of_case
from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow, request_digest
from workflows.order import OrderWorkflow
from workflows.pickup import COURIER, PAYMENT, PickupWorkflow

router = APIRouter(prefix="/v1/after-sales", tags=["after-sales"])
pickups = APIRouter(prefix="/v1/pickups", tags=["pickups"])

Case = WorkflowHandle[AfterSaleWorkflow, CaseView]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseView,
    dependencies=[allow(Role.MALL)],
    responses={200: {"model": CaseView, "description": "The same request was made before"}},
)
async def request_after_sale(
    request: AfterSaleRequest, response: Response, client: ClientDep, engine: EngineDep
) -> CaseView:
    """Asks for a refund, a return or an exchange on an order; the order's watch accepts or refuses it.

    Refusals: unknown order 404 ``not_found``; unknown line 422 ``validation_error``; more than is left
    409 ``quantity_exceeds``; window over 409 ``window_closed``; a case id used before, on any order and
    however long ago, with another request 409 ``duplicate``. The same request again answers 200.

    An accepted request is answered (201) with the case as it opens, which the order's watch computes from the
    request (:func:`~domain.cases.opening_view`) in the Update's one workflow task; the case's workflow starts a
    moment later, and a call on it right after the 201 waits for that (:mod:`api.starting`).

    A case id names one case forever. Before the order reserves anything, the id is looked for in the read
    model (which remembers it beyond Temporal's retention) and on the server (a describe of the case's
    workflow, no worker involved; both at once): known on another order, or with another body, it is a 409;
    the same request again is a 200. What these checks cannot see is a new id being used by two orders within
    the same few milliseconds: both orders accept, one case starts, and the other order gives its reservation
    back and records ``after_sale_refused`` in its history. Its caller had a 201: a read of the case then shows
    the other order's ``order_id``, and the same request again is a 409 ``duplicate``.
    """
    case = client.get_workflow_handle_for(AfterSaleWorkflow.run, ids.after_sale(request.case_id))
    opened_on, opened_with = await asyncio.gather(
        asyncio.to_thread(order_of_case, engine, workflow_id=case.id), _memo(case)
    )
    if opened_on is not None and opened_on != request.order_id:
        raise Problem("duplicate", f"case {request.case_id} was opened on another order")
    if opened_with is not None:  # asked again: the same request answers 200, another is a 409
        await _same_request(case, request, opened_with)
        return await _again(case, response)
    order = client.get_workflow_handle_for(OrderWorkflow.run, ids.order(request.order_id))
    try:
        view = await order.execute_update(OrderWorkflow.request_after_sale, request)
    except WorkflowUpdateFailedError as error:
        if refusal_of(error).code != "duplicate":
            raise
        await _same_request(case, request)  # asked twice at once: the case may still be starting
        return await _again(case, response)
    except RPCError as error:
        if not workflow_closed(error):
            raise
        opened_with = await _memo(case)
        if opened_with is None:
            raise Problem("window_closed", f"the watch of order {request.order_id} is over") from None
        await _same_request(case, request, opened_with)
        return await _again(case, response)
    starting(case).accepted(case.id)
    return view


async def _again(case: Case, response: Response) -> CaseView:
    """The answer to a request made before: the case as it stands, 200."""
    response.status_code = status.HTTP_200_OK
    return await case.query(AfterSaleWorkflow.state)


async def _same_request(case: Case, request: AfterSaleRequest, opened_with: str | dict[str, Any] | None = None) -> None:
    """Refuses (409 ``duplicate``) unless the case was opened with this very request.

    The order refuses a known case id at once, possibly while it is still starting the case; so a case
    not visible yet is looked for again for a moment before the answer is given.
    """
    if opened_with is None:
        opened_with = await _memo(case)
    for _ in range(20):
        if opened_with is not None:
            break
        await asyncio.sleep(0.1)
        opened_with = await _memo(case)
    # A case opened before memos held only a digest has the whole request there.
    if isinstance(opened_with, dict):
        opened_with = ids.fingerprint(AfterSaleRequest.model_validate(opened_with))
    if opened_with != request_digest(request):
        raise Problem("duplicate", f"case {request.case_id} was requested with a different body")


async def _memo(case: Case) -> str | dict[str, Any] | None:
    """The digest of the request a case was opened with, or None if there is no such case."""
    try:
        description = await case.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await description.memo()
    request: str | dict[str, Any] = memo.get(REQUEST_MEMO, {})
    return request


async def _case(client: Client, caller: Caller, case_id: str) -> Case:
    """The case if the caller may see it; 404 otherwise, whoever owns it (a describe for merchant keys only).

    Every call on a case waits for one this API accepted a moment ago to have started (:mod:`api.starting`).
    """
    handle = client.get_workflow_handle_for(AfterSaleWorkflow.run, ids.after_sale(case_id))
    await once_started(handle, lambda: may_act(handle, AfterSaleWorkflow.state, caller))
    return handle


async def _act(case: Case, update: Any, body: BaseModel | None, action: Action) -> CaseView:
    """An action on the case; a retry of one it applied is answered with the case, also once it has ended."""
    view: CaseView = await once_started(
        case,
        lambda: act(
            case,
            update,
            body,
            action=action,
            already_applied=AfterSaleWorkflow.already_applied,
            state=AfterSaleWorkflow.state,
        ),
    )
    return view


@router.get("/{case_id}", response_model=CaseView, dependencies=[allow(Role.MALL, Role.MERCHANT, Role.ADMIN)])
async def get_case(case_id: str, client: ClientDep, caller: CallerDep) -> CaseView:
    """The case as it stands: status, deadline, refund, and its history with who did what."""
    handle = client.get_workflow_handle_for(AfterSaleWorkflow.run, ids.after_sale(case_id))
    return await once_started(handle, lambda: owned_state(handle, AfterSaleWorkflow.state, caller))


@router.post("/{case_id}/approve", response_model=CaseView, dependencies=[allow(Role.MERCHANT)])
async def approve(case_id: str, client: ClientDep, caller: CallerDep) -> CaseView:
    """The merchant approves: refund-only is refunded, a return waits for the goods."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.approve, None, Action.APPROVE)


@router.post("/{case_id}/reject", response_model=CaseView, dependencies=[allow(Role.MERCHANT)])
async def reject(case_id: str, rejection: Rejection, client: ClientDep, caller: CallerDep) -> CaseView:
    """The merchant rejects, with a reason; the customer may appeal within AFTERSALES_APPEAL_WINDOW."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.reject, rejection, Action.REJECT)


@router.post("/{case_id}/cancel", response_model=CaseView, dependencies=[allow(Role.MALL)])
async def cancel(case_id: str, client: ClientDep, caller: CallerDep) -> CaseView:
    """The customer withdraws: refund-only until the merchant decides, returns until the goods are sent."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.cancel, None, Action.CANCEL)


@router.post("/{case_id}/return-shipment", response_model=CaseView, dependencies=[allow(Role.MALL)])
async def return_shipment(case_id: str, shipment: ParcelShipment, client: ClientDep, caller: CallerDep) -> CaseView:
    """The customer sent the goods back (carrier and tracking number)."""
    return await _act(
        await _case(client, caller, case_id), AfterSaleWorkflow.ship_return, shipment, Action.RETURN_SHIPMENT
    )


@router.post(
    "/{case_id}/pickup",
    status_code=status.HTTP_201_CREATED,
    response_model=PickupView,
    dependencies=[allow(Role.MALL)],
    responses={200: {"model": PickupView, "description": "The same booking was made before"}},
)
async def book_pickup(
    case_id: str, request: PickupRequest, response: Response, client: ClientDep, caller: CallerDep
) -> PickupView:
    """Books a door-to-door pickup of the return; the waybill reaches the case by itself.

    The same booking again (a retry) answers the pickup with 200; another while one is booked is a 409.
    """
    case = await _case(client, caller, case_id)
    try:
        await once_started(case, lambda: case.execute_update(AfterSaleWorkflow.book_pickup, request))
    except WorkflowUpdateFailedError as error:
        retry = Attempt.of(Action.PICKUP, request)
        if refusal_of(error).code != "invalid_state" or not await case.query(AfterSaleWorkflow.already_applied, retry):
            raise
        response.status_code = status.HTTP_200_OK
    return await client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(case_id)).query(PickupWorkflow.state)


@router.post("/{case_id}/logistics-events", response_model=CaseView, dependencies=[allow(Role.MALL)])
async def return_logistics(case_id: str, event: LogisticsEvent, client: ClientDep, caller: CallerDep) -> CaseView:
    """A tracking update of the return parcel; ``delivered`` starts the merchant's receipt clock."""
    return await _act(
        await _case(client, caller, case_id), AfterSaleWorkflow.record_return_logistics, event, Action.RETURN_LOGISTICS
    )


@router.post("/{case_id}/receipt", response_model=CaseView, dependencies=[allow(Role.MERCHANT)])
async def receipt(case_id: str, answer: Receipt, client: ClientDep, caller: CallerDep) -> CaseView:
    """The merchant accepts the returned goods (refund or replacement follows) or refuses them (dispute)."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.confirm_receipt, answer, Action.RECEIPT)


@router.post("/{case_id}/replacement-shipment", response_model=CaseView, dependencies=[allow(Role.MERCHANT)])
async def replacement_shipment(
    case_id: str, shipment: ParcelShipment, client: ClientDep, caller: CallerDep
) -> CaseView:
    """The merchant dispatched the replacement of an exchange (to the new address, if one was given)."""
    return await _act(
        await _case(client, caller, case_id), AfterSaleWorkflow.ship_replacement, shipment, Action.REPLACEMENT_SHIPMENT
    )


@router.post("/{case_id}/confirm", response_model=CaseView, dependencies=[allow(Role.MALL)])
async def confirm(case_id: str, client: ClientDep, caller: CallerDep) -> CaseView:
    """The customer confirms the replacement arrived."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.confirm, None, Action.CONFIRM)


@router.post("/{case_id}/appeal", response_model=CaseView, dependencies=[allow(Role.MALL)])
async def appeal(case_id: str, body: Appeal, client: ClientDep, caller: CallerDep) -> CaseView:
    """The customer appeals a rejection: the case is disputed and a platform work order (``work_order_id``)
    decides it."""
    return await _act(await _case(client, caller, case_id), AfterSaleWorkflow.appeal, body, Action.APPEAL)


@router.post("/{case_id}/offline-refund", response_model=CaseView, dependencies=[allow(Role.MERCHANT)])
async def offline_refund(case_id: str, body: OfflineRefund, client: ClientDep, caller: CallerDep) -> CaseView:
    """The merchant refunded outside the payment system, after the payment side refused for good."""
    return await _act(
        await _case(client, caller, case_id), AfterSaleWorkflow.record_offline_refund, body, Action.OFFLINE_REFUND
    )


@router.post("/{case_id}/dispute-decision", response_model=CaseView, dependencies=[allow(Role.ADMIN)])
async def decide_dispute(case_id: str, decision: DisputeDecision, client: ClientDep, caller: CallerDep) -> CaseView:
    """Platform CS decides a disputed case: for the customer (``approve``) or for the merchant."""
    return await _act(
        await _case(client, caller, case_id), AfterSaleWorkflow.resolve_dispute, decision, Action.RESOLVE_DISPUTE
    )


@router.post("/{case_id}/deadline-shifts", response_model=CaseView, dependencies=[allow(Role.ADMIN)])
async def shift_deadlines(case_id: str, shift: DeadlineShift, client: ClientDep, caller: CallerDep) -> CaseView:
    """Moves the case's running deadline by ``hours``; its timers follow at once."""
    case = await _case(client, caller, case_id)
    return await once_started(case, lambda: case.execute_update(AfterSaleWorkflow.shift_deadlines, shift))


# --- pickups -----------------------------------------------------------------------------------------------


async def _pickup(client: Client, caller: Caller, case_id: str) -> WorkflowHandle[PickupWorkflow, PickupView]:
    handle = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(case_id))
    await may_act(handle, PickupWorkflow.state, caller, parents=client)
    return handle


async def _act_on_pickup(
    pickup: WorkflowHandle[PickupWorkflow, PickupView], update: Any, body: BaseModel, action: str
) -> PickupView:
    """An action on the pickup, answered with the pickup after it; a retry is answered, also once it ended."""
    view: PickupView = await act(
        pickup, update, body, action=action, already_applied=PickupWorkflow.already_applied, state=PickupWorkflow.state
    )
    return view


@pickups.get("/{case_id}", response_model=PickupView, dependencies=[allow(Role.MALL, Role.MERCHANT, Role.ADMIN)])
async def get_pickup(case_id: str, client: ClientDep, caller: CallerDep) -> PickupView:
    """The pickup of a case's return: status, waybill, postage, slot."""
    handle = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(case_id))
    return await owned_state(handle, PickupWorkflow.state, caller, parents=client)


@pickups.post("/{case_id}/payment", response_model=PickupView, dependencies=[allow(Role.MALL)])
async def pay_pickup(case_id: str, payment: PickupPayment, client: ClientDep, caller: CallerDep) -> PickupView:
    """The customer paid the return postage (exactly ``fee_cents``)."""
    return await _act_on_pickup(await _pickup(client, caller, case_id), PickupWorkflow.pay, payment, PAYMENT)


@pickups.post("/{case_id}/courier-events", response_model=PickupView, dependencies=[allow(Role.MALL)])
async def courier_event(case_id: str, event: CourierEvent, client: ClientDep, caller: CallerDep) -> PickupView:
    """The courier picked up the parcel, or missed the slot (rebooked once, then CS is told)."""
    return await _act_on_pickup(await _pickup(client, caller, case_id), PickupWorkflow.record_courier, event, COURIER)
