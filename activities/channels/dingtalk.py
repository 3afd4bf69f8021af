"""The DingTalk custom robot (自定义机器人): signed webhook URLs and markdown or actionCard bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from activities.channels.errors import RATE_LIMIT_RETRY_AFTER
from activities.channels.limiter import RobotRateLimiter
from activities.channels.messages import Message, link_line, truncate_utf8
from activities.channels.transport import post_to_robot

DINGTALK_TEXT_MAX_BYTES = 18_000
"""DingTalk refuses bodies over 20,000 bytes (errcode 460101); the rest is left for title, mentions, JSON."""
DINGTALK_TITLE_MAX_BYTES = 256


class DingTalkRobot:
    """A DingTalk custom robot (自定义机器人) posting markdown to one group, signed when it has a secret.

    Args:
        http: the shared HTTP client (its timeout applies).
        webhook_url: the robot's URL, including ``?access_token=...``.
        secret: the ``SEC...`` signing secret, or None when the robot is secured by keywords or IPs.
        limiter: the worker's robot rate limiter.
        clock: epoch seconds, for the signature's timestamp.
        max_wait: the longest ``send`` waits for the limiter before raising ``RateLimited`` instead.
        throttle_wait: seconds to leave the robot alone after DingTalk's "too fast" (130101).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        webhook_url: str,
        secret: str | None,
        limiter: RobotRateLimiter,
        clock: Callable[[], float] = time.time,
        *,
        max_wait: float = 10.0,
        throttle_wait: float = RATE_LIMIT_RETRY_AFTER,
    ) -> None:
        self._http = http
        self._webhook_url = webhook_url
        self._secret = secret
        self._limiter = limiter
        self._clock = clock
        self._max_wait = max_wait
        self._throttle_wait = throttle_wait

    async def send(self, message: Message) -> None:
        """Posts ``message`` as markdown, @mentioning its mobiles.

        Raises:
            RateLimited: the robot's minute budget is used up, here or at DingTalk.
            PermanentFailure: DingTalk refused the token, signature, keywords or message.
            TransientFailure: DingTalk could not be reached or failed.
        """
        await self._limiter.acquire(self._webhook_url, max_wait=self._max_wait)
        await post_to_robot(
            "dingtalk",
            self._http,
            self._signed_url(),
            dingtalk_payload(message),
            throttled_errcode=130101,
            retry_after=self._throttle_wait,
        )

    def _signed_url(self) -> httpx.URL:
        url = httpx.URL(self._webhook_url)
        if not self._secret:
            return url
        timestamp = str(round(self._clock() * 1000))
        # Merged rather than passed as ``params=``: httpx replaces the whole query (the access_token) then.
        return url.copy_merge_params({"timestamp": timestamp, "sign": dingtalk_sign(self._secret, timestamp)})


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's robot sign before URL-encoding: base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)).

    Args:
        secret: the robot's ``SEC...`` secret.
        timestamp: epoch milliseconds, as sent in the ``timestamp`` query parameter.
    """
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_payload(message: Message) -> dict[str, Any]:
    """The JSON body of a DingTalk message: an ``actionCard`` with buttons, else markdown.

    DingTalk only highlights and notifies a mention in markdown (or text) when the text itself contains
    ``@<mobile>``, so the missing ones are appended after truncation, where they cannot be cut off. An
    ``actionCard`` cannot mention anyone (DingTalk ignores ``at`` there), so a message with buttons that
    must reach people goes as markdown with the buttons as links: the @ matters more than the button's look.
    """
    mobiles = message.mention_mobiles
    title = truncate_utf8(message.title, DINGTALK_TITLE_MAX_BYTES)
    if message.buttons and not mobiles:
        return {
            "msgtype": "actionCard",
            "actionCard": {
                "title": title,
                "text": truncate_utf8(f"### {message.title}\n\n{message.text}", DINGTALK_TEXT_MAX_BYTES),
                # Side by side for two buttons, stacked for more, as DingTalk lays them out best.
                "btnOrientation": "1" if len(message.buttons) <= 2 else "0",
                "btns": [{"title": button.title, "actionURL": button.url} for button in message.buttons],
            },
        }
    links = link_line(message.buttons)
    reserved = len(_mention_line(mobiles).encode()) + len(links.encode())
    text = truncate_utf8(message.text, DINGTALK_TEXT_MAX_BYTES - reserved) + links
    text += _mention_line([mobile for mobile in mobiles if f"@{mobile}" not in text])
    return {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": {"atMobiles": list(message.mention_mobiles), "isAtAll": False},
    }


def _mention_line(mobiles: Sequence[str]) -> str:
    return ("\n\n" + " ".join(f"@{mobile}" for mobile in mobiles)) if mobiles else ""
