"""Orders over HTTP against a real worker on a real Temporal dev server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import read_model, web_ui_query
from tests.factories import merchant_body, order_body
from workflows import search_attributes as sa

PROBLEM = "application/problem+json"


def now_iso(hours_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def test_reporting_a_paid_order_starts_its_watch(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    created = await api("mall", "POST", "/v1/orders", json=body)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "awaiting_shipment"
    assert order["overdue"] is False
    paid_at = datetime.fromisoformat(body["paid_at"])
    assert datetime.fromisoformat(order["ship_deadline_at"]) == paid_at + timedelta(hours=72)
    assert order["deadline_at"] == order["ship_deadline_at"]
    assert [line["line_id"] for line in order["lines"]] == ["L1", "L2"]
    assert order["lines"][1] == {"line_id": "L2", "quantity": 2, "in_after_sales": 0, "refunded": 0}

    fetched = await api("merchant:m-acme", "GET", f"/v1/orders/{body['order_id']}")
    assert fetched.status_code == 200
    assert fetched.json()["ship_deadline_at"] == order["ship_deadline_at"]


async def test_a_new_order_is_answered_with_the_state_its_watch_then_shows(api: Any) -> None:
    body = order_body(paid_at=now_iso(hours_ago=1))
    created = await api("mall", "POST", "/v1/orders", json=body)
    assert created.status_code == 201, created.text
    # The 201 is computed from the request, not read back from the workflow: a read shows the very same.
    fetched = await api("mall", "GET", f"/v1/orders/{body['order_id']}")
    assert fetched.json() == created.json()
    assert [(e["event"], e["actor"]) for e in created.json()["history"]] == [("order_paid", "customer")]
    assert created.json()["revision"] == 1


async def test_an_order_reported_past_its_ship_deadline_is_answered_overdue(api: Any) -> None:
    body = order_body(paid_at=now_iso(hours_ago=73))
    created = await api("mall", "POST", "/v1/orders", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["overdue"] is True
    assert [e["event"] for e in created.json()["history"]] == ["order_paid", "ship_overdue"]


async def test_reporting_the_same_order_again_answers_200_with_its_state(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    first = await api("mall", "POST", "/v1/orders", json=body)
    again = await api("mall", "POST", "/v1/orders", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order_id"] == first.json()["order_id"]


async def test_the_same_paid_at_written_with_another_offset_is_the_same_order(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    first = await api("mall", "POST", "/v1/orders", json=body)
    in_shanghai = datetime.fromisoformat(body["paid_at"]).astimezone(timezone(timedelta(hours=8))).isoformat()
    again = await api("mall", "POST", "/v1/orders", json={**body, "paid_at": in_shanghai})
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["order_id"] == body["order_id"]
    a_second_later = (datetime.fromisoformat(body["paid_at"]) + timedelta(seconds=1)).isoformat()
    assert_problem(await api("mall", "POST", "/v1/orders", json={**body, "paid_at": a_second_later}), 409, "duplicate")


async def test_the_same_order_id_with_another_body_is_a_duplicate_and_changes_nothing(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    altered = {**body, "customer_id": "c-somebody-else"}
    problem = assert_problem(await api("mall", "POST", "/v1/orders", json=altered), 409, "duplicate")
    # Named as the caller names it; the workflow id is the API's business.
    assert problem["detail"] == f"order {body['order_id']} was created with a different body"
    order = (await api("mall", "GET", f"/v1/orders/{body['order_id']}")).json()
    assert order["customer_id"] == body["customer_id"]


async def test_shipment_stops_the_clock_and_a_second_one_is_refused(api: Any) -> None:
    body = order_body(paid_at=now_iso(hours_ago=10))
    await api("mall", "POST", "/v1/orders", json=body)
    path = f"/v1/orders/{body['order_id']}/shipment"

    shipped = await api("merchant:m-acme", "POST", path, json={"carrier": "SF", "tracking_no": "SF100"})
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["tracking_no"] == "SF100"
    assert shipped.json()["deadline_at"] is None

    # The mall timed out and sends the same shipment again: the order as it stands, nothing new in it.
    retried = await api("mall", "POST", path, json={"carrier": "SF", "tracking_no": "SF100"})
    assert retried.status_code == 200, retried.text
    assert retried.json()["history"] == shipped.json()["history"]

    refused = await api("merchant:m-acme", "POST", path, json={"carrier": "YTO", "tracking_no": "YT200"})
    assert_problem(refused, 409, "invalid_state")
    order = (await api("mall", "GET", f"/v1/orders/{body['order_id']}")).json()
    assert order["tracking_no"] == "SF100"
    assert [e["event"] for e in order["history"]].count("shipped") == 1


async def test_tracking_updates_before_shipment_are_refused(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    refused = await api(
        "mall", "POST", f"/v1/orders/{body['order_id']}/logistics-events", json={"status": "delivered", "at": now_iso()}
    )
    assert_problem(refused, 409, "invalid_state")


async def test_delivery_opens_the_window_and_an_admin_extends_it(api: Any) -> None:
    body = order_body(paid_at=now_iso(hours_ago=30))
    order_id = body["order_id"]
    await api("mall", "POST", "/v1/orders", json=body)
    await api("mall", "POST", f"/v1/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_no": "SF300"})
    delivered_at = now_iso()
    delivered = await api(
        "mall",
        "POST",
        f"/v1/orders/{order_id}/logistics-events",
        json={"status": "delivered", "at": delivered_at, "description": "已签收"},
    )
    assert delivered.json()["status"] == "delivered"
    window_end = datetime.fromisoformat(delivered.json()["after_sales_window_ends_at"])
    assert window_end == datetime.fromisoformat(delivered_at) + timedelta(days=7)

    assert_problem(
        await api("mall", "POST", f"/v1/orders/{order_id}/after-sales-window/extensions", json={"days": 7}),
        403,
        "forbidden",
    )
    extended = await api("admin", "POST", f"/v1/orders/{order_id}/after-sales-window/extensions", json={"days": 3})
    assert extended.status_code == 200, extended.text
    assert datetime.fromisoformat(extended.json()["after_sales_window_ends_at"]) == window_end + timedelta(days=3)


async def test_extending_an_unknown_order_is_not_found(api: Any) -> None:
    response = await api("admin", "POST", "/v1/orders/no-such-order/after-sales-window/extensions", json={"days": 7})
    assert_problem(response, 404, "not_found")


async def test_a_merchant_key_sees_only_its_own_orders(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    order_id = body["order_id"]
    assert (await api("merchant:m-acme", "GET", f"/v1/orders/{order_id}")).status_code == 200
    assert_problem(await api("merchant:m-other", "GET", f"/v1/orders/{order_id}"), 404, "not_found")
    shipped = await api(
        "merchant:m-other", "POST", f"/v1/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_no": "X1"}
    )
    assert_problem(shipped, 404, "not_found")
    assert (await api("mall", "GET", f"/v1/orders/{order_id}")).json()["status"] == "awaiting_shipment"


async def test_requests_without_a_known_key_are_unauthorized(api: Any) -> None:
    assert_problem(await api(None, "GET", "/v1/orders/any"), 401, "unauthorized")
    assert_problem(await api("not-a-key", "GET", "/v1/orders/any"), 401, "unauthorized")


async def test_a_merchant_key_may_not_report_orders(api: Any) -> None:
    response = await api("merchant:m-acme", "POST", "/v1/orders", json=order_body(paid_at=now_iso()))
    assert_problem(response, 403, "forbidden")


GOOD = order_body(paid_at="2026-01-01T08:00:00+08:00")


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("mall", "POST", "/v1/orders", {**GOOD, "lines": []}),
        ("mall", "POST", "/v1/orders", {**GOOD, "paid_at": "2026-01-01T08:00:00"}),  # no offset
        ("mall", "POST", "/v1/orders", {**GOOD, "lines": [{**GOOD["lines"][0], "quantity": 0}]}),
        ("mall", "POST", "/v1/orders", {**GOOD, "lines": [GOOD["lines"][0], GOOD["lines"][0]]}),
        ("mall", "POST", "/v1/orders", {**GOOD, "lines": [{**GOOD["lines"][0], "unit_price_cents": -1}]}),
        ("mall", "POST", "/v1/orders", {**GOOD, "order_id": ""}),
        ("mall", "POST", "/v1/orders", {**GOOD, "surprise": True}),
        ("mall", "POST", "/v1/orders", {k: v for k, v in GOOD.items() if k != "merchant_id"}),
        ("merchant:m-acme", "POST", "/v1/orders/x/shipment", {"carrier": "SF"}),
        ("mall", "POST", "/v1/orders/x/logistics-events", {"status": "lost", "at": "2026-01-01T00:00:00Z"}),
        ("mall", "POST", "/v1/orders/x/logistics-events", {"status": "in_transit"}),
        ("admin", "POST", "/v1/orders/x/after-sales-window/extensions", {"days": 0}),
        ("admin", "POST", "/v1/orders/x/after-sales-window/extensions", {"days": "many"}),
        ("admin", "POST", "/v1/orders/x/deadline-shifts", {"hours": 24}),
        ("admin", "PUT", "/v1/merchants/m-bad", merchant_body(head_mobile="call me")),
        ("admin", "PUT", "/v1/merchants/m-bad", merchant_body(policy={"ship_deadline": "soon"})),
        ("admin", "PUT", "/v1/merchants/m-bad", merchant_body(policy={"ship_deadlin": "48h"})),
        ("admin", "PUT", "/v1/merchants/m-bad", merchant_body(backup_agent_id="nobody")),
        ("admin", "PUT", "/v1/merchants/m-bad", merchant_body(dingtalk=("not a url", "s"))),
    ],
)
async def test_bad_input_is_a_validation_error_and_changes_nothing(
    api: Any, role: str, method: str, path: str, body: dict[str, Any]
) -> None:
    response = await api(role, method, path, json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"]
    if path.startswith("/v1/merchants/"):
        assert_problem(await api("admin", "GET", path), 404, "not_found")
    if path == "/v1/orders" and body.get("order_id"):
        assert_problem(await api("admin", "GET", f"/v1/orders/{body['order_id']}"), 404, "not_found")


async def test_an_overdue_shipment_is_listed_for_supervisors_and_its_merchant(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    merchant_id = "m-hurry"
    await api("admin", "PUT", f"/v1/merchants/{merchant_id}", json=merchant_body(policy={"ship_deadline": "1s"}))
    body = order_body(paid_at=now_iso(), merchant_id=merchant_id)
    created = (await api("mall", "POST", "/v1/orders", json=body)).json()
    assert datetime.fromisoformat(created["ship_deadline_at"]) == datetime.fromisoformat(body["paid_at"]) + timedelta(
        seconds=1
    )

    listed = await read_model(api, f"/v1/monitoring/overdue-shipments?merchant_id={merchant_id}", lambda b: b["count"])
    assert [item["order_id"] for item in listed["items"]] == [body["order_id"]]
    assert (await api("mall", "GET", f"/v1/orders/{body['order_id']}")).json()["overdue"] is True
    assert_problem(
        await api("merchant:m-acme", "GET", "/v1/monitoring/overdue-shipments?merchant_id=m-hurry"), 404, "not_found"
    )
    own = (await api("merchant:m-acme", "GET", "/v1/monitoring/overdue-shipments")).json()
    assert all(item["merchant_id"] == "m-acme" for item in own["items"])

    metrics = (await api("prometheus", "GET", "/metrics")).text
    assert f'aftersales_overdue_shipments{{merchant_id="{merchant_id}"}} 1.0' in metrics

    # What a supervisor types in the Web UI's filter.
    query = f'MerchantId = "{merchant_id}" AND Overdue = true AND CaseKind = "order"'
    found = await web_ui_query(dev_env.client, query)
    assert found == [f"order-{body['order_id']}"]
    description = await dev_env.client.get_workflow_handle(found[0]).describe()
    assert description.typed_search_attributes.get(sa.CASE_STATUS) == "awaiting_shipment"
    assert description.typed_search_attributes.get(sa.DEADLINE_AT) is None


async def test_a_carrier_exception_is_listed_as_a_logistics_anomaly(api: Any) -> None:
    body = order_body(paid_at=now_iso(hours_ago=5))
    order_id = body["order_id"]
    await api("mall", "POST", "/v1/orders", json=body)
    await api("mall", "POST", f"/v1/orders/{order_id}/shipment", json={"carrier": "ZTO", "tracking_no": "ZT1"})
    flagged = await api(
        "mall",
        "POST",
        f"/v1/orders/{order_id}/logistics-events",
        json={"status": "exception", "at": now_iso(), "description": "派件异常"},
    )
    assert flagged.json()["logistics_anomaly"] == "exception"
    await read_model(api, "/v1/monitoring/logistics-anomalies", lambda listed: order_id in ids_of(listed))

    cleared = await api(
        "mall", "POST", f"/v1/orders/{order_id}/logistics-events", json={"status": "in_transit", "at": now_iso()}
    )
    assert cleared.json()["logistics_anomaly"] is None
    await read_model(api, "/v1/monitoring/logistics-anomalies", lambda listed: order_id not in ids_of(listed))


def ids_of(listed: dict[str, Any]) -> list[str]:
    return [item["order_id"] for item in listed["items"]]


async def test_a_refusal_by_the_orders_workflow_lists_its_error_like_every_validation_error(api: Any) -> None:
    body = order_body(paid_at=now_iso())
    await api("mall", "POST", "/v1/orders", json=body)
    # Promised before the order was paid: only the order's workflow knows when that was.
    shipment = {"carrier": "SF", "tracking_no": "SF1", "promised_delivery_at": "2020-01-01T00:00:00Z"}
    problem = assert_problem(
        await api("mall", "POST", f"/v1/orders/{body['order_id']}/shipment", json=shipment), 422, "validation_error"
    )
    assert problem["errors"] == [{"loc": ["body"], "msg": problem["detail"], "type": "value_error"}]
