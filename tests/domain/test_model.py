"""The bounds every input shares: instants, quantities, money, flags, ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.cases import CaseLine, DisputeDecision, Receipt, refund_cents
from domain.model import (
    INT64_MAX,
    MAX_LINES,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    Instant,
)
from domain.orders import Id, OrderLine
from tests.factories import place_order

INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
ID: TypeAdapter[str] = TypeAdapter(Id)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_an_instant_far_from_this_century_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="between 2000 and 2100"):
        INSTANT.validate_python(text)


@pytest.mark.parametrize("value", [1_700_000_000, 1.7e9, True, "1700000000", " -1.5 "])
def test_an_instant_written_as_a_number_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="RFC 3339"):
        INSTANT.validate_python(value)


def test_an_instant_with_an_offset_in_this_century_is_read() -> None:
    assert INSTANT.validate_python("2026-03-01T08:00:00+08:00") == datetime(2026, 3, 1, tzinfo=UTC)
    assert INSTANT.validate_json('"2026-03-01T00:00:00Z"') == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", [".", "..", "...", " .. "])
def test_ids_of_dots_only_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="dots only"):
        ID.validate_python(value)


@pytest.mark.parametrize("value", ["a/b", "a b", "x" * 65, "", "O-1?x=1"])
def test_ids_outside_the_safe_charset_or_length_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        ID.validate_python(value)


@pytest.mark.parametrize("value", ["O-1001", "v1.2", "m:acme", "a..b", "订单_1"])
def test_ids_with_dots_among_other_characters_are_accepted(value: str) -> None:
    assert ID.validate_python(value) == value


LINE = {"line_id": "L1", "sku": "S", "title": "kettle", "quantity": 1, "unit_price_cents": 100}


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": "1"},
        {"quantity": 1.0},
        {"quantity": True},
        {"quantity": 0},
        {"quantity": MAX_QUANTITY + 1},
        {"unit_price_cents": "100"},
        {"unit_price_cents": -1},
        {"unit_price_cents": MAX_UNIT_PRICE_CENTS + 1},
        {"unit_price_cents": 10**23},
        {"insured": 0},
        {"insured": "true"},
    ],
)
def test_an_order_line_takes_only_json_integers_and_booleans_within_bounds(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OrderLine.model_validate({**LINE, **change})


@pytest.mark.parametrize("model", [DisputeDecision, Receipt])
@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_a_decision_is_a_json_boolean(model: Any, value: Any) -> None:
    field = "approve" if model is DisputeDecision else "accepted"
    with pytest.raises(ValidationError, match="valid boolean"):
        model.model_validate({field: value, "reason": "because"})


def test_the_largest_order_refunds_a_sum_that_fits_a_64_bit_column() -> None:
    lines = [
        {**LINE, "line_id": f"L{n}", "quantity": MAX_QUANTITY, "unit_price_cents": MAX_UNIT_PRICE_CENTS}
        for n in range(MAX_LINES)
    ]
    order = place_order(paid_at=datetime(2026, 3, 1, tzinfo=UTC), lines=lines)
    everything = [CaseLine(line_id=line.line_id, quantity=line.quantity) for line in order.lines]
    assert refund_cents(everything, order.lines) <= INT64_MAX


def test_bounded_values_survive_the_trip_through_temporal_payloads() -> None:
    order = place_order(paid_at=datetime(2026, 3, 1, tzinfo=UTC))
    decision = DisputeDecision(approve=False, reason="kept")
    assert type(order).model_validate_json(order.model_dump_json()) == order
    assert DisputeDecision.model_validate_json(decision.model_dump_json()) == decision
