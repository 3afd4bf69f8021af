"""Through the API: with AFTERSALES_CALLBACK_URL set, what the mall reports is called back; unset, nothing is."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from domain import ids
from tests.api.conftest import KEYS, ROLE_KEYS, ServedApp
from tests.api.test_work_orders import work_order_body
from tests.factories import merchant_body, order_body
from tests.peers.callbacks import CallbackReceiver
from tests.waiting import until
from workers.main import build_worker

SECRET = "whsec_" + base64.b64encode(b"api-callback-secret-of-the-mall!").decode()


async def test_orders_and_work_orders_opened_through_the_api_call_the_mall_back(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    with CallbackReceiver(secret=SECRET) as receiver:
        settings = Settings(
            database_url=sqlite_url,
            task_queue="api-callbacks",
            api_keys=KEYS,
            callback_url=receiver.url,
            callback_secret=SecretStr(SECRET),
        )
        async with (
            build_worker(dev_env.client, settings) as worker,
            worker,
            ServedApp(create_app(settings, client=dev_env.client)) as served,
            httpx.AsyncClient(base_url=served.url, timeout=30) as http,
        ):
            mall = {"Authorization": f"Bearer {ROLE_KEYS['mall']}"}
            order = order_body(paid_at=datetime.now(UTC).isoformat())
            created = await http.post("/v1/orders", json=order, headers=mall)
            assert created.status_code == 201, created.text
            admin = {"Authorization": f"Bearer {ROLE_KEYS['admin']}"}
            configured = await http.put("/v1/merchants/m-acme", json=merchant_body(), headers=admin)
            assert configured.status_code == 200, configured.text  # work orders are for configured merchants
            work_order = work_order_body()
            opened = await http.post("/v1/work-orders", json=work_order, headers=mall)
            assert opened.status_code == 201, opened.text

            await until(lambda: len(receiver.messages) >= 2, what="two callbacks")
            by_type = {event["type"]: event for event in receiver.messages}
            assert by_type["order.paid"]["id"] == f"{ids.order(order['order_id'])}:1"
            assert by_type["work_order.opened"]["data"]["work_order_id"] == work_order["work_order_id"]
            for handle_id in (ids.order(order["order_id"]), ids.work_order(work_order["work_order_id"])):
                await dev_env.client.get_workflow_handle(handle_id).terminate("test over")


async def test_without_a_callback_url_no_callback_activity_is_scheduled(api: Any, dev_env: WorkflowEnvironment) -> None:
    order = order_body(paid_at=datetime.now(UTC).isoformat())
    created = await api("mall", "POST", "/v1/orders", json=order)
    assert created.status_code == 201, created.text
    await api("mall", "GET", f"/v1/orders/{order['order_id']}")  # a query waits for the watch's first task

    history = await dev_env.client.get_workflow_handle(ids.order(order["order_id"])).fetch_history()
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "Callbacks.deliver" not in scheduled
    local = [  # local activities leave a marker naming their type (plain JSON, not a payload of ours)
        payload.data
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for payload in event.marker_recorded_event_attributes.details["data"].payloads
    ]
    assert any(b'"project_order"' in data for data in local)  # the history did get as far as the first projection
