"""The order watch's input rules, without Temporal: when an order can have been paid, when a parcel moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain.durations import shifted_deadline_problem
from domain.orders import (
    FUTURE_TOLERANCE,
    PAID_AT_PAST,
    DeadlineShift,
    WindowExtension,
    check_paid_at,
    event_time_problem,
    promise_problem,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("paid_at", [NOW, NOW - PAID_AT_PAST, NOW + FUTURE_TOLERANCE, NOW - timedelta(days=30)])
def test_an_order_paid_within_the_last_year_may_be_reported(paid_at: datetime) -> None:
    assert check_paid_at(paid_at, NOW) == paid_at


def test_an_order_paid_more_than_a_year_ago_is_refused() -> None:
    with pytest.raises(ValueError, match="ago"):
        check_paid_at(NOW - PAID_AT_PAST - timedelta(seconds=1), NOW)


def test_an_order_paid_in_the_future_is_refused() -> None:
    with pytest.raises(ValueError, match="future"):
        check_paid_at(NOW + FUTURE_TOLERANCE + timedelta(seconds=1), NOW)


def test_an_event_between_what_happened_and_now_is_accepted() -> None:
    floor = NOW - timedelta(days=1)
    assert event_time_problem(floor, now=NOW, not_before=floor) is None
    assert event_time_problem(NOW + FUTURE_TOLERANCE, now=NOW, not_before=floor) is None


def test_an_event_before_what_already_happened_is_refused() -> None:
    problem = event_time_problem(datetime(2000, 1, 1, tzinfo=UTC), now=NOW, not_before=NOW - timedelta(days=1))
    assert problem is not None
    assert "precedes" in problem


def test_an_event_in_the_future_is_refused() -> None:
    problem = event_time_problem(NOW + timedelta(hours=1), now=NOW, not_before=NOW - timedelta(days=1))
    assert problem is not None
    assert "future" in problem


def test_a_promised_delivery_lies_between_payment_and_a_year_ahead() -> None:
    paid_at = NOW - timedelta(days=2)
    assert promise_problem(NOW + timedelta(days=3), paid_at=paid_at, now=NOW) is None
    assert promise_problem(NOW - timedelta(days=1), paid_at=paid_at, now=NOW) is None  # late already: an anomaly
    assert "precedes" in (promise_problem(paid_at - timedelta(days=1), paid_at=paid_at, now=NOW) or "")
    assert "ahead" in (promise_problem(NOW + timedelta(days=366), paid_at=paid_at, now=NOW) or "")


@pytest.mark.parametrize(
    "hours", ["24", "nan", "inf", float("nan"), float("inf"), 24 * 365 + 1, -24 * 365 - 1, True, None]
)
def test_a_deadline_shift_is_a_finite_json_number_within_a_year(hours: Any) -> None:
    with pytest.raises(ValidationError):
        DeadlineShift.model_validate({"hours": hours, "reason": "holiday"})


def test_a_deadline_shift_takes_whole_and_fractional_hours() -> None:
    assert DeadlineShift.model_validate({"hours": 24, "reason": "holiday"}).hours == 24
    assert DeadlineShift.model_validate({"hours": -1.5, "reason": "holiday"}).hours == -1.5


@pytest.mark.parametrize("hours", [0, 0.0, 1e-300, -1e-300, 0.01, -0.01, 1.005, 24.123])
def test_a_deadline_shift_moves_by_at_least_a_minute_in_hundredths_of_an_hour(hours: float) -> None:
    with pytest.raises(ValidationError, match="hours"):
        DeadlineShift.model_validate({"hours": hours, "reason": "holiday"})
    assert DeadlineShift.model_validate({"hours": 0.02, "reason": "holiday"}).hours == 0.02
    assert DeadlineShift.model_validate({"hours": -167.75, "reason": "holiday"}).hours == -167.75


def test_a_shifted_deadline_must_stay_ahead_of_now_and_within_the_horizon() -> None:
    assert "not after now" in (shifted_deadline_problem(NOW, NOW, "the ship deadline") or "")
    assert "not after now" in (shifted_deadline_problem(NOW - timedelta(days=365), NOW, "the ship deadline") or "")
    assert shifted_deadline_problem(NOW + timedelta(minutes=1), NOW, "the ship deadline") is None
    assert "days from now" in (shifted_deadline_problem(NOW + timedelta(days=731), NOW, "the deadline") or "")


@pytest.mark.parametrize("days", ["3", 3.0, True, 0, 366])
def test_a_window_extension_is_a_json_integer_of_days_within_a_year(days: Any) -> None:
    with pytest.raises(ValidationError):
        WindowExtension.model_validate({"days": days})
