"""Durations as people write them in settings: ``90s``, ``30m``, ``72h``, ``7d``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")

SHORTEST = timedelta(seconds=1)
"""No clock is shorter: a timer below a second is a typo, and it would fire before anyone could act."""
LONGEST = timedelta(days=365)
"""No clock, reminder offset or extension is longer: beyond a year a promise means nothing, and the sums of
dates and durations a workflow makes stay far from ``datetime``'s limits."""
HORIZON = timedelta(days=2 * 365)
"""How far from now an admin may move a running deadline or a window's end (repeated moves included)."""
MAX_REMINDERS = 10
"""Reminder offsets in one ladder; more is a flood, not a reminder."""


def parse_duration(text: str) -> timedelta:
    """Parses ``72h``, ``1h30m``, ``7d`` or ``90s`` into a timedelta.

    Raises:
        ValueError: the text is empty, has an unknown unit or stray characters.
    """
    compact = text.strip().replace(" ", "")
    if not compact:
        raise ValueError("empty duration")
    total = timedelta()
    position = 0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        try:
            total += timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:  # ``999999999999d``: far beyond any bound, and beyond what timedelta holds
            raise ValueError(f"duration too long: {text[:24]!r} (at most {format_duration(LONGEST)})") from None
        position = match.end()
    if position != len(compact):
        raise ValueError(f"not a duration: {text[:24]!r} (write e.g. 90s, 30m, 72h, 7d)")
    return total


def check_bounds(value: timedelta, what: str = "a duration") -> timedelta:
    """``value`` if it lies within :data:`SHORTEST` .. :data:`LONGEST`.

    Raises:
        ValueError: it is shorter or longer.
    """
    if value < SHORTEST:
        raise ValueError(f"{what} must be at least {format_duration(SHORTEST)}, is {value.total_seconds():g}s")
    if value > LONGEST:
        raise ValueError(f"{what} must be at most {format_duration(LONGEST)}")
    return value


def check_ladder(offsets: tuple[timedelta, ...], what: str = "a reminder ladder") -> tuple[timedelta, ...]:
    """``offsets`` deduplicated, largest first, if each is within bounds and there are not too many.

    Raises:
        ValueError: an offset out of bounds, or more than :data:`MAX_REMINDERS` of them.
    """
    unique = tuple(sorted(set(offsets), reverse=True))
    if len(unique) > MAX_REMINDERS:
        raise ValueError(f"{what} has at most {MAX_REMINDERS} offsets, not {len(unique)}")
    for offset in unique:
        check_bounds(offset, f"each offset of {what}")
    return unique


def horizon_problem(at: datetime, now: datetime, what: str) -> str | None:
    """Why a deadline moved to ``at`` (``now``) cannot be, or None: it must stay within :data:`HORIZON` of now.

    Each move is bounded by its own field; this bounds where repeated moves can take a clock.
    """
    if not now - HORIZON <= at <= now + HORIZON:
        return f"{what} would be {at.isoformat()}, more than {HORIZON.days} days from now"
    return None


def parse_ladder(text: str) -> tuple[timedelta, ...]:
    """Parses a reminder ladder (``24h,4h``): offsets before a deadline, largest first."""
    if not text.strip():
        return ()
    offsets = {parse_duration(part) for part in text.split(",") if part.strip()}
    if any(offset <= timedelta() for offset in offsets):
        raise ValueError(f"reminder offsets must be positive: {text!r}")
    return check_ladder(tuple(offsets))


def format_duration(value: timedelta, *, days: bool = True) -> str:
    """The shortest exact spelling of a duration in the settings' units (``7d``, ``90s``).

    Args:
        value: the duration.
        days: whether to use days; without, ``24h`` stays ``24h`` as people say of reminders.
    """
    seconds = int(value.total_seconds())
    units = (("d", 86400), ("h", 3600), ("m", 60)) if days else (("h", 3600), ("m", 60))
    for unit, size in units:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def time_left(value: timedelta) -> str:
    """Time left as a reminder says it, never negative: minutes under two hours (``45min``), else whole
    hours (``24h``). A short clock never reads ``0h``."""
    minutes = max(0, round(value.total_seconds() / 60))
    if minutes < 120:
        return f"{minutes}min"
    return f"{round(minutes / 60)}h"


def shifted_deadline_problem(at: datetime, now: datetime, what: str) -> str | None:
    """Why an admin's shift cannot move a running deadline to ``at`` (``now``), or None.

    The deadline must stay ahead of now (and so after its clock's start, which is never ahead of now for
    the clocks an admin shifts) and within :data:`HORIZON`. A shift that would pull it into the past is
    refused rather than breaching at once: a breach dated before the shift would rewrite history (an
    overdue entry a year before the order was paid), and one dated now would not be what the admin asked.
    """
    if at <= now:
        return f"{what} would be {at.isoformat()}, not after now: a shift must leave it ahead of now"
    return horizon_problem(at, now, what)
