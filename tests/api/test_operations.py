"""Merchants, health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.main import create_app
from config.settings import Settings
from readmodel.db import make_engine
from readmodel.merchants import get_merchant
from tests.api.conftest import KEYS, ServedApp, free_port
from tests.api.test_orders import assert_problem, now_iso
from tests.factories import merchant_body, order_body


async def test_an_admin_configures_a_merchant_and_its_secret_is_never_read_back(
    api: Any, api_settings: Settings
) -> None:
    body = merchant_body(
        dingtalk=("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECsecret"),
        policy={"ship_deadline": "48h"},
    )
    saved = await api("admin", "PUT", "/v1/merchants/m-config", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["dingtalk"]["secret"] == "***"
    assert saved.json()["policy"] == {"ship_deadline": "48h"}

    replaced = await api("admin", "PUT", "/v1/merchants/m-config", json={**body, "name": "新名字"})
    assert replaced.json()["name"] == "新名字"
    fetched = await api("admin", "GET", "/v1/merchants/m-config")
    assert fetched.json()["name"] == "新名字"

    # What GET showed, PUT back unchanged: the masked secret keeps the stored one.
    edited = {key: value for key, value in fetched.json().items() if key != "merchant_id"}
    assert (await api("admin", "PUT", "/v1/merchants/m-config", json=edited)).status_code == 200
    stored = get_merchant(make_engine(api_settings.database_url), merchant_id="m-config")
    assert stored is not None
    assert stored.dingtalk is not None
    assert stored.dingtalk["secret"] == body["dingtalk"]["secret"]


async def test_only_admins_configure_merchants_and_merchants_read_only_their_own(api: Any) -> None:
    assert_problem(await api("mall", "PUT", "/v1/merchants/m-acme", json=merchant_body()), 403, "forbidden")
    assert_problem(await api("merchant:m-acme", "PUT", "/v1/merchants/m-acme", json=merchant_body()), 403, "forbidden")
    await api("admin", "PUT", "/v1/merchants/m-acme", json=merchant_body())
    assert (await api("merchant:m-acme", "GET", "/v1/merchants/m-acme")).status_code == 200
    assert_problem(await api("merchant:m-other", "GET", "/v1/merchants/m-acme"), 404, "not_found")


async def test_health_and_readiness_answer_when_everything_is_up(api: Any) -> None:
    assert (await api(None, "GET", "/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await api(None, "GET", "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"temporal": "ok", "database": "ok"}


async def test_with_temporal_down_the_api_is_not_ready_and_accepts_nothing(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url, api_keys=KEYS, temporal_address=f"127.0.0.1:{free_port()}", task_queue="nowhere"
    )
    dead = await Client.connect(settings.temporal_address, data_converter=pydantic_data_converter, lazy=True)
    async with ServedApp(create_app(settings, client=dead)) as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert_problem(ready, 503, "unavailable")
        assert ready.json()["checks"]["database"] == "ok"
        created = await http.post(
            "/v1/orders",
            json=order_body(paid_at=now_iso()),  # a fixed date would grow older than a year and be refused
            headers={"Authorization": "Bearer k-mall"},
        )
        assert_problem(created, 503, "unavailable")


async def test_metrics_are_prometheus_text(api: Any) -> None:
    await api(None, "GET", "/healthz")
    metrics = await api(None, "GET", "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'aftersales_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


async def test_openapi_documents_every_endpoint(api: Any) -> None:
    spec = (await api(None, "GET", "/openapi.json")).json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {
        ("POST", "/v1/orders"),
        ("GET", "/v1/orders/{order_id}"),
        ("POST", "/v1/orders/{order_id}/shipment"),
        ("POST", "/v1/orders/{order_id}/logistics-events"),
        ("POST", "/v1/orders/{order_id}/after-sales-window/extensions"),
        ("PUT", "/v1/merchants/{merchant_id}"),
        ("GET", "/v1/merchants/{merchant_id}"),
        ("GET", "/v1/monitoring/overdue-shipments"),
        ("GET", "/v1/monitoring/logistics-anomalies"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("POST", "/v1/orders/{order_id}/deadline-shifts"),
        ("POST", "/v1/after-sales"),
        ("GET", "/v1/after-sales/{case_id}"),
        *(
            ("POST", f"/v1/after-sales/{{case_id}}/{action}")
            for action in (
                "approve",
                "reject",
                "cancel",
                "return-shipment",
                "pickup",
                "logistics-events",
                "receipt",
                "replacement-shipment",
                "confirm",
                "appeal",
                "offline-refund",
                "dispute-decision",
                "deadline-shifts",
            )
        ),
        ("GET", "/v1/pickups/{case_id}"),
        ("POST", "/v1/pickups/{case_id}/payment"),
        ("POST", "/v1/pickups/{case_id}/courier-events"),
        ("GET", "/v1/monitoring/overdue-after-sales"),
    } <= documented
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_every_api_request_is_logged_with_its_request_id(api: Any) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await api(None, "GET", "/healthz", headers={"x-request-id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    [request] = [entry for entry in logs if entry["event"] == "request"]
    assert (request["request_id"], request["route"], request["status"]) == ("req-42", "/healthz", 200)
