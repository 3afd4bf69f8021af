"""How an after-sales case is decided: approved, rejected, goods sent back or received, a dispute settled.

The transitions every decider shares — the merchant, the clocks' silence, the platform on the case or through
its work order — and the signal by which the case's platform work order reports its decision. This module
does not import the work order workflow, so the work order can name :meth:`CaseDecisions.work_order_decided`
by method without an import cycle.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.cases import Action, CaseKind, CaseStatus, DisputeDecision, ParcelShipment, Rejection
    from domain.orders import Actor
    from domain.work_orders import WORK_ORDER_DECIDED, WorkOrderDecided
    from workflows.aftersale_money import CaseMoney


class CaseDecisions(CaseMoney):
    """The case's decisions and the work order's word on them."""

    def _approve(self) -> None:
        self._s.applied.record(Action.APPROVE)  # whoever approved: the merchant's approve again is a retry
        self._s.overdue = False
        if self._input.request.kind is CaseKind.REFUND_ONLY:
            self._enter(CaseStatus.REFUNDING)
        elif self._s.received:
            self._after_receipt()
        else:
            self._enter(CaseStatus.AWAITING_RETURN)
        self._status_changed()

    def _send_back(self, shipment: ParcelShipment, actor: Actor) -> None:
        self._s.return_shipment = shipment
        self._s.return_postage_cents = shipment.postage_cents
        self._enter(CaseStatus.RETURN_IN_TRANSIT)
        self._changed("return_shipped", actor, detail=f"{shipment.carrier} {shipment.tracking_no}")

    def _after_receipt(self) -> None:
        self._s.received = True
        self._s.overdue = False
        self._journal.in_background(self._claim_insurance())
        self._enter(
            CaseStatus.AWAITING_REPLACEMENT if self._input.request.kind is CaseKind.EXCHANGE else CaseStatus.REFUNDING
        )
        self._status_changed()

    def _settle_dispute(self, decision: DisputeDecision, detail: str) -> None:
        if decision.approve:
            self._changed("dispute_upheld", Actor.PLATFORM, detail=detail)
            self._approve()
        else:
            self._s.appealed = True
            self._reject(decision.reason, Actor.PLATFORM, detail, event="dispute_dismissed")

    def _reject(self, reason: str, actor: Actor, detail: str, *, event: str = "rejected") -> None:
        self._s.rejection_reason = reason
        self._s.overdue = False
        self._enter(CaseStatus.REJECTED)
        self._changed(event, actor, detail=detail)

    @workflow.signal(name=WORK_ORDER_DECIDED)
    def work_order_decided(self, decided: WorkOrderDecided) -> None:
        """The platform decided this case's open work order: the case settles as that decision says.

        A dispute is upheld (the case goes on as approved: refund, or return and refund) or dismissed (the
        case is rejected for good). A review the merchant let lapse is approved, or rejected with the
        platform's reason, for good: the platform has already heard the customer. Any other work order's
        decision, or one that comes after the case was settled otherwise, changes nothing.
        """
        if self._s.ended or not self._s.work_order_open or decided.work_order_id != self._s.work_order_id:
            workflow.logger.info("work order %s decided; the case does not wait for it", decided.work_order_id)
            return
        self._s.work_order_open = False  # the answer comes from it: nothing to tell it back
        detail = f"work order {decided.work_order_id}: {decided.reason}"
        if self._s.status is CaseStatus.DISPUTED:
            decision = DisputeDecision(approve=decided.approve, reason=decided.reason)
            self._s.applied.record(Action.RESOLVE_DISPUTE, decision)  # the same decision on the case is a retry
            self._settle_dispute(decision, detail)
        elif self._s.status is CaseStatus.PENDING_REVIEW and decided.approve:
            self._changed("approved", Actor.PLATFORM, detail=detail)
            self._approve()
        elif self._s.status is CaseStatus.PENDING_REVIEW:
            self._s.applied.record(Action.REJECT, Rejection(reason=decided.reason))
            self._s.appealed = True  # rejected by the platform itself: there is no one left to appeal to
            self._reject(decided.reason, Actor.PLATFORM, detail)
            self._changed("case_closed", Actor.PLATFORM, detail="rejected by the platform; no appeal")
