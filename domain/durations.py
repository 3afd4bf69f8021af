"""Durations as people write them in settings: ``90s``, ``30m``, ``72h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


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
        total += timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        position = match.end()
    if position != len(compact):
        raise ValueError(f"not a duration: {text!r} (write e.g. 90s, 30m, 72h, 7d)")
    return total


def parse_ladder(text: str) -> tuple[timedelta, ...]:
    """Parses a reminder ladder (``24h,4h``): offsets before a deadline, largest first."""
    if not text.strip():
        return ()
    offsets = {parse_duration(part) for part in text.split(",") if part.strip()}
    if any(offset <= timedelta() for offset in offsets):
        raise ValueError(f"reminder offsets must be positive: {text!r}")
    return tuple(sorted(offsets, reverse=True))


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


def hours_left(value: timedelta) -> str:
    """Time left as a reminder says it: whole hours, never negative (``24h``)."""
    return f"{max(0, round(value.total_seconds() / 3600))}h"
