"""The SLA engine: one clock's budget, the time it has consumed, and the steps it fires on the way.

A clock has a **budget** of (business) time. While it runs it **consumes** time on its calendar; paused, it
consumes none, and resuming continues where it stopped. Its **steps** sit at points of consumption: at
fractions of the budget (the work-order ladder: remind at 50 % and 80 %, escalate at the breach and at
twice the budget) or at offsets before the deadline (the order and case ladders: 24 h and 4 h before, then
the breach). Each step fires once per **generation**; a transfer or a reopen starts a new generation, whose
steps fire again under new notification keys.

Changing the budget (priority urgent ↔ normal) or the calendar keeps the time already consumed. A clock
that starts late, or whose deadline is pulled in, fires only the latest step that is due: a "4 h left"
message is wrong once the deadline has passed.

Everything here is pure and serialisable: a workflow keeps its clocks in its state object and passes them
through continue-as-new unchanged; :mod:`workflows.sla` runs their timers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from pydantic import Field, field_validator, model_validator

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar, add_business_time, business_time_between
from domain.durations import format_duration
from domain.model import Model

BREACH = "breach"
DEFAULT_FRACTIONS = (0.5, 0.8, 1.0, 2.0)


class StepLevel(IntEnum):
    """Whom a step concerns: a reminder, the breach (escalation level 1), twice the budget (level 2)."""

    REMIND = 0
    BREACH = 1
    ESCALATE = 2


class StepSpec(Model):
    """One step of a clock: at a ``fraction`` of the budget, or ``before`` the deadline."""

    name: str = Field(min_length=1, max_length=40)
    level: StepLevel
    fraction: float | None = Field(default=None, gt=0, le=100)
    before: timedelta | None = None

    @model_validator(mode="after")
    def _one_position(self) -> StepSpec:
        if (self.fraction is None) == (self.before is None):
            raise ValueError("a step sits at a fraction of the budget or before the deadline, exactly one")
        if self.before is not None and self.before < timedelta():
            raise ValueError("a step cannot sit after the deadline by a negative offset")
        return self

    @property
    def is_breach(self) -> bool:
        """Whether this step is the deadline itself."""
        return self.level is StepLevel.BREACH

    def threshold(self, budget: timedelta) -> timedelta:
        """The consumed time at which this step is due."""
        if self.fraction is not None:
            return budget * self.fraction
        assert self.before is not None
        return max(budget - self.before, timedelta())


def fraction_steps(fractions: Iterable[float] = DEFAULT_FRACTIONS) -> tuple[StepSpec, ...]:
    """Steps at fractions of the budget: below 1 remind, at 1 the breach, above 1 escalate.

    Names say where they sit: ``remind_50``, ``remind_80``, ``breach``, ``escalate_200``.
    """
    steps = []
    for fraction in sorted(set(fractions)):
        percent = round(fraction * 100)
        if fraction < 1:
            steps.append(StepSpec(name=f"remind_{percent}", level=StepLevel.REMIND, fraction=fraction))
        elif fraction == 1:
            steps.append(StepSpec(name=BREACH, level=StepLevel.BREACH, fraction=fraction))
        else:
            steps.append(StepSpec(name=f"escalate_{percent}", level=StepLevel.ESCALATE, fraction=fraction))
    return tuple(steps)


def offset_steps(reminders: Sequence[timedelta]) -> tuple[StepSpec, ...]:
    """The order and case ladders: reminders at offsets before the deadline, then the breach.

    Named by their offset, as messages and timers always were: ``remind_24h``, ``remind_4h``, ``breach``.
    """
    rungs = [
        StepSpec(name=f"remind_{format_duration(offset, days=False)}", level=StepLevel.REMIND, before=offset)
        for offset in sorted(set(reminders), reverse=True)
    ]
    return (*rungs, StepSpec(name=BREACH, level=StepLevel.BREACH, before=timedelta()))


DEFAULT_STEPS = fraction_steps()


class ClockStatus(StrEnum):
    """Where a clock is: not started, consuming time, paused, or stopped for good (this generation)."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class PlannedStep(Model):
    """What a clock does next: fire ``step`` at ``at`` (now, if due) and skip ``skipped``."""

    clock: str
    generation: int
    step: StepSpec
    at: datetime
    skipped: tuple[StepSpec, ...] = ()

    @property
    def key(self) -> str:
        """The step's notification key within its workflow: ``{clock}:{generation}:{step}``."""
        return step_key(self.clock, self.generation, self.step.name)


def step_key(clock: str, generation: int, step: str) -> str:
    """A notification key that a new generation does not collide with: ``resolution:2:breach``."""
    return f"{clock}:{generation}:{step}"


