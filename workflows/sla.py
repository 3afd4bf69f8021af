"""The SLA runner: waits on every clock of one workflow at once and fires their steps.

The clocks themselves are pure state (:class:`domain.sla.SlaClock`) kept in the workflow's single state
object; :class:`SlaTimers` holds a reference to that mapping and changes it only through its methods, each
of which re-plans a running :meth:`SlaTimers.run` at once. One durable timer is armed at a time: the
earliest step due among all clocks. Reminders (level-0 steps) falling in the quiet hours are held until the
window ends (:func:`domain.quiet.release_at`); breaches and escalations never are. Since nothing lives
outside the mapping, the workflow hands the same state to continue-as-new and a new :class:`SlaTimers`
picks up where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import BusinessCalendar
    from domain.quiet import QuietHours, release_at
    from domain.sla import ClockView, PlannedStep, SlaClock, StepLevel

OnStep = Callable[[PlannedStep], Awaitable[None]]


async def wait_until(condition: Callable[[], bool], timeout: timedelta, *, summary: str | None = None) -> bool:
    """Waits for ``condition`` at most ``timeout`` (a durable timer); True if it came true in time.

    The runner's timer. A deadline people see belongs in a clock (:class:`SlaTimers`), not in a bare wait.
    """
    if timeout <= timedelta():
        return condition()
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except TimeoutError:
        return condition()
    return True


def notification_key(planned: PlannedStep) -> str:
    """The dedupe key of a step's message: this workflow, then ``{clock}:{generation}:{step}``."""
    return f"{workflow.info().workflow_id}:{planned.key}"


