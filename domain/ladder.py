"""Reminder ladders: which step of a deadline is due next.

A clock has a deadline and reminder offsets before it (``24h, 4h``). Its steps are the reminders and the
breach at the deadline itself. Each step fires at most once. When a clock starts late or its deadline is
moved, steps already in the past are not all sent in a burst: only the latest due step fires, the older
ones are skipped, because a "24 h left" message is wrong once only 3 h are left.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.durations import format_duration

BREACH = "breach"


@dataclass(frozen=True)
class Step:
    """One rung of a ladder: a reminder ``offset`` before the deadline, or the breach (offset zero)."""

    name: str
    at: datetime
    offset: timedelta

    @property
    def is_breach(self) -> bool:
        """Whether this step is the deadline itself."""
        return self.name == BREACH


def steps(deadline_at: datetime, reminders: Sequence[timedelta]) -> list[Step]:
    """All steps of a ladder, in the order they fire."""
    rungs = [
        Step(name=f"remind_{format_duration(offset, days=False)}", at=deadline_at - offset, offset=offset)
        for offset in sorted(set(reminders), reverse=True)
    ]
    return [*rungs, Step(name=BREACH, at=deadline_at, offset=timedelta())]


@dataclass(frozen=True)
class NextStep:
    """What a clock does next: fire ``step`` at ``step.at`` (now if due) and skip ``skipped``."""

    step: Step
    skipped: tuple[Step, ...] = ()


def next_step(
    deadline_at: datetime, reminders: Sequence[timedelta], now: datetime, done: Collection[str]
) -> NextStep | None:
    """The next step to fire, or None once the breach has fired.

    Args:
        deadline_at: the clock's deadline.
        reminders: offsets before the deadline.
        now: the current time.
        done: names of steps already fired or skipped.
    """
    if BREACH in done:
        return None
    pending = [step for step in steps(deadline_at, reminders) if step.name not in done]
    due = [step for step in pending if step.at <= now]
    if due:
        return NextStep(step=due[-1], skipped=tuple(due[:-1]))
    return NextStep(step=pending[0])
