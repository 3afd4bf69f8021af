"""A merchant's calendar changed: what travels to its running processes, and how they answer.

``PUT /v1/merchants/{id}`` stores a new ``calendar``, resolves it (holidays as data, outside any workflow)
and starts ``CalendarChangeWorkflow``, which hands a :class:`CalendarUpdate` to each running process of the
merchant whose kind is in :data:`CALENDAR_KINDS`. Each of those workflows declares the Update
:data:`SET_CALENDAR` and answers with a :class:`CalendarApplied`, decided by :func:`outcome`:

- the same calendar (same :func:`fingerprint`) answers ``unchanged``, so a fan-out run twice changes nothing;
- an older change than the one the process has (``revision``) answers ``stale``, so two quick changes
  whose fan-outs overlap leave every process on the newer calendar, whatever order they arrive in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field

from domain.calendar import BusinessCalendar
from domain.model import Model

SET_CALENDAR = "set_calendar"
"""The Update every process that runs clocks on its merchant's calendar declares."""

CALENDAR_KINDS: tuple[str, ...] = ("work_order", "conversation")
"""The ``CaseKind`` search-attribute values of the processes that declare :data:`SET_CALENDAR`."""


def fingerprint(calendar: BusinessCalendar) -> str:
    """A short digest of everything the calendar counts with (hours, zone, resolved days, their source)."""
    return hashlib.sha256(calendar.model_dump_json().encode()).hexdigest()[:16]


def revision(updated_at: datetime) -> int:
    """A merchant's revision: its ``updated_at`` in microseconds (a naive time from SQLite is UTC)."""
    aware = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1_000_000)


class CalendarUpdate(Model):
    """The merchant's calendar, resolved, for a running process (the :data:`SET_CALENDAR` Update's body)."""

    calendar: BusinessCalendar
    fingerprint: str = Field(min_length=1, max_length=64)
    revision: int = Field(ge=0, description="the merchant's revision this calendar came with")

    @classmethod
    def of(cls, calendar: BusinessCalendar, revision: int) -> CalendarUpdate:
        return cls(calendar=calendar, fingerprint=fingerprint(calendar), revision=revision)


class CalendarOutcome(StrEnum):
    """What a process did with a calendar update (``ended``: the fan-out found it over; ``refused``: its
    validator refused the update for another reason, logged, the others still updated)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    STALE = "stale"
    ENDED = "ended"
    REFUSED = "refused"


class CalendarApplied(Model):
    """A process's answer to :data:`SET_CALENDAR`."""

    outcome: CalendarOutcome
    fingerprint: str = Field(description="the fingerprint of the calendar the process runs on now")


def outcome(update: CalendarUpdate, *, current: str, current_revision: int) -> CalendarOutcome:
    """What a process on calendar ``current`` (of ``current_revision``) does with ``update``."""
    if update.revision < current_revision:
        return CalendarOutcome.STALE
    if update.fingerprint == current:
        return CalendarOutcome.UNCHANGED
    return CalendarOutcome.CHANGED


class CalendarChange(Model):
    """The input of ``CalendarChangeWorkflow``: one merchant's new calendar for its running processes."""

    merchant_id: str = Field(min_length=1, max_length=64)
    update: CalendarUpdate
    kinds: tuple[str, ...] = CALENDAR_KINDS
    settle_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="the wait before a second listing, for visibility's lag"
    )


class CalendarChangeResult(Model):
    """Which workflows the fan-out changed, found on this calendar already, found newer, or found over."""

    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def visibility_query(merchant_id: str, kinds: tuple[str, ...]) -> str:
    """The visibility query of the merchant's running processes of ``kinds``.

    Ids are ``[A-Za-z0-9._:-]`` (``domain.orders.Id``); quotes are escaped all the same.
    """
    quoted = ", ".join(quote(kind) for kind in kinds)
    return f"MerchantId = {quote(merchant_id)} AND CaseKind IN ({quoted}) AND ExecutionStatus = 'Running'"


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class HolidayRequest(Model):
    """A running process asks for its merchant's calendar with the holidays of ``years`` resolved."""

    merchant_id: str = Field(min_length=1, max_length=64)
    years: tuple[int, ...] = Field(max_length=20)


def years_uncovered(calendar: BusinessCalendar, instants: Iterable[datetime]) -> set[int]:
    """The local years of ``instants`` whose holidays a holiday calendar lacks (none for one without)."""
    if calendar.holidays_source is None:
        return set()
    zone = ZoneInfo(calendar.timezone)
    return {instant.astimezone(zone).year for instant in instants} - set(calendar.holiday_years)
