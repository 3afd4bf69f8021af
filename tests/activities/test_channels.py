"""The channel adapters against real local peers that check the wire format and the signatures."""

from __future__ import annotations

import json
import pickle
import socket
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from activities.channels import (
    AliyunSms,
    Button,
    DingTalkRobot,
    LogSms,
    Message,
    PermanentFailure,
    RateLimited,
    RobotRateLimiter,
    TransientFailure,
    WeComRobot,
    dingtalk_payload,
    dingtalk_sign,
    mask_mobile,
)
from tests.activities.conftest import DINGTALK_SECRET
from tests.peers import dingtalk as dingtalk_wire
from tests.peers import wecom as wecom_wire
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.peers.wecom import WeComPeer

AGENT = "13800001111"
SUPERVISOR = "13900002222"
REMINDER = Message(
    title="发货提醒",
    text="### 订单 O-1001 还有 **4 小时** 到发货时限\n\n请尽快发货。",
    mention_mobiles=(AGENT, SUPERVISOR),
)
NOTICE = Message(title="售后单已关闭", text="售后单 **AS-7** 已由买家撤销。")
BUTTONS = (
    Button("同意 Approve", "https://aftersales.example/a/token-approve"),
    Button("拒绝 Reject", "https://aftersales.example/a/token-reject"),
)
REVIEW = Message(title="售后待处理", text="售后单 AS-8 待您审核。\nCase AS-8 awaits your review.", buttons=BUTTONS)
EXPECTED_LINKS = [(button.title, button.url) for button in BUTTONS]


class FakeTime:
    """A clock that moves only when the code under test sleeps on it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def closed_port_url() -> str:
    """A URL on a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/robot/send?access_token=robot-token"


