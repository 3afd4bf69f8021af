"""Business calendars: which instants count towards a clock that runs on working time only.

A merchant's calendar is its working hours per weekday in its own time zone, optionally with China's
statutory holidays (days off) and make-up workdays (调休, a Saturday or Sunday worked in exchange). A
:class:`BusinessCalendar` holds all of it *as data*: the holiday days are resolved outside any workflow
(:mod:`domain.holidays`) and travel into the workflow with the clock, so a new holiday package next year
never changes what a replay computes.

Arithmetic walks working intervals (one or a few per day), never minutes, and the round-the-clock calendar
short-cuts to plain ``datetime`` arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from domain.model import Model

DEFAULT_TIMEZONE = "Asia/Shanghai"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar whose working time is further away than this is broken (e.g. every day declared off): the
# arithmetic refuses instead of walking the calendar for ever.
MAX_IDLE_DAYS = 400
_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")

Interval = tuple[str, str]
"""One working interval of a day in local wall-clock time: ``("09:00", "18:00")``; ``"24:00"`` ends a day."""


class CalendarError(ValueError):
    """A calendar that cannot answer: no working time within :data:`MAX_IDLE_DAYS`."""


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day_intervals(intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
    """Validates one day's intervals: ``HH:MM``, start before end, sorted and not overlapping."""
    previous_end = -1
    for start, end in intervals:
        for text in (start, end):
            if not _CLOCK.match(text):
                raise ValueError(f"not a time of day: {text!r} (write HH:MM, 00:00 to 24:00)")
        if _minutes(start) >= _minutes(end):
            raise ValueError(f"an interval must start before it ends: {start}–{end}")
        if _minutes(start) < previous_end:
            raise ValueError(f"intervals must be in order and not overlap: {start}–{end}")
        previous_end = _minutes(end)
    return intervals


