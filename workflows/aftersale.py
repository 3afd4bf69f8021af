"""After-sales case: refund-only, return-refund or exchange, from request to money back or goods swapped.

``AfterSaleWorkflow`` (id ``aftersale-{case_id}``) is started by its order's watch as a child (parent-close
ABANDON) once the order has accepted the request. Every human step is an Update whose validator refuses
what the status does not allow, so a refused action leaves no trace. Each status with a deadline runs one
SLA clock (:mod:`domain.sla`, run by :class:`~workflows.sla.SlaTimers`); silence decides by the platform's
rules (auto-approve, auto-cancel, auto-receive, auto-complete) or escalates. When the case ends it tells
its order what was refunded and what is free to claim again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.partners import REFUSED, Partners
    from activities.records import Records
    from domain import ids
    from domain.action_links import case_review_links
    from domain.callbacks import case_data
    from domain.cases import (
        Action,
        AfterSaleRequest,
        Appeal,
        CaseInput,
        CaseKind,
        CaseSettlement,
        CaseStatus,
        CaseView,
        DisputeDecision,
        InsuranceClaim,
        OfflineRefund,
        ParcelShipment,
        Receipt,
        Refund,
        RefundLine,
        Rejection,
        allowed,
        may_cancel,
        refund_cents,
    )
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.durations import shifted_deadline_problem, time_left
    from domain.notifications import TASKS, ActionLink, Audience, Notification, Template
    from domain.orders import (
        FUTURE_TOLERANCE,
        Actor,
        Address,
        DeadlineShift,
        LogisticsEvent,
        LogisticsStatus,
        event_time_problem,
    )
    from domain.pickups import PickupInput, PickupNotice, PickupRequest, PickupStatus, slot_problem
    from domain.policy import ReviewTimeoutAction
    from domain.retries import Attempt, Attempts
    from domain.sla import PlannedStep, SlaClock, offset_steps
    from domain.work_orders import (
        WORK_ORDER_DECIDED,
        CaseSettled,
        OpenWorkOrder,
        Priority,
        WorkOrderCategory,
        WorkOrderDecided,
        WorkOrderInput,
    )
    from workflows import search_attributes as sa
    from workflows import work_order as work_orders  # a module, not its class: a work order tells its case back
    from workflows.effects import Journal, notification_key, refuse, tell_workflow, why
    from workflows.pickup import PickupWorkflow
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.sla import SlaTimers
    from workflows.sla import notification_key as step_notification_key

MONEY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[REFUSED],
)

REQUEST_MEMO = "request"  # the memo holding the digest of the request a case was opened with


def request_digest(request: AfterSaleRequest) -> str:
    """What the case's memo keeps of its request: enough to know the same request again (same request →
    same case), without the customer's address or words, which the Web UI lists with every memo."""
    return ids.fingerprint(request)


# Why a case opens a platform work order: (category, title). Titles name the case, never the customer.
WORK_ORDER_PURPOSES = {
    "appeal": (WorkOrderCategory.SERVICE, "售后申诉 after-sales appeal"),
    "receipt_refused": (WorkOrderCategory.QUALITY, "退货拒收争议 refused return"),
    "review_lapsed": (WorkOrderCategory.SERVICE, "商家超时未审核 review lapsed"),
}
WORK_ORDER_ATTEMPTS = 3  # ids taken by the mall's own work orders are skipped, up to this many

# Clocks whose breach is the merchant's: their breach makes the case overdue (monitoring, Web UI).
MERCHANT_CLOCKS = ("review", "receipt", "reship", "offline_refund")


