"""A platform deadline shift inside one process: the shared body of each workflow's
:data:`~domain.deadline_shifts.SHIFT_DEADLINES` Update.

Each workflow keeps the shifts it applied (id → the clocks moved) in its state, so a shift arriving twice
(a batch retried after a worker restart, a second listing) answers the first answer and moves nothing.
A work order keeps them in its state object, so they survive continue-as-new.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadline_shifts import PlatformShift, ShiftApplied, clocks_to_shift, shift_problem
    from workflows.effects import refuse
    from workflows.sla import SlaTimers


def check_shift(timers: SlaTimers, shift: PlatformShift, applied: MutableMapping[str, list[str]]) -> None:
    """The validator: a repeat passes; a shift that would pull a deadline into the past is refused.

    Nothing running is no refusal: the process answers that it moved nothing, so the fan-out counts it
    applied rather than failed.
    """
    if shift.shift_id in applied:
        return
    now = workflow.now()
    names = clocks_to_shift(timers.clocks, shift.clock, now)
    if problem := shift_problem(timers.clocks, names, shift.hours, now):
        raise refuse("validation_error", problem)


def apply_shift(timers: SlaTimers, shift: PlatformShift, applied: MutableMapping[str, list[str]]) -> ShiftApplied:
    """Moves the clocks the shift picks (their timers re-plan at once) and records the shift's id."""
    if (done := applied.get(shift.shift_id)) is not None:
        return ShiftApplied(shift_id=shift.shift_id, clocks=tuple(done), repeat=True)
    names = clocks_to_shift(timers.clocks, shift.clock, workflow.now())
    for name in names:
        timers.shift(name, timedelta(hours=shift.hours))
    applied[shift.shift_id] = names
    return ShiftApplied(shift_id=shift.shift_id, clocks=tuple(names))


def shift_detail(shift: PlatformShift, answer: ShiftApplied) -> str:
    """The history entry's detail of a shift that moved something."""
    return f"{shift.hours:+g}h {','.join(answer.clocks)}: {shift.reason} ({shift.shift_id})"
