"""Quiet hours: a reminder due at night waits for the morning, in the merchant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from config.settings import Settings
from domain.merchants import MerchantConfig
from domain.policy import Policy, PolicyError, with_overrides
from domain.quiet import QuietHours, parse_quiet_hours, release_at
from readmodel.merchants import policy_of
from readmodel.tables import Merchant
from tests.factories import merchant_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours.model_validate("22:00-08:00")


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_a_reminder_due_at_23_shanghai_is_released_at_8_the_next_morning() -> None:
    assert release_at(shanghai(26, 23), NIGHT) == shanghai(27, 8)


def test_a_reminder_due_after_midnight_is_released_the_same_morning() -> None:
    assert release_at(shanghai(27, 3, 30), NIGHT) == shanghai(27, 8)


def test_a_reminder_due_in_the_day_goes_out_at_its_time() -> None:
    for at in (shanghai(26, 8), shanghai(26, 12), shanghai(26, 21, 59)):
        assert release_at(at, NIGHT) == at


def test_the_window_starts_at_its_start_and_ends_before_its_end() -> None:
    assert release_at(shanghai(26, 22), NIGHT) == shanghai(27, 8)
    assert release_at(shanghai(27, 7, 59), NIGHT) == shanghai(27, 8)


def test_a_window_within_one_day_holds_only_inside_it() -> None:
    lunch = QuietHours.model_validate("12:00-13:30")
    assert release_at(shanghai(26, 12, 15), lunch) == shanghai(26, 13, 30)
    assert release_at(shanghai(26, 13, 30), lunch) == shanghai(26, 13, 30)
    assert release_at(shanghai(26, 23), lunch) == shanghai(26, 23)


def test_the_window_is_read_in_its_time_zone_whatever_the_instant_s_offset() -> None:
    berlin = NIGHT.in_zone("Europe/Berlin")
    at = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 06:30 next day in Shanghai
    assert release_at(at, berlin) == datetime(2026, 11, 27, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    assert release_at(at, NIGHT) == shanghai(27, 8)


def test_a_night_across_a_daylight_saving_change_ends_at_the_local_morning() -> None:
    berlin = NIGHT.in_zone("Europe/Berlin")
    # 2026-10-25 Berlin falls back at 03:00: the night is an hour longer, the morning still 08:00 local.
    at = datetime(2026, 10, 24, 23, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    released = release_at(at, berlin)
    assert released.astimezone(ZoneInfo("Europe/Berlin")).hour == 8
    assert released - at == timedelta(hours=10)


def test_no_window_holds_nothing() -> None:
    assert release_at(shanghai(26, 23), None) == shanghai(26, 23)


@pytest.mark.parametrize("written", ["22:00", "25:00-08:00", "22:00-22:00", "ten-eight", "22:00-8:00"])
def test_an_unreadable_window_is_refused(written: str) -> None:
    with pytest.raises(ValidationError):
        QuietHours.model_validate(written)


def test_off_or_empty_means_no_quiet_hours() -> None:
    assert parse_quiet_hours("off") is None
    assert parse_quiet_hours("") is None
    assert parse_quiet_hours("21:30-07:00") == QuietHours(start="21:30", end="07:00")


def test_the_setting_is_read_in_the_platform_s_time_zone() -> None:
    settings = Settings(quiet_hours="22:00-08:00", timezone="Asia/Tokyo")  # type: ignore[arg-type]
    assert settings.policy().quiet_hours == QuietHours(start="22:00", end="08:00", timezone="Asia/Tokyo")
    assert Settings().policy().quiet_hours is None


def test_a_merchant_overrides_the_window_or_turns_it_off() -> None:
    base = Policy(quiet_hours="22:00-08:00")  # type: ignore[arg-type]
    assert with_overrides(base, {"quiet_hours": "23:00-07:00"}).quiet_hours == QuietHours(start="23:00", end="07:00")
    assert with_overrides(base, {"quiet_hours": "off"}).quiet_hours is None
    with pytest.raises(PolicyError):
        with_overrides(base, {"quiet_hours": "late"})


def test_a_merchant_s_window_is_read_in_its_calendar_s_time_zone() -> None:
    calendar = {"timezone": "Asia/Urumqi", "hours": {"mon": [["10:00", "19:00"]]}}
    config = MerchantConfig.model_validate(merchant_body(calendar=calendar, policy={"quiet_hours": "22:00-08:00"}))
    merchant = Merchant(merchant_id="m-west", updated_at=datetime.now(UTC), **config.model_dump(mode="json"))
    policy = policy_of(merchant, Settings(timezone="Asia/Shanghai").policy())
    assert policy.quiet_hours == QuietHours(start="22:00", end="08:00", timezone="Asia/Urumqi")
    without_calendar = merchant.model_copy(update={"calendar": None})
    assert policy_of(without_calendar, Settings(quiet_hours="22:00-08:00").policy()).quiet_hours == NIGHT  # type: ignore[arg-type]
