"""Extreme input over HTTP: a 422 with nothing changed, never a 500 and never a poisoned merchant or order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_cases import ADDRESS, case_body, delivered, until_status
from tests.api.test_orders import assert_problem, now_iso
from tests.factories import merchant_body, order_body


async def assert_not_started(api: Any, order_id: str) -> None:
    assert_problem(await api("admin", "GET", f"/v1/orders/{order_id}"), 404, "not_found")


@pytest.mark.parametrize(
    "paid_at",
    [
        "9999-12-31T23:59:59Z",  # overflowed paid_at + ship deadline: a 500
        "0001-01-01T00:00:00Z",  # fired every breach alert at once
        "1970-01-01T00:00:00Z",
        (datetime.now(UTC) - timedelta(days=400)).isoformat(),
        (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
    ],
)
async def test_an_order_paid_far_from_now_is_refused_and_not_watched(api: Any, paid_at: str) -> None:
    body = {**order_body(paid_at=now_iso()), "paid_at": paid_at}
    problem = assert_problem(await api("mall", "POST", "/v1/orders", json=body), 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "paid_at"]
    await assert_not_started(api, body["order_id"])


@pytest.mark.parametrize(
    "line",
    [
        {"unit_price_cents": 10**23},  # could never be projected; the simulator "refunded" 2·10^23 cents
        {"unit_price_cents": 10**11 + 1},
        {"quantity": 10_001},
        {"quantity": "1"},
        {"insured": 0},
    ],
)
async def test_an_order_line_out_of_bounds_or_of_the_wrong_type_is_refused(api: Any, line: dict[str, Any]) -> None:
    body = order_body(paid_at=now_iso())
    body["lines"][0] |= line
    assert_problem(await api("mall", "POST", "/v1/orders", json=body), 422, "validation_error")
    await assert_not_started(api, body["order_id"])


@pytest.mark.parametrize("order_id", [".", "..", "a/b"])
async def test_an_order_id_that_is_a_path_segment_is_refused(api: Any, order_id: str) -> None:
    body = {**order_body(paid_at=now_iso()), "order_id": order_id}
    assert_problem(await api("mall", "POST", "/v1/orders", json=body), 422, "validation_error")


async def test_a_merchant_id_of_dots_is_refused(api: Any) -> None:
    assert_problem(await api("admin", "PUT", "/v1/merchants/%2E%2E", json=merchant_body()), 422, "validation_error")


async def test_a_year_long_ship_deadline_is_refused_and_the_merchants_orders_stay_watchable(api: Any) -> None:
    merchant_id = "m-extreme"
    path = f"/v1/merchants/{merchant_id}"
    assert (await api("admin", "PUT", path, json=merchant_body(policy={"ship_deadline": "48h"}))).status_code == 200
    for policy in ({"ship_deadline": "999999999d"}, {"ship_deadline": "9" * 30 + "d"}, {"ship_reminders": "400d"}):
        assert_problem(await api("admin", "PUT", path, json=merchant_body(policy=policy)), 422, "validation_error")
    assert (await api("admin", "GET", path)).json()["policy"] == {"ship_deadline": "48h"}

    body = order_body(paid_at=now_iso(), merchant_id=merchant_id)
    created = await api("mall", "POST", "/v1/orders", json=body)
    assert created.status_code == 201, created.text
    ship_deadline_at = datetime.fromisoformat(created.json()["ship_deadline_at"])
    assert ship_deadline_at == datetime.fromisoformat(body["paid_at"]) + timedelta(hours=48)
    shipment = {"carrier": "SF", "tracking_no": "SF1"}
    answer = await api("mall", "POST", f"/v1/orders/{body['order_id']}/shipment", json=shipment)
    assert (answer.status_code, answer.json()["status"]) == (200, "shipped")


async def shipped(api: Any) -> str:
    body = order_body(paid_at=now_iso(hours_ago=30))
    order_id: str = body["order_id"]
    assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    shipment = {"carrier": "SF", "tracking_no": "SF1"}
    assert (await api("mall", "POST", f"/v1/orders/{order_id}/shipment", json=shipment)).status_code == 200
    return order_id


@pytest.mark.parametrize(
    "at",
    [
        "1970-01-01T00:00:00Z",  # closed the customer's after-sales window at once
        "2001-01-01T00:00:00Z",  # before the order was paid
        (datetime.now(UTC) - timedelta(days=1)).isoformat(),  # before the shipment
        (datetime.now(UTC) + timedelta(days=1)).isoformat(),  # not yet
    ],
)
async def test_a_delivery_dated_outside_the_parcels_life_is_refused_and_the_window_stays_shut(
    api: Any, at: str
) -> None:
    order_id = await shipped(api)
    event = {"status": "delivered", "at": at}
    refused = await api("mall", "POST", f"/v1/orders/{order_id}/logistics-events", json=event)
    assert_problem(refused, 422, "validation_error")
    order = (await api("mall", "GET", f"/v1/orders/{order_id}")).json()
    assert (order["status"], order["after_sales_window_ends_at"]) == ("shipped", None)
    assert "delivered" not in [entry["event"] for entry in order["history"]]


async def test_a_tracking_update_older_than_the_last_one_is_refused(api: Any) -> None:
    order_id = await shipped(api)
    path = f"/v1/orders/{order_id}/logistics-events"
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (await api("mall", "POST", path, json={"status": "in_transit", "at": later})).status_code == 200
    earlier = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    refused = await api("mall", "POST", path, json={"status": "delivered", "at": earlier})
    assert_problem(refused, 422, "validation_error")
    assert (await api("mall", "GET", f"/v1/orders/{order_id}")).json()["status"] == "shipped"


@pytest.mark.parametrize("promised", ["9999-12-31T00:00:00Z", "2001-01-01T00:00:00Z"])
async def test_an_absurd_promised_delivery_is_refused_and_the_order_stays_unshipped(api: Any, promised: str) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    shipment = {"carrier": "SF", "tracking_no": "SF1", "promised_delivery_at": promised}
    refused = await api("mall", "POST", f"/v1/orders/{body['order_id']}/shipment", json=shipment)
    assert_problem(refused, 422, "validation_error")
    assert (await api("mall", "GET", f"/v1/orders/{body['order_id']}")).json()["status"] == "awaiting_shipment"


async def test_extensions_cannot_push_a_window_beyond_two_years_from_now(api: Any) -> None:
    order_id = await delivered(api)
    path = f"/v1/orders/{order_id}/after-sales-window/extensions"
    first = await api("admin", "POST", path, json={"days": 365})
    assert first.status_code == 200, first.text
    assert_problem(await api("admin", "POST", path, json={"days": 365}), 422, "validation_error")
    order = (await api("admin", "GET", f"/v1/orders/{order_id}")).json()
    assert order["after_sales_window_ends_at"] == first.json()["after_sales_window_ends_at"]


async def test_deadline_shifts_cannot_push_a_ship_deadline_beyond_two_years_from_now(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    path = f"/v1/orders/{body['order_id']}/deadline-shifts"
    a_year = {"hours": 24 * 365, "reason": "春节"}
    first = await api("admin", "POST", path, json=a_year)
    assert first.status_code == 200, first.text
    assert_problem(await api("admin", "POST", path, json=a_year), 422, "validation_error")
    assert_problem(await api("admin", "POST", path, json={"hours": "24", "reason": "春节"}), 422, "validation_error")
    order = (await api("admin", "GET", f"/v1/orders/{body['order_id']}")).json()
    assert order["ship_deadline_at"] == first.json()["ship_deadline_at"]


async def test_a_deadline_shift_moves_by_a_minute_or_more_and_never_into_the_past(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    path = f"/v1/orders/{body['order_id']}/deadline-shifts"
    for hours in (0, 1e-300, 0.001, -8760, -72):  # nothing, a typo, before payment, at payment (past by now)
        assert_problem(await api("admin", "POST", path, json={"hours": hours, "reason": "x"}), 422, "validation_error")
    pulled = await api("admin", "POST", path, json={"hours": -71.5, "reason": "x"})
    assert pulled.status_code == 200, pulled.text
    order = (await api("admin", "GET", f"/v1/orders/{body['order_id']}")).json()
    assert (pulled.json()["overdue"], order["overdue"]) == (False, False)
    assert order["ship_deadline_at"] == pulled.json()["ship_deadline_at"] > order["paid_at"]
    events = [entry["event"] for entry in order["history"]]  # the reminders now due follow the move
    assert events[:2] == ["order_paid", "deadline_moved"]
    assert "ship_overdue" not in events
    assert order["history"][1]["detail"] == "-71.5h: x"


async def test_a_case_deadline_cannot_be_pulled_into_the_past(api: Any) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "p"))).json()["case_id"]
    path = f"/v1/after-sales/{case_id}/deadline-shifts"
    before = (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()
    for hours in (0, -8760, -48):  # the review clock runs 48 h: -48 h is its start, past by now
        assert_problem(await api("admin", "POST", path, json={"hours": hours, "reason": "x"}), 422, "validation_error")
    after = (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()
    assert (after["deadline_at"], after["overdue"], after["history"]) == (
        before["deadline_at"],
        False,
        before["history"],
    )


@pytest.mark.parametrize(
    ("role", "path", "body"),
    [
        ("admin", "dispute-decision", {"approve": 0, "reason": "r"}),
        ("admin", "dispute-decision", {"approve": "true", "reason": "r"}),
        ("merchant:m-acme", "receipt", {"accepted": 1}),
        ("mall", "return-shipment", {"carrier": "SF", "tracking_no": "SF1", "postage_cents": "800"}),
    ],
)
async def test_case_actions_take_json_booleans_and_integers_only(
    api: Any, role: str, path: str, body: dict[str, Any]
) -> None:
    order_id = await delivered(api)
    case_id = f"{order_id}-c"
    request = {
        "case_id": case_id,
        "order_id": order_id,
        "kind": "return_refund",
        "lines": [{"line_id": "L2", "quantity": 1}],
        "reason": "尺寸不合适",
    }
    assert (await api("mall", "POST", "/v1/after-sales", json=request)).status_code == 201
    assert_problem(await api(role, "POST", f"/v1/after-sales/{case_id}/{path}", json=body), 422, "validation_error")
    assert (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()["status"] == "pending_review"


async def test_a_case_line_quantity_written_as_text_is_refused(api: Any) -> None:
    order_id = await delivered(api)
    request = {
        "case_id": f"{order_id}-c",
        "order_id": order_id,
        "kind": "refund_only",
        "lines": [{"line_id": "L2", "quantity": "1"}],
        "reason": "不想要了",
    }
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=request), 422, "validation_error")
    assert (await api("mall", "GET", f"/v1/orders/{order_id}")).json()["open_cases"] == []


async def approved_return(api: Any) -> str:
    """A return-refund case approved by the merchant: the goods may be sent back; answers its id."""
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "x"))).json()["case_id"]
    assert (await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/approve")).status_code == 200
    return str(case_id)


async def test_a_return_delivered_before_its_case_was_opened_is_refused_and_the_receipt_clock_stays_off(
    api: Any,
) -> None:
    case_id = await approved_return(api)
    sent = await api(
        "mall", "POST", f"/v1/after-sales/{case_id}/return-shipment", json={"carrier": "SF", "tracking_no": "R1"}
    )
    assert sent.json()["status"] == "return_in_transit"
    path = f"/v1/after-sales/{case_id}/logistics-events"
    for at in ("1970-01-01T00:00:00Z", (datetime.now(UTC) - timedelta(days=3)).isoformat()):
        refused = await api("mall", "POST", path, json={"status": "delivered", "at": at})
        assert_problem(refused, 422, "validation_error")
    case = (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()
    assert (case["status"], case["deadline_at"]) == ("return_in_transit", None)


async def test_a_pickup_booked_months_ahead_is_refused(api: Any) -> None:
    case_id = await approved_return(api)
    start = datetime.now(UTC) + timedelta(days=60)
    slot = {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    assert_problem(await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot), 422, "validation_error")
    assert (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()["pickup_id"] is None


async def test_a_courier_visit_dated_before_the_booking_is_refused(api: Any) -> None:
    case_id = await approved_return(api)
    start = datetime.now(UTC) + timedelta(hours=2)
    slot = {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    assert (await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot)).status_code == 201
    await until_status(api, f"/v1/pickups/{case_id}", "awaiting_payment")
    await api("mall", "POST", f"/v1/pickups/{case_id}/payment", json={"paid_cents": 1200})
    await until_status(api, f"/v1/pickups/{case_id}", "scheduled")
    path = f"/v1/pickups/{case_id}/courier-events"
    refused = await api("mall", "POST", path, json={"status": "picked_up", "at": now_iso(hours_ago=24)})
    assert_problem(refused, 422, "validation_error")
    assert (await api("mall", "GET", f"/v1/pickups/{case_id}")).json()["status"] == "scheduled"


async def test_a_case_deadline_cannot_be_shifted_beyond_two_years_from_now(api: Any) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "s"))).json()["case_id"]
    path = f"/v1/after-sales/{case_id}/deadline-shifts"
    a_year = {"hours": 24 * 365, "reason": "春节"}
    first = await api("admin", "POST", path, json=a_year)
    assert first.status_code == 200, first.text
    assert_problem(await api("admin", "POST", path, json=a_year), 422, "validation_error")
    assert (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()["deadline_at"] == first.json()[
        "deadline_at"
    ]
