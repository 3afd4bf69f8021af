"""Platform-wide deadline shifts on the dev server: one POST moves the ship deadline of every open order
of a merchant; a GET follows its progress."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from tests.api.test_orders import assert_problem, now_iso
from tests.factories import order_body
from tests.waiting import wait_for

OPEN_ORDERS = 200


async def _open_orders(api: Any, merchant_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` paid orders of ``merchant_id``, awaiting shipment; their views as the mall got them."""
    gate = asyncio.Semaphore(16)

    async def one() -> dict[str, Any]:
        async with gate:
            created = await api(
                "mall", "POST", "/v1/orders", json=order_body(paid_at=now_iso(), merchant_id=merchant_id)
            )
            assert created.status_code == 201, created.text
            view: dict[str, Any] = created.json()
            return view

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _until_done(api: Any, shift_id: str) -> dict[str, Any]:

    async def progress() -> dict[str, Any]:
        answer = await api("admin", "GET", f"/v1/deadline-shifts/{shift_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    # the fan-out lists twice, ten seconds apart, for visibility's lag
    return await wait_for(progress, lambda progress: progress["done"], timeout=120, what=f"shift {shift_id} done")


async def _ship_deadline(api: Any, order_id: str) -> datetime:
    return datetime.fromisoformat((await api("admin", "GET", f"/v1/orders/{order_id}")).json()["ship_deadline_at"])


async def test_a_holiday_shift_moves_the_ship_deadline_of_every_open_order_of_the_merchant_once(api: Any) -> None:
    merchant_id = f"m-holiday-{uuid.uuid4().hex[:8]}"
    orders = await _open_orders(api, merchant_id, OPEN_ORDERS)
    elsewhere = (await _open_orders(api, f"m-workday-{uuid.uuid4().hex[:8]}", 1))[0]
    body: dict[str, Any] = {
        "shift_id": f"cny-{uuid.uuid4().hex[:8]}",
        "hours": 72,
        "reason": "春节",
        "merchant_id": merchant_id,
    }

    started = await api("admin", "POST", "/v1/deadline-shifts", json=body)
    assert started.status_code == 202, started.text
    assert started.json()["shift_id"] == body["shift_id"]
    again = await api("admin", "POST", "/v1/deadline-shifts", json=body)  # a retried POST joins the same shift
    assert (again.status_code, again.json()["shift_id"]) == (202, body["shift_id"])
    assert_problem(await api("admin", "POST", "/v1/deadline-shifts", json={**body, "hours": 24}), 409, "duplicate")

    progress = await _until_done(api, body["shift_id"])
    assert (progress["matched"], progress["applied"], progress["shifted"]) == (OPEN_ORDERS, OPEN_ORDERS, OPEN_ORDERS)
    assert (progress["failed"], progress["ended"]) == (0, 0)
    moved = await asyncio.gather(*(_ship_deadline(api, order["order_id"]) for order in orders))
    for order, deadline in zip(orders, moved, strict=True):
        assert deadline - datetime.fromisoformat(order["ship_deadline_at"]) == timedelta(hours=72)
    untouched = await _ship_deadline(api, elsewhere["order_id"])
    assert untouched == datetime.fromisoformat(elsewhere["ship_deadline_at"])
    history = (await api("admin", "GET", f"/v1/orders/{orders[0]['order_id']}")).json()["history"]
    assert [entry["detail"] for entry in history if entry["event"] == "deadline_moved"] == [
        f"+72h ship: 春节 ({body['shift_id']})"
    ]


async def test_a_shift_that_would_pull_deadlines_into_the_past_counts_them_failed_and_moves_none(api: Any) -> None:
    merchant_id = f"m-holiday-{uuid.uuid4().hex[:8]}"
    orders = await _open_orders(api, merchant_id, 3)
    started = await api(
        "admin", "POST", "/v1/deadline-shifts", json={"hours": -100, "reason": "typo", "merchant_id": merchant_id}
    )
    assert started.status_code == 202, started.text
    progress = await _until_done(api, started.json()["shift_id"])
    assert (progress["matched"], progress["applied"], progress["failed"]) == (3, 0, 3)
    for order in orders:
        assert await _ship_deadline(api, order["order_id"]) == datetime.fromisoformat(order["ship_deadline_at"])


async def test_a_deadline_shift_is_for_admins_and_names_only_clocks_that_exist(api: Any) -> None:
    body = {"hours": 24, "reason": "国庆", "merchant_id": "m-nobody"}
    assert_problem(await api("merchant:m-acme", "POST", "/v1/deadline-shifts", json=body), 403, "forbidden")
    assert_problem(
        await api("admin", "POST", "/v1/deadline-shifts", json={**body, "clock": "lunch"}), 422, "validation_error"
    )
    assert_problem(
        await api("admin", "POST", "/v1/deadline-shifts", json={**body, "kind": "order", "clock": "review"}),
        422,
        "validation_error",
    )
    assert_problem(
        await api("admin", "POST", "/v1/deadline-shifts", json={**body, "kind": "holiday"}), 422, "validation_error"
    )
    assert_problem(
        await api("admin", "POST", "/v1/deadline-shifts", json={**body, "hours": 0}), 422, "validation_error"
    )
    assert_problem(await api("admin", "GET", "/v1/deadline-shifts/no-such-shift"), 404, "not_found")
