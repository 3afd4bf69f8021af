"""The after-sales rules, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.cases import (
    Action,
    AfterSaleRequest,
    CaseKind,
    CaseLine,
    CaseStatus,
    Receipt,
    allowed,
    in_cooling_off,
    is_whole_order,
    may_cancel,
    quantity_left,
    refund_cents,
)
from tests.factories import place_order

PAID = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_the_refund_is_unit_price_times_quantity_in_cents() -> None:
    lines = place_order(paid_at=PAID).lines
    assert refund_cents([CaseLine(line_id="L2", quantity=2), CaseLine(line_id="L1", quantity=1)], lines) == 26900


def test_what_is_left_excludes_open_cases_and_refunds() -> None:
    assert quantity_left(bought=5, in_open_cases=2, refunded=1) == 2


def test_cooling_off_covers_whole_orders_shortly_after_payment_before_shipment() -> None:
    bought = {"L1": 1, "L2": 2}
    assert is_whole_order([CaseLine(line_id="L1", quantity=1), CaseLine(line_id="L2", quantity=2)], bought)
    assert not is_whole_order([CaseLine(line_id="L2", quantity=2)], bought)
    assert in_cooling_off(PAID, PAID + timedelta(minutes=30), timedelta(minutes=30), shipped=False)
    assert not in_cooling_off(PAID, PAID + timedelta(minutes=31), timedelta(minutes=30), shipped=False)
    assert not in_cooling_off(PAID, PAID + timedelta(minutes=5), timedelta(minutes=30), shipped=True)


@pytest.mark.parametrize(
    ("kind", "status", "may"),
    [
        (CaseKind.REFUND_ONLY, CaseStatus.PENDING_REVIEW, True),
        (CaseKind.REFUND_ONLY, CaseStatus.REFUNDING, False),
        (CaseKind.RETURN_REFUND, CaseStatus.AWAITING_RETURN, True),
        (CaseKind.RETURN_REFUND, CaseStatus.RETURN_IN_TRANSIT, False),
        (CaseKind.EXCHANGE, CaseStatus.AWAITING_RETURN, True),
        (CaseKind.EXCHANGE, CaseStatus.AWAITING_REPLACEMENT, False),
    ],
)
def test_cancel_is_allowed_until_the_merchant_decides_or_the_goods_are_sent(
    kind: CaseKind, status: CaseStatus, may: bool
) -> None:
    assert may_cancel(kind, status) is may


def test_each_status_allows_only_its_own_actions() -> None:
    assert allowed(CaseStatus.PENDING_REVIEW, Action.APPROVE)
    assert not allowed(CaseStatus.AWAITING_RETURN, Action.APPROVE)
    assert allowed(CaseStatus.REJECTED, Action.APPEAL)
    assert not any(allowed(CaseStatus.COMPLETED, action) for action in Action)


def test_a_request_is_checked_before_it_reaches_a_workflow() -> None:
    base = {"case_id": "C1", "order_id": "O1", "kind": "refund_only", "reason": "坏了"}
    with pytest.raises(ValidationError):
        AfterSaleRequest.model_validate({**base, "lines": [{"line_id": "L1", "quantity": 1}] * 2})
    with pytest.raises(ValidationError):
        AfterSaleRequest.model_validate(
            {
                **base,
                "lines": [{"line_id": "L1", "quantity": 1}],
                "new_address": {"name": "a", "phone": "13800138000", "address": "b"},
            }
        )
    with pytest.raises(ValidationError):
        Receipt(accepted=False, reason=" ")
