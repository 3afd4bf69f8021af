"""Action links on a stack of their own: a worker that signs links with a known secret, the API serving
their pages, a merchant whose DingTalk robot (a local peer) receives the reminders."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.links import LinkSigner
from config.settings import Settings
from readmodel.migrate import upgrade
from tests.api.conftest import ServedApp
from tests.factories import merchant_body, order_body
from tests.peers import dingtalk as dingtalk_wire
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.server import Peer
from tests.waiting import wait_for
from workers.main import build_worker

PUBLIC_URL = "https://aftersales.example"
LINK_SECRET = "test-link-secret-" + "x" * 32
ADMIN, MALL, MERCHANT = "k-links-admin", "k-links-mall", "k-links-merchant"
ROBOT_SECRET = "SEC" + "0" * 64
ADDRESS_NAME, ADDRESS_PHONE = "王小明", "13800138000"  # the factories' customer: never on a page


@dataclass
class Stack:
    url: str
    settings: Settings
    robot: DingTalkPeer
    http: httpx.AsyncClient
    merchant_id: str

    async def call(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

    def signer(self, clock: Callable[[], float] = time.time) -> LinkSigner:
        """A signer with the stack's secret (as another worker holds it), on a clock of the test's choice."""
        return LinkSigner(LINK_SECRET, ttl=self.settings.link_ttl, public_url=PUBLIC_URL, clock=clock)


@pytest.fixture
def robot() -> Iterator[DingTalkPeer]:
    with DingTalkPeer(access_token="links-robot", secret=ROBOT_SECRET) as peer:
        yield peer


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, robot: DingTalkPeer) -> AsyncIterator[Stack]:
    url = f"sqlite:///{tmp_path / 'links.db'}"
    upgrade(url)
    merchant_id = f"m-links-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=url,
        task_queue=f"links-{uuid.uuid4()}",
        api_keys={ADMIN: "admin", MALL: "mall", MERCHANT: f"merchant:{merchant_id}"},
        public_url=PUBLIC_URL,
        link_secret=LINK_SECRET,
        allow_insecure_webhooks=True,  # the fake robot (tests/peers) answers plain http on 127.0.0.1
    )
    async with (
        build_worker(dev_env.client, settings) as worker,
        worker,
        ServedApp(create_app(settings, client=dev_env.client)) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):
        stack = Stack(served.url, settings, robot, http, merchant_id)
        # No agents to @-mention: the review reminder goes as an actionCard with its two buttons. The review
        # clock is an hour with a reminder 3599 s before its end, so the reminder comes a second after opening.
        body = merchant_body(
            dingtalk=(robot.webhook_url, ROBOT_SECRET),
            agents=[],
            backup_agent_id=None,
            policy={"review_deadline": "1h", "review_reminders": "3599s"},
        )
        put = await stack.call(ADMIN, "PUT", f"/v1/merchants/{merchant_id}", json=body)
        assert put.status_code in (200, 201), put.text
        yield stack


async def open_case(stack: Stack, suffix: str) -> str:
    """A paid order and a refund-only request for part of it (so it waits for the merchant's review)."""
    order = order_body(paid_at=datetime.now(UTC).isoformat(), merchant_id=stack.merchant_id)
    assert (await stack.call(MALL, "POST", "/v1/orders", json=order)).status_code == 201
    case_id = f"{order['order_id']}-{suffix}"
    request = {
        "case_id": case_id,
        "order_id": order["order_id"],
        "kind": "refund_only",
        "lines": [{"line_id": "L2", "quantity": 1}],
        "reason": "不想要了",
    }
    opened = await stack.call(MALL, "POST", "/v1/after-sales", json=request)
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "pending_review"
    return case_id


async def case_status(stack: Stack, case_id: str) -> str:
    answer = await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


async def reminder_links(robot: Peer, case_id: str) -> dict[str, str]:
    """The buttons of the case's review reminder, as the robot received them: {title: path}."""

    def card() -> dict[str, Any] | None:
        return next(
            (b for b in robot.messages if b["msgtype"] == "actionCard" and case_id in b["actionCard"]["text"]), None
        )

    body = await wait_for(card, lambda body: body is not None, what=f"a reminder with buttons for {case_id}")
    assert body is not None
    links = dict(dingtalk_wire.buttons(body))
    assert all(url.startswith(f"{PUBLIC_URL}/a/") for url in links.values()), links
    return {title: url.removeprefix(PUBLIC_URL) for title, url in links.items()}
