"""The partner adapters: one idempotency key names one request, over HTTP and in the built-in simulators."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.partners import REFUSED, Partners
from config.settings import Settings
from domain import ids
from domain.cases import Refund, RefundLine
from domain.orders import Address
from domain.pickups import Booking
from readmodel.tables import PartnerCall
from tests.peers.partners import PartnersPeer


@pytest.fixture(scope="module")
def payments() -> Iterator[PartnersPeer]:
    with PartnersPeer() as peer:
        yield peer


def refund(case_id: str, order_id: str = "O-1", quantity: int = 1) -> Refund:
    """The refund of ``quantity`` mugs (¥35 each) of ``order_id``, keyed as the case workflow keys it."""
    lines = [RefundLine(line_id="L2", quantity=quantity, unit_price_cents=3500)]
    amount = 3500 * quantity
    return Refund(
        refund_id=ids.partner_key("refund", case_id, order_id, lines, amount),
        order_id=order_id,
        case_id=case_id,
        merchant_id="m-acme",
        amount_cents=amount,
        reason="尺寸不合适",
        lines=lines,
    )


def refused(error: pytest.ExceptionInfo[ApplicationError]) -> bool:
    return error.value.type == REFUSED and error.value.non_retryable


async def test_the_simulator_answers_a_repeated_refund_and_refuses_its_key_with_another_body(
    any_engine: Engine, any_db_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        partners = Partners(http=http, engine=any_engine, settings=Settings(database_url=any_db_url))
        first = refund(f"C-{uuid.uuid4().hex[:8]}")

        paid = await partners.refund(first)
        assert await partners.refund(first) == paid  # a retry: the first answer, nothing paid twice

        # Another refund under the same key (e.g. a reused case id on another order) is not "paid":
        # it is refused for good, and the case goes to the merchant's offline refund.
        with pytest.raises(ApplicationError) as error:
            await partners.refund(first.model_copy(update={"order_id": "O-2", "amount_cents": 7000}))
        assert refused(error)
        assert "idempotency_key_reused" in str(error.value)


async def test_the_simulator_keeps_no_pickup_contact_in_clear_yet_tells_another_address_from_a_retry(
    any_engine: Engine, any_db_url: str
) -> None:
    case_id = f"C-{uuid.uuid4().hex[:8]}"
    slot = datetime(2026, 11, 27, 9, tzinfo=UTC)
    booking = Booking(
        booking_id=f"{case_id}-1",
        case_id=case_id,
        order_id="O-1",
        address=Address(name="王小明", phone="13800138000", address="上海市浦东新区世纪大道 100 号"),
        slot_start=slot,
        slot_end=slot + timedelta(hours=2),
    )
    async with httpx.AsyncClient() as http:
        partners = Partners(http=http, engine=any_engine, settings=Settings(database_url=any_db_url))
        booked = await partners.book_pickup(booking)
        assert await partners.book_pickup(booking) == booked  # a retry: the first answer
        moved = booking.model_copy(update={"address": booking.address.model_copy(update={"address": "北京市"})})
        with pytest.raises(ApplicationError) as error:
            await partners.book_pickup(moved)  # same key, another address: refused, though both read back masked
        assert refused(error)

    with Session(any_engine) as session:
        call = session.get(PartnerCall, f"logistics:{booking.booking_id}")
    assert call is not None
    stored = json.dumps([call.request, call.response], ensure_ascii=False)
    for personal in ("王小明", "13800138000", "世纪大道", "北京"):
        assert personal not in stored
    assert (call.request["case_id"], call.request["address"]) == (case_id, "***")


async def test_a_partner_over_http_refuses_a_key_reused_with_another_body(
    payments: PartnersPeer, engine: Engine, sqlite_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        settings = Settings(database_url=sqlite_url, payments_endpoint=payments.base_url)
        partners = Partners(http=http, engine=engine, settings=settings)
        case_id = f"C-{uuid.uuid4().hex[:8]}"
        first = refund(case_id)

        paid = await partners.refund(first)
        assert await partners.refund(first) == paid
        with pytest.raises(ApplicationError) as error:
            await partners.refund(first.model_copy(update={"order_id": "O-2"}))
        assert refused(error)
        assert [r["order_id"] for r in payments.acted("/refunds") if r["case_id"] == case_id] == ["O-1"]


def test_a_refund_key_is_bound_to_the_order_the_lines_and_the_amount() -> None:
    same = refund("C1").refund_id
    assert refund("C1").refund_id == same  # a retry or a replay asks under the same key
    assert refund("C1", order_id="O-2").refund_id != same
    assert refund("C1", quantity=2).refund_id != same
    assert refund("C2").refund_id != same
    assert same.startswith("refund-C1-")
