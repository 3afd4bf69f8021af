"""Merchants, health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from readmodel.db import make_engine
from readmodel.merchants import get_merchant
from tests.api.conftest import KEYS, ServedApp, free_port, read_model
from tests.api.test_orders import assert_problem, now_iso
from tests.factories import merchant_body, order_body


async def test_an_admin_configures_a_merchant_and_its_robots_credentials_are_never_read_back(
    api: Any, api_settings: Settings
) -> None:
    dingtalk = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
    wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"
    body = merchant_body(dingtalk=(dingtalk, "SECsecret"), wecom=wecom, policy={"ship_deadline": "48h"})
    saved = await api("admin", "PUT", "/v1/merchants/m-config", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["dingtalk"] == {
        "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=***",
        "secret": "***",
    }
    assert saved.json()["wecom"] == {"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"}
    assert saved.json()["policy"] == {"ship_deadline": "48h"}

    replaced = await api("admin", "PUT", "/v1/merchants/m-config", json={**body, "name": "新名字"})
    assert replaced.json()["name"] == "新名字"
    assert (await api("admin", "PUT", "/v1/merchants/m-other", json=body)).status_code == 200
    own = await api("merchant:m-other", "GET", "/v1/merchants/m-other")
    fetched = await api("admin", "GET", "/v1/merchants/m-config")
    for shown in (own, fetched):
        assert shown.status_code == 200
        assert not [secret for secret in ("abc123", "693a91f6", "SECsecret") if secret in shown.text]
    assert fetched.json()["name"] == "新名字"

    # What GET showed, PUT back unchanged: the masked credentials keep the stored ones.
    edited = {key: value for key, value in fetched.json().items() if key != "merchant_id"}
    assert (await api("admin", "PUT", "/v1/merchants/m-config", json=edited)).status_code == 200
    stored = get_merchant(make_engine(api_settings.database_url), merchant_id="m-config")
    assert stored is not None
    assert stored.dingtalk == {"webhook_url": dingtalk, "secret": "SECsecret"}
    assert stored.wecom == {"webhook_url": wecom}

    # A masked webhook that is not the stored one would reach no robot: refused, nothing changed.
    moved = {**edited, "wecom": {"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/other?key=***"}}
    assert_problem(await api("admin", "PUT", "/v1/merchants/m-config", json=moved), 422, "validation_error")
    new = {**edited, "wecom": {"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"}}
    assert_problem(await api("admin", "PUT", "/v1/merchants/m-new", json=new), 422, "validation_error")
    assert (await api("admin", "GET", "/v1/merchants/m-new")).status_code == 404
    stored = get_merchant(make_engine(api_settings.database_url), merchant_id="m-config")
    assert stored is not None
    assert stored.wecom == {"webhook_url": wecom}


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
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            created = await http.post(
                "/v1/orders",
                json=order_body(paid_at=now_iso()),  # a fixed date would grow older than a year
                headers={"Authorization": "Bearer k-mall", "x-request-id": "req-503"},
            )
        assert_problem(created, 503, "unavailable")
        assert created.headers["retry-after"] == "1"
        metrics = (await http.get("/metrics")).text
    # Every 5xx is counted and logged as an error with its request id.
    assert 'aftersales_http_requests_total{method="POST",route="/v1/orders",status="503"} 1.0' in metrics
    [logged] = [entry for entry in logs if entry["event"] == "request"]
    assert (logged["log_level"], logged["request_id"], logged["status"]) == ("error", "req-503", 503)


async def test_metrics_are_prometheus_text_for_the_metrics_key_only(api: Any) -> None:
    await api(None, "GET", "/healthz")
    for role in (None, "not-a-key", "admin", "merchant:m-acme"):
        assert_problem(await api(role, "GET", "/metrics"), 401, "unauthorized")
    metrics = await api("prometheus", "GET", "/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'aftersales_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


async def test_without_a_metrics_key_metrics_name_no_merchant_and_no_made_up_method(
    api: Any, dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    await api("admin", "PUT", "/v1/merchants/m-late", json=merchant_body(policy={"ship_deadline": "1s"}))
    late = order_body(paid_at=now_iso(), merchant_id="m-late")
    assert (await api("mall", "POST", "/v1/orders", json=late)).status_code == 201
    await read_model(api, "/v1/monitoring/overdue-shipments?merchant_id=m-late", lambda body: body["count"] >= 1)

    settings = Settings(database_url=sqlite_url, api_keys=KEYS, task_queue="api-e2e")
    async with (
        ServedApp(create_app(settings, client=dev_env.client)) as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        # Methods no route has (uvicorn's parser, httptools, knows these two and refuses a token it does not
        # know, BREW, with a 400 of its own before the app sees it).
        for method in ("MKCOL", "PROPFIND", "GET"):
            await http.request(method, "/healthz")
        metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert "merchant_id" not in metrics.text
    assert "m-late" not in metrics.text
    [overdue] = [line for line in metrics.text.splitlines() if line.startswith("aftersales_overdue_shipments ")]
    assert float(overdue.split()[1]) >= 1
    assert 'aftersales_http_requests_total{method="other",route="/healthz",status="405"} 2.0' in metrics.text
    assert "MKCOL" not in metrics.text
    assert "PROPFIND" not in metrics.text


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


@pytest.mark.parametrize("given", [b"r" * 129, b'<script>"', "请求-1".encode(), b"req 42", b""])
async def test_a_request_id_that_is_not_a_plain_short_id_is_replaced_by_a_new_one(api: Any, given: bytes) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await api(None, "GET", "/healthz", headers={"x-request-id": given})
    made = response.headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", made)
    [request] = [entry for entry in logs if entry["event"] == "request"]
    assert request["request_id"] == made


async def test_an_error_no_handler_knows_is_a_500_counted_and_logged_with_its_request_id(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    app = create_app(Settings(database_url=sqlite_url, api_keys=KEYS, task_queue="api-e2e"), client=dev_env.client)

    async def broken() -> None:
        raise LookupError("lost the parcel of 13912345678")  # a fault nobody foresaw, with customer data in it

    app.add_api_route("/v1/broken", broken)
    async with ServedApp(app) as served, httpx.AsyncClient(base_url=served.url) as http:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            response = await http.get("/v1/broken", headers={"x-request-id": "req-500"})
        metrics = (await http.get("/metrics")).text

    assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "req-500"
    assert 'aftersales_http_requests_total{method="GET",route="/v1/broken",status="500"} 1.0' in metrics
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [(entry["event"], entry["request_id"]) for entry in errors] == [
        ("unhandled_error", "req-500"),
        ("request", "req-500"),
    ]
    assert errors[0]["error_type"] == "LookupError"
    assert errors[1]["status"] == 500
    assert "13912345678" not in str(logs)
