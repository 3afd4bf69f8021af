"""The one reminder/escalation mechanism every process uses.

A :class:`Clock` waits for the next step of its ladder or for its condition, whichever comes first; it
follows its deadline when the deadline moves, and fires each step once. Workflows say *what* happens at a
step; the clock decides *when*.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.ladder import Step, next_step


async def wait_until(condition: Callable[[], bool], timeout: timedelta, *, summary: str | None = None) -> bool:
    """Waits for ``condition`` at most ``timeout`` (a durable timer); True if it came true in time."""
    if timeout <= timedelta():
        return condition()
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except TimeoutError:
        return condition()
    return True


class Outcome(StrEnum):
    """How a clock ended: its condition came true in time, or the deadline passed first."""

    MET = "met"
    BREACHED = "breached"


class Clock:
    """A deadline with a reminder ladder, run inside a workflow.

    Args:
        name: the clock's name, part of every notification key (``ship``, ``review`` …).
        deadline_at: when the clock breaches.
        reminders: offsets before the deadline at which to remind.
    """

    def __init__(self, name: str, deadline_at: datetime, reminders: Sequence[timedelta]) -> None:
        self.name = name
        self.deadline_at = deadline_at
        self.reminders = tuple(reminders)
        self.done: set[str] = set()
        self._moves = 0

    def move(self, deadline_at: datetime) -> None:
        """Moves the deadline; a running :meth:`run` re-plans its timers at once."""
        self.deadline_at = deadline_at
        self._moves += 1

    async def run(self, *, until: Callable[[], bool], on_step: Callable[[Step], Awaitable[None]]) -> Outcome:
        """Fires the ladder's steps until ``until()`` holds (MET) or the breach step has fired (BREACHED).

        Args:
            until: the condition that stops the clock, e.g. "the order has shipped".
            on_step: what to do at a step; for the breach step it runs before this returns.
        """
        while not until():
            planned = next_step(self.deadline_at, self.reminders, workflow.now(), self.done)
            if planned is None:
                return Outcome.BREACHED
            if planned.step.at > workflow.now():
                moves = self._moves
                wait = planned.step.at - workflow.now()
                await wait_until(
                    lambda: until() or self._moves != moves, wait, summary=f"{self.name}:{planned.step.name}"
                )
                # Met, moved, or the step's time has come: plan again with the time it is now. A timer that
                # fires late (the server or the workers were down) may find a later step due by then, and
                # only that one fires: no "4 h left" after the deadline has passed.
                continue
            self.done.update(step.name for step in planned.skipped)
            self.done.add(planned.step.name)
            await on_step(planned.step)
            if planned.step.is_breach:
                return Outcome.BREACHED
        return Outcome.MET
