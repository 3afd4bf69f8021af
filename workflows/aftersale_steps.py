"""An after-sales case's human steps: the merchant's, the customer's and the platform's, one Update each.

Every Update's validator refuses what the status does not allow, so a refused action leaves no trace; the
same action with the same body again is a retry, answered with the case as it stands.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import ids
    from domain.cases import (
        Action,
        Appeal,
        CaseStatus,
        CaseView,
        DisputeDecision,
        OfflineRefund,
        ParcelShipment,
        Receipt,
        Rejection,
        may_cancel,
    )
    from domain.orders import FUTURE_TOLERANCE, Actor, LogisticsEvent, LogisticsStatus, event_time_problem
    from domain.pickups import PickupInput, PickupNotice, PickupRequest, PickupStatus, slot_problem
    from workflows import search_attributes as sa
    from workflows.aftersale_timers import CaseTimers
    from workflows.effects import refuse
    from workflows.pickup import PickupWorkflow


class CaseSteps(CaseTimers):
    """The human steps of a case, and the news of its pickup."""

    @workflow.update
    def approve(self) -> CaseView:
        """The merchant approves the request; once approved (by anyone), approving again answers the case."""
        if self._s.applied.repeats(Action.APPROVE):
            return self.state()
        self._changed("approved", Actor.MERCHANT)
        self._approve()
        self._settle_work_order(Actor.MERCHANT, "approved")
        return self.state()

    @approve.validator
    def _validate_approve(self) -> None:
        self._require(Action.APPROVE)

    @workflow.update
    def reject(self, rejection: Rejection) -> CaseView:
        """The merchant rejects the request, with a reason; the customer may appeal."""
        if self._s.applied.repeats(Action.REJECT, rejection):
            return self.state()
        self._s.applied.record(Action.REJECT, rejection)
        self._reject(rejection.reason, Actor.MERCHANT, rejection.reason)
        self._settle_work_order(Actor.MERCHANT, "rejected", rejection.reason)
        return self.state()

    @reject.validator
    def _validate_reject(self, rejection: Rejection) -> None:
        self._require(Action.REJECT, rejection)

    @workflow.update
    async def cancel(self) -> CaseView:
        """The customer withdraws the request; a booked pickup is dropped."""
        if self._s.applied.repeats(Action.CANCEL):
            return self.state()
        self._s.applied.record(Action.CANCEL)
        if self._s.pickup_active and self._s.pickup_id:
            handle = workflow.get_external_workflow_handle(self._s.pickup_id)
            self._journal.in_background(handle.signal(PickupWorkflow.cancel, "the case was cancelled"))
        self._enter(CaseStatus.CANCELLED)
        self._changed("cancelled", Actor.CUSTOMER)
        self._settle_work_order(Actor.CUSTOMER, "cancelled")
        return self.state()

    @cancel.validator
    def _validate_cancel(self) -> None:
        if self._s.applied.repeats(Action.CANCEL):
            return
        if not may_cancel(self._input.request.kind, self._s.status):
            raise refuse("invalid_state", self._cancel_rule())

    @workflow.update
    def ship_return(self, shipment: ParcelShipment) -> CaseView:
        """The customer sent the goods back with a carrier."""
        if self._s.applied.repeats(Action.RETURN_SHIPMENT, shipment):
            return self.state()
        self._s.applied.record(Action.RETURN_SHIPMENT, shipment)
        self._send_back(shipment, Actor.CUSTOMER)
        return self.state()

    @ship_return.validator
    def _validate_ship_return(self, shipment: ParcelShipment) -> None:
        if self._require(Action.RETURN_SHIPMENT, shipment):
            return
        if self._s.pickup_active:
            raise refuse("invalid_state", "a door-to-door pickup is booked for this return")

    @workflow.update
    async def book_pickup(self, request: PickupRequest) -> CaseView:
        """The customer books a door-to-door pickup of the return (a PickupWorkflow, child of the case)."""
        self._s.pickup_active = True
        self._timers.pause("return")  # a booked pickup counts as sent
        self._s.pickups += 1
        pickup_id = ids.pickup(self._input.request.case_id)
        try:
            await workflow.start_child_workflow(
                PickupWorkflow.run,
                PickupInput(
                    case_id=self._input.request.case_id,
                    order_id=self._input.request.order_id,
                    merchant_id=self._input.merchant_id,
                    request=request,
                    policy=self._input.policy,
                    number=self._s.pickups,
                    callbacks=self._input.callbacks,
                ),
                id=pickup_id,
                # The pickup of a case is one id (GET /v1/pickups/{case_id}); a pickup booked after the last
                # was dropped is its next run, and its number keeps its bookings' keys apart.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=sa.initial_case_attributes(
                    merchant_id=self._input.merchant_id,
                    order_id=self._input.request.order_id,
                    kind="pickup",
                    status=CaseStatus.AWAITING_RETURN,
                ),
                static_summary=f"Pickup for case {self._input.request.case_id}",
            )
        except WorkflowAlreadyStartedError:
            # The last pickup told the case it was dropped and is still closing: nothing happened here.
            self._s.pickup_active = False
            self._s.pickups -= 1
            self._timers.resume("return", keep_deadline=True)
            raise refuse("invalid_state", "the last pickup of this case is still closing; book again") from None
        self._s.applied.record(Action.PICKUP, request)  # the same booking again is answered, not made twice
        self._s.pickup_id = pickup_id
        self._changed("pickup_requested", Actor.CUSTOMER, detail=f"{request.slot_start.isoformat()}")
        return self.state()

    @book_pickup.validator
    def _validate_pickup(self, request: PickupRequest) -> None:
        self._require(Action.PICKUP)
        if self._s.pickup_active:
            # Also the same booking again: the API asks ``already_applied`` and answers it 200, as a create.
            raise refuse("invalid_state", "a pickup is already booked for this return")
        if problem := slot_problem(request, workflow.now()):
            raise refuse("validation_error", problem)

    @workflow.signal
    def pickup_changed(self, notice: PickupNotice) -> None:
        """The pickup's news: waybill uploaded once scheduled; picked up; or dropped/failed."""
        if notice.status is PickupStatus.SCHEDULED:
            self._changed("pickup_scheduled", Actor.SYSTEM, detail=f"{notice.carrier} {notice.waybill_no}")
        elif notice.status is PickupStatus.PICKED_UP and self._s.status is CaseStatus.AWAITING_RETURN:
            shipment = ParcelShipment(
                carrier=notice.carrier or "SF", tracking_no=notice.waybill_no or "-", postage_cents=notice.fee_cents
            )
            self._s.pickup_active = False
            self._send_back(shipment, Actor.SYSTEM)
        elif notice.status in (PickupStatus.CANCELLED, PickupStatus.FAILED):
            self._s.pickup_active = False
            if self._s.status is CaseStatus.AWAITING_RETURN:
                self._timers.resume("return", keep_deadline=True)  # the same deadline runs on, not a fresh one
            self._s.applied.forget(Action.PICKUP)  # a booking after this one is a new one, whatever its slot
            self._changed(f"pickup_{notice.status.value}", Actor.SYSTEM, detail=notice.waybill_no or "")

    @workflow.update
    def record_return_logistics(self, event: LogisticsEvent) -> CaseView:
        """A tracking update of the return parcel; delivery starts the merchant's receipt clock."""
        if self._s.applied.repeats(Action.RETURN_LOGISTICS, event):
            return self.state()
        self._s.applied.record(Action.RETURN_LOGISTICS, event)
        if event.status is LogisticsStatus.DELIVERED:
            self._enter(CaseStatus.AWAITING_RECEIPT, since=event.at)
            self._changed("return_delivered", Actor.SYSTEM, at=event.at)
        else:
            self._changed(f"return_{event.status.value}", Actor.SYSTEM, at=event.at, detail=event.description)
        return self.state()

    @record_return_logistics.validator
    def _validate_return_logistics(self, event: LogisticsEvent) -> None:
        if self._require(Action.RETURN_LOGISTICS, event):
            return
        # A return parcel cannot move before its case was opened (a delivery dated 1970 would start and end
        # the merchant's receipt clock at once).
        if problem := event_time_problem(event.at, now=workflow.now(), not_before=self._s.opened_at - FUTURE_TOLERANCE):
            raise refuse("validation_error", problem)

    @workflow.update
    async def confirm_receipt(self, receipt: Receipt) -> CaseView:
        """The merchant accepts the returned goods (refund or replacement follows) or refuses them."""
        if self._s.applied.repeats(Action.RECEIPT, receipt):
            return self.state()
        self._s.applied.record(Action.RECEIPT, receipt)
        self._s.overdue = False
        if receipt.accepted:
            self._changed("received", Actor.MERCHANT)
            self._after_receipt()
        else:
            self._s.received = True  # the goods are back even if refused: upholding the customer refunds
            self._enter(CaseStatus.DISPUTED)
            self._changed("receipt_refused", Actor.MERCHANT, detail=receipt.reason or "")
            await self._dispute("receipt_refused", receipt.reason or "")
        return self.state()

    @confirm_receipt.validator
    def _validate_receipt(self, receipt: Receipt) -> None:
        self._require(Action.RECEIPT, receipt)

    @workflow.update
    def ship_replacement(self, shipment: ParcelShipment) -> CaseView:
        """The merchant dispatched the replacement of an exchange."""
        if self._s.applied.repeats(Action.REPLACEMENT_SHIPMENT, shipment):
            return self.state()
        self._s.applied.record(Action.REPLACEMENT_SHIPMENT, shipment)
        self._s.replacement = shipment
        self._s.overdue = False
        self._enter(CaseStatus.REPLACEMENT_IN_TRANSIT)
        address = self._replacement_address()
        self._changed(
            "replacement_shipped", Actor.MERCHANT, detail=f"{shipment.carrier} {shipment.tracking_no} → {address.name}"
        )
        return self.state()

    @ship_replacement.validator
    def _validate_replacement(self, shipment: ParcelShipment) -> None:
        self._require(Action.REPLACEMENT_SHIPMENT, shipment)

    @workflow.update
    def confirm(self) -> CaseView:
        """The customer confirms the replacement arrived."""
        if self._s.applied.repeats(Action.CONFIRM):
            return self.state()
        self._s.applied.record(Action.CONFIRM)
        self._enter(CaseStatus.COMPLETED)
        self._changed("confirmed", Actor.CUSTOMER)
        return self.state()

    @confirm.validator
    def _validate_confirm(self) -> None:
        self._require(Action.CONFIRM)

    @workflow.update
    async def appeal(self, appeal: Appeal) -> CaseView:
        """The customer appeals a rejection: the case is disputed and a platform work order decides it."""
        if self._s.applied.repeats(Action.APPEAL, appeal):
            return self.state()
        self._s.applied.record(Action.APPEAL, appeal)
        self._s.appealed = True
        self._enter(CaseStatus.DISPUTED)
        self._changed("appealed", Actor.CUSTOMER, detail=appeal.reason)
        await self._dispute("appeal", appeal.reason)
        return self.state()

    @appeal.validator
    def _validate_appeal(self, appeal: Appeal) -> None:
        if self._require(Action.APPEAL, appeal):
            return
        if self._s.appealed:
            raise refuse("invalid_state", "this case was appealed already")

    @workflow.update
    def resolve_dispute(self, decision: DisputeDecision) -> CaseView:
        """Platform CS decides a dispute on the case itself: for the customer (the case goes on as approved)
        or not. Whichever comes first, this or the decision of the case's work order, settles the case; the
        work order then closes as settled, and the later one is refused (the case is no longer disputed)."""
        if self._s.applied.repeats(Action.RESOLVE_DISPUTE, decision):
            return self.state()
        self._s.applied.record(Action.RESOLVE_DISPUTE, decision)
        self._settle_dispute(decision, decision.reason)
        self._settle_work_order(
            Actor.PLATFORM, "dispute_upheld" if decision.approve else "dispute_dismissed", decision.reason
        )
        return self.state()

    @resolve_dispute.validator
    def _validate_dispute(self, decision: DisputeDecision) -> None:
        self._require(Action.RESOLVE_DISPUTE, decision)

    @workflow.update
    def record_offline_refund(self, refund: OfflineRefund) -> CaseView:
        """The merchant refunded outside the payment system."""
        if self._s.applied.repeats(Action.OFFLINE_REFUND, refund):
            return self.state()
        self._s.applied.record(Action.OFFLINE_REFUND, refund)
        self._s.refunded_cents = self._amount()
        self._s.overdue = False
        self._enter(CaseStatus.COMPLETED)
        self._changed(
            "refund_issued", Actor.MERCHANT, detail=f"offline {self._s.refunded_cents} cents: {refund.reference}"
        )
        return self.state()

    @record_offline_refund.validator
    def _validate_offline_refund(self, refund: OfflineRefund) -> None:
        self._require(Action.OFFLINE_REFUND, refund)
