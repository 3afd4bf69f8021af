"""KPIs and the unprocessed list end to end: orders and cases driven over HTTP, facts from the real worker."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import ROLE_KEYS, read_model
from tests.api.test_cases import case_body, delivered, until_status
from tests.api.test_orders import assert_problem, now_iso
from tests.api.test_work_orders import act, opened
from tests.factories import merchant_body, order_body
from tests.waiting import wait_for

FAST, PATIENT = "m-kpi", "m-kpi-patient"


def kpis_of(body: dict[str, Any], merchant_id: str) -> dict[str, Any] | None:
    return next((item for item in body["items"] if item["merchant_id"] == merchant_id), None)


async def until_overdue(api: Any, order_id: str) -> None:
    async def order() -> dict[str, Any]:
        return dict((await api("admin", "GET", f"/v1/orders/{order_id}")).json())

    await wait_for(order, lambda body: bool(body["overdue"]), what=f"order {order_id} overdue")


@pytest.fixture(scope="module")
async def kpi_story(api_url: str) -> AsyncIterator[dict[str, Any]]:
    """Two suppliers' orders and cases, driven through the API once for this module; answers their ids."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:

        async def api(role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {ROLE_KEYS[role]}"}
            return await http.request(method, path, headers=headers, **kwargs)

        yield await drive_story(api)


async def drive_story(api: Any) -> dict[str, Any]:
    # The fast merchant ships within an hour (one order reported two hours late breaches at once) and lets
    # its review clock of a second run out, so the platform approves for it.
    fast = merchant_body(policy={"ship_deadline": "1h", "review_deadline": "1s"})
    assert (await api("admin", "PUT", f"/v1/merchants/{FAST}", json=fast)).status_code == 200
    assert (await api("admin", "PUT", f"/v1/merchants/{PATIENT}", json=merchant_body())).status_code == 200

    late = order_body(paid_at=now_iso(hours_ago=2), merchant_id=FAST)
    prompt = order_body(paid_at=now_iso(hours_ago=10 / 60), merchant_id=FAST)
    for body in (late, prompt):
        assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    await until_overdue(api, late["order_id"])
    shipment = {"carrier": "SF", "tracking_no": "SF1"}
    for body in (late, prompt):
        shipped = await api("merchant:m-kpi", "POST", f"/v1/orders/{body['order_id']}/shipment", json=shipment)
        assert shipped.status_code == 200, shipped.text
    refund = case_body(prompt["order_id"], "r", kind="refund_only")
    assert (await api("mall", "POST", "/v1/after-sales", json=refund)).status_code == 201
    await until_status(api, f"/v1/after-sales/{refund['case_id']}", "completed")

    # The patient merchant leaves two requests waiting, then decides one of them itself.
    order_id = await delivered(api, merchant_id=PATIENT)
    first = case_body(order_id, "a", lines=[{"line_id": "L1", "quantity": 1}])
    second = case_body(order_id, "b")
    for body in (first, second):
        assert (await api("mall", "POST", "/v1/after-sales", json=body)).status_code == 201
    return {"late": late["order_id"], "cases": [first["case_id"], second["case_id"]]}


async def test_kpis_per_supplier_from_what_happened(api: Any, kpi_story: dict[str, Any]) -> None:
    first, second = kpi_story["cases"]
    listed = await read_model(
        api,
        f"/v1/monitoring/unprocessed-after-sales?older_than=1s&merchant_id={PATIENT}",
        lambda body: body["total"] == 2,
    )
    assert [item["case_id"] for item in listed["items"]] == [first, second]  # the oldest first
    paged = (
        await api(
            "admin",
            "GET",
            f"/v1/monitoring/unprocessed-after-sales?older_than=1s&merchant_id={PATIENT}&limit=1&offset=1",
        )
    ).json()
    assert (paged["count"], paged["total"], paged["limit"], paged["offset"]) == (1, 2, 1, 1)
    assert [item["case_id"] for item in paged["items"]] == [second]
    young = (await api("admin", "GET", f"/v1/monitoring/unprocessed-after-sales?merchant_id={PATIENT}")).json()
    assert young["total"] == 0  # the default: waiting longer than 24 h
    approved = await api(f"merchant:{PATIENT}", "POST", f"/v1/after-sales/{first}/approve", json={})
    assert approved.status_code == 200, approved.text
    await read_model(
        api,
        f"/v1/monitoring/unprocessed-after-sales?older_than=0s&merchant_id={PATIENT}",
        lambda body: [item["case_id"] for item in body["items"]] == [second],
    )

    report = await read_model(
        api,
        "/v1/monitoring/kpis",
        lambda body: (
            (kpis_of(body, FAST) or {}).get("after_sales_handling_seconds", {}).get("count") == 1
            and (kpis_of(body, PATIENT) or {}).get("auto_decided_rate") == 0.0
        ),
    )
    fast = kpis_of(report, FAST)
    assert fast is not None
    ship = fast["ship_seconds"]
    assert ship["count"] == 2
    # Shipped 10 minutes and 2 hours after payment (give or take the seconds the test took).
    assert ship["median"] == pytest.approx((600 + 7200) / 2, abs=60)
    assert ship["p90"] == pytest.approx(600 + 0.9 * (7200 - 600), abs=60)
    assert fast["breaches"] == {"review": 1, "ship": 1}
    assert fast["breach_rate"] == {"review": 1.0, "ship": 0.5}
    assert fast["auto_decided_rate"] == 1.0
    assert fast["resolution_rate"] == 1.0
    assert 1 <= fast["after_sales_handling_seconds"]["median"] < 120
    assert fast["work_order_first_response_seconds"] == {"median": None, "p90": None, "count": 0}
    assert fast["satisfaction_avg"] is None
    patient = kpis_of(report, PATIENT)
    assert patient is not None
    assert (patient["breaches"], patient["breach_rate"]) == ({"review": 0, "ship": 0}, {"review": 0.0, "ship": 0.0})
    assert patient["resolution_rate"] is None  # nothing closed yet

    metrics = (await api("prometheus", "GET", "/metrics")).text
    assert 'aftersales_sla_breaches_total{clock="ship"}' in metrics
    assert 'aftersales_ship_seconds_bucket{le="+Inf"}' in metrics
    assert "merchant_id" not in "".join(line for line in metrics.splitlines() if line.startswith("aftersales_sla"))


async def test_a_merchant_reads_its_own_kpis_only_and_exports_them_as_csv(api: Any, kpi_story: dict[str, Any]) -> None:
    own = await read_model(api, f"/v1/monitoring/kpis?merchant_id={FAST}", lambda body: body["count"] == 1)
    mine = (await api(f"merchant:{FAST}", "GET", "/v1/monitoring/kpis")).json()
    assert [item["merchant_id"] for item in mine["items"]] == [FAST]
    assert set(mine) == {"from", "to", "count", "items"}
    assert mine["items"][0]["breaches"] == own["items"][0]["breaches"]
    assert_problem(await api(f"merchant:{FAST}", "GET", f"/v1/monitoring/kpis?merchant_id={PATIENT}"), 404, "not_found")
    assert_problem(await api("mall", "GET", "/v1/monitoring/kpis"), 403, "forbidden")

    period = f"from={quote(now_iso(hours_ago=24))}&to={quote(now_iso(hours_ago=-1))}"
    exported = await api(f"merchant:{FAST}", "GET", f"/v1/monitoring/kpis?{period}&format=csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (row["merchant_id"], row["ship_seconds_count"], row["breaches_ship"]) == (FAST, "2", "1")
    assert row["breach_rate_ship"] == "0.5"

    backwards = f"from={quote(now_iso())}&to={quote(now_iso(hours_ago=1))}"
    assert_problem(await api("admin", "GET", f"/v1/monitoring/kpis?{backwards}"), 422, "validation_error")
    naive = "from=2026-01-01T00:00:00"
    assert_problem(await api("admin", "GET", f"/v1/monitoring/kpis?{naive}"), 422, "validation_error")
    years = "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
    assert_problem(await api("admin", "GET", f"/v1/monitoring/kpis?{years}"), 422, "validation_error")
    far = "from=9999-01-01T00:00:00Z&to=9999-01-02T00:00:00Z"
    assert_problem(await api("admin", "GET", f"/v1/monitoring/kpis?{far}"), 422, "validation_error")
    assert_problem(await api("admin", "GET", "/v1/monitoring/kpis?from=1700000000"), 422, "validation_error")
    assert_problem(
        await api("admin", "GET", "/v1/monitoring/unprocessed-after-sales?older_than=soon"), 422, "validation_error"
    )
    assert_problem(
        await api("admin", "GET", "/v1/monitoring/unprocessed-after-sales?older_than=99999999999d"),
        422,
        "validation_error",
    )
    assert_problem(await api("admin", "GET", "/v1/monitoring/overdue-shipments?limit=0"), 422, "validation_error")
    assert_problem(await api("admin", "GET", "/v1/monitoring/logistics-anomalies?offset=-1"), 422, "validation_error")


async def test_work_orders_feed_first_response_satisfaction_and_resolution_and_export_as_csv(api: Any) -> None:
    merchant = f"m-wo-{uuid.uuid4().hex[:6]}"
    assert (await api("admin", "PUT", f"/v1/merchants/{merchant}", json=merchant_body())).status_code == 200
    rated = (await opened(api, merchant, assignee_id="a-1"))["work_order_id"]
    await act(api, "admin", rated, "accept", {"assignee_id": "a-1"})
    await act(api, "admin", rated, "reply", {"by": "assignee", "message": "您好，正在核实"})
    await act(api, "admin", rated, "transfer", {"assignee_id": "a-2", "reason": "物流专员"})
    await act(api, "admin", rated, "accept", {"assignee_id": "a-2"})
    await act(api, "admin", rated, "resolve", {"resolution": "已加急"})
    assert (await act(api, "mall", rated, "confirm", {"satisfaction": 5})).json()["status"] == "closed"
    appealed = (await opened(api, merchant, assignee_id="a-1"))["work_order_id"]
    await act(api, "admin", appealed, "accept", {"assignee_id": "a-1"})
    await act(api, "admin", appealed, "resolve", {"resolution": "不属于质量问题"})
    await act(api, "mall", appealed, "appeal", {"reason": "明显是质量问题"})
    decided = await act(api, "admin", appealed, "decide", {"approve": True, "reason": "支持客户"})
    assert decided.json()["status"] == "closed"

    report = await read_model(
        api,
        f"/v1/monitoring/kpis?merchant_id={merchant}",
        lambda body: (
            # One confirmed, one closed by the platform finding for the customer on appeal.
            body["items"][0]["resolution_rate"] == 0.5
            and body["items"][0]["work_order_first_response_seconds"]["count"] == 2
        ),
    )
    [kpis] = report["items"]
    assert kpis["satisfaction_avg"] == 5.0
    assert 0 <= kpis["work_order_first_response_seconds"]["median"] < 60
    assert kpis["breaches"] == {"accept": 0, "first_response": 0, "resolution": 0}  # assigned at once: no assignment

    exported = await api("admin", "GET", f"/v1/monitoring/work-orders.csv?merchant_id={merchant}")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = {row["work_order_id"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert set(rows) == {rated, appealed}
    assert rows[rated]["satisfaction"] == "5"
    assert rows[rated]["first_response_seconds"] != ""
    assert rows[appealed]["status"] == "closed"
    assert_problem(
        await api("merchant:m-acme", "GET", f"/v1/monitoring/work-orders.csv?merchant_id={merchant}"), 404, "not_found"
    )
    metrics = (await api("prometheus", "GET", "/metrics")).text
    assert 'aftersales_transfers_total{process="work_order"}' in metrics
    assert 'aftersales_work_order_first_response_seconds_bucket{le="60"}' in metrics
