"""The codec endpoints: the Web UI and CLI read payloads through the API, for platform admins only."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import ROLE_KEYS
from tests.factories import order_body

UI = "http://localhost:8233"


async def stored_input(api: Any, dev_env: WorkflowEnvironment) -> dict[str, Any]:
    """The input of a freshly reported order's watch, as Temporal stores it (``{"payloads": [...]}``)."""
    body = order_body(paid_at=datetime.now(UTC).isoformat())
    assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    handle = dev_env.client.get_workflow_handle(f"order-{body['order_id']}")
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            stored = event.workflow_execution_started_event_attributes.input
            return json_format.MessageToDict(stored)
    raise AssertionError("no start event")


def data(answer: httpx.Response) -> bytes:
    return b"".join(base64.b64decode(p["data"]) for p in answer.json()["payloads"])


async def test_an_admin_reads_a_stored_payload_through_the_codec(api: Any, dev_env: WorkflowEnvironment) -> None:
    stored = await stored_input(api, dev_env)
    assert b"13800138000" not in base64.b64decode(stored["payloads"][0]["data"])

    decoded = await api("admin", "POST", "/codec/decode", json=stored, headers={"X-Namespace": "default"})
    assert decoded.status_code == 200
    assert "13800138000" in data(decoded).decode()
    assert base64.b64decode(decoded.json()["payloads"][0]["metadata"]["encoding"]) == b"json/plain"

    # What the UI encodes (a workflow started by hand) is what the workers decode.
    encoded = await api("admin", "POST", "/codec/encode", json=decoded.json())
    assert base64.b64decode(encoded.json()["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"
    again = await api("admin", "POST", "/codec/decode", json=encoded.json())
    assert data(again) == data(decoded)


async def test_only_admins_may_decode(api: Any, dev_env: WorkflowEnvironment) -> None:
    stored = await stored_input(api, dev_env)
    nobody = await api(None, "POST", "/codec/decode", json=stored)
    assert (nobody.status_code, nobody.json()["code"]) == (401, "unauthorized")
    for role in ("mall", "merchant:m-acme", "not-a-key"):
        refused = await api(ROLE_KEYS.get(role, role), "POST", "/codec/decode", json=stored)
        assert refused.status_code in (401, 403)
        assert "13800138000" not in refused.text
    other_namespace = await api("admin", "POST", "/codec/decode", json=stored, headers={"X-Namespace": "billing"})
    assert (other_namespace.status_code, other_namespace.json()["code"]) == (403, "forbidden")


async def test_a_browser_logged_in_as_admin_decodes_for_the_web_ui(
    api_url: str, api: Any, dev_env: WorkflowEnvironment
) -> None:
    stored = await stored_input(api, dev_env)
    async with httpx.AsyncClient(base_url=api_url) as browser:
        preflight = await browser.options(
            "/codec/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == UI
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "x-namespace" in preflight.headers["access-control-allow-headers"].lower()
        stranger = await browser.options("/codec/decode", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers

        assert (await browser.post("/codec/decode", json=stored, headers={"Origin": UI})).status_code == 401
        wrong = await browser.post("/codec/login", data={"key": ROLE_KEYS["mall"]})
        assert wrong.status_code == 401
        assert "aftersales_codec" not in browser.cookies

        logged_in = await browser.post("/codec/login", data={"key": ROLE_KEYS["admin"]})
        assert logged_in.status_code == 200
        assert "httponly" in logged_in.headers["set-cookie"].lower()
        decoded = await browser.post("/codec/decode", json=stored, headers={"Origin": UI, "X-Namespace": "default"})
        assert decoded.status_code == 200
        assert decoded.headers["access-control-allow-origin"] == UI
        assert "13800138000" in data(decoded).decode()

        await browser.post("/codec/logout")
        assert (await browser.post("/codec/decode", json=stored)).status_code == 401


async def test_a_body_that_is_not_payloads_is_a_validation_error(api: Any) -> None:
    refused = await api(
        "admin", "POST", "/codec/decode", content=b'{"payloads": 3}', headers={"Content-Type": "application/json"}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")


async def test_the_temporal_cli_shows_a_history_in_clear_through_the_codec(
    api_url: str, api: Any, dev_env: WorkflowEnvironment
) -> None:
    body = order_body(paid_at=datetime.now(UTC).isoformat())
    assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    show = [
        str(Path(sys.executable).parent / "temporal"),
        "workflow",
        "show",
        "--workflow-id",
        f"order-{body['order_id']}",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--output",
        "json",
    ]

    async def started_input(*extra: str) -> bytes:
        """The watch's input as ``temporal workflow show`` prints it."""
        process = await asyncio.create_subprocess_exec(
            *show, *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        [payload] = json.loads(out)["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
        return base64.b64decode(payload["data"])

    assert b"13800138000" not in await started_input()
    endpoint = ["--codec-endpoint", f"{api_url}/codec"]
    assert b"13800138000" in await started_input(*endpoint, "--codec-auth", f"Bearer {ROLE_KEYS['admin']}")


async def test_the_login_cookie_is_signed_and_holds_no_key(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as browser:
        await browser.post("/codec/login", data={"key": ROLE_KEYS["admin"]})
        cookie = browser.cookies["aftersales_codec"]
        assert ROLE_KEYS["admin"] not in cookie
        plain = {"payloads": []}
        assert (await browser.post("/codec/decode", json=plain)).status_code == 200
    async with httpx.AsyncClient(base_url=api_url, cookies={"aftersales_codec": ROLE_KEYS["admin"]}) as forger:
        assert (await forger.post("/codec/decode", json={"payloads": []})).status_code == 401
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    async with httpx.AsyncClient(base_url=api_url, cookies={"aftersales_codec": tampered}) as forger:
        assert (await forger.post("/codec/decode", json={"payloads": []})).status_code == 401


async def test_a_page_of_payloads_larger_than_an_api_body_is_decoded_up_to_the_codecs_own_limit(api: Any) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}}
    page = {"payloads": [{**plain, "data": base64.b64encode(b"x" * 1_100_000).decode()}]}  # ~1.5 MB of JSON
    headers = {"Content-Type": "application/json"}
    decoded = await api("admin", "POST", "/codec/decode", content=json.dumps(page).encode(), headers=headers)
    assert decoded.status_code == 200, decoded.text[:300]
    assert data(decoded) == b"x" * 1_100_000
    huge = {"payloads": [{**plain, "data": base64.b64encode(b"x" * 6_500_000).decode()}]}  # ~8.7 MB
    refused = await api("admin", "POST", "/codec/decode", content=json.dumps(huge).encode(), headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (413, "payload_too_large")
    # Everywhere else the API's own limit still holds.
    order = await api("mall", "POST", "/v1/orders", content=json.dumps(page).encode(), headers=headers)
    assert order.status_code == 413
