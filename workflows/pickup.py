"""Door-to-door pickup of a return: book a courier, collect the postage, watch the courier come.

``PickupWorkflow`` (id ``pickup-{case_id}``) is started by its case. It books through the logistics side,
waits for the customer to pay the return postage (else the booking is dropped), uploads the waybill to the
case, and watches that the courier picks up within the slot: a missed slot is rebooked once for the next
day, a second miss tells platform customer service. The case hears of every outcome by signal.

Its two deadlines are SLA clocks (:mod:`domain.sla`) run by :class:`~workflows.sla.SlaTimers`: ``payment``
(the postage due) and ``slot`` (the courier's window, one generation per booking). Everything the pickup
keeps, those clocks included, lives in one :class:`~domain.pickups.PickupState`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.partners import REFUSED, Partners
    from domain import ids
    from domain.callbacks import pickup_data
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.notifications import Audience, Notification, Template
    from domain.orders import FUTURE_TOLERANCE, Actor, event_time_problem
    from domain.pickups import (
        ENDED,
        Booking,
        BookingCancellation,
        CourierEvent,
        CourierStatus,
        PickupInput,
        PickupNotice,
        PickupPayment,
        PickupState,
        PickupStatus,
        PickupView,
    )
    from domain.retries import Attempt
    from domain.sla import PlannedStep, SlaClock, offset_steps
    from workflows import search_attributes as sa
    from workflows.effects import Journal, notification_key, refuse, tell_workflow, why
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.sla import SlaTimers

BOOKING = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5), non_retryable_error_types=[REFUSED]
)
MAX_ATTEMPTS = 2  # the first booking and one rebooking
PAYMENT, COURIER = "payment", "courier"  # the pickup's actions a retry can repeat
BODIES: dict[str, type[BaseModel]] = {PAYMENT: PickupPayment, COURIER: CourierEvent}


@workflow.defn
class PickupWorkflow:
    """One door-to-door pickup of a return."""

    @workflow.init
    def __init__(self, input: PickupInput) -> None:
        self._input = input
        request = input.request
        self._s = PickupState(slot_start=request.slot_start, slot_end=request.slot_end)
        self._timers = SlaTimers(self._s.clocks, self._on_step, quiet=input.policy.quiet_hours)
        # A case's next pickup is the next run under the same id: its number keeps the event ids apart.
        stream = f"{workflow.info().workflow_id}/{input.number}"
        self._journal = Journal(
            None,
            self.state,
            callbacks=("pickup", stream, lambda: pickup_data(self.state())) if input.callbacks else None,
        )
        self._journal.history = self._s.history  # the journal appends to the state's own history

    @workflow.run
    async def run(self, input: PickupInput) -> PickupView:
        """Books, collects the postage, watches the slot; rebooks once."""
        self._journal.start()
        while self._s.status not in ENDED:
            await self._attempt()
        await self._journal.settle()
        return self.state()

    async def _attempt(self) -> None:
        self._s.attempts += 1
        self._s.courier = None
        if not await self._book():
            return
        if self._s.cancel_reason is None and not self._s.paid and self._fee() > 0:
            if "payment" in self._timers:  # a rebooking that costs postage where the first booking did not
                self._timers.restart("payment")
            else:
                payment = SlaClock(
                    name="payment", budget=self._input.policy.pickup_payment_deadline, steps=offset_steps(())
                )
                self._timers.start(payment)
            self._move(PickupStatus.AWAITING_PAYMENT, "awaiting_payment", detail=f"{self._fee()} cents")
            await self._timers.run(
                until=lambda: self._s.paid or self._s.cancel_reason is not None or self._timers["payment"].breached
            )
            paid = self._s.paid or self._s.cancel_reason is not None
            self._timers.stop("payment")
            if not paid:
                await self._drop("booking_dropped", "the postage was not paid in time")
                return
        if self._s.cancel_reason is not None:
            await self._drop("cancelled", self._s.cancel_reason)
            return
        self._watch_slot()
        self._move(PickupStatus.SCHEDULED, "scheduled", detail=self._waybill())
        await self._tell_case()
        await self._timers.run(
            until=lambda: (
                self._s.courier is not None or self._s.cancel_reason is not None or self._timers["slot"].breached
            )
        )
        came = self._s.courier is not None or self._s.cancel_reason is not None
        self._timers.stop("slot")
        if self._s.cancel_reason is not None:
            await self._drop("cancelled", self._s.cancel_reason)
            return
        if came and self._s.courier is not None and self._s.courier.status is CourierStatus.PICKED_UP:
            self._move(PickupStatus.PICKED_UP, "picked_up", at=self._s.courier.at, detail=self._waybill())
            await self._tell_case()
            return
        if self._s.courier is None:  # the slot passed without a word from the courier
            self._journal.record("courier_missed", Actor.SYSTEM, detail=self._waybill())
        # The next status first, so the courier's report is answered with it; then the booking is dropped.
        final = self._s.attempts >= MAX_ATTEMPTS
        if final:
            self._move(PickupStatus.FAILED, "failed", detail="missed twice")
        else:  # rebook once, the same hours the next day
            self._s.slot_start += timedelta(days=1)
            self._s.slot_end += timedelta(days=1)
            self._move(PickupStatus.BOOKING, "rebooking", detail=self._s.slot_start.isoformat())
        await self._cancel_booking("the courier missed the slot")
        if final:
            self._journal.tell(
                Notification(
                    key=notification_key("pickup", "failed"),
                    merchant_id=self._input.merchant_id,
                    audiences=(Audience.PLATFORM,),
                    template=Template.PICKUP_FAILED,
                    params={
                        "case_id": self._input.case_id,
                        "order_id": self._input.order_id,
                        "waybill_no": self._waybill(),
                    },
                )
            )
            await self._tell_case()

    def _watch_slot(self) -> None:
        """Runs the slot's clock: from the slot's start (ahead, or past once the postage came late) to its end.

        A rebooking is the clock's next generation, for the next day's slot.
        """
        if "slot" in self._timers:
            self._timers.restart("slot", at=self._s.slot_start)
            return
        slot = SlaClock(name="slot", budget=self._s.slot_end - self._s.slot_start, steps=offset_steps(()))
        # Not SlaTimers.start, which starts no later than now: the courier's window may lie ahead.
        self._timers.put(slot.start(self._s.slot_start))

    async def _on_step(self, planned: PlannedStep) -> None:
        """Nothing to tell at a pickup's deadline: the run loop, waiting on the clock, acts on its breach."""

    async def _book(self) -> bool:
        self._s.booking = self._booking_id()
        booking = Booking(
            booking_id=self._s.booking,
            case_id=self._input.case_id,
            order_id=self._input.order_id,
            address=self._input.request.address,
            slot_start=self._s.slot_start,
            slot_end=self._s.slot_end,
        )
        self._move(PickupStatus.BOOKING, "booking", detail=booking.booking_id)
        try:
            self._s.confirmation = await workflow.execute_activity_method(
                Partners.book_pickup,
                booking,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=BOOKING,
                summary="book a courier",
            )
        except ActivityError as failure:
            self._move(PickupStatus.FAILED, "booking_refused", detail=why(failure))
            await self._tell_case()
            return False
        self._journal.record("booked", Actor.SYSTEM, detail=f"{self._s.confirmation.carrier} {self._waybill()}")
        return True

    async def _drop(self, event: str, reason: str) -> None:
        await self._cancel_booking(reason)
        self._move(PickupStatus.CANCELLED, event, detail=reason)
        await self._tell_case()

    async def _cancel_booking(self, reason: str) -> None:
        await workflow.execute_activity_method(
            Partners.cancel_pickup,
            BookingCancellation(booking_id=self._s.booking, case_id=self._input.case_id, reason=reason),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKING,
            summary="cancel the booking",
        )

    # --- the customer and the courier ------------------------------------------------------------------------

    @workflow.update
    async def pay(self, payment: PickupPayment) -> PickupView:
        """The customer paid the return postage: answers the pickup scheduled. The same payment again
        (a retry) answers the pickup as it stands."""
        if not self._s.applied.repeats(PAYMENT, payment):
            self._s.applied.record(PAYMENT, payment)
            self._s.paid = True
            self._journal.record("paid", Actor.CUSTOMER, detail=f"{payment.paid_cents} cents")
            # The run loop schedules the courier at once (dropped instead if the case was just cancelled).
            await workflow.wait_condition(lambda: self._s.status is not PickupStatus.AWAITING_PAYMENT)
        return self.state()

    @pay.validator
    def _validate_pay(self, payment: PickupPayment) -> None:
        if self._s.applied.repeats(PAYMENT, payment):
            return
        if self._s.status is not PickupStatus.AWAITING_PAYMENT or self._s.paid:
            raise refuse("invalid_state", f"the pickup is {self._s.status.value}; no payment is due")
        if payment.paid_cents != self._fee():
            raise refuse("validation_error", f"the postage is {self._fee()} cents, not {payment.paid_cents}")

    @workflow.update
    async def record_courier(self, event: CourierEvent) -> PickupView:
        """The courier picked the parcel up, or missed the slot: answers the pickup picked up, or rebooking
        (failed after a second miss). The same report again (a retry) answers the pickup as it stands."""
        if not self._s.applied.repeats(COURIER, event):
            self._s.applied.record(COURIER, event)
            self._s.courier = event
            self._journal.record(f"courier_{event.status.value}", Actor.SYSTEM, at=event.at)
            await workflow.wait_condition(lambda: self._s.status is not PickupStatus.SCHEDULED)
        return self.state()

    @record_courier.validator
    def _validate_courier(self, event: CourierEvent) -> None:
        if self._s.applied.repeats(COURIER, event):
            return
        if self._s.status is not PickupStatus.SCHEDULED or self._s.courier is not None:
            raise refuse("invalid_state", f"the pickup is {self._s.status.value}; no courier visit is due")
        booked_at = workflow.info().start_time - FUTURE_TOLERANCE  # no courier came before the booking
        if problem := event_time_problem(event.at, now=workflow.now(), not_before=booked_at):
            raise refuse("validation_error", problem)

    @workflow.signal
    def cancel(self, reason: str) -> None:
        """The case no longer needs the pickup (cancelled by the customer)."""
        if self._s.status not in ENDED:
            self._s.cancel_reason = reason

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform shift that names the pickup's ``payment`` or ``slot`` clock moves it, once per shift id."""
        answer = apply_shift(self._timers, shift, self._s.shifts)
        if answer.clocks and not answer.repeat:
            self._move(self._s.status, "deadline_moved", detail=shift_detail(shift, answer))
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        check_shift(self._timers, shift, self._s.shifts)

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of an action this pickup applied (asked also once it has ended)."""
        return self._s.applied.repeats_attempt(attempt, BODIES)

    @workflow.query
    def state(self) -> PickupView:
        """The pickup as it stands."""
        confirmation = self._s.confirmation
        return PickupView(
            case_id=self._input.case_id,
            order_id=self._input.order_id,
            merchant_id=self._input.merchant_id,
            status=self._s.status,
            carrier=confirmation.carrier if confirmation else None,
            waybill_no=confirmation.waybill_no if confirmation else None,
            fee_cents=self._fee(),
            paid=self._s.paid,
            slot_start=self._s.slot_start,
            slot_end=self._s.slot_end,
            deadline_at=self._deadline_at(),
            attempts=self._s.attempts,
            history=list(self._journal.history),
        )

    # --- effects ---------------------------------------------------------------------------------------------

    def _booking_id(self) -> str:
        """The current attempt's booking, the logistics side's idempotency key.

        One per attempt of each of the case's pickups (``pickup-{case_id}-{number}-{attempt}-…``), bound
        to the address and the slot: a case's second pickup is never answered with its dropped first one.
        """
        owner = f"{self._input.case_id}-{self._input.number}-{self._s.attempts}"
        address, order_id = self._input.request.address, self._input.order_id
        return ids.partner_key("pickup", owner, order_id, address, self._s.slot_start, self._s.slot_end)

    def _fee(self) -> int:
        return self._s.confirmation.fee_cents if self._s.confirmation else 0

    def _waybill(self) -> str:
        return self._s.confirmation.waybill_no if self._s.confirmation else ""

    def _deadline_at(self) -> datetime | None:
        clock = {PickupStatus.AWAITING_PAYMENT: "payment", PickupStatus.SCHEDULED: "slot"}.get(self._s.status)
        return self._s.clocks[clock].last_deadline_at() if clock in self._s.clocks else None

    def _move(self, status: PickupStatus, event: str, *, at: datetime | None = None, detail: str = "") -> None:
        self._s.status = status
        self._journal.record(event, Actor.SYSTEM, at=at, detail=detail)
        sa.upsert(sa.current(status.value, False, self._deadline_at()))

    async def _tell_case(self) -> None:
        confirmation = self._s.confirmation
        notice = PickupNotice(
            status=self._s.status,
            carrier=confirmation.carrier if confirmation else None,
            waybill_no=confirmation.waybill_no if confirmation else None,
            fee_cents=self._fee() if self._s.paid else 0,
        )
        await tell_workflow(ids.after_sale(self._input.case_id), "pickup_changed", notice)
