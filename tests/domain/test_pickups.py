"""Pickup slots, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.pickups import BOOKING_AHEAD, PickupRequest, slot_problem

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ADDRESS = {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"}


def slot(start: datetime) -> PickupRequest:
    return PickupRequest.model_validate(
        {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    )


def test_a_slot_from_now_to_a_month_ahead_can_be_booked() -> None:
    assert slot_problem(slot(NOW), NOW) is None
    assert slot_problem(slot(NOW + BOOKING_AHEAD), NOW) is None


def test_a_slot_over_already_is_refused() -> None:
    assert "over already" in (slot_problem(slot(NOW - timedelta(hours=3)), NOW) or "")


def test_a_slot_more_than_a_month_ahead_is_refused() -> None:
    assert "30 days ahead" in (slot_problem(slot(NOW + BOOKING_AHEAD + timedelta(minutes=1)), NOW) or "")
