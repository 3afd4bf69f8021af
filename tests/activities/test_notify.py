"""The notifier activity: every channel of the audiences, once, whatever the retries (both databases)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels.errors import TransientFailure
from activities.channels.limiter import RobotRateLimiter
from activities.channels.sms import AliyunSms, LogSms
from activities.notify import Notifier
from config.settings import Settings
from domain.merchants import MerchantConfig
from domain.notifications import Audience, Notification, Template
from readmodel.merchants import put_merchant
from tests.activities.conftest import DINGTALK_SECRET
from tests.factories import merchant_body
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.peers.wecom import WeComPeer

DEADLINE = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def notification(merchant_id: str, *audiences: Audience, step: str = "remind_24h") -> Notification:
    """A notification as the activity receives it: through Temporal's data converter, as a worker would."""
    sent = Notification(
        key=f"order-O1-{uuid.uuid4().hex[:6]}:ship:{step}",
        merchant_id=merchant_id,
        audiences=audiences,
        template=Template.SHIP_REMINDER,
        params={"order_id": "O1", "left": "24h"},
        deadline_at=DEADLINE,
        link="http://board.test/v1/orders/O1",
    )
    converter = pydantic_data_converter.payload_converter
    (received,) = converter.from_payloads(converter.to_payloads([sent]), [Notification])
    assert isinstance(received, Notification)
    return received


@pytest.fixture
def merchant(any_engine: Engine, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer) -> str:
    merchant_id = f"m-{uuid.uuid4().hex[:8]}"
    config = MerchantConfig.model_validate(
        merchant_body(dingtalk=(dingtalk_peer.webhook_url, DINGTALK_SECRET), wecom=wecom_peer.webhook_url)
    )
    put_merchant(any_engine, merchant_id=merchant_id, values=config.model_dump(mode="json"))
    return merchant_id


def notifier(engine: Engine, http: httpx.AsyncClient, *, sms: Any = None, **settings: Any) -> Notifier:
    return Notifier(
        http=http,
        engine=engine,
        settings=Settings(**settings),
        sms=sms or LogSms(),
        limiter=RobotRateLimiter(20),
    )


async def test_a_reminder_reaches_the_merchants_groups_with_its_agents_mentioned(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer
) -> None:
    result = await ActivityEnvironment().run(
        notifier(any_engine, http).notify, notification(merchant, Audience.MERCHANT)
    )
    assert sorted(result.sent) == ["dingtalk:merchant", "wecom:merchant"]
    [ding] = dingtalk_peer.messages
    assert ding["at"]["atMobiles"] == ["13900000011", "13900000012"]
    assert "2026-11-28 10:00" in ding["markdown"]["text"]  # people read Shanghai time
    [wecom] = wecom_peer.messages
    assert wecom["text"]["mentioned_mobile_list"] == ["13900000011", "13900000012"]


async def test_sending_the_same_notification_again_sends_nothing(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer
) -> None:
    message = notification(merchant, Audience.MERCHANT)
    env = ActivityEnvironment()
    await env.run(notifier(any_engine, http).notify, message)
    again = await env.run(notifier(any_engine, http).notify, message)
    assert again.sent == []
    assert sorted(again.skipped) == ["dingtalk:merchant", "wecom:merchant"]
    assert len(dingtalk_peer.messages) == 1


async def test_a_retry_after_a_partial_failure_sends_only_where_it_is_missing(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer
) -> None:
    message = notification(merchant, Audience.MERCHANT)
    wecom_peer.fail_next(0, status=502)
    with pytest.raises(TransientFailure):
        await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    assert len(dingtalk_peer.messages) == 1

    retried = await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    assert (retried.sent, retried.skipped) == (["wecom:merchant"], ["dingtalk:merchant"])
    assert len(dingtalk_peer.messages) == 1
    assert len(wecom_peer.messages) == 1


async def test_each_robot_of_each_audience_is_a_channel_of_its_own(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str
) -> None:
    with DingTalkPeer(access_token="platform", secret="SECplatform") as platform:
        channels = await ActivityEnvironment().run(
            notifier(any_engine, http, platform_dingtalk_webhook=platform.webhook_url).channels,
            notification(merchant, Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM, Audience.SUPPLIER_HEAD),
        )
    assert channels == [
        "dingtalk:merchant_supervisor",
        "wecom:merchant_supervisor",
        "dingtalk:platform",
        "sms:supplier_head",
    ]


