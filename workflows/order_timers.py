"""The order's clocks at work: their steps, and the Updates that move them.

Every deadline of the order is an SLA clock run by one :class:`~workflows.sla.SlaTimers`:
:class:`OrderTimers` answers their steps (a ship reminder, the ship deadline's breach, a stalled parcel, a
missed promise, the window's end and the grace's) and takes the admin's and the platform's moves of them
(a window extended or reopened, the ship deadline shifted for one order or platform-wide).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.durations import horizon_problem, shifted_deadline_problem, time_left
    from domain.notifications import Audience, Template
    from domain.orders import (
        Actor,
        AnomalyReason,
        DeadlineShift,
        OrderStatus,
        OrderView,
        WindowExtension,
        can_extend,
        extended_window_end,
    )
    from domain.sla import PlannedStep, SlaClock, offset_steps
    from workflows.effects import refuse
    from workflows.order_base import OrderBase
    from workflows.shifts import apply_shift, check_shift, shift_detail


class OrderTimers(OrderBase):
    """The order's clock steps, and the Updates that extend or shift its deadlines."""

    # --- admin and platform moves --------------------------------------------------------------------------

    @workflow.update
    def extend_window(self, extension: WindowExtension) -> OrderView:
        """An admin extends (or reopens) the after-sales window."""
        ends_at = self._window_ends_at()
        assert ends_at is not None
        days = timedelta(days=extension.days) if extension.days else self._input.policy.extension
        new_end = extended_window_end(ends_at, workflow.now(), days)
        if self._timers["window"].breached:  # closed: the window reopens from now, its next generation
            self._timers.restart("window")
            self._timers.set_budget("window", new_end - workflow.now())
            self._timers.stop("grace")
        else:
            self._timers.shift("window", new_end - ends_at)
        self._s.status = OrderStatus.DELIVERED
        self._changed("window_extended", Actor.PLATFORM, detail=f"+{days.days}d")
        return self.state()

    @extend_window.validator
    def _validate_extension(self, extension: WindowExtension) -> None:
        if self._s.closing or not can_extend(self._s.status):
            raise refuse("invalid_state", f"the order is {self._s.status.value}; its window cannot be extended now")
        ends_at = self._window_ends_at()
        assert ends_at is not None
        days = timedelta(days=extension.days) if extension.days else self._input.policy.extension
        end = extended_window_end(ends_at, workflow.now(), days)
        if problem := horizon_problem(end, workflow.now(), "the window's end"):
            raise refuse("validation_error", problem)

    @workflow.update
    def shift_deadlines(self, shift: DeadlineShift) -> OrderView:
        """The platform moves the running ship deadline (e.g. the New Year holiday)."""
        self._timers.shift("ship", timedelta(hours=shift.hours))
        self._changed("deadline_moved", Actor.PLATFORM, detail=f"{shift.hours:+g}h: {shift.reason}")
        return self.state()

    @shift_deadlines.validator
    def _validate_shift(self, shift: DeadlineShift) -> None:
        if self._s.status is not OrderStatus.AWAITING_SHIPMENT or self._s.overdue:
            raise refuse("invalid_state", "no deadline of this order is running")
        moved = self._ship_deadline_at() + timedelta(hours=shift.hours)
        if problem := shifted_deadline_problem(moved, workflow.now(), "the ship deadline"):
            raise refuse("validation_error", problem)

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the order's running merchant deadline, once per shift id."""
        answer = apply_shift(self._timers, shift, self._s.shifts)
        if answer.clocks and not answer.repeat:
            self._changed("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        check_shift(self._timers, shift, self._s.shifts)

    # --- the clocks' steps ---------------------------------------------------------------------------------

    async def _on_step(self, planned: PlannedStep) -> None:
        on_step = {
            "ship": self._on_ship_step,
            "stall": self._on_stall,
            "promise": self._on_promise_missed,
            "window": self._on_window_end,
            "grace": self._on_grace_over,
        }
        await on_step[planned.clock](planned)

    async def _on_ship_step(self, step: PlannedStep) -> None:
        order = self._input.order
        if step.step.is_breach:
            self._s.overdue = True
            self._changed("ship_overdue", Actor.SYSTEM, due_at=step.at)
            self._tell(step, Template.SHIP_OVERDUE, (Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM))
            return
        # In the background: the next step's timer is armed at once, even while a robot is throttled.
        self._tell(
            step,
            Template.SHIP_REMINDER,
            (Audience.MERCHANT,),
            sent="reminder_sent",
            detail=f"ship {step.step.name} to {order.merchant_id}",
            left=time_left(self._ship_deadline_at() - workflow.now()),
        )

    async def _on_stall(self, step: PlannedStep) -> None:
        """No movement for the stall period: one anomaly per episode (the next movement starts another)."""
        self._raise_anomaly(AnomalyReason.STALLED, "")

    async def _on_promise_missed(self, step: PlannedStep) -> None:
        self._raise_anomaly(AnomalyReason.LATE_DELIVERY, "")

    async def _on_window_end(self, step: PlannedStep) -> None:
        """The after-sales window closed; an admin may still reopen it within the grace."""
        self._s.status = OrderStatus.CLOSED
        self._changed("window_closed", Actor.SYSTEM)
        grace = SlaClock(name="grace", budget=self._input.policy.extension_grace, steps=offset_steps(()))
        if "grace" in self._timers:
            self._timers.restart("grace")  # closed again after a reopening: a fresh grace
        else:
            self._timers.start(grace)

    async def _on_grace_over(self, step: PlannedStep) -> None:
        self._s.closing = True
