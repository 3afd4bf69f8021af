"""Order-watch fixtures: a worker with the real activities on the time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.wecom import WeComPeer

from config.settings import Settings
from domain.merchants import MerchantConfig
from readmodel.merchants import put_merchant
from tests.factories import merchant_body
from workers.main import build_worker


@dataclass
class Peers:
    """The robots a test can read: the merchant's DingTalk and WeCom groups and the platform's group."""

    merchant_dingtalk: DingTalkPeer
    merchant_wecom: WeComPeer
    platform_dingtalk: DingTalkPeer


@pytest.fixture(scope="session")
def peers() -> Iterator[Peers]:
    with (
        DingTalkPeer(access_token="merchant-token", secret="SECmerchant") as merchant_dingtalk,
        WeComPeer(key="merchant-key") as merchant_wecom,
        DingTalkPeer(access_token="platform-token", secret="SECplatform") as platform_dingtalk,
    ):
        yield Peers(merchant_dingtalk, merchant_wecom, platform_dingtalk)


@pytest.fixture
def merchant_id(engine: Engine, peers: Peers, task_queue: str) -> str:
    """A merchant of the test's own, with DingTalk and WeCom robots pointing at the peers."""
    merchant_id = f"m-{task_queue[-8:]}"
    config = MerchantConfig.model_validate(
        merchant_body(
            dingtalk=(peers.merchant_dingtalk.webhook_url, peers.merchant_dingtalk.secret),
            wecom=peers.merchant_wecom.webhook_url,
        )
    )
    put_merchant(engine, merchant_id=merchant_id, values=config.model_dump(mode="json"))
    return merchant_id


@pytest.fixture
def settings(sqlite_url: str, peers: Peers, task_queue: str) -> Settings:
    return Settings(
        database_url=sqlite_url,
        task_queue=task_queue,
        platform_dingtalk_webhook=peers.platform_dingtalk.webhook_url,
        platform_dingtalk_secret=peers.platform_dingtalk.secret,
        platform_mobiles="13700000000",
    )


@pytest.fixture
async def client(ts_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[Client]:
    """The time-skipping server's client, with a worker running the real workflows and activities."""
    async with build_worker(ts_env.client, settings, engine=engine) as worker, worker:
        yield ts_env.client
