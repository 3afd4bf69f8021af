"""The directory: recipients become robot groups, @mentions and SMS numbers; and the notifier sends to them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.channels.sms import AliyunSms
from activities.directory import ChannelKind, Directory, Target
from config.settings import Settings
from domain.merchants import MerchantConfig
from domain.notifications import AUDIENCE_RECIPIENTS, Audience, Notification, Recipient, RecipientKind, Template
from readmodel.merchants import put_merchant
from readmodel.tables import Merchant
from tests.activities.conftest import DINGTALK_SECRET
from tests.activities.test_notify import notifier
from tests.factories import merchant_body
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.peers.wecom import WeComPeer

ROBOTS = {"dingtalk": ("http://ding.test/robot/send?access_token=t", "SECx"), "wecom": "http://wecom.test/send?key=k"}


def acme() -> Merchant:
    body = merchant_body(dingtalk=ROBOTS["dingtalk"], wecom=ROBOTS["wecom"])
    config = MerchantConfig.model_validate(body).model_dump(mode="json")
    return Merchant(merchant_id="m-acme", updated_at=datetime.now(UTC), **config)


def channels(targets: list[Target]) -> dict[str, tuple[str, ...]]:
    return {target.channel: target.mentions for target in targets}


def test_a_person_is_mentioned_on_the_merchants_groups_and_texted_only_when_asked() -> None:
    directory = Directory(Settings())
    assert channels(directory.targets(Recipient.person("a-2"), acme())) == {
        "dingtalk:person:a-2": ("13900000012",),
        "wecom:person:a-2": ("13900000012",),
    }
    texted = directory.targets(Recipient.person("a-2", sms=True), acme())
    assert [(t.channel, t.kind, t.address) for t in texted if t.kind is ChannelKind.SMS] == [
        ("sms:person:a-2", ChannelKind.SMS, "13900000012")
    ]


def test_someone_the_merchant_has_not_configured_reaches_the_group_with_nobody_mentioned() -> None:
    targets = Directory(Settings()).targets(Recipient.person("a-404", sms=True), acme())
    assert channels(targets) == {"dingtalk:person:a-404": (), "wecom:person:a-404": ()}


def test_the_old_audiences_resolve_to_the_same_channels_as_before() -> None:
    directory = Directory(Settings(platform_dingtalk_webhook="http://ding.test/p", platform_mobiles="13700000001"))
    merchant = acme()
    resolved = {audience: channels(directory.targets(AUDIENCE_RECIPIENTS[audience], merchant)) for audience in Audience}
    assert resolved == {
        Audience.MERCHANT: {
            "dingtalk:merchant": ("13900000011", "13900000012"),
            "wecom:merchant": ("13900000011", "13900000012"),
        },
        Audience.MERCHANT_SUPERVISOR: {
            "dingtalk:merchant_supervisor": ("13900000002",),
            "wecom:merchant_supervisor": ("13900000002",),
        },
        Audience.PLATFORM: {"dingtalk:platform": ("13700000001",)},
        Audience.SUPPLIER_HEAD: {"sms:supplier_head": ()},
    }


def test_platform_customer_service_has_its_own_group_or_else_the_platform_group() -> None:
    cs = Recipient(kind=RecipientKind.PLATFORM_CS)
    shared = Directory(Settings(platform_dingtalk_webhook="http://ding.test/p", platform_mobiles="13700000001"))
    assert [(t.channel, t.address, t.mentions) for t in shared.targets(cs, None)] == [
        ("dingtalk:platform_cs", "http://ding.test/p", ("13700000001",))
    ]
    own = Directory(
        Settings(
            platform_dingtalk_webhook="http://ding.test/p",
            platform_cs_wecom_webhook="http://wecom.test/cs",
            platform_cs_mobiles="13600000001,13600000002",
        )
    )
    assert [(t.channel, t.address, t.mentions) for t in own.targets(cs, None)] == [
        ("wecom:platform_cs", "http://wecom.test/cs", ("13600000001", "13600000002"))
    ]


def test_platform_operations_are_the_platform_group_and_an_sms_to_each_platform_mobile() -> None:
    directory = Directory(Settings(platform_dingtalk_webhook="http://ding.test/p", platform_mobiles="13700000001"))
    ops = directory.targets(Recipient(kind=RecipientKind.PLATFORM_OPS, sms=True), None)
    assert [(t.channel, t.address) for t in ops] == [
        ("dingtalk:platform_ops", "http://ding.test/p"),
        ("sms:platform_ops:13700000001", "13700000001"),
    ]


async def test_a_work_order_prompt_reaches_the_assigner_on_the_group_and_the_assignee_by_sms(
    any_engine: Engine,
    http: httpx.AsyncClient,
    dingtalk_peer: DingTalkPeer,
    wecom_peer: WeComPeer,
    sms_peer: SmsPeer,
) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:8]}"
    config = MerchantConfig.model_validate(
        merchant_body(dingtalk=(dingtalk_peer.webhook_url, DINGTALK_SECRET), wecom=wecom_peer.webhook_url)
    )
    put_merchant(any_engine, merchant_id=merchant_id, values=config.model_dump(mode="json"))
    sms = AliyunSms(http, sms_peer.endpoint, "LTAI5tTest", "s3cr3t/+=~*", "美好生活", "SMS_123456789")
    message = Notification(
        key=f"workorder-WO-{uuid.uuid4().hex[:6]}:accept:1:breach",
        merchant_id=merchant_id,
        recipients=(Recipient.person("a-2"), Recipient.person("a-1", sms=True)),
        template=Template.WORK_ORDER_NOT_ACCEPTED,
        params={"work_order_id": "WO-1", "title": "电水壶漏水", "assignee": "a-1", "budget": "30 分钟"},
    )
    result = await ActivityEnvironment().run(notifier(any_engine, http, sms=sms).notify, message)

    assert sorted(result.sent) == [
        "dingtalk:person:a-1",
        "dingtalk:person:a-2",
        "sms:person:a-1",
        "wecom:person:a-1",
        "wecom:person:a-2",
    ]
    assert sorted(m["at"]["atMobiles"][0] for m in dingtalk_peer.messages) == ["13900000011", "13900000012"]
    [texted] = sms_peer.messages
    assert texted["PhoneNumbers"] == "13900000011"
    assert texted["OutId"] == message.key
    assert json.loads(texted["TemplateParam"])["content"] == "工单 WO-1 已分配给您，请尽快接单"

    again = await ActivityEnvironment().run(notifier(any_engine, http, sms=sms).notify, message)
    assert again.sent == []  # a retry sends nothing twice
    assert len(sms_peer.messages) == 1
