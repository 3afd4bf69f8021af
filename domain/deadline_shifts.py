"""Platform-wide deadline shifts (a holiday): which clocks move, what travels to each process, the progress.

``POST /v1/deadline-shifts`` starts ``DeadlineShiftWorkflow``, which lists the running processes that match
(:func:`visibility_query` on the ``CaseKind`` and ``MerchantId`` search attributes) and hands each a
:class:`PlatformShift` through the Update :data:`SHIFT_DEADLINES`. Each process moves the clocks
:func:`clocks_to_shift` picks and remembers the shift's id, so the same shift again (a retried batch, a
second listing) answers what it did the first time and moves nothing.

Which clocks a holiday moves: the merchant's deadlines (:data:`MERCHANT_CLOCKS`: ship, review, receipt,
offline refund, reship and the work orders' clocks). The customer's (return, exchange confirmation,
appeal, a pickup's payment), the carrier's (stall, promise) and the after-sales window run on unless the
shift names one in ``clock``: a holiday of the merchant's staff does not give a customer more time to
send a parcel back, and a window shorter for it would be unfair to the customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field

from domain.calendar_change import quote
from domain.durations import shifted_deadline_problem
from domain.model import Model
from domain.orders import DeadlineShift, Id
from domain.sla import SlaClock

SHIFT_DEADLINES = "apply_deadline_shift"
"""The Update every process with deadlines declares for a platform shift (``shift_deadlines`` is the
per-watch admin Update of orders and cases)."""

Kind = Literal["order", "refund_only", "return_refund", "exchange", "pickup", "work_order"]

_CASE_CLOCKS = ("review", "return", "receipt", "offline_refund", "reship", "confirm", "appeal")
CLOCKS_BY_KIND: Mapping[str, tuple[str, ...]] = {
    "order": ("ship", "stall", "promise", "window", "grace"),
    "refund_only": _CASE_CLOCKS,
    "return_refund": _CASE_CLOCKS,
    "exchange": _CASE_CLOCKS,
    "pickup": ("payment", "slot"),
    "work_order": ("assignment", "accept", "first_response", "resolution", "appeal"),
}
"""The clocks each kind of process runs (the ``CaseKind`` search attribute's values)."""

MERCHANT_CLOCKS = frozenset(
    {"ship", "review", "receipt", "offline_refund", "reship", "assignment", "accept", "first_response", "resolution"}
)
"""The clocks a shift without ``clock`` moves: the deadlines the merchant (or its staff) has to meet."""

ALL_CLOCKS = frozenset(name for names in CLOCKS_BY_KIND.values() for name in names)


class PlatformShift(DeadlineShift):
    """One platform shift as a process receives it (the :data:`SHIFT_DEADLINES` Update's body)."""

    shift_id: Id
    clock: str | None = Field(default=None, description="only this clock; default every merchant deadline")


class ShiftApplied(Model):
    """A process's answer: the clocks it moved (none: nothing of it was running), ``repeat`` for a shift it
    had applied before (the clocks are those of the first time)."""

    shift_id: str
    clocks: tuple[str, ...] = ()
    repeat: bool = False


class DeadlineShiftRequest(DeadlineShift):
    """``POST /v1/deadline-shifts``: move the running deadlines of every matching process by ``hours``.

    ``shift_id`` is the caller's id for the shift (a retry with the same body answers the same shift);
    without one the API makes one up.
    """

    shift_id: Id | None = None
    kind: Kind | None = None
    merchant_id: Id | None = None
    clock: str | None = Field(default=None, max_length=32)


class DeadlineShiftInput(Model):
    """The input of ``DeadlineShiftWorkflow``."""

    shift: PlatformShift
    kind: Kind | None = None
    merchant_id: str | None = None
    settle_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="the wait before a second listing, for visibility's lag"
    )


class DeadlineShiftProgress(Model):
    """``GET /v1/deadline-shifts/{id}``: processes matched so far, answered (moved or nothing running),
    refused (``failed``: e.g. the shift would pull a deadline into the past), found over meanwhile."""

    shift_id: str
    matched: int = 0
    applied: int = 0
    shifted: int = Field(default=0, description="of the applied, those that had a deadline to move")
    failed: int = 0
    ended: int = 0
    done: bool = False


def kinds_for(kind: str | None, clock: str | None) -> tuple[str, ...]:
    """The ``CaseKind`` values a shift reaches: the one named, else every kind that runs ``clock``."""
    if kind is not None:
        return (kind,)
    return tuple(k for k, names in CLOCKS_BY_KIND.items() if clock is None or clock in names)


def clock_problem(kind: str | None, clock: str | None) -> str | None:
    """Why ``clock`` (with ``kind``) names nothing a process runs, or None."""
    if clock is None:
        return None
    if clock not in ALL_CLOCKS:
        return f"clock must be one of {', '.join(sorted(ALL_CLOCKS))}"
    if kind is not None and clock not in CLOCKS_BY_KIND[kind]:
        return f"a {kind} has no {clock} clock; it has {', '.join(CLOCKS_BY_KIND[kind])}"
    return None


def visibility_query(kinds: tuple[str, ...], merchant_id: str | None) -> str:
    """The visibility query of the running processes of ``kinds`` (of one merchant, if named)."""
    query = f"CaseKind IN ({', '.join(quote(kind) for kind in kinds)}) AND ExecutionStatus = 'Running'"
    return query if merchant_id is None else f"MerchantId = {quote(merchant_id)} AND {query}"


def clocks_to_shift(clocks: Mapping[str, SlaClock], clock: str | None, now: datetime) -> list[str]:
    """The clocks of a process a shift moves: running, deadline still ahead, and the one named or a
    merchant's. A clock past its deadline stays: moving a breach already reported would rewrite it."""
    wanted = MERCHANT_CLOCKS if clock is None else {clock}
    return [
        name
        for name, current in clocks.items()
        if name in wanted and (deadline := current.deadline_at()) is not None and deadline > now
    ]


def shift_problem(clocks: Mapping[str, SlaClock], names: list[str], hours: float, now: datetime) -> str | None:
    """Why the shift cannot move ``names`` (a deadline pulled into the past, or beyond the horizon)."""
    for name in names:
        deadline = clocks[name].deadline_at()
        assert deadline is not None
        if problem := shifted_deadline_problem(deadline + timedelta(hours=hours), now, f"the {name} deadline"):
            return problem
    return None


class ShiftOutcome(StrEnum):
    """What became of the shift at one process (``ended``: over since it was listed; ``refused``: its
    validator refused, e.g. a deadline pulled into the past — counted ``failed``)."""

    APPLIED = "applied"
    ENDED = "ended"
    REFUSED = "refused"


class ShiftAnswer(Model):
    """One process's answer as the fan-out records it."""

    outcome: ShiftOutcome
    clocks: tuple[str, ...] = ()


class ShiftBatch(Model):
    """One batch of the fan-out: the workflows and the shift they get."""

    workflow_ids: tuple[str, ...]
    shift: PlatformShift
