"""An after-sales case's clocks at work: what silence does, and the platform moving a deadline.

Each status with a deadline runs one SLA clock; its steps remind the merchant, and its breach decides by
the platform's rules (auto-approve, auto-cancel, auto-receive, auto-complete) or escalates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.action_links import case_review_links
    from domain.cases import Action, CaseStatus, CaseView, Receipt
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.durations import shifted_deadline_problem
    from domain.notifications import TASKS, Audience, Template
    from domain.orders import Actor, DeadlineShift
    from domain.policy import ReviewTimeoutAction
    from domain.sla import PlannedStep
    from workflows.aftersale_work_order import CaseWorkOrder
    from workflows.effects import refuse
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.sla import notification_key as step_notification_key

# Clocks whose breach is the merchant's: their breach makes the case overdue (monitoring, Web UI).
MERCHANT_CLOCKS = ("review", "receipt", "reship", "offline_refund")


class CaseTimers(CaseWorkOrder):
    """The clocks' steps and the Updates that move the case's deadline."""

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
            self._s.auto = True
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
            self._s.overdue = name in MERCHANT_CLOCKS
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
        self._s.applied.record(Action.CANCEL)  # the customer's cancel now finds it done
        self._changed("auto_cancelled", Actor.SYSTEM, due_at=step.at, detail="the goods were not sent back in time")
        self._enter(CaseStatus.CANCELLED)

    async def _on_receipt_step(self, step: PlannedStep) -> None:
        if not step.step.is_breach:
            return await self._remind(step)
        self._s.auto = True
        self._s.applied.record(Action.RECEIPT, Receipt(accepted=True))
        self._changed("auto_received", Actor.SYSTEM, due_at=step.at)
        self._after_receipt()

    async def _on_confirm_timeout(self, step: PlannedStep) -> None:
        self._s.applied.record(Action.CONFIRM)
        self._changed("auto_completed", Actor.SYSTEM, due_at=step.at)
        self._enter(CaseStatus.COMPLETED)

    async def _on_appeal_window_over(self, step: PlannedStep) -> None:
        self._changed("case_closed", Actor.SYSTEM, due_at=step.at, detail="rejected; no appeal in time")
        self._s.ended = True

    @workflow.update
    def shift_deadlines(self, shift: DeadlineShift) -> CaseView:
        """The platform moves the running deadline; its timers follow at once."""
        assert self._s.clock is not None
        self._timers.shift(self._s.clock, timedelta(hours=shift.hours))
        self._changed("deadline_moved", Actor.PLATFORM, detail=f"{shift.hours:+g}h: {shift.reason}")
        return self.state()

    @shift_deadlines.validator
    def _validate_shift(self, shift: DeadlineShift) -> None:
        deadline = self._deadline_at()
        if deadline is None or self._s.ended:
            raise refuse("invalid_state", "no deadline of this case is running")
        moved = deadline + timedelta(hours=shift.hours)
        if problem := shifted_deadline_problem(moved, workflow.now(), "the deadline"):
            raise refuse("validation_error", problem)

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the case's running deadline, once per shift id."""
        answer = apply_shift(self._timers, shift, self._s.shifts)
        if answer.clocks and not answer.repeat:
            self._changed("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        if self._s.ended and shift.shift_id not in self._s.shifts:
            raise refuse("invalid_state", "the case is over; its clocks have stopped")
        check_shift(self._timers, shift, self._s.shifts)
