"""Quiet hours: when reminders wait for the morning.

``AFTERSALES_QUIET_HOURS`` (``22:00-08:00``; a merchant may override it) names a nightly window in the
merchant's time zone. A reminder (a level-0 step of an SLA clock) falling due inside it is held until the
window ends; a breach, an escalation or a decision is never held. The window travels into the workflow
inside its :class:`~domain.policy.Policy`, so holding a reminder is a pure, replay-safe computation:
:func:`release_at`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from domain.model import Model

DEFAULT_TIMEZONE = "Asia/Shanghai"
OFF = "off"
_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class QuietHours(Model):
    """A daily window in local time during which reminders are held: ``start``–``end``, may span midnight."""

    start: str
    end: str
    timezone: str = DEFAULT_TIMEZONE

    @model_validator(mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        """Accepts the window as written in settings: ``22:00-08:00``."""
        if isinstance(value, str):
            start, sep, end = value.strip().partition("-")
            if not sep:
                raise ValueError(f"quiet hours are written HH:MM-HH:MM, e.g. 22:00-08:00, not {value!r}")
            return {"start": start.strip(), "end": end.strip()}
        return value

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, text: str) -> str:
        if not _TIME.match(text):
            raise ValueError(f"not a time of day: {text!r} (write HH:MM, 00:00 to 23:59)")
        return text

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {name!r}") from error
        return name

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"

    def in_zone(self, timezone: str) -> QuietHours:
        """The same window, read in ``timezone`` (the merchant's)."""
        return self.model_copy(update={"timezone": self._known_zone(timezone)})


def parse_quiet_hours(value: Any) -> QuietHours | None:
    """A written window (``22:00-08:00``), ``off``/empty for none, or a window already parsed."""
    if value is None or isinstance(value, QuietHours):
        return value
    if isinstance(value, str) and value.strip().lower() in ("", OFF, "none"):
        return None
    return QuietHours.model_validate(value)


def release_at(at: datetime, quiet: QuietHours | None) -> datetime:
    """When a reminder due ``at`` may go out: ``at`` itself, or the end of the quiet window it falls in.

    Args:
        at: when the reminder is due (timezone-aware).
        quiet: the window, or None for none.

    Returns:
        ``at`` outside the window; inside it, the window's end in its time zone (as UTC).
    """
    if quiet is None:
        return at
    zone = ZoneInfo(quiet.timezone)
    local = at.astimezone(zone)
    now = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    spans_midnight = start > end
    if spans_midnight:
        inside, ends_tomorrow = (now >= start or now < end), now >= start
    else:
        inside, ends_tomorrow = start <= now < end, False
    if not inside:
        return at
    day = local.date() + timedelta(days=1 if ends_tomorrow else 0)
    hours, minutes = divmod(end, 60)
    # Built from the local date and wall time, so a DST change during the night lands on the real 08:00.
    return datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)
