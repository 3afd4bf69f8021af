from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from config.settings import Settings
from domain.durations import (
    HORIZON,
    LONGEST,
    MAX_REMINDERS,
    SHORTEST,
    format_duration,
    horizon_problem,
    parse_duration,
    parse_ladder,
)
from domain.orders import OrderStatus, can_extend, extended_window_end
from domain.policy import Policy, PolicyError, with_overrides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("72h", timedelta(hours=72)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_durations_are_written_as_in_the_settings(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "72", "3w", "h", "1h x", "-1h"])
def test_unreadable_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_ladder_is_sorted_largest_first_and_deduplicated() -> None:
    assert parse_ladder("4h,24h,4h") == (timedelta(hours=24), timedelta(hours=4))
    assert parse_ladder("") == ()


def test_format_duration_round_trips() -> None:
    for text in ("5h", "7d", "30m", "90s"):
        assert format_duration(parse_duration(text)) == text


def test_merchant_overrides_replace_only_their_fields() -> None:
    policy = with_overrides(Policy(), {"ship_deadline": "48h", "ship_reminders": "12h,2h"})
    assert policy.ship_deadline == timedelta(hours=48)
    assert policy.ship_reminders == (timedelta(hours=12), timedelta(hours=2))
    assert policy.review_deadline == Policy().review_deadline


def test_unknown_override_field_is_refused() -> None:
    with pytest.raises(PolicyError, match="ship_deadlin"):
        with_overrides(Policy(), {"ship_deadlin": "48h"})


def test_zero_duration_override_is_refused() -> None:
    with pytest.raises(PolicyError, match="at least 1s"):
        with_overrides(Policy(), {"ship_deadline": "0s"})


def test_an_open_window_grows_by_the_extension() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    end = now + timedelta(days=2)
    assert extended_window_end(end, now, timedelta(days=7)) == end + timedelta(days=7)


def test_a_closed_window_reopens_for_the_extension_from_now() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert extended_window_end(now - timedelta(days=5), now, timedelta(days=7)) == now + timedelta(days=7)


def test_only_delivered_or_closed_orders_have_a_window_to_extend() -> None:
    assert can_extend(OrderStatus.DELIVERED)
    assert can_extend(OrderStatus.CLOSED)
    assert not can_extend(OrderStatus.AWAITING_SHIPMENT)
    assert not can_extend(OrderStatus.SHIPPED)


def test_a_policy_survives_the_trip_through_temporal_payloads() -> None:
    policy = with_overrides(Policy(), {"ship_reminders": "12h,90m"})
    assert Policy.model_validate_json(policy.model_dump_json()) == policy


@pytest.mark.parametrize("text", ["999999999d", "9" * 400 + "d", "366d", "8761h", "P999999999D", "P400D"])
def test_a_clock_longer_than_a_year_is_refused_not_overflowed(text: str) -> None:
    with pytest.raises(PolicyError, match="ship_deadline"):
        with_overrides(Policy(), {"ship_deadline": text})


@pytest.mark.parametrize("text", ["0.5s", "0s", "PT0.1S"])
def test_a_clock_shorter_than_a_second_is_refused(text: str) -> None:
    with pytest.raises(PolicyError, match="at least 1s"):
        with_overrides(Policy(), {"review_deadline": text})


def test_the_bounds_themselves_are_accepted() -> None:
    policy = with_overrides(Policy(), {"ship_deadline": "365d", "cooling_off": "1s", "window": "8760h"})
    assert policy.ship_deadline == LONGEST == policy.window
    assert policy.cooling_off == SHORTEST


@pytest.mark.parametrize("ladder", ["400d,1h", "24h,0.5s", ",".join(f"{n}h" for n in range(1, MAX_REMINDERS + 2))])
def test_reminder_offsets_are_bounded_like_clocks_and_few(ladder: str) -> None:
    with pytest.raises(PolicyError, match="ship_reminders"):
        with_overrides(Policy(), {"ship_reminders": ladder})


def test_an_absurd_duration_is_a_value_error_with_a_short_echo() -> None:
    with pytest.raises(ValueError, match="too long") as refused:
        parse_duration("9" * 10_000 + "d")
    assert len(str(refused.value)) < 100


def test_the_settings_are_bounded_like_a_merchants_overrides() -> None:
    with pytest.raises(ValidationError, match="at most 365d"):
        Settings(ship_deadline="999999999d")


def test_a_deadline_may_be_moved_within_the_horizon_of_now_only() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert horizon_problem(now + HORIZON, now, "the deadline") is None
    assert horizon_problem(now - HORIZON, now, "the deadline") is None
    assert "more than 730 days" in (horizon_problem(now + HORIZON + timedelta(seconds=1), now, "the deadline") or "")
    assert horizon_problem(now - HORIZON - timedelta(seconds=1), now, "the deadline")


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(seconds=-5), "0min"),
        (timedelta(seconds=29), "0min"),
        (timedelta(minutes=1), "1min"),
        (timedelta(minutes=30), "30min"),
        (timedelta(minutes=119), "119min"),
        (timedelta(minutes=120), "2h"),
        (timedelta(hours=24), "24h"),
    ],
)
def test_time_left_reads_minutes_for_short_clocks_and_hours_for_long_ones(left: timedelta, said: str) -> None:
    from domain.durations import time_left

    assert time_left(left) == said
