"""A test-only workflow that runs :class:`workflows.sla.SlaTimers` over the clocks it is given.

Its whole state is one object (the clocks and what fired); ``roll_over`` continues it as new with that
state, as a long-running work order will.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import BusinessCalendar
    from domain.quiet import QuietHours
    from domain.sla import ClockView, PlannedStep, SlaClock
    from workflows.sla import SlaTimers


class Fired(BaseModel):
    """One step as the probe saw it fire."""

    key: str
    due_at: datetime
    fired_at: datetime
    skipped: list[str] = Field(default_factory=list)


class ProbeState(BaseModel):
    """Everything the probe keeps across continue-as-new."""

    clocks: dict[str, SlaClock]
    quiet: QuietHours | None = None
    fired: list[Fired] = Field(default_factory=list)
    runs: int = 1


class ProbeView(BaseModel):
    clocks: list[ClockView]
    fired: list[Fired]
    runs: int


class Budget(BaseModel):
    name: str
    budget: timedelta


@workflow.defn
class SlaProbeWorkflow:
    @workflow.init
    def __init__(self, state: ProbeState) -> None:
        self._state = state
        self._timers = SlaTimers(state.clocks, self._on_step, quiet=state.quiet)
        self._roll_over = False
        self._finished = False

    @workflow.run
    async def run(self, state: ProbeState) -> ProbeState:
        if state.runs == 1:
            for clock in list(state.clocks.values()):
                self._timers.start(clock)
        await self._timers.run(until=lambda: self._roll_over or self._finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._roll_over:
            workflow.continue_as_new(self._state.model_copy(update={"runs": self._state.runs + 1}))
        return self._state

    async def _on_step(self, planned: PlannedStep) -> None:
        self._state.fired.append(
            Fired(
                key=planned.key,
                due_at=planned.at,
                fired_at=workflow.now(),
                skipped=[step.name for step in planned.skipped],
            )
        )

    @workflow.update
    def pause(self, name: str) -> ClockView:
        return self._timers.pause(name).view(workflow.now())

    @workflow.update
    def resume(self, name: str) -> ClockView:
        return self._timers.resume(name).view(workflow.now())

    @workflow.update
    def restart(self, name: str) -> ClockView:
        return self._timers.restart(name).view(workflow.now())

    @workflow.update
    def set_budget(self, change: Budget) -> ClockView:
        return self._timers.set_budget(change.name, change.budget).view(workflow.now())

    @workflow.update
    def set_calendar(self, calendar: BusinessCalendar) -> list[ClockView]:
        self._timers.set_calendar(calendar)
        return self._timers.views()

    @workflow.update
    def roll_over(self) -> None:
        self._roll_over = True

    @workflow.update
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def view(self) -> ProbeView:
        return ProbeView(
            clocks=self._timers.views(),
            fired=self._state.fired,
            runs=self._state.runs,
        )
