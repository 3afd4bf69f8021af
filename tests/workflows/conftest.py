"""Order-watch fixtures: a worker with the real activities on the time-skipping server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.merchants import MerchantConfig
from readmodel.merchants import put_merchant
from tests.factories import merchant_body
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.partners import PartnersPeer
from tests.peers.wecom import WeComPeer
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


@pytest.fixture(scope="session")
def partners() -> Iterator[PartnersPeer]:
    """The payment, logistics and insurance sides, over real HTTP."""
    with PartnersPeer() as peer:
        yield peer


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
def settings(sqlite_url: str, peers: Peers, partners: PartnersPeer, task_queue: str) -> Settings:
    return Settings(
        database_url=sqlite_url,
        task_queue=task_queue,
        payments_endpoint=partners.base_url,
        logistics_endpoint=partners.base_url,
        insurance_endpoint=partners.base_url,
        platform_dingtalk_webhook=peers.platform_dingtalk.webhook_url,
        platform_dingtalk_secret=peers.platform_dingtalk.secret,
        platform_mobiles="13700000000",
    )


@pytest.fixture
async def client(ts_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[Client]:
    """The test's own time-skipping server's client, with a worker running the real workflows and activities.

    The server goes away with the test, and the workflows the test left running with it.
    """
    async with build_worker(ts_env.client, settings, engine=engine) as worker, worker:
        yield ts_env.client
    started_ids(settings.task_queue)


@pytest.fixture
async def dev_client(dev_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[Client]:
    """The dev server's client with a worker: for refusals, which stall the time-skipping server's clock.

    The time-skipping server keeps its clock locked after it has rejected an Update, so validator
    refusals (which need no time to pass) are told on the dev server instead.
    """
    async with build_worker(dev_env.client, settings, engine=engine) as worker, worker:
        yield dev_env.client
        for workflow_id in started_ids(settings.task_queue):
            with contextlib.suppress(RPCError):
                await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")


_STARTED: dict[str, list[str]] = {}


def started_ids(task_queue: str) -> list[str]:
    """The workflows started on ``task_queue`` by a test (see :func:`remember`)."""
    return _STARTED.pop(task_queue, [])


def remember(task_queue: str, workflow_id: str) -> None:
    """Notes a workflow a test started, so the fixture can terminate it afterwards."""
    _STARTED.setdefault(task_queue, []).append(workflow_id)