async def test_a_throttled_robot_asks_for_the_throttle_wait_while_the_other_delivers_at_once(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer
) -> None:
    message = notification(merchant, Audience.MERCHANT)
    sender = notifier(any_engine, http, robot_throttle_wait="10m")
    dingtalk_peer.fail_next(130101)
    with pytest.raises(ApplicationError) as limited:
        await ActivityEnvironment().run(sender.deliver, message, "dingtalk:merchant")
    assert limited.value.type == "rate_limited"
    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay == timedelta(minutes=10)
    assert await ActivityEnvironment().run(sender.deliver, message, "wecom:merchant") == "sent"

    assert await ActivityEnvironment().run(sender.deliver, message, "dingtalk:merchant") == "sent"
    assert await ActivityEnvironment().run(sender.deliver, message, "dingtalk:merchant") == "skipped"
    assert len(dingtalk_peer.messages) == 1
    assert len(wecom_peer.messages) == 1


async def test_wecom_freq_limit_waits_the_throttle_wait_too(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, wecom_peer: WeComPeer
) -> None:
    wecom_peer.fail_next(45009)
    with pytest.raises(ApplicationError) as limited:
        await ActivityEnvironment().run(
            notifier(any_engine, http, robot_throttle_wait="90s").deliver,
            notification(merchant, Audience.MERCHANT),
            "wecom:merchant",
        )
    assert limited.value.next_retry_delay == timedelta(seconds=90)


async def test_a_channel_dropped_since_the_message_was_planned_is_skipped(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str
) -> None:
    outcome = await ActivityEnvironment().run(
        notifier(any_engine, http).deliver, notification(merchant, Audience.MERCHANT), "dingtalk:platform"
    )
    assert outcome == "skipped"


async def test_the_one_activity_of_older_workflows_retries_after_the_longest_throttle(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer
) -> None:
    message = notification(merchant, Audience.MERCHANT)
    dingtalk_peer.fail_next(130101)
    with pytest.raises(ApplicationError) as limited:
        await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    assert limited.value.type == "rate_limited"
    assert limited.value.next_retry_delay == timedelta(seconds=60)  # AFTERSALES_ROBOT_THROTTLE_WAIT's default

    retried = await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    assert "dingtalk:merchant" in retried.sent
    assert len(dingtalk_peer.messages) == 1


async def test_a_robot_that_refuses_for_good_is_recorded_and_not_tried_again(
    any_engine: Engine, http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:8]}"
    wrong_secret = MerchantConfig.model_validate(merchant_body(dingtalk=(dingtalk_peer.webhook_url, "SECwrong")))
    put_merchant(any_engine, merchant_id=merchant_id, values=wrong_secret.model_dump(mode="json"))
    message = notification(merchant_id, Audience.MERCHANT)

    first = await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    again = await ActivityEnvironment().run(notifier(any_engine, http).notify, message)
    assert first.failed == ["dingtalk:merchant"]
    assert again.skipped == ["dingtalk:merchant"]
    assert len(dingtalk_peer.rejected) == 1


async def test_an_overdue_alert_mentions_the_supervisor_and_reaches_the_platform_group(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer
) -> None:
    with DingTalkPeer(access_token="platform", secret="SECplatform") as platform:
        result = await ActivityEnvironment().run(
            notifier(
                any_engine,
                http,
                platform_dingtalk_webhook=platform.webhook_url,
                platform_dingtalk_secret="SECplatform",
                platform_mobiles="13700000001",
            ).notify,
            notification(merchant, Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM, step="breach"),
        )
        assert sorted(result.sent) == ["dingtalk:merchant_supervisor", "dingtalk:platform", "wecom:merchant_supervisor"]
        assert platform.messages[0]["at"]["atMobiles"] == ["13700000001"]
    assert dingtalk_peer.messages[0]["at"]["atMobiles"] == ["13900000002"]


async def test_the_supplier_head_gets_an_sms_keyed_for_idempotency(
    any_engine: Engine, http: httpx.AsyncClient, merchant: str, sms_peer: SmsPeer
) -> None:
    sms = AliyunSms(http, sms_peer.endpoint, "LTAI5tTest", "s3cr3t/+=~*", "美好生活", "SMS_123456789")
    message = notification(merchant, Audience.SUPPLIER_HEAD)
    result = await ActivityEnvironment().run(notifier(any_engine, http, sms=sms).notify, message)
    assert result.sent == ["sms:supplier_head"]
    [sent] = sms_peer.messages
    assert sent["PhoneNumbers"] == "13900000001"
    assert sent["OutId"] == message.key


async def test_an_unknown_merchant_still_reaches_the_platform(any_engine: Engine, http: httpx.AsyncClient) -> None:
    with DingTalkPeer(access_token="platform", secret="SECplatform") as platform:
        result = await ActivityEnvironment().run(
            notifier(
                any_engine, http, platform_dingtalk_webhook=platform.webhook_url, platform_dingtalk_secret="SECplatform"
            ).notify,
            notification("m-nobody", Audience.MERCHANT, Audience.PLATFORM),
        )
    assert result.sent == ["dingtalk:platform"]
