"""Merchant configuration at the door: agents, robots' webhooks and reminder ladders (PUT /v1/merchants)."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from readmodel.db import make_engine
from readmodel.merchants import get_merchant
from tests.api.conftest import KEYS, ServedApp
from tests.api.test_orders import assert_problem
from tests.factories import merchant_body


async def test_two_agents_with_one_agent_id_are_refused(api: Any) -> None:
    body = merchant_body()
    body["agents"].append({"agent_id": "a-1", "name": "小王", "mobile": "13900000013"})
    refused = await api("admin", "PUT", "/v1/merchants/m-twins", json=body)
    assert_problem(refused, 422, "validation_error")
    assert "a-1" in refused.text
    assert (await api("admin", "GET", "/v1/merchants/m-twins")).status_code == 404


async def test_a_webhook_with_a_fragment_is_refused(api: Any) -> None:
    body = merchant_body(dingtalk=("http://127.0.0.1:9/robot/send?access_token=T#access_token=FRAG", "SEC"))
    assert_problem(await api("admin", "PUT", "/v1/merchants/m-frag", json=body), 422, "validation_error")
    assert (await api("admin", "GET", "/v1/merchants/m-frag")).status_code == 404


async def test_tokens_in_a_webhooks_path_and_matrix_parameters_read_back_masked(
    api: Any, api_settings: Settings
) -> None:
    webhook = "http://127.0.0.1:9/robot/PATHtok3n42/send;access_token=MATRIXTOKEN?access_token=QUERYTOKEN"
    saved = await api("admin", "PUT", "/v1/merchants/m-mask", json=merchant_body(wecom=webhook))
    assert saved.status_code == 200, saved.text
    fetched = await api("admin", "GET", "/v1/merchants/m-mask")
    for shown in (saved, fetched):
        assert shown.json()["wecom"]["webhook_url"] == (
            "http://127.0.0.1:9/robot/***/send;access_token=***?access_token=***"
        )
        assert "TOKEN" not in shown.text
        assert "tok3n" not in shown.text
    edited = {key: value for key, value in fetched.json().items() if key != "merchant_id"}
    assert (await api("admin", "PUT", "/v1/merchants/m-mask", json=edited)).status_code == 200
    stored = get_merchant(make_engine(api_settings.database_url), merchant_id="m-mask")
    assert stored is not None
    assert stored.wecom == {"webhook_url": webhook}


async def test_a_reminder_offset_as_long_as_its_deadline_is_refused_naming_the_ladder(api: Any) -> None:
    path = "/v1/merchants/m-ladder"
    for policy in (
        {"ship_reminders": "100h"},  # the platform's ship deadline is 72h
        {"ship_reminders": "72h"},
        {"ship_deadline": "48h", "ship_reminders": "24h,48h"},
        {"review_reminders": "2d"},  # the platform's review deadline is 48h
    ):
        refused = await api("admin", "PUT", path, json=merchant_body(policy=policy))
        assert_problem(refused, 422, "validation_error")
        assert next(name for name in policy if name.endswith("_reminders")) in refused.json()["detail"]
    assert (await api("admin", "GET", path)).status_code == 404
    fitting = merchant_body(policy={"ship_deadline": "48h", "ship_reminders": "24h,1h", "review_reminders": "47h"})
    assert (await api("admin", "PUT", path, json=fitting)).status_code == 200


async def test_robot_webhooks_must_be_https_unless_insecure_ones_are_allowed(
    dev_env: WorkflowEnvironment, api_settings: Settings
) -> None:
    strict = api_settings.model_copy(update={"allow_insecure_webhooks": False})
    async with ServedApp(create_app(strict, client=dev_env.client)) as served:
        admin = {"Authorization": f"Bearer {next(key for key, role in KEYS.items() if role == 'admin')}"}
        async with httpx.AsyncClient(base_url=served.url, headers=admin) as http:
            for robot in (
                {"dingtalk": ("http://127.0.0.1:6379/robot/send?access_token=T", "SEC")},
                {"wecom": "http://127.0.0.1:6379/cgi-bin/webhook/send?key=K"},
            ):
                body = merchant_body(**robot)
                refused = await http.put("/v1/merchants/m-ssrf", json=body)
                assert_problem(refused, 422, "validation_error")
                assert f"{next(iter(robot))}.webhook_url" in refused.json()["detail"]
            assert (await http.get("/v1/merchants/m-ssrf")).status_code == 404
            safe = merchant_body(wecom="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
            assert (await http.put("/v1/merchants/m-ssrf", json=safe)).status_code == 200


async def test_a_policy_override_that_is_no_duration_says_so_once(api: Any) -> None:
    body = merchant_body(policy={"ship_deadline": "soon"})
    problem = assert_problem(
        await api("admin", "PUT", "/v1/merchants/m-bad-policy", json=body), 422, "validation_error"
    )
    assert "ship_deadline" in problem["detail"]
    assert problem["detail"].count("Value error") <= 1
    assert all(error["msg"].count("Value error") <= 1 for error in problem["errors"])
