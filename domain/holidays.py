"""China's statutory holidays and make-up workdays, resolved into a :class:`BusinessCalendar` as data.

The State Council publishes each year's schedule in the autumn before; the ``chinesecalendar`` package
carries it. Its answer depends on the installed version, so it is asked only *outside* workflows (the API
when it starts a process, or an activity), and the resolved days travel into the workflow as data: upgrading
the package never changes a replay.

A year the package does not know yet (next year's schedule before it is published, or an old package) is
resolved without holidays: its days follow the weekly hours. The calendar says which years it covers
(``holiday_years``) so the caller can flag the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from importlib.metadata import version

import chinese_calendar

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar, CalendarConfig

SOURCE = f"chinesecalendar {version('chinesecalendar')}"


def known_years() -> frozenset[int]:
    """The years whose holiday schedule the installed package carries."""
    return frozenset(day.year for day in chinese_calendar.constants.holidays)


def resolve_calendar(config: CalendarConfig | None, *, years: Iterable[int]) -> BusinessCalendar:
    """The business calendar of a merchant's setting, with the holidays of ``years`` where known.

    Args:
        config: the merchant's calendar; None runs round the clock.
        years: the years the clocks may touch (e.g. this year and next).
    """
    if config is None:
        return ROUND_THE_CLOCK
    if config.holidays is None:
        return BusinessCalendar(timezone=config.timezone, hours=config.hours)
    covered = sorted(set(years) & known_years())
    wanted = set(covered)
    return BusinessCalendar(
        timezone=config.timezone,
        hours=config.hours,
        days_off=_days(chinese_calendar.constants.holidays, wanted),
        workdays=_days(chinese_calendar.constants.workdays, wanted),
        holiday_years=tuple(covered),
        holidays_source=SOURCE,
    )


def _days(table: dict[date, object], years: set[int]) -> tuple[date, ...]:
    return tuple(sorted(day for day in table if day.year in years))


def years_from(today: date) -> tuple[int, int]:
    """The years a clock started ``today`` may touch: this one and the next."""
    return today.year, today.year + 1