class SlaTimers:
    """The timers of a workflow's SLA clocks.

    Args:
        clocks: the workflow's clocks by name, living in its state object (changed in place).
        on_step: what to do when a step of any clock is due; it receives the planned step (with the steps
            skipped on the way, and the notification key ``{clock}:{generation}:{step}``). The step is
            recorded as fired before the callback runs, so a continue-as-new after it never repeats it.
            No other clock's timer runs while it is awaited: long effects (notifications) belong in the
            background, as the order watch sends its reminders.
        quiet: the policy's quiet hours: a reminder due inside them fires when they end (the steps due
            later than that are never held up by it).
    """

    def __init__(
        self, clocks: MutableMapping[str, SlaClock], on_step: OnStep, *, quiet: QuietHours | None = None
    ) -> None:
        self.clocks = clocks
        self._on_step = on_step
        self._quiet = quiet
        self._version = 0

    def __getitem__(self, name: str) -> SlaClock:
        return self.clocks[name]

    def __contains__(self, name: object) -> bool:
        return name in self.clocks

    # --- changing clocks (each re-plans a running run()) ---------------------------------------------------

    def put(self, clock: SlaClock) -> SlaClock:
        """Adds or replaces a clock."""
        self.clocks[clock.name] = clock
        self._version += 1
        return clock

    def change(self, name: str, how: Callable[[SlaClock], SlaClock]) -> SlaClock:
        """Replaces clock ``name`` with ``how(clock)``."""
        return self.put(how(self.clocks[name]))

    def start(self, clock: SlaClock, *, at: datetime | None = None) -> SlaClock:
        """Adds ``clock`` and starts it (a clock already started under that name is kept).

        Args:
            clock: the clock, not started yet.
            at: when its time began, if not now: a parcel delivered before the carrier told us starts the
                receipt clock at the delivery; the steps already due then fire at once (only the latest).
        """
        current = self.clocks.get(clock.name, clock)
        return self.put(current.start(workflow.now() if at is None else min(at, workflow.now())))

    def pause(self, name: str) -> SlaClock:
        return self.change(name, lambda clock: clock.pause(workflow.now()))

    def resume(self, name: str, *, keep_deadline: bool = False) -> SlaClock:
        """Resumes ``name``; with ``keep_deadline`` the paused time counts, so its deadline stays put."""
        return self.change(name, lambda clock: clock.resume(workflow.now(), keep_deadline=keep_deadline))

    def stop(self, name: str) -> SlaClock:
        return self.change(name, lambda clock: clock.stop(workflow.now()))

    def restart(self, name: str, *, at: datetime | None = None) -> SlaClock:
        """A new generation of ``name`` from now, or from ``at`` (transfer, reopen): its steps fire again.

        ``at`` may lie in the past (a parcel's last movement, reported late) or ahead (a courier's next
        slot): the clock consumes from then.
        """
        return self.change(name, lambda clock: clock.new_generation(workflow.now() if at is None else at))

    def set_budget(self, name: str, budget: timedelta) -> SlaClock:
        return self.change(name, lambda clock: clock.set_budget(budget, workflow.now()))

    def shift(self, name: str, delta: timedelta) -> SlaClock:
        return self.change(name, lambda clock: clock.shift(delta))

    def set_calendar(self, calendar: BusinessCalendar, names: Iterable[str] | None = None) -> None:
        """Counts ``names`` (every clock by default) on ``calendar`` from now, keeping what they consumed."""
        for name in list(self.clocks) if names is None else names:
            self.change(name, lambda clock: clock.set_calendar(calendar, workflow.now()))

    def views(self) -> list[ClockView]:
        """Every clock as a query or an Update's answer shows it."""
        now = workflow.now()
        return [clock.view(now) for clock in self.clocks.values()]

    # --- running -------------------------------------------------------------------------------------------

    def next_step(self) -> PlannedStep | None:
        """The earliest next step among all clocks (ties: in the clocks' order), reminders held by quiet hours
        counted at their release."""
        now = workflow.now()
        planned = [step for clock in self.clocks.values() if (step := clock.next_step(now)) is not None]
        return min(planned, key=self._wake_at, default=None)

    def _held_until(self, planned: PlannedStep) -> datetime | None:
        """When a reminder held by the quiet hours may go out; None if it is not held (now or at its time)."""
        if planned.step.level is not StepLevel.REMIND or self._quiet is None:
            return None
        due = max(planned.at, workflow.now())
        release = release_at(due, self._quiet)
        return release if release > due else None

    def _wake_at(self, planned: PlannedStep) -> datetime:
        """When to look at ``planned`` again: its time, or for a held reminder the end of the quiet hours —
        unless a later step of its clock (the breach) falls due before, which then fires in its place."""
        held = self._held_until(planned)
        if held is None:
            return planned.at
        clock = self.clocks[planned.clock]
        later = [
            at
            for step in clock.steps
            if step.level > StepLevel.REMIND and step.name not in clock.done and (at := clock.due_at(step)) is not None
        ]
        return min([held, *later])

    async def run(self, *, until: Callable[[], bool]) -> None:
        """Fires the clocks' steps as they fall due until ``until()`` holds.

        Returns when ``until()`` holds, e.g. the process ended or continue-as-new is due; with no step
        pending it simply waits for a change or for ``until``.
        """
        while not until():
            planned = self.next_step()
            version = self._version
            changed = lambda: until() or self._version != version  # noqa: E731  (read at each wake-up)
            if planned is None:
                await workflow.wait_condition(changed)
                continue
            wait = self._wake_at(planned) - workflow.now()
            if self._held_until(planned) is not None:
                # A reminder in the quiet hours: plan again when they end or a later step falls due (at least
                # a second on, should the calendar's rounding put that step's time a hair before its due).
                wait = max(wait, timedelta(seconds=1))
            if wait > timedelta():
                # Whether the timer fired or a clock changed, plan again: a timer that fired late (a worker
                # was down) may find a later step due too, and only the latest of them fires.
                await wait_until(changed, wait, summary=f"{planned.clock}:{planned.step.name}")
                continue
            self.clocks[planned.clock] = self.clocks[planned.clock].fire(planned)
            await self._on_step(planned)
