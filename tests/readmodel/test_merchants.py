"""A merchant's calendar resolved for the clocks of a process: holidays as data, gaps said out loud."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine
from structlog.testing import capture_logs

from domain.calendar import ROUND_THE_CLOCK
from domain.holidays import known_years
from domain.merchants import MerchantConfig
from readmodel.merchants import calendar_of, get_merchant, put_merchant
from readmodel.tables import Merchant
from tests.factories import merchant_body

CN_OFFICE = {"hours": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}, "holidays": "CN"}


def stored(engine: Engine, merchant_id: str, **overrides: object) -> Merchant:
    """The merchant as a PUT stores it and a process start reads it back."""
    config = MerchantConfig.model_validate(merchant_body(**overrides))
    put_merchant(engine, merchant_id=merchant_id, values=config.model_dump(mode="json"))
    merchant = get_merchant(engine, merchant_id=merchant_id)
    assert merchant is not None
    return merchant


def test_a_merchant_with_china_holidays_gets_this_and_next_years_days_as_data(any_engine: Engine) -> None:
    merchant = stored(any_engine, "m-cn", calendar=CN_OFFICE)
    calendar = calendar_of(merchant, today=date(2025, 12, 1))
    assert calendar.holiday_years == (2025, 2026)
    assert date(2026, 2, 14) in calendar.workdays
    assert date(2026, 2, 16) in calendar.days_off
    assert date(2025, 10, 1) in calendar.days_off


def test_a_year_without_a_published_schedule_is_counted_without_holidays_and_logged(any_engine: Engine) -> None:
    merchant = stored(any_engine, "m-cn-late", calendar=CN_OFFICE)
    last = max(known_years())
    with capture_logs() as logs:
        calendar = calendar_of(merchant, today=date(last, 12, 1))
    assert calendar.holiday_years == (last,)
    assert [(entry["event"], entry["years"]) for entry in logs] == [("holiday_schedule_unknown", [last + 1])]


def test_a_merchant_without_a_calendar_runs_round_the_clock(any_engine: Engine) -> None:
    merchant = stored(any_engine, "m-plain")
    assert calendar_of(merchant, today=date(2026, 3, 1)) == ROUND_THE_CLOCK
    assert calendar_of(None, today=date(2026, 3, 1)) == ROUND_THE_CLOCK
