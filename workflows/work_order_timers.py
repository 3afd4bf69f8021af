"""The work order's clocks at work: their steps, the calendar they count on, platform-wide deadline shifts.

Every clock, the two lifecycle ones included, is run by one :class:`~workflows.sla.SlaTimers`;
:class:`WorkOrderTimers` answers its steps (a reminder or escalation told, the auto-close, the end of the
reopen window), keeps the calendar complete and current, and moves the clocks for a platform-wide shift.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.calendars import Calendars
    from domain.calendar_change import (
        SET_CALENDAR,
        CalendarApplied,
        CalendarOutcome,
        CalendarUpdate,
        HolidayRequest,
        fingerprint,
        outcome,
        years_uncovered,
    )
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.orders import Actor
    from domain.sla import ClockStatus, PlannedStep, StepLevel
    from domain.work_order_clocks import ClockName, service_clocks
    from workflows.effects import refuse
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.work_order_base import WorkOrderBase
    from workflows.work_order_notices import step_notice

# Asking for a year's holidays is worth a few tries, not a work order stuck waiting on it.
_HOLIDAYS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=5)


class WorkOrderTimers(WorkOrderBase):
    """The clocks' steps and the Updates that move the clocks."""

    async def _on_step(self, planned: PlannedStep) -> None:
        """Records the step and tells its recipients; the key carries the clock's generation.

        The lifecycle clocks tell nobody: the auto-close closes a resolved work order, and the end of the
        reopen window ends a closed one.
        """
        if planned.clock == ClockName.AUTO_CLOSE:
            self._close(Actor.SYSTEM, "auto_closed", due_at=planned.at)
            return
        if planned.clock == ClockName.REOPEN_WINDOW:
            self._changed()  # wakes the loop: a closed work order ends now; a resolved one when it closes
            return
        level = planned.step.level
        name = ClockName(planned.clock)
        self._journal.record(
            "reminder" if level is StepLevel.REMIND else "escalated",
            Actor.SYSTEM,
            due_at=planned.at,
            detail=f"{name.value} {planned.step.name} (generation {planned.generation}, level {int(level)})",
        )
        workflow_id, request = workflow.info().workflow_id, self._input.request
        notice = step_notice(planned, self._s, request, workflow_id=workflow_id, now=workflow.now(), link=self._link())
        self._journal.tell(notice, detail=planned.key)
        self._changed()

    @workflow.update(name=SET_CALENDAR)
    def set_calendar(self, body: CalendarUpdate) -> CalendarApplied:
        """The merchant's calendar changed: every clock counts on it from now, keeping the time it consumed.

        Idempotent: the calendar it runs on already answers ``unchanged``, an older change ``stale``.
        """
        return self._apply_calendar(body, "calendar_changed", Actor.PLATFORM, body.fingerprint)

    @set_calendar.validator
    def _validate_set_calendar(self, body: CalendarUpdate) -> None:
        if self._ended:
            raise refuse("invalid_state", "the work order is over; its clocks have stopped")
        if fingerprint(body.calendar) != body.fingerprint:
            raise refuse("validation_error", "the calendar does not match its fingerprint")

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the running clocks, once per shift id (kept across runs)."""
        answer = apply_shift(self._timers, shift, self._s.shifts)
        if not answer.clocks or answer.repeat:
            return answer
        self._journal.record("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        self._acted()
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        if self._ended and shift.shift_id not in self._s.shifts:
            raise refuse("invalid_state", "the work order is over; its clocks have stopped")
        check_shift(self._timers, shift, self._s.shifts)

    async def _cover_holidays(self) -> None:
        """Asks once per run for the holidays of a year that now or a running clock's deadline reaches and
        the calendar lacks (a work order that lives on past next year); the answer is recorded data."""
        if self._input.calendar.holidays_source is None:
            return  # round the clock, or working hours without holidays: nothing to ask for
        deadlines = [at for clock in service_clocks(self._s.clocks) if (at := clock.deadline_at()) is not None]
        missing = years_uncovered(self._input.calendar, [workflow.now(), *deadlines]) - self._asked_years
        if not missing:
            return
        self._asked_years |= missing
        request = HolidayRequest(merchant_id=self._input.request.merchant_id, years=tuple(sorted(missing)))
        try:
            update = await workflow.execute_activity_method(
                Calendars.merchant_calendar,
                request,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_HOLIDAYS_RETRY,
                summary=f"holidays {', '.join(map(str, request.years))}",
            )
        except ActivityError:
            workflow.logger.warning("holidays of %s not resolved; the clocks count those years without", missing)
            return
        years = ", ".join(map(str, update.calendar.holiday_years)) or "none"
        self._apply_calendar(update, "holidays_resolved", Actor.SYSTEM, f"{update.fingerprint} (holidays {years})")

    def _apply_calendar(self, update: CalendarUpdate, event: str, actor: Actor, detail: str) -> CalendarApplied:
        current = fingerprint(self._input.calendar)
        result = outcome(update, current=current, current_revision=self._input.calendar_revision)
        if result is CalendarOutcome.STALE:
            return CalendarApplied(outcome=result, fingerprint=current)
        # Kept in the input, which continue-as-new carries, so the next run knows the calendar and revision.
        self._input = self._input.model_copy(update={"calendar": update.calendar, "calendar_revision": update.revision})
        if result is CalendarOutcome.CHANGED:
            # The SLA clocks only: the auto-close and the reopen window count the customer's days, round the clock.
            self._timers.set_calendar(update.calendar, [clock.name for clock in service_clocks(self._s.clocks)])
            self._journal.record(event, actor, detail=detail)
            self._changed()
        return CalendarApplied(outcome=result, fingerprint=update.fingerprint)

    def _start_again(self, name: ClockName) -> None:
        """Starts ``name``, or a new generation of it if it ran before (a resolution after a reopen)."""
        if self._s.clocks[name].status is ClockStatus.IDLE:
            self._timers.start(self._s.clocks[name])
        else:
            self._timers.restart(name)

    def _stop_service_clocks(self) -> None:
        """Stops every SLA clock still counting: the work order has its answer."""
        for clock in service_clocks(self._s.clocks):
            if clock.running or clock.paused:
                self._timers.stop(clock.name)

    def _first_response(self) -> None:
        if self._s.first_response_at is None:
            self._s.first_response_at = workflow.now()
            self._timers.stop(ClockName.FIRST_RESPONSE)