class WeeklyHours(Model):
    """Working intervals per weekday; a day left out (or empty) is a day off."""

    mon: tuple[Interval, ...] = Field(default=(), max_length=12)
    tue: tuple[Interval, ...] = Field(default=(), max_length=12)
    wed: tuple[Interval, ...] = Field(default=(), max_length=12)
    thu: tuple[Interval, ...] = Field(default=(), max_length=12)
    fri: tuple[Interval, ...] = Field(default=(), max_length=12)
    sat: tuple[Interval, ...] = Field(default=(), max_length=12)
    sun: tuple[Interval, ...] = Field(default=(), max_length=12)

    @field_validator(*WEEKDAYS)
    @classmethod
    def _valid_day(cls, intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
        return _day_intervals(intervals)

    @model_validator(mode="after")
    def _some_working_time(self) -> WeeklyHours:
        if not any(self.of(weekday) for weekday in range(7)):
            raise ValueError("a calendar needs working hours on at least one weekday")
        return self

    def of(self, weekday: int) -> tuple[Interval, ...]:
        """The intervals of ``weekday`` (0 = Monday, as :meth:`date.weekday`)."""
        intervals: tuple[Interval, ...] = getattr(self, WEEKDAYS[weekday])
        return intervals


ALL_DAY: tuple[Interval, ...] = (("00:00", "24:00"),)
ALWAYS = WeeklyHours(**{day: ALL_DAY for day in WEEKDAYS})


def _valid_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (write an IANA name such as Asia/Shanghai)") from error
    return name


class CalendarConfig(Model):
    """A merchant's calendar as the platform configures it (``PUT /v1/merchants/{id}`` ``calendar``)."""

    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=64)
    hours: WeeklyHours
    holidays: Literal["CN"] | None = Field(
        default=None, description='"CN": China\'s statutory holidays are off, its make-up workdays are worked'
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _valid_timezone(name)


class BusinessCalendar(Model):
    """Working time as data: weekly hours in a time zone, with the holidays and make-up days resolved.

    A make-up workday works the hours of the first weekday (Monday to Friday) that has any: it stands in
    for a regular workday, whatever the merchant does on an ordinary weekend.
    """

    timezone: str = DEFAULT_TIMEZONE
    hours: WeeklyHours = ALWAYS
    days_off: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()
    holiday_years: tuple[int, ...] = Field(default=(), description="years whose holidays are in days_off/workdays")
    holidays_source: str | None = Field(default=None, description="where the holiday days came from, and version")

    _plan: _Plan = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _valid_timezone(name)

    @model_validator(mode="after")
    def _no_day_both_off_and_worked(self) -> BusinessCalendar:
        if set(self.days_off) & set(self.workdays):
            raise ValueError("a day cannot be both off and a make-up workday")
        return self

    def model_post_init(self, context: object, /) -> None:
        self._plan = _Plan(self)

    @property
    def round_the_clock(self) -> bool:
        """Every instant counts: business time is wall-clock time."""
        return self._plan.always

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The working intervals of a local calendar day, holidays and make-up days applied."""
        return tuple((_clock(start), _clock(end)) for start, end in self._plan.minutes_on(day))

    def is_working_day(self, day: date) -> bool:
        """Whether the local day has any working time."""
        return bool(self._plan.minutes_on(day))

    def intervals(self, start: datetime, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals in UTC from ``start`` on, the first clipped to begin at ``start``.

        Args:
            start: where to begin.
            until: stop with the local day that begins at or after this instant (without, walk on).

        Raises:
            CalendarError: no working time within :data:`MAX_IDLE_DAYS` days.
        """
        plan = self._plan
        start = _aware(start)
        day = start.astimezone(plan.zone).date() - timedelta(days=1)
        idle = 0
        while until is None or plan.instant(day, 0) < until:
            found = False
            for begin, end in plan.utc(day):
                if end <= start:
                    continue
                found = True
                yield max(begin, start), end
            idle = 0 if found else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarError(f"no working time within {MAX_IDLE_DAYS} days after {day.isoformat()}")
            day += timedelta(days=1)


class _Plan:
    """A calendar parsed once for arithmetic: minutes per weekday, day sets, the zone.

    Plain attributes, not the model's: the arithmetic runs on every timer a workflow plans.
    """

    __slots__ = ("always", "makeup", "off", "week", "worked", "zone")

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.zone = ZoneInfo(calendar.timezone)
        self.off = frozenset(calendar.days_off)
        self.worked = frozenset(calendar.workdays)
        self.week = tuple(
            tuple((_minutes(start), _minutes(end)) for start, end in calendar.hours.of(weekday)) for weekday in range(7)
        )
        self.makeup = next((hours for hours in self.week[:5] if hours), ())
        self.always = calendar.hours == ALWAYS and not calendar.days_off

    def __eq__(self, other: object) -> bool:
        # Derived from the model's fields: two equal calendars have equal plans (pydantic compares these).
        return isinstance(other, _Plan) and (self.zone, self.off, self.worked, self.week) == (
            other.zone,
            other.off,
            other.worked,
            other.week,
        )

    # Equal plans must hash alike; plans are never keys, so they do not hash at all.
    __hash__ = None  # type: ignore[assignment]

    def minutes_on(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.off:
            return ()
        if day in self.worked and self.makeup:
            return self.makeup
        return self.week[day.weekday()]

    def utc(self, day: date) -> list[tuple[datetime, datetime]]:
        result = []
        for start, end in self.minutes_on(day):
            begin = self.instant(day, start)
            finish = self.instant(day, end)
            if finish > begin:  # an interval swallowed by a daylight-saving jump has no length
                result.append((begin, finish))
        return result

    def instant(self, day: date, minutes: int) -> datetime:
        if minutes == 24 * 60:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime has no place on a calendar: {value.isoformat()}")
    return value


ROUND_THE_CLOCK = BusinessCalendar()


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which ``duration`` of working time has passed since ``start``.

    A duration that ends exactly at the end of a working interval ends there (Friday 18:00), not at the
    start of the next one.

    Raises:
        ValueError: ``duration`` is negative or ``start`` is naive.
        CalendarError: the calendar has no working time ahead.
    """
    if duration < timedelta():
        raise ValueError("a negative duration of working time")
    if calendar.round_the_clock or duration == timedelta():
        return _aware(start) + duration
    remaining = duration
    for begin, end in calendar.intervals(start):
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: intervals() never ends")  # pragma: no cover


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Working time in ``[start, end)``; zero when ``end`` is not after ``start``."""
    if end <= start:
        return timedelta()
    if calendar.round_the_clock:
        return end - start
    total = timedelta()
    for begin, finish in calendar.intervals(start, until=end):
        if begin >= end:
            break
        total += min(finish, end) - begin
    return total