def dingtalk(
    http: httpx.AsyncClient,
    peer: DingTalkPeer,
    *,
    webhook_url: str | None = None,
    secret: str = DINGTALK_SECRET,
    limiter: RobotRateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> DingTalkRobot:
    """The signed robot pointed at ``peer``, with whatever the test changes."""
    return DingTalkRobot(http, webhook_url or peer.webhook_url, secret, limiter or RobotRateLimiter(), clock)


# DingTalk


async def test_dingtalk_message_is_signed_and_mentions_agents(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    await dingtalk(http, dingtalk_peer).send(REMINDER)

    [body] = dingtalk_peer.messages
    assert dingtalk_peer.rejected == []
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "发货提醒"
    assert body["markdown"]["text"].startswith(REMINDER.text)
    assert f"@{AGENT}" in body["markdown"]["text"]
    assert f"@{SUPERVISOR}" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": [AGENT, SUPERVISOR], "isAtAll": False}


async def test_dingtalk_mention_already_in_the_text_is_not_repeated(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    message = Message(title="待处理", text=f"@{AGENT} 请处理售后单 AS-9", mention_mobiles=(AGENT,))

    await dingtalk(http, dingtalk_peer).send(message)

    [body] = dingtalk_peer.messages
    assert body["markdown"]["text"] == message.text


async def test_dingtalk_sign_with_url_unsafe_characters_is_escaped(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    # A base64 sign often holds "+", which a query string would read as a space if sent unescaped.
    now = time.time()
    moment = next(
        now + offset / 1000
        for offset in range(5_000)
        if "+" in dingtalk_sign(DINGTALK_SECRET, str(round((now + offset / 1000) * 1000)))
    )

    await dingtalk(http, dingtalk_peer, clock=lambda: moment).send(NOTICE)

    assert len(dingtalk_peer.messages) == 1


async def test_dingtalk_wrong_secret_is_a_permanent_failure(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    robot = dingtalk(http, dingtalk_peer, secret="SECsomebody-rotated-the-secret")

    with pytest.raises(PermanentFailure, match="310000"):
        await robot.send(NOTICE)

    assert dingtalk_peer.messages == []
    assert [reason for reason, _ in dingtalk_peer.rejected] == ["sign not match"]


async def test_dingtalk_clock_more_than_an_hour_off_is_refused(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    robot = dingtalk(http, dingtalk_peer, clock=lambda: time.time() - 3_601)

    with pytest.raises(PermanentFailure, match="310000"):
        await robot.send(NOTICE)


async def test_dingtalk_unknown_token_is_a_permanent_failure(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    revoked = dingtalk_peer.webhook_url.replace("robot-token", "revoked")
    robot = dingtalk(http, dingtalk_peer, webhook_url=revoked)

    with pytest.raises(PermanentFailure, match="300001") as refused:
        await robot.send(NOTICE)

    assert "revoked" not in str(refused.value), "the token must not leak into errors and logs"


async def test_dingtalk_rate_limit_answer_asks_for_the_configured_throttle_wait(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    robot = DingTalkRobot(http, dingtalk_peer.webhook_url, DINGTALK_SECRET, RobotRateLimiter(20), throttle_wait=600)
    dingtalk_peer.fail_next(130101)

    with pytest.raises(RateLimited, match="130101") as limited:
        await robot.send(NOTICE)
    await robot.send(NOTICE)

    assert limited.value.retry_after == 600
    assert len(dingtalk_peer.messages) == 1


async def test_dingtalk_robot_secured_by_keyword_gets_no_signature(http: httpx.AsyncClient) -> None:
    with DingTalkPeer(access_token="kw-token", keywords=("售后",)) as peer:
        robot = DingTalkRobot(http, peer.webhook_url, None, RobotRateLimiter())

        await robot.send(NOTICE)
        with pytest.raises(PermanentFailure, match="keywords not in content"):
            await robot.send(Message(title="发货提醒", text="订单 O-1 请尽快发货"))

    assert len(peer.messages) == 1


async def test_dingtalk_long_text_is_truncated_but_keeps_its_mentions(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    essay = Message(title="日报", text="售后说明。" * 3_000, mention_mobiles=(AGENT,))  # 45,000 bytes

    await dingtalk(http, dingtalk_peer).send(essay)

    [body] = dingtalk_peer.messages
    assert "已截断" in body["markdown"]["text"]
    assert body["markdown"]["text"].endswith(f"@{AGENT}")


async def test_dingtalk_buttons_without_mentions_go_as_an_action_card(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    await dingtalk(http, dingtalk_peer).send(REVIEW)

    [body] = dingtalk_peer.messages
    assert body["msgtype"] == "actionCard"
    assert body["actionCard"]["title"] == REVIEW.title
    assert REVIEW.text in body["actionCard"]["text"]
    assert body["actionCard"]["btnOrientation"] == "1"
    assert dingtalk_wire.buttons(body) == EXPECTED_LINKS


async def test_dingtalk_buttons_with_mentions_go_as_markdown_links_keeping_the_mentions(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    message = Message(REVIEW.title, REVIEW.text, mention_mobiles=(AGENT,), buttons=BUTTONS)

    await dingtalk(http, dingtalk_peer).send(message)

    [body] = dingtalk_peer.messages
    assert body["msgtype"] == "markdown"
    assert body["at"]["atMobiles"] == [AGENT]
    assert dingtalk_wire.buttons(body) == EXPECTED_LINKS
    assert body["markdown"]["text"].endswith(f"@{AGENT}")


async def test_dingtalk_peer_refuses_an_action_card_that_asks_to_mention(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    card = dingtalk_payload(REVIEW) | {"at": {"atMobiles": [AGENT]}}
    timestamp = str(int(time.time() * 1000))
    signed = httpx.URL(dingtalk_peer.webhook_url).copy_merge_params(
        {"timestamp": timestamp, "sign": dingtalk_sign(DINGTALK_SECRET, timestamp)}
    )

    answer = await http.post(signed, json=card)

    assert answer.json()["errcode"] == 40035
    assert dingtalk_peer.messages == []


async def test_dingtalk_long_text_with_buttons_keeps_its_links(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    message = Message("长", "很长的说明。" * 3000, mention_mobiles=(AGENT,), buttons=BUTTONS)

    await dingtalk(http, dingtalk_peer).send(message)

    [body] = dingtalk_peer.messages
    assert dingtalk_wire.buttons(body) == EXPECTED_LINKS
    assert "内容过长" in body["markdown"]["text"]


# WeCom


async def test_wecom_buttons_without_mentions_go_as_a_text_notice_card(
    http: httpx.AsyncClient, wecom_peer: WeComPeer
) -> None:
    await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(REVIEW)

    [body] = wecom_peer.messages
    card = body["template_card"]
    assert body["msgtype"] == "template_card"
    assert card["main_title"]["title"] == REVIEW.title
    assert card["sub_title_text"] == "售后单 AS-8 待您审核。"
    assert card["card_action"] == {"type": 1, "url": BUTTONS[0].url}
    assert wecom_wire.buttons(body) == EXPECTED_LINKS


async def test_wecom_buttons_with_mentions_go_as_text_with_clickable_urls(
    http: httpx.AsyncClient, wecom_peer: WeComPeer
) -> None:
    message = Message(REVIEW.title, REVIEW.text, mention_mobiles=(AGENT,), buttons=BUTTONS)

    await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(message)

    [body] = wecom_peer.messages
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == [AGENT]
    assert wecom_wire.buttons(body) == EXPECTED_LINKS


async def test_wecom_more_buttons_than_a_card_holds_go_as_markdown_links(
    http: httpx.AsyncClient, wecom_peer: WeComPeer
) -> None:
    many = tuple(Button(f"B{n}", f"https://aftersales.example/a/t{n}") for n in range(4))

    await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(Message("多", "四个操作", buttons=many))

    [body] = wecom_peer.messages
    assert body["msgtype"] == "markdown"
    assert wecom_wire.buttons(body) == [(button.title, button.url) for button in many]


async def test_wecom_markdown_without_mentions(http: httpx.AsyncClient, wecom_peer: WeComPeer) -> None:
    await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(NOTICE)

    assert wecom_peer.messages == [
        {"msgtype": "markdown", "markdown": {"content": "**售后单已关闭**\n售后单 **AS-7** 已由买家撤销。"}}
    ]


async def test_wecom_mentions_use_text_message(http: httpx.AsyncClient, wecom_peer: WeComPeer) -> None:
    await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(REMINDER)

    [body] = wecom_peer.messages
    assert body["msgtype"] == "text"
    assert body["text"]["content"] == f"{REMINDER.title}\n{REMINDER.text}"
    assert body["text"]["mentioned_mobile_list"] == [AGENT, SUPERVISOR]


async def test_wecom_long_markdown_is_cut_to_4096_bytes(
    http: httpx.AsyncClient,
    wecom_peer: WeComPeer,
) -> None:
    robot = WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter())

    await robot.send(Message("周报", "退款明细 " * 1_000))

    [body] = wecom_peer.messages
    content = body["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.startswith("**周报**\n退款明细")
    assert content.endswith("（内容过长，已截断）")


async def test_wecom_unknown_key_is_a_permanent_failure(
    http: httpx.AsyncClient,
    wecom_peer: WeComPeer,
) -> None:
    robot = WeComRobot(http, wecom_peer.webhook_url + "-deleted", RobotRateLimiter())

    with pytest.raises(PermanentFailure, match="93000"):
        await robot.send(NOTICE)


async def test_wecom_rate_limit_answer_raises_rate_limited(
    http: httpx.AsyncClient,
    wecom_peer: WeComPeer,
) -> None:
    wecom_peer.fail_next(45009)

    with pytest.raises(RateLimited, match="45009") as limited:
        await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(NOTICE)

    assert limited.value.retry_after == 60


def test_wecom_peer_refuses_mentions_in_markdown_as_wecom_would_drop_them(wecom_peer: WeComPeer) -> None:
    body = {"msgtype": "markdown", "markdown": {"content": "**x**", "mentioned_mobile_list": [AGENT]}}

    answer = httpx.post(wecom_peer.webhook_url, json=body).json()

    assert answer["errcode"] == 40058
    assert wecom_peer.messages == []


# HTTP and transport failures, the same for every robot


async def test_server_error_is_transient(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer, wecom_peer: WeComPeer
) -> None:
    dingtalk_peer.fail_next(-1, status=500)
    wecom_peer.fail_next(-1, status=502)

    with pytest.raises(TransientFailure, match="HTTP 500"):
        await dingtalk(http, dingtalk_peer).send(NOTICE)
    with pytest.raises(TransientFailure, match="HTTP 502"):
        await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(NOTICE)


async def test_http_429_is_rate_limited(http: httpx.AsyncClient, wecom_peer: WeComPeer) -> None:
    wecom_peer.fail_next(45009, status=429)

    with pytest.raises(RateLimited, match="HTTP 429"):
        await WeComRobot(http, wecom_peer.webhook_url, RobotRateLimiter()).send(NOTICE)


async def test_connection_refused_is_transient(http: httpx.AsyncClient) -> None:
    robot = DingTalkRobot(http, closed_port_url(), DINGTALK_SECRET, RobotRateLimiter())

    with pytest.raises(TransientFailure, match="unreachable"):
        await robot.send(NOTICE)


async def test_slow_partner_timeout_is_transient(dingtalk_peer: DingTalkPeer) -> None:
    dingtalk_peer.stall_next(0.3)

    async with httpx.AsyncClient(timeout=0.1) as impatient:
        with pytest.raises(TransientFailure, match="timed out"):
            await dingtalk(impatient, dingtalk_peer).send(NOTICE)


def test_rate_limited_keeps_its_delay_across_pickling() -> None:
    limited = pickle.loads(pickle.dumps(RateLimited("too fast", retry_after=12.5)))  # noqa: S301 (our own bytes)

    assert (str(limited), limited.retry_after) == ("too fast", 12.5)


# The robots' 20 messages a minute


async def test_limiter_allows_twenty_per_minute_then_waits() -> None:
    clock = FakeTime()
    limiter = RobotRateLimiter(20, clock=clock, sleep=clock.sleep)

    for _ in range(20):
        await limiter.acquire("robot-a")
        clock.now += 1
    assert clock.sleeps == []

    assert limiter.delay("robot-a") == 40
    await limiter.acquire("robot-a")
    assert clock.sleeps == [40]


async def test_limiter_counts_each_robot_separately() -> None:
    clock = FakeTime()
    limiter = RobotRateLimiter(2, clock=clock, sleep=clock.sleep)

    for robot in ("robot-a", "robot-a", "robot-b", "robot-b"):
        await limiter.acquire(robot)

    assert clock.sleeps == []
    assert limiter.delay("robot-a") == limiter.delay("robot-b") == 60
    assert limiter.delay("robot-c") == 0


async def test_limiter_refuses_to_wait_longer_than_the_caller_allows() -> None:
    clock = FakeTime()
    limiter = RobotRateLimiter(1, clock=clock, sleep=clock.sleep)
    await limiter.acquire("robot-a")

    with pytest.raises(RateLimited) as limited:
        await limiter.acquire("robot-a", max_wait=5)

    assert limited.value.retry_after == 60
    assert clock.sleeps == []
    clock.now += 60
    assert limiter.delay("robot-a") == 0, "the refused call must not have taken a slot"


async def test_robot_over_its_minute_budget_is_rate_limited_without_calling_the_partner(
    http: httpx.AsyncClient, dingtalk_peer: DingTalkPeer
) -> None:
    clock = FakeTime()
    limiter = RobotRateLimiter(1, clock=clock, sleep=clock.sleep)
    robot = dingtalk(http, dingtalk_peer, limiter=limiter)
    await robot.send(NOTICE)

    with pytest.raises(RateLimited):
        await robot.send(NOTICE)

    assert len(dingtalk_peer.messages) == 1
    assert dingtalk_peer.rejected == []


# SMS


def aliyun(
    http: httpx.AsyncClient,
    peer: SmsPeer,
    *,
    access_key_secret: str | None = None,
    nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> AliyunSms:
    """The Aliyun adapter configured as the peer expects, with whatever the test changes."""
    secret = access_key_secret or peer.access_key_secret
    key_id, sign_name, template = peer.access_key_id, peer.sign_name, peer.template_code
    return AliyunSms(http, peer.endpoint, key_id, secret, sign_name, template, nonce=nonce)


async def test_aliyun_sms_signature_is_accepted_by_peer(http: httpx.AsyncClient, sms_peer: SmsPeer) -> None:
    # Spaces, "*", "~" and Chinese are exactly where Aliyun's encoding differs from form encoding.
    params = {"order": "O-1001 *加急*", "deadline": "今天 18:00", "shop": "~美好生活~"}

    await aliyun(http, sms_peer).send(mobile=AGENT, params=params, out_id="order:O-1001:ship:sms")

    [form] = sms_peer.messages
    assert sms_peer.rejected == []
    assert form["PhoneNumbers"] == AGENT
    assert form["SignName"] == "美好生活"
    assert form["TemplateCode"] == sms_peer.template_code
    assert json.loads(form["TemplateParam"]) == params
    assert form["OutId"] == "order:O-1001:ship:sms"


async def test_aliyun_sms_wrong_secret_is_a_permanent_failure(
    http: httpx.AsyncClient,
    sms_peer: SmsPeer,
) -> None:
    rotated = aliyun(http, sms_peer, access_key_secret="leaked-and-rotated")

    with pytest.raises(PermanentFailure, match="SignatureDoesNotMatch"):
        await rotated.send(mobile=AGENT, params={}, out_id="x")


async def test_aliyun_sms_reused_nonce_is_refused(http: httpx.AsyncClient, sms_peer: SmsPeer) -> None:
    nonce = str(uuid.uuid4())
    sms = aliyun(http, sms_peer, nonce=lambda: nonce)

    await sms.send(mobile=AGENT, params={}, out_id="first")
    with pytest.raises(PermanentFailure, match="SignatureNonceUsed"):
        await sms.send(mobile=AGENT, params={}, out_id="second")


async def test_aliyun_sms_business_limit_is_rate_limited(http: httpx.AsyncClient, sms_peer: SmsPeer) -> None:
    sms_peer.fail_next("isv.BUSINESS_LIMIT_CONTROL")

    with pytest.raises(RateLimited, match="BUSINESS_LIMIT_CONTROL") as limited:
        await aliyun(http, sms_peer).send(mobile=AGENT, params={}, out_id="x")

    assert limited.value.retry_after == 60


async def test_aliyun_sms_illegal_mobile_is_a_permanent_failure(
    http: httpx.AsyncClient,
    sms_peer: SmsPeer,
) -> None:
    with pytest.raises(PermanentFailure, match="MOBILE_NUMBER_ILLEGAL"):
        await aliyun(http, sms_peer).send(mobile="12345", params={}, out_id="x")


async def test_aliyun_sms_outage_is_transient(http: httpx.AsyncClient, sms_peer: SmsPeer) -> None:
    sms_peer.fail_next("ServiceUnavailable", status=503)

    with pytest.raises(TransientFailure, match="HTTP 503"):
        await aliyun(http, sms_peer).send(mobile=AGENT, params={}, out_id="x")


async def test_log_sms_masks_the_mobile() -> None:
    with capture_logs() as logs:
        await LogSms().send(
            mobile="13812345678", params={"order": "O-1"}, out_id="order:O-1:sms", template_code="SMS_1"
        )

    assert logs == [
        {
            "event": "sms_logged",
            "log_level": "info",
            "mobile": "138****5678",
            "template_code": "SMS_1",
            "params": {"order": "O-1"},
            "out_id": "order:O-1:sms",
        }
    ]
    assert "13812345678" not in repr(logs)


@pytest.mark.parametrize(
    ("mobile", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("95588", "*5588"),
        ("110", "***"),
    ],
)
def test_mask_mobile_keeps_only_the_ends(mobile: str, masked: str) -> None:
    assert mask_mobile(mobile) == masked