class ClockView(Model):
    """A clock as the API shows it (a work order's ``clocks``)."""

    name: str
    due_at: datetime | None
    consumed_seconds: int
    paused: bool
    breached: bool
    level: int
    generation: int


class SlaClock(Model):
    """One SLA clock's whole state; every operation returns a new clock.

    ``consumed`` is the time consumed up to ``settled_at``; while running, time keeps accruing on the
    calendar from ``settled_at``. ``extension`` moves every step (and so the deadline) by platform decision
    without pretending time was not consumed.
    """

    name: str = Field(min_length=1, max_length=40)
    budget: timedelta
    steps: tuple[StepSpec, ...] = DEFAULT_STEPS
    calendar: BusinessCalendar = ROUND_THE_CLOCK
    status: ClockStatus = ClockStatus.IDLE
    consumed: timedelta = timedelta()
    settled_at: datetime | None = None
    extension: timedelta = timedelta()
    generation: int = 0
    done: tuple[str, ...] = Field(default=(), description="steps fired or skipped in this generation")
    fired: tuple[str, ...] = Field(default=(), description="steps fired in this generation")
    stopped_deadline_at: datetime | None = Field(
        default=None, description="the deadline this generation ran towards when it was stopped"
    )

    @field_validator("budget")
    @classmethod
    def _positive(cls, budget: timedelta) -> timedelta:
        if budget <= timedelta():
            raise ValueError("a clock's budget must be positive")
        return budget

    @field_validator("steps")
    @classmethod
    def _distinct(cls, steps: tuple[StepSpec, ...]) -> tuple[StepSpec, ...]:
        if not steps:
            raise ValueError("a clock needs at least one step")
        if len({step.name for step in steps}) != len(steps):
            raise ValueError("step names must be distinct")
        return steps

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.status is ClockStatus.RUNNING

    @property
    def paused(self) -> bool:
        return self.status is ClockStatus.PAUSED

    @property
    def level(self) -> int:
        """The highest level reached in this generation (fired or skipped), 0 if none."""
        return max((step.level for step in self.steps if step.name in self.done), default=0)

    @property
    def breached(self) -> bool:
        """Whether this generation has reached its breach (or beyond)."""
        return self.level >= StepLevel.BREACH

    def ordered_steps(self) -> list[StepSpec]:
        """The steps in the order they fall due (by threshold, then by level)."""
        return sorted(self.steps, key=lambda step: (step.threshold(self.budget), step.level))

    def threshold(self, step: StepSpec) -> timedelta:
        """The consumed time at which ``step`` is due, the extension applied."""
        return max(step.threshold(self.budget) + self.extension, timedelta())

    def consumed_at(self, now: datetime) -> timedelta:
        """The time consumed by ``now``."""
        if self.running and self.settled_at is not None:
            return self.consumed + business_time_between(self.calendar, self.settled_at, now)
        return self.consumed

    def due_at(self, step: StepSpec) -> datetime | None:
        """When ``step`` falls (or fell) due; None while the clock does not run towards it.

        A step already passed by the consumed time is due at ``settled_at``: the moment it became due is
        the moment the clock last changed (its start, a pause, a budget change).
        """
        if self.settled_at is None or self.status is ClockStatus.IDLE:
            return None
        remaining = self.threshold(step) - self.consumed
        if remaining <= timedelta():
            return self.settled_at
        if not self.running:
            return None
        return add_business_time(self.calendar, self.settled_at, remaining)

    def deadline_at(self) -> datetime | None:
        """When the budget (with its extension) is used up; None while paused, stopped or not started."""
        if not self.running:
            return None
        assert self.settled_at is not None
        remaining = self.budget + self.extension - self.consumed
        return add_business_time(self.calendar, self.settled_at, max(remaining, timedelta()))

    def last_deadline_at(self) -> datetime | None:
        """The deadline this generation runs towards, or ran towards when it was stopped; None while not
        started or paused. An order shows its ship deadline after the shipment, a late one included."""
        if self.status is ClockStatus.STOPPED:
            return self.stopped_deadline_at
        return self.deadline_at()

    def next_step(self, now: datetime) -> PlannedStep | None:
        """The next step to fire, or None if nothing is pending (or the clock does not run).

        If several steps are due at once (a late start, a deadline pulled in, a budget cut) only the
        latest fires; the others are skipped.
        """
        if self.status in (ClockStatus.IDLE, ClockStatus.STOPPED):
            return None
        pending = [step for step in self.ordered_steps() if step.name not in self.done]
        if not pending:
            return None
        consumed = self.consumed_at(now)
        due = [step for step in pending if self.threshold(step) <= consumed]
        if due:
            step = due[-1]
            at = self.due_at(step)
            assert at is not None
            return PlannedStep(
                clock=self.name, generation=self.generation, step=step, at=min(at, now), skipped=tuple(due[:-1])
            )
        at = self.due_at(pending[0])
        if at is None:
            return None
        return PlannedStep(clock=self.name, generation=self.generation, step=pending[0], at=at)

    def key(self, step: str) -> str:
        """The notification key of ``step`` in this generation."""
        return step_key(self.name, self.generation, step)

    def view(self, now: datetime) -> ClockView:
        """The clock as the API shows it at ``now``."""
        return ClockView(
            name=self.name,
            due_at=self.deadline_at(),
            consumed_seconds=int(self.consumed_at(now).total_seconds()),
            paused=self.paused,
            breached=self.breached,
            level=int(self.level),
            generation=self.generation,
        )

    # --- changing ------------------------------------------------------------------------------------------

    def _settled(self, now: datetime) -> SlaClock:
        """The same clock with its consumption accounted up to ``now``."""
        if not self.running:
            return self
        return self.model_copy(update={"consumed": self.consumed_at(now), "settled_at": now})

    def start(self, at: datetime) -> SlaClock:
        """Starts consuming from ``at`` (which may lie in the past: a late start). A started clock is kept."""
        if self.status is not ClockStatus.IDLE:
            return self
        return self.model_copy(update={"status": ClockStatus.RUNNING, "settled_at": at})

    def pause(self, now: datetime) -> SlaClock:
        """Stops consumption at ``now``; a clock not running is kept."""
        if not self.running:
            return self
        return self._settled(now).model_copy(update={"status": ClockStatus.PAUSED})

    def resume(self, now: datetime, *, keep_deadline: bool = False) -> SlaClock:
        """Continues consumption from ``now`` where the pause left it; a clock not paused is kept.

        With ``keep_deadline`` the paused time counts as consumed, so the deadline stands where it stood
        before the pause: a dropped pickup lets the same return deadline run on, not a fresh one. A step
        that fell due meanwhile is then due at once.
        """
        if not self.paused:
            return self
        if keep_deadline:
            return self.model_copy(update={"status": ClockStatus.RUNNING})
        return self.model_copy(update={"status": ClockStatus.RUNNING, "settled_at": now})

    def stop(self, now: datetime) -> SlaClock:
        """Stops the clock for good in this generation (its condition met, or the process moved on)."""
        if self.status is ClockStatus.STOPPED:
            return self
        settled = self._settled(now)
        return settled.model_copy(
            update={
                "status": ClockStatus.STOPPED,
                "settled_at": settled.settled_at or now,
                # Read before settling: a clock stopped past its deadline ran towards that deadline, not now.
                "stopped_deadline_at": self.deadline_at(),
            }
        )

    def set_budget(self, budget: timedelta, now: datetime) -> SlaClock:
        """Gives the clock a new budget, keeping the time consumed; steps fired stay fired."""
        return SlaClock.model_validate({**dict(self._settled(now)), "budget": budget})

    def set_calendar(self, calendar: BusinessCalendar, now: datetime) -> SlaClock:
        """Counts on ``calendar`` from ``now`` on, keeping the time consumed so far."""
        return self._settled(now).model_copy(update={"calendar": calendar})

    def shift(self, delta: timedelta) -> SlaClock:
        """Moves the deadline and every step by ``delta`` of (business) time; negative pulls them in."""
        return self.model_copy(update={"extension": self.extension + delta})

    def new_generation(self, now: datetime) -> SlaClock:
        """Starts over from ``now`` (a transfer, a reopen): nothing consumed, every step pending again."""
        return self.model_copy(
            update={
                "status": ClockStatus.RUNNING,
                "consumed": timedelta(),
                "settled_at": now,
                "extension": timedelta(),
                "generation": self.generation + 1,
                "done": (),
                "fired": (),
                "stopped_deadline_at": None,
            }
        )

    def fire(self, planned: PlannedStep) -> SlaClock:
        """Records ``planned``'s step as fired and its skipped steps as done."""
        if planned.clock != self.name or planned.generation != self.generation:
            raise ValueError(f"{planned.key} is not a step of {self.name} generation {self.generation}")
        skipped = [step.name for step in planned.skipped if step.name not in self.done]
        return self.model_copy(
            update={
                "done": (*self.done, *skipped, planned.step.name),
                "fired": (*self.fired, planned.step.name),
            }
        )
