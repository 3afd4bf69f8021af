"""Business calendars over the State Council's 2026 schedule, as the ``chinesecalendar`` package carries it."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.calendar import (
    ROUND_THE_CLOCK,
    BusinessCalendar,
    CalendarConfig,
    CalendarError,
    WeeklyHours,
    add_business_time,
    business_time_between,
)
from domain.holidays import known_years, resolve_calendar
from domain.sla import SlaClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
OFFICE = (("09:00", "12:00"), ("13:00", "18:00"))  # 8 working hours, lunch off
WEEKDAYS_ONLY = WeeklyHours(mon=OFFICE, tue=OFFICE, wed=OFFICE, thu=OFFICE, fri=OFFICE)


def cn(hours: WeeklyHours = WEEKDAYS_ONLY, years: tuple[int, ...] = (2026,)) -> BusinessCalendar:
    return resolve_calendar(CalendarConfig(hours=hours, holidays="CN"), years=years)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_spring_festival_2026_is_off_and_its_make_up_saturday_is_worked() -> None:
    calendar = cn()
    assert calendar.is_working_day(date(2026, 2, 14))  # Saturday, make-up workday
    assert all(not calendar.is_working_day(date(2026, 2, day)) for day in range(15, 24))
    assert calendar.is_working_day(date(2026, 2, 24))
    assert calendar.is_working_day(date(2026, 2, 28))  # Saturday, the second make-up day
    assert not calendar.is_working_day(date(2026, 3, 1))  # an ordinary Sunday
    assert calendar.holiday_years == (2026,)
    assert calendar.holidays_source is not None
    assert calendar.holidays_source.startswith("chinesecalendar ")


def test_a_make_up_saturday_works_regular_weekday_hours() -> None:
    saturday = local(2026, 2, 14)
    assert business_time_between(cn(), saturday, saturday + timedelta(days=1)) == 8 * HOUR


def test_a_deadline_that_crosses_spring_festival_resumes_after_it() -> None:
    """8 working hours from Saturday 14 Feb 16:00: 2 h that day, nothing for nine days, 6 h on the 24th
    (09:00–12:00 and 13:00–16:00)."""
    start = local(2026, 2, 14, 16)
    deadline = add_business_time(cn(), start, 8 * HOUR)
    assert deadline == local(2026, 2, 24, 16)
    assert business_time_between(cn(), start, deadline) == 8 * HOUR


def test_a_clock_on_the_calendar_reminds_and_breaches_across_the_holiday() -> None:
    clock = SlaClock(name="resolution", budget=8 * HOUR, calendar=cn()).start(local(2026, 2, 14, 16))
    by_name = {step.name: clock.due_at(step) for step in clock.steps}
    assert by_name == {
        "remind_50": local(2026, 2, 24, 11),  # 2 h on Saturday, 2 h on the 24th
        "remind_80": local(2026, 2, 24, 14, 24),  # 6.4 h: 3 h morning, lunch, 1.4 h afternoon
        "breach": local(2026, 2, 24, 16),
        "escalate_200": local(2026, 2, 25, 16),  # 16 h: 2 h, 8 h on the 24th, 6 h on the 25th
    }


def test_working_hours_differ_per_weekday() -> None:
    hours = WeeklyHours(fri=(("09:00", "17:00"),), sat=(("10:00", "12:00"),), mon=(("08:00", "09:00"),))
    calendar = BusinessCalendar(hours=hours)
    # Friday 2026-03-06 16:00 + 4 h: 1 h Friday, 2 h Saturday, 1 h Monday.
    assert add_business_time(calendar, local(2026, 3, 6, 16), 4 * HOUR) == local(2026, 3, 9, 9)


def test_a_duration_ending_with_the_working_day_ends_at_its_close() -> None:
    assert add_business_time(cn(), local(2026, 3, 2, 9), 8 * HOUR) == local(2026, 3, 2, 18)


def test_time_outside_working_hours_does_not_count() -> None:
    assert business_time_between(cn(), local(2026, 3, 2, 12), local(2026, 3, 2, 13)) == timedelta()
    assert business_time_between(cn(), local(2026, 3, 2, 18), local(2026, 3, 3, 9)) == timedelta()
    assert business_time_between(cn(), local(2026, 3, 3, 9), local(2026, 3, 2, 9)) == timedelta()


def test_hours_are_the_merchants_local_hours_in_its_time_zone() -> None:
    berlin = BusinessCalendar(timezone="Europe/Berlin", hours=WEEKDAYS_ONLY)
    monday_nine_in_berlin = datetime(2026, 1, 5, 8, tzinfo=UTC)  # CET is UTC+1
    assert add_business_time(berlin, datetime(2026, 1, 5, 0, tzinfo=UTC), HOUR) == monday_nine_in_berlin + HOUR


def test_a_daylight_saving_night_counts_the_hours_that_exist() -> None:
    """Berlin, 29 March 2026: 02:00 jumps to 03:00, so a 00:00–04:00 shift lasts three hours."""
    night = BusinessCalendar(timezone="Europe/Berlin", hours=WeeklyHours(sun=(("00:00", "04:00"),)))
    assert (
        business_time_between(night, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)) == 3 * HOUR
    )


def test_round_the_clock_is_wall_clock_time() -> None:
    start = datetime(2026, 2, 14, 16, tzinfo=UTC)
    assert ROUND_THE_CLOCK.round_the_clock
    assert add_business_time(ROUND_THE_CLOCK, start, 30 * HOUR) == start + 30 * HOUR
    assert business_time_between(ROUND_THE_CLOCK, start, start + 30 * HOUR) == 30 * HOUR


def test_a_calendar_without_holidays_works_through_spring_festival() -> None:
    plain = resolve_calendar(CalendarConfig(hours=WEEKDAYS_ONLY), years=(2026,))
    assert plain.is_working_day(date(2026, 2, 16))
    assert not plain.is_working_day(date(2026, 2, 14))
    assert resolve_calendar(None, years=(2026,)) == ROUND_THE_CLOCK


def test_a_year_the_package_does_not_know_has_no_holidays_and_says_so() -> None:
    unknown = max(known_years()) + 1
    calendar = cn(years=(2026, unknown))
    assert calendar.holiday_years == (2026,)
    assert all(day.year == 2026 for day in (*calendar.days_off, *calendar.workdays))


@pytest.mark.parametrize(
    "bad",
    [
        {"hours": {}},  # no working time at all: every deadline would be infinitely far
        {"hours": {"mon": [["18:00", "09:00"]]}},
        {"hours": {"mon": [["09:00", "12:00"], ["11:00", "18:00"]]}},
        {"hours": {"mon": [["9:00", "18:00"]]}},
        {"hours": {"mon": [["09:00", "24:30"]]}},
        {"hours": {"monday": [["09:00", "18:00"]]}},
        {"hours": {"mon": [["09:00", "18:00"]]}, "timezone": "Mars/Olympus_Mons"},
        {"hours": {"mon": [["09:00", "18:00"]]}, "holidays": "US"},
    ],
)
def test_a_calendar_that_cannot_be_counted_on_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CalendarConfig.model_validate(bad)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_time(cn(), datetime(2026, 3, 2, 9), HOUR)  # noqa: DTZ001  (the point of the test)


def test_the_resolved_calendar_travels_as_json_unchanged() -> None:
    calendar = cn(years=(2026, 2027))
    carried = BusinessCalendar.model_validate_json(calendar.model_dump_json())
    assert carried == calendar
    assert carried.is_working_day(date(2026, 2, 14))


def test_a_calendar_with_no_working_day_ahead_refuses_instead_of_walking_for_ever() -> None:
    mondays = tuple(date(2026, 1, 5) + timedelta(weeks=week) for week in range(60))
    blocked = BusinessCalendar(hours=WeeklyHours(mon=OFFICE), days_off=mondays)
    with pytest.raises(CalendarError, match="no working time"):
        add_business_time(blocked, local(2026, 1, 1), HOUR)
    # Bounded questions still have an answer: nothing worked in between.
    assert business_time_between(blocked, local(2026, 1, 1), local(2027, 1, 1)) == timedelta()
