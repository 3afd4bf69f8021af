"""The order's after-sales requests: each starts a case, and each case settles with its order.

A request reserves the quantities it claims, is answered at once with the case's opening view, and starts an
:class:`~workflows.aftersale.AfterSaleWorkflow` as a child in the background (parent-close ABANDON: the case
outlives a run of its order that continues as new, which waits for the start to be done). The case
tells its order the outcome by signalling ``order-{order_id}``, the workflow id and not a run, so a settlement
reaches whichever run of the watch is current.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import ids
    from domain.cases import (
        AfterSaleRequest,
        CaseInput,
        CaseKind,
        CaseSettlement,
        CaseView,
        in_cooling_off,
        is_whole_order,
        opening_view,
        quantity_left,
    )
    from domain.orders import Actor, OrderStatus
    from workflows import search_attributes as sa
    from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow, request_digest
    from workflows.effects import refuse
    from workflows.order_base import OrderBase


class OrderCases(OrderBase):
    """After-sales requests on the order, and the settlements of their cases."""

    @workflow.update
    def request_after_sale(self, request: AfterSaleRequest) -> CaseView:
        """Accepts an after-sales request: reserves its quantities and answers the case as it opens.

        Answered in this one workflow task: the case's workflow starts in the background
        (:meth:`_start_case`), and the answer is its opening view (:func:`~domain.cases.opening_view`), what
        the case shows once its first task has run. Within the cooling-off period a whole-order request is
        refunded at once, with no merchant review.
        """
        s, order = self._s, self._input.order
        bought = {line.line_id: line.quantity for line in order.lines}
        cooling_off = (
            request.kind is CaseKind.REFUND_ONLY
            and not s.open_cases
            and not s.refunded
            and is_whole_order(request.lines, bought)
            and in_cooling_off(order.paid_at, workflow.now(), self._input.policy.cooling_off, s.shipment is not None)
        )
        case = CaseInput(
            request=request,
            merchant_id=order.merchant_id,
            customer_id=order.customer_id,
            order_lines=order.lines,
            shipping_address=order.shipping_address,
            policy=self._input.policy,
            cooling_off=cooling_off,
            opened_at=workflow.now(),
            board_url=self._input.board_url,
            callbacks=self._input.callbacks,
            max_history_events=self._input.case_max_history_events,
        )
        s.cases.append(request.case_id)
        s.open_cases[request.case_id] = list(request.lines)  # held until the case settles, or fails to start
        self._changed("after_sale_requested", Actor.CUSTOMER, detail=f"{request.case_id} {request.kind.value}")
        # The journal's background: the watch neither continues as new nor completes before the start is done.
        opening = opening_view(case)
        self._journal.in_background(self._start_case(case, opening))
        return opening

    async def _start_case(self, case: CaseInput, opening: CaseView) -> None:
        """Starts the case's workflow as a child; if its id is taken, gives the reservation back.

        The API refuses a case id Temporal or the read model knows before it asks the order; only a request
        racing another order's with the same new id (both checked within milliseconds) gets here with an id
        taken meanwhile. Its order was answered with the opening view already: the refusal is in its history
        (``after_sale_refused``), its lines are free again, and the case's ``order_id`` names the other order.
        """
        request, order = case.request, self._input.order
        try:
            await workflow.start_child_workflow(
                AfterSaleWorkflow.run,
                case,
                id=ids.after_sale(request.case_id),
                # A case id names one case forever: refused while any case of any order holds it, open
                # or closed (within the namespace's retention; the API checks the read model beyond it).
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                memo={REQUEST_MEMO: request_digest(request)},
                search_attributes=sa.initial_case_attributes(
                    merchant_id=order.merchant_id,
                    order_id=order.order_id,
                    kind=request.kind.value,
                    status=opening.status,
                    deadline_at=opening.deadline_at,
                ),
                static_summary=f"{request.kind.value} {request.case_id} of order {order.order_id}",
            )
        except WorkflowAlreadyStartedError:
            # Another order's case. The id stays in the state's ``cases``, so the same request again is
            # refused by the validator at once (the API answers it with the other order's case, a 409).
            self._s.open_cases.pop(request.case_id, None)
            self._changed("after_sale_refused", Actor.SYSTEM, detail=f"case {request.case_id} exists already")

    @request_after_sale.validator
    def _validate_request(self, request: AfterSaleRequest) -> None:
        s = self._s
        if request.case_id in s.cases:
            raise refuse("duplicate", f"case {request.case_id} exists already on order {request.order_id}")
        if s.closing or s.status is OrderStatus.CLOSED or self._window_over():
            raise refuse("window_closed", "the after-sales window of this order is closed")
        if request.kind is not CaseKind.REFUND_ONLY and s.shipment is None:
            raise refuse("invalid_state", "nothing was shipped yet: only a refund can be asked for")
        bought = {line.line_id: line.quantity for line in self._input.order.lines}
        claimed = self._claimed()
        for line in request.lines:
            if line.line_id not in bought:
                raise refuse("validation_error", f"the order has no line {line.line_id}")
            left = quantity_left(bought[line.line_id], claimed.get(line.line_id, 0), s.refunded.get(line.line_id, 0))
            if line.quantity > left:
                raise refuse("quantity_exceeds", f"line {line.line_id}: {line.quantity} asked, {left} left")

    @workflow.signal
    def settle_case(self, settlement: CaseSettlement) -> None:
        """A case ended: its refunded quantities are gone for good, the others can be claimed again."""
        s = self._s
        if s.open_cases.pop(settlement.case_id, None) is None:
            return  # told twice
        for line in settlement.refunded:
            s.refunded[line.line_id] = s.refunded.get(line.line_id, 0) + line.quantity
        refunded = sum(line.quantity for line in settlement.refunded)
        self._changed("after_sale_settled", Actor.SYSTEM, detail=f"{settlement.case_id}: {refunded} refunded")
        if self._all_refunded():
            s.status = OrderStatus.REFUNDED
            self._changed("refunded", Actor.SYSTEM)
