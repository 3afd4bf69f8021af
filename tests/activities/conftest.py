"""Channel fixtures: one real peer server per partner for the session, wiped clean before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.peers.wecom import WeComPeer

DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


@pytest.fixture(scope="session")
def dingtalk_service() -> Iterator[DingTalkPeer]:
    with DingTalkPeer(access_token="robot-token", secret=DINGTALK_SECRET) as peer:
        yield peer


@pytest.fixture(scope="session")
def wecom_service() -> Iterator[WeComPeer]:
    with WeComPeer(key="693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa") as peer:
        yield peer


@pytest.fixture(scope="session")
def sms_service() -> Iterator[SmsPeer]:
    with SmsPeer(access_key_id="LTAI5tTest", access_key_secret="s3cr3t/+=~*", sign_name="美好生活") as peer:
        yield peer


@pytest.fixture
def dingtalk_peer(dingtalk_service: DingTalkPeer) -> DingTalkPeer:
    """The signed DingTalk robot, with nothing received yet."""
    dingtalk_service.reset()
    return dingtalk_service


@pytest.fixture
def wecom_peer(wecom_service: WeComPeer) -> WeComPeer:
    """The WeCom robot, with nothing received yet."""
    wecom_service.reset()
    return wecom_service


@pytest.fixture
def sms_peer(sms_service: SmsPeer) -> SmsPeer:
    """Aliyun SMS, with nothing received yet."""
    sms_service.reset()
    return sms_service


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client with a short timeout, as the worker's shared one but impatient."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client