@workflow.defn
class AfterSaleWorkflow:
    """One after-sales case, from the customer's request to its end."""

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._input = input
        self._opened_at = workflow.now()
        self._overdue = False
        self._auto = False
        self._ended = False
        self._clocks: dict[str, SlaClock] = {}  # every deadline of the case, one serialisable mapping
        self._timers = SlaTimers(self._clocks, self._on_clock_step, quiet=input.policy.quiet_hours)
        self._clock: str | None = None  # the clock of the current status
        self._since = self._opened_at  # when the current status began
        self._appealed = False
        self._received = False
        self._return: ParcelShipment | None = None
        self._return_postage_cents: int | None = None
        self._replacement: ParcelShipment | None = None
        self._rejection_reason: str | None = None
        self._work_order_id: str | None = None  # the platform work order this case opened last
        self._work_orders = 0  # how many work order ids the case has used
        self._work_order_open = False  # its work order still decides the case
        self._pickup_active = False
        self._pickup_id: str | None = None
        self._pickups = 0  # pickups booked so far
        self._refunded_cents = 0
        self._applied = Attempts()  # what each human step was applied with, so a retry is answered
        self._shifts: dict[str, list[str]] = {}  # platform shifts applied (id → clocks moved): a repeat is a no-op
        self._journal = Journal(
            Records.project_case,
            self.state,
            callbacks=("case", workflow.info().workflow_id, lambda: case_data(self.state()))
            if input.callbacks
            else None,
        )
        self._status = CaseStatus.PENDING_REVIEW
        self._enter(CaseStatus.PENDING_REVIEW)

    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        """Walks the case through its statuses until it is completed, cancelled, or rejected for good."""
        self._journal.start()
        self._changed("case_opened", Actor.CUSTOMER, detail=f"{input.request.kind.value}: {input.request.reason}")
        if input.cooling_off:
            self._auto = True
            self._enter(CaseStatus.REFUNDING)
            self._changed("auto_refunded_cooling_off", Actor.SYSTEM)
        while not self._ended:
            await self._step()
        await self._tell_order()
        await self._journal.settle()
        return self.state()

    # --- the statuses ------------------------------------------------------------------------------------

    async def _step(self) -> None:
        status = self._status
        if status is CaseStatus.REFUNDING:
            await self._refund()
        elif self._clock is not None or status in (CaseStatus.RETURN_IN_TRANSIT, CaseStatus.DISPUTED):
            # The status's clock fires its steps (a booked pickup pauses the return clock) until someone, or
            # the clock's own breach, moves the case on.
            await self._timers.run(until=lambda: self._status is not status or self._ended)
        else:  # completed, cancelled, or rejected for good
            self._ended = True

    def _plan(self, status: CaseStatus) -> tuple[str, timedelta, tuple[timedelta, ...]] | None:
        """The clock a status runs: its name, its length, its reminders."""
        policy = self._input.policy
        plans = {
            CaseStatus.PENDING_REVIEW: ("review", policy.review_deadline, policy.review_reminders),
            CaseStatus.AWAITING_RETURN: ("return", policy.return_ship_deadline, ()),
            CaseStatus.AWAITING_RECEIPT: ("receipt", policy.receipt_deadline, policy.review_reminders),
            CaseStatus.AWAITING_OFFLINE_REFUND: (
                "offline_refund",
                policy.offline_refund_deadline,
                policy.review_reminders,
            ),
            CaseStatus.AWAITING_REPLACEMENT: ("reship", policy.reship_deadline, policy.ship_reminders),
            CaseStatus.REPLACEMENT_IN_TRANSIT: ("confirm", policy.exchange_confirm_deadline, ()),
        }
        if status is CaseStatus.REJECTED and not self._appealed:
            return "appeal", policy.appeal_window, ()
        return plans.get(status)

    async def _on_clock_step(self, planned: PlannedStep) -> None:
        on_step: dict[str, Callable[[PlannedStep], Awaitable[None]]] = {
            "review": self._on_review_step,
            "return": self._on_return,
            "receipt": self._on_receipt_step,
            "offline_refund": self._remind,
            "reship": self._remind,
            "confirm": self._on_confirm_timeout,
            "appeal": self._on_appeal_window_over,
        }
        await on_step[planned.clock](planned)

    # --- what silence does -------------------------------------------------------------------------------

    async def _on_review_step(self, step: PlannedStep) -> None:
        if not step.step.is_breach:
            return await self._remind(step)
        if self._input.policy.review_timeout_action is ReviewTimeoutAction.APPROVE:
            self._auto = True
            self._changed("auto_approved", Actor.SYSTEM, due_at=step.at)
            self._approve()
            return
        await self._remind(step)
        # Escalated to the platform: its work order decides for the silent merchant (approve or reject).
        await self._open_work_order("review_lapsed", "the merchant did not review the request in time")

    async def _remind(self, step: PlannedStep) -> None:
        """A reminder to the merchant, or at the breach: overdue, escalated, supervisor and platform told."""
        name = step.clock
        task, task_en = TASKS[name]
        key, detail = step_notification_key(step), f"{name} {step.step.name}"
        if step.step.is_breach:
            self._overdue = name in MERCHANT_CLOCKS
            self._changed("escalated", Actor.SYSTEM, due_at=step.at, detail=f"{name} deadline passed")
            self._tell(key, Template.CASE_OVERDUE, (Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM), task, task_en)
            return
        links = case_review_links(workflow.info().workflow_id, self._input.merchant_id) if name == "review" else ()
        self._tell(
            key,
            Template.CASE_REMINDER,
            (Audience.MERCHANT,),
            task,
            task_en,
            sent="reminder_sent",
            detail=detail,
            actions=links,
        )

    async def _on_return(self, step: PlannedStep) -> None:
        self._applied.record(Action.CANCEL)  # the customer's cancel now finds it done
        self._changed("auto_cancelled", Actor.SYSTEM, due_at=step.at, detail="the goods were not sent back in time")
        self._enter(CaseStatus.CANCELLED)

    async def _on_receipt_step(self, step: PlannedStep) -> None:
        if not step.step.is_breach:
            return await self._remind(step)
        self._auto = True
        self._applied.record(Action.RECEIPT, Receipt(accepted=True))
        self._changed("auto_received", Actor.SYSTEM, due_at=step.at)
        self._after_receipt()

    async def _on_confirm_timeout(self, step: PlannedStep) -> None:
        self._applied.record(Action.CONFIRM)
        self._changed("auto_completed", Actor.SYSTEM, due_at=step.at)
        self._enter(CaseStatus.COMPLETED)

    async def _on_appeal_window_over(self, step: PlannedStep) -> None:
        self._changed("case_closed", Actor.SYSTEM, due_at=step.at, detail="rejected; no appeal in time")
        self._ended = True

    # --- human steps -------------------------------------------------------------------------------------

    @workflow.update
    def approve(self) -> CaseView:
        """The merchant approves the request; once approved (by anyone), approving again answers the case."""
        if self._applied.repeats(Action.APPROVE):
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
        if self._applied.repeats(Action.REJECT, rejection):
            return self.state()
        self._applied.record(Action.REJECT, rejection)
        self._reject(rejection.reason, Actor.MERCHANT, rejection.reason)
        self._settle_work_order(Actor.MERCHANT, "rejected", rejection.reason)
        return self.state()

    @reject.validator
    def _validate_reject(self, rejection: Rejection) -> None:
        self._require(Action.REJECT, rejection)

    @workflow.update
    async def cancel(self) -> CaseView:
        """The customer withdraws the request; a booked pickup is dropped."""
        if self._applied.repeats(Action.CANCEL):
            return self.state()
        self._applied.record(Action.CANCEL)
        if self._pickup_active and self._pickup_id:
            handle = workflow.get_external_workflow_handle(self._pickup_id)
            self._journal.in_background(handle.signal(PickupWorkflow.cancel, "the case was cancelled"))
        self._enter(CaseStatus.CANCELLED)
        self._changed("cancelled", Actor.CUSTOMER)
        self._settle_work_order(Actor.CUSTOMER, "cancelled")
        return self.state()

    @cancel.validator
    def _validate_cancel(self) -> None:
        if self._applied.repeats(Action.CANCEL):
            return
        if not may_cancel(self._input.request.kind, self._status):
            raise refuse("invalid_state", self._cancel_rule())

    @workflow.update
    def ship_return(self, shipment: ParcelShipment) -> CaseView:
        """The customer sent the goods back with a carrier."""
        if self._applied.repeats(Action.RETURN_SHIPMENT, shipment):
            return self.state()
        self._applied.record(Action.RETURN_SHIPMENT, shipment)
        self._send_back(shipment, Actor.CUSTOMER)
        return self.state()

    @ship_return.validator
    def _validate_ship_return(self, shipment: ParcelShipment) -> None:
        if self._require(Action.RETURN_SHIPMENT, shipment):
            return
        if self._pickup_active:
            raise refuse("invalid_state", "a door-to-door pickup is booked for this return")

    @workflow.update
    async def book_pickup(self, request: PickupRequest) -> CaseView:
        """The customer books a door-to-door pickup of the return (a PickupWorkflow, child of the case)."""
        self._pickup_active = True
        self._timers.pause("return")  # a booked pickup counts as sent
        self._pickups += 1
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
                    number=self._pickups,
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
            self._pickup_active = False
            self._pickups -= 1
            self._timers.resume("return", keep_deadline=True)
            raise refuse("invalid_state", "the last pickup of this case is still closing; book again") from None
        self._applied.record(Action.PICKUP, request)  # the same booking again is answered, not made twice
        self._pickup_id = pickup_id
        self._changed("pickup_requested", Actor.CUSTOMER, detail=f"{request.slot_start.isoformat()}")
        return self.state()

    @book_pickup.validator
    def _validate_pickup(self, request: PickupRequest) -> None:
        self._require(Action.PICKUP)
        if self._pickup_active:
            # Also the same booking again: the API asks ``already_applied`` and answers it 200, as a create.
            raise refuse("invalid_state", "a pickup is already booked for this return")
        if problem := slot_problem(request, workflow.now()):
            raise refuse("validation_error", problem)

    @workflow.signal
    def pickup_changed(self, notice: PickupNotice) -> None:
        """The pickup's news: waybill uploaded once scheduled; picked up; or dropped/failed."""
        if notice.status is PickupStatus.SCHEDULED:
            self._changed("pickup_scheduled", Actor.SYSTEM, detail=f"{notice.carrier} {notice.waybill_no}")
        elif notice.status is PickupStatus.PICKED_UP and self._status is CaseStatus.AWAITING_RETURN:
            shipment = ParcelShipment(
                carrier=notice.carrier or "SF", tracking_no=notice.waybill_no or "-", postage_cents=notice.fee_cents
            )
            self._pickup_active = False
            self._send_back(shipment, Actor.SYSTEM)
        elif notice.status in (PickupStatus.CANCELLED, PickupStatus.FAILED):
            self._pickup_active = False
            if self._status is CaseStatus.AWAITING_RETURN:
                self._timers.resume("return", keep_deadline=True)  # the same deadline runs on, not a fresh one
            self._applied.forget(Action.PICKUP)  # a booking after this one is a new one, whatever its slot
            self._changed(f"pickup_{notice.status.value}", Actor.SYSTEM, detail=notice.waybill_no or "")

    @workflow.update
    def record_return_logistics(self, event: LogisticsEvent) -> CaseView:
        """A tracking update of the return parcel; delivery starts the merchant's receipt clock."""
        if self._applied.repeats(Action.RETURN_LOGISTICS, event):
            return self.state()
        self._applied.record(Action.RETURN_LOGISTICS, event)
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
        if problem := event_time_problem(event.at, now=workflow.now(), not_before=self._opened_at - FUTURE_TOLERANCE):
            raise refuse("validation_error", problem)

    @workflow.update
    async def confirm_receipt(self, receipt: Receipt) -> CaseView:
        """The merchant accepts the returned goods (refund or replacement follows) or refuses them."""
        if self._applied.repeats(Action.RECEIPT, receipt):
            return self.state()
        self._applied.record(Action.RECEIPT, receipt)
        self._overdue = False
        if receipt.accepted:
            self._changed("received", Actor.MERCHANT)
            self._after_receipt()
        else:
            self._received = True  # the goods are back even if refused: upholding the customer refunds
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
        if self._applied.repeats(Action.REPLACEMENT_SHIPMENT, shipment):
            return self.state()
        self._applied.record(Action.REPLACEMENT_SHIPMENT, shipment)
        self._replacement = shipment
        self._overdue = False
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
        if self._applied.repeats(Action.CONFIRM):
            return self.state()
        self._applied.record(Action.CONFIRM)
        self._enter(CaseStatus.COMPLETED)
        self._changed("confirmed", Actor.CUSTOMER)
        return self.state()

    @confirm.validator
    def _validate_confirm(self) -> None:
        self._require(Action.CONFIRM)

    @workflow.update
    async def appeal(self, appeal: Appeal) -> CaseView:
        """The customer appeals a rejection: the case is disputed and a platform work order decides it."""
        if self._applied.repeats(Action.APPEAL, appeal):
            return self.state()
        self._applied.record(Action.APPEAL, appeal)
        self._appealed = True
        self._enter(CaseStatus.DISPUTED)
        self._changed("appealed", Actor.CUSTOMER, detail=appeal.reason)
        await self._dispute("appeal", appeal.reason)
        return self.state()

    @appeal.validator
    def _validate_appeal(self, appeal: Appeal) -> None:
        if self._require(Action.APPEAL, appeal):
            return
        if self._appealed:
            raise refuse("invalid_state", "this case was appealed already")

    @workflow.update
    def resolve_dispute(self, decision: DisputeDecision) -> CaseView:
        """Platform CS decides a dispute on the case itself: for the customer (the case goes on as approved)
        or not. Whichever comes first, this or the decision of the case's work order, settles the case; the
        work order then closes as settled, and the later one is refused (the case is no longer disputed)."""
        if self._applied.repeats(Action.RESOLVE_DISPUTE, decision):
            return self.state()
        self._applied.record(Action.RESOLVE_DISPUTE, decision)
        self._settle_dispute(decision, decision.reason)
        self._settle_work_order(
            Actor.PLATFORM, "dispute_upheld" if decision.approve else "dispute_dismissed", decision.reason
        )
        return self.state()

    @workflow.signal(name=WORK_ORDER_DECIDED)
    def work_order_decided(self, decided: WorkOrderDecided) -> None:
        """The platform decided this case's open work order: the case settles as that decision says.

        A dispute is upheld (the case goes on as approved: refund, or return and refund) or dismissed (the
        case is rejected for good). A review the merchant let lapse is approved, or rejected with the
        platform's reason, for good: the platform has already heard the customer. Any other work order's
        decision, or one that comes after the case was settled otherwise, changes nothing.
        """
        if self._ended or not self._work_order_open or decided.work_order_id != self._work_order_id:
            workflow.logger.info("work order %s decided; the case does not wait for it", decided.work_order_id)
            return
        self._work_order_open = False  # the answer comes from it: nothing to tell it back
        detail = f"work order {decided.work_order_id}: {decided.reason}"
        if self._status is CaseStatus.DISPUTED:
            decision = DisputeDecision(approve=decided.approve, reason=decided.reason)
            self._applied.record(Action.RESOLVE_DISPUTE, decision)  # the same decision on the case is a retry
            self._settle_dispute(decision, detail)
        elif self._status is CaseStatus.PENDING_REVIEW and decided.approve:
            self._changed("approved", Actor.PLATFORM, detail=detail)
            self._approve()
        elif self._status is CaseStatus.PENDING_REVIEW:
            self._applied.record(Action.REJECT, Rejection(reason=decided.reason))
            self._appealed = True  # rejected by the platform itself: there is no one left to appeal to
            self._reject(decided.reason, Actor.PLATFORM, detail)
            self._changed("case_closed", Actor.PLATFORM, detail="rejected by the platform; no appeal")

    @resolve_dispute.validator
    def _validate_dispute(self, decision: DisputeDecision) -> None:
        self._require(Action.RESOLVE_DISPUTE, decision)

    @workflow.update
    def record_offline_refund(self, refund: OfflineRefund) -> CaseView:
        """The merchant refunded outside the payment system."""
        if self._applied.repeats(Action.OFFLINE_REFUND, refund):
            return self.state()
        self._applied.record(Action.OFFLINE_REFUND, refund)
        self._refunded_cents = self._amount()
        self._overdue = False
        self._enter(CaseStatus.COMPLETED)
        self._changed(
            "refund_issued", Actor.MERCHANT, detail=f"offline {self._refunded_cents} cents: {refund.reference}"
        )
        return self.state()

    @record_offline_refund.validator
    def _validate_offline_refund(self, refund: OfflineRefund) -> None:
        self._require(Action.OFFLINE_REFUND, refund)

    @workflow.update
    def shift_deadlines(self, shift: DeadlineShift) -> CaseView:
        """The platform moves the running deadline; its timers follow at once."""
        assert self._clock is not None
        self._timers.shift(self._clock, timedelta(hours=shift.hours))
        self._changed("deadline_moved", Actor.PLATFORM, detail=f"{shift.hours:+g}h: {shift.reason}")
        return self.state()

    @shift_deadlines.validator
    def _validate_shift(self, shift: DeadlineShift) -> None:
        deadline = self._deadline_at()
        if deadline is None or self._ended:
            raise refuse("invalid_state", "no deadline of this case is running")
        moved = deadline + timedelta(hours=shift.hours)
        if problem := shifted_deadline_problem(moved, workflow.now(), "the deadline"):
            raise refuse("validation_error", problem)

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the case's running deadline, once per shift id."""
        answer = apply_shift(self._timers, shift, self._shifts)
        if answer.clocks and not answer.repeat:
            self._changed("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        if self._ended and shift.shift_id not in self._shifts:
            raise refuse("invalid_state", "the case is over; its clocks have stopped")
        check_shift(self._timers, shift, self._shifts)

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of an action this case applied (asked also once it has ended)."""
        return self._applied.repeats_attempt(attempt)

    @workflow.query
    def state(self) -> CaseView:
        """The case as it stands."""
        request = self._input.request
        return CaseView(
            case_id=request.case_id,
            order_id=request.order_id,
            merchant_id=self._input.merchant_id,
            customer_id=self._input.customer_id,
            kind=request.kind,
            status=self._status,
            reason=request.reason,
            lines=request.lines,
            refund_cents=self._amount(),
            refunded_cents=self._refunded_cents,
            deadline_at=self._deadline_at(),
            overdue=self._overdue,
            auto_decided=self._auto,
            return_carrier=self._return.carrier if self._return else None,
            return_tracking_no=self._return.tracking_no if self._return else None,
            replacement_carrier=self._replacement.carrier if self._replacement else None,
            replacement_tracking_no=self._replacement.tracking_no if self._replacement else None,
            replacement_address=self._replacement_address() if request.kind is CaseKind.EXCHANGE else None,
            # The id ``/v1/pickups/{pickup_id}`` takes: the case's own (a pickup belongs to one case), not the
            # pickup workflow's id, which stays internal.
            pickup_id=request.case_id if self._pickup_id else None,
            work_order_id=self._work_order_id,
            rejection_reason=self._rejection_reason,
            history=list(self._journal.history),
            revision=self._journal.revision,
            opened_at=self._opened_at,
        )

    # --- transitions ---------------------------------------------------------------------------------------

    def _require(self, action: Action, body: BaseModel | None = None) -> bool:
        """Refuses ``action`` unless the status allows it; True if it is a retry of what was applied.

        A retry (the same action with the same body, or the same decision taken by the system) is
        accepted in any status: its handler answers the case as it stands and records nothing.
        """
        if self._applied.repeats(action, body):
            return True
        if self._ended or not allowed(self._status, action):
            raise refuse("invalid_state", f"the case is {self._status.value}; {action.value} is not possible now")
        return False

    def _cancel_rule(self) -> str:
        if self._input.request.kind is CaseKind.REFUND_ONLY:
            return f"the case is {self._status.value}; a refund-only case can be cancelled until the merchant decides"
        return f"the case is {self._status.value}; a return can be cancelled until the goods are sent back"

    def _enter(self, status: CaseStatus, *, since: datetime | None = None) -> None:
        """Moves to ``status`` and starts its clock at once, so the answer shows the new deadline.

        Args:
            status: the new status.
            since: when it began, if not now (a parcel delivered before the carrier told us).
        """
        self._status = status
        self._since = min(since, workflow.now()) if since else workflow.now()
        if self._clock is not None:
            self._timers.stop(self._clock)  # the last status's deadline no longer runs
        plan = self._plan(status)
        if plan is None:
            self._clock = None
            return
        name, length, reminders = plan
        # A late start (the parcel was delivered before the carrier told us) fires only the latest due step.
        # No status with a clock is entered twice, so the clock of that name is always a fresh one.
        self._timers.start(SlaClock(name=name, budget=length, steps=offset_steps(reminders)), at=self._since)
        self._clock = name

    def _approve(self) -> None:
        self._applied.record(Action.APPROVE)  # whoever approved: the merchant's approve again is a retry
        self._overdue = False
        if self._input.request.kind is CaseKind.REFUND_ONLY:
            self._enter(CaseStatus.REFUNDING)
        elif self._received:
            self._after_receipt()
        else:
            self._enter(CaseStatus.AWAITING_RETURN)
        self._status_changed()

    def _send_back(self, shipment: ParcelShipment, actor: Actor) -> None:
        self._return = shipment
        self._return_postage_cents = shipment.postage_cents
        self._enter(CaseStatus.RETURN_IN_TRANSIT)
        self._changed("return_shipped", actor, detail=f"{shipment.carrier} {shipment.tracking_no}")

    def _after_receipt(self) -> None:
        self._received = True
        self._overdue = False
        self._journal.in_background(self._claim_insurance())
        self._enter(
            CaseStatus.AWAITING_REPLACEMENT if self._input.request.kind is CaseKind.EXCHANGE else CaseStatus.REFUNDING
        )
        self._status_changed()

    async def _dispute(self, purpose: str, reason: str) -> None:
        """A disputed case: the platform's group hears of it at once, and a platform work order decides it."""
        self._applied.forget(Action.RESOLVE_DISPUTE)  # a new dispute: the last one's decision is no answer
        key = notification_key("dispute", f"dispute_{self._journal.revision}")
        self._tell(key, Template.CASE_DISPUTED, (Audience.PLATFORM,), reason=reason)
        merchant_said = f"the merchant: {self._rejection_reason}" if purpose == "appeal" else f"refused: {reason}"
        await self._open_work_order(purpose, merchant_said)

    def _settle_dispute(self, decision: DisputeDecision, detail: str) -> None:
        if decision.approve:
            self._changed("dispute_upheld", Actor.PLATFORM, detail=detail)
            self._approve()
        else:
            self._appealed = True
            self._reject(decision.reason, Actor.PLATFORM, detail, event="dispute_dismissed")

    def _reject(self, reason: str, actor: Actor, detail: str, *, event: str = "rejected") -> None:
        self._rejection_reason = reason
        self._overdue = False
        self._enter(CaseStatus.REJECTED)
        self._changed(event, actor, detail=detail)

    # --- the platform's work order -------------------------------------------------------------------------

    async def _open_work_order(self, purpose: str, merchant_said: str) -> None:
        """Opens a platform work order for this case (a child, parent-close ABANDON), linked both ways.

        Unassigned, so the platform's customer-service group is prompted after ``AFTERSALES_WO_ASSIGN``
        (30 min); round the clock, since the platform's desk, not the merchant's, answers it. The title and
        description carry the case's ids and the merchant's words, never the customer's.
        """
        request = self._input.request
        category, title = WORK_ORDER_PURPOSES[purpose]
        description = (
            f"{purpose}: case {request.case_id} ({request.kind.value}, {self._amount()} cents) "
            f"of order {request.order_id}; {merchant_said}"
        )[:4000]
        for _ in range(WORK_ORDER_ATTEMPTS):
            self._work_orders += 1
            work_order_id = ids.case_work_order(request.case_id, self._work_orders)
            opened = OpenWorkOrder(
                work_order_id=work_order_id,
                merchant_id=self._input.merchant_id,
                category=category,
                priority=Priority.NORMAL,
                title=f"{title} {request.case_id}",
                description=description,
                order_id=request.order_id,
                case_id=request.case_id,
                customer_id=self._input.customer_id,
            )
            # Linked before the start returns, so an Update answered meanwhile already shows it.
            self._work_order_id, self._work_order_open = work_order_id, True
            try:
                await workflow.start_child_workflow(
                    work_orders.WorkOrderWorkflow.run,
                    WorkOrderInput(
                        request=opened,
                        policy=self._input.policy,
                        board_url=self._input.board_url,
                        settles_case=True,
                        callbacks=self._input.callbacks,  # the mall hears of the work order as of its case
                    ),
                    id=ids.work_order(work_order_id),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=sa.initial_work_order_attributes(
                        merchant_id=self._input.merchant_id,
                        order_id=request.order_id,
                        status="unassigned",
                        priority=Priority.NORMAL.value,
                        assignee_id=None,
                    ),
                    static_summary=f"Platform work order of case {request.case_id} ({purpose})",
                )
            except WorkflowAlreadyStartedError:
                self._work_order_id, self._work_order_open = None, False
                continue  # the mall uses this id for a work order of its own: the next number
            self._changed("work_order_opened", Actor.SYSTEM, detail=work_order_id)
            return
        self._changed("work_order_failed", Actor.SYSTEM, detail=f"no free work order id for {purpose}")

    def _settle_work_order(self, actor: Actor, outcome: str, reason: str = "") -> None:
        """The case was settled without its work order's decision: the work order closes as settled."""
        if not self._work_order_open or self._work_order_id is None:
            return
        self._work_order_open = False
        settled = CaseSettled(case_id=self._input.request.case_id, status=outcome, actor=actor, reason=reason)
        self._journal.in_background(
            tell_workflow(ids.work_order(self._work_order_id), work_orders.WorkOrderWorkflow.case_settled, settled)
        )

    # --- money ---------------------------------------------------------------------------------------------

    def _amount(self) -> int:
        return refund_cents(self._input.request.lines, self._input.order_lines)

    async def _refund(self) -> None:
        """Refunds once: no retry, worker crash or replay can pay twice.

        The key is the case's, bound to the order, the lines and the amount: a retry asks the same refund
        under the same key, and no other refund can ever be answered with this one's result.
        """
        request = self._input.request
        prices = {line.line_id: line.unit_price_cents for line in self._input.order_lines}
        lines = [
            RefundLine(line_id=line.line_id, quantity=line.quantity, unit_price_cents=prices[line.line_id])
            for line in request.lines
        ]
        amount = self._amount()
        refund = Refund(
            refund_id=ids.partner_key("refund", request.case_id, request.order_id, lines, amount),
            order_id=request.order_id,
            case_id=request.case_id,
            merchant_id=self._input.merchant_id,
            amount_cents=amount,
            reason=request.reason,
            lines=lines,
        )
        try:
            receipt = await workflow.execute_activity_method(
                Partners.refund,
                refund,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=MONEY,
                summary=f"refund {refund.amount_cents} cents",
            )
        except ActivityError as failure:
            # Refused for good by the payment side: the merchant refunds offline, on its own clock.
            self._enter(CaseStatus.AWAITING_OFFLINE_REFUND)
            self._changed("refund_failed", Actor.SYSTEM, detail=why(failure))
            self._tell(
                notification_key("refund", "refund_failed"),
                Template.REFUND_FAILED,
                (Audience.MERCHANT,),
                deadline_at=workflow.now() + self._input.policy.offline_refund_deadline,
                amount=f"¥{refund.amount_cents / 100:.2f}",
            )
            return
        self._refunded_cents = refund.amount_cents
        self._changed("refund_issued", Actor.SYSTEM, detail=f"{refund.amount_cents} cents {receipt.provider_ref}")
        self._enter(CaseStatus.COMPLETED)

    async def _claim_insurance(self) -> None:
        """A returned insured line claims the return postage, once per case."""
        request = self._input.request
        insured = {line.line_id for line in self._input.order_lines if line.insured}
        line_ids = [line.line_id for line in request.lines if line.line_id in insured]
        if not line_ids or self._journal.has("insurance_claimed"):
            return
        postage = self._return_postage_cents or 0
        claim = InsuranceClaim(
            claim_id=ids.partner_key("insurance", request.case_id, request.order_id, line_ids, postage),
            order_id=request.order_id,
            case_id=request.case_id,
            line_ids=line_ids,
            postage_cents=postage,
        )
        try:
            receipt = await workflow.execute_activity_method(
                Partners.claim_insurance,
                claim,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=MONEY,
                summary="shipping insurance claim",
            )
        except ActivityError as failure:
            self._changed("insurance_claim_failed", Actor.SYSTEM, detail=why(failure))
            return
        self._changed("insurance_claimed", Actor.SYSTEM, detail=f"{receipt.paid_cents} cents {receipt.status}")

    # --- effects ---------------------------------------------------------------------------------------------

    async def _tell_order(self) -> None:
        """Tells the order what this case took for good (refunded) and what it gives back."""
        request = self._input.request
        refunded = self._refunded_cents > 0
        settlement = CaseSettlement(
            case_id=request.case_id,
            refunded=request.lines if refunded else [],
            released=[] if refunded else request.lines,
        )
        await tell_workflow(ids.order(request.order_id), "settle_case", settlement)

    def _tell(
        self,
        key: str,
        template: Template,
        audiences: tuple[Audience, ...],
        task: str = "",
        task_en: str = "",
        *,
        sent: str | None = None,
        detail: str = "",
        deadline_at: datetime | None = None,
        actions: tuple[ActionLink, ...] = (),
        **params: str,
    ) -> None:
        request = self._input.request
        deadline = deadline_at or self._clock_deadline()
        notification = Notification(
            key=key,
            merchant_id=self._input.merchant_id,
            audiences=audiences,
            template=template,
            params={
                "case_id": request.case_id,
                "order_id": request.order_id,
                "task": task,
                "task_en": task_en,
                "left": time_left(deadline - workflow.now()) if deadline else "",
                **params,
            },
            deadline_at=deadline,
            link=f"{self._input.board_url}/v1/after-sales/{request.case_id}" if self._input.board_url else None,
            actions=actions,
        )
        self._journal.tell(notification, sent=sent, detail=detail)

    def _changed(
        self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "", due_at: datetime | None = None
    ) -> None:
        self._journal.record(event, actor, at=at, detail=detail, due_at=due_at)
        self._status_changed()

    def _status_changed(self) -> None:
        sa.upsert(sa.current(self._status.value, self._overdue, self._deadline_at()))

    def _deadline_at(self) -> datetime | None:
        if self._ended or self._status in (CaseStatus.COMPLETED, CaseStatus.CANCELLED):
            return None
        return self._clock_deadline()

    def _clock_deadline(self) -> datetime | None:
        """The current status's deadline; the return clock, paused while a pickup is booked, shows the
        deadline that runs on if the pickup is dropped."""
        if self._clock is None:
            return None
        clock = self._clocks[self._clock]
        if clock.paused:
            clock = clock.resume(workflow.now(), keep_deadline=True)
        return clock.last_deadline_at()

    def _replacement_address(self) -> Address:
        return self._input.request.new_address or self._input.shipping_address
