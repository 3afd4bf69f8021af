"""The WeCom group robot (群机器人): markdown, text with mentions, or a ``text_notice`` card with links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from activities.channels.errors import RATE_LIMIT_RETRY_AFTER
from activities.channels.limiter import RobotRateLimiter
from activities.channels.messages import Button, Message, link_line, truncate_utf8
from activities.channels.transport import post_to_robot

WECOM_MARKDOWN_MAX_BYTES = 4096
WECOM_TEXT_MAX_BYTES = 2048
WECOM_CARD_TITLE_MAX_CHARS = 26  # WeCom's limits for a text_notice card's title, text and links
WECOM_CARD_TEXT_MAX_CHARS = 112
WECOM_CARD_MAX_LINKS = 3


class WeComRobot:
    """A WeCom group robot (群机器人): markdown when nobody is mentioned, text with mentions otherwise.

    Args:
        http: the shared HTTP client (its timeout applies).
        webhook_url: the robot's URL, including ``?key=...``.
        limiter: the worker's robot rate limiter.
        max_wait: the longest ``send`` waits for the limiter before raising ``RateLimited`` instead.
        throttle_wait: seconds to leave the robot alone after WeCom's "api freq out of limit" (45009).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        webhook_url: str,
        limiter: RobotRateLimiter,
        *,
        max_wait: float = 10.0,
        throttle_wait: float = RATE_LIMIT_RETRY_AFTER,
    ) -> None:
        self._http = http
        self._webhook_url = webhook_url
        self._limiter = limiter
        self._max_wait = max_wait
        self._throttle_wait = throttle_wait

    async def send(self, message: Message) -> None:
        """Posts ``message`` to the group.

        Raises:
            RateLimited: the robot's minute budget is used up, here or at WeCom.
            PermanentFailure: WeCom refused the key or the message.
            TransientFailure: WeCom could not be reached or failed.
        """
        await self._limiter.acquire(self._webhook_url, max_wait=self._max_wait)
        await post_to_robot(
            "wecom",
            self._http,
            httpx.URL(self._webhook_url),
            wecom_payload(message),
            throttled_errcode=45009,
            retry_after=self._throttle_wait,
        )


def wecom_payload(message: Message) -> dict[str, Any]:
    """The JSON body of a WeCom robot message.

    WeCom markdown cannot mention anyone (it ignores ``mentioned_mobile_list``), so a message that must
    reach people goes as text, losing the formatting but keeping the @ (its buttons as bare URLs, which
    WeCom makes clickable). Buttons without mentions go as a ``template_card`` (``text_notice``: the
    buttons in its ``jump_list``, the whole card opening the first); more buttons than a card holds go as
    markdown links.
    """
    buttons = message.buttons
    if message.mention_mobiles:
        urls = _url_lines(buttons)
        text = truncate_utf8(f"{message.title}\n{message.text}", WECOM_TEXT_MAX_BYTES - len(urls.encode()))
        return {
            "msgtype": "text",
            "text": {"content": text + urls, "mentioned_mobile_list": list(message.mention_mobiles)},
        }
    if buttons and len(buttons) <= WECOM_CARD_MAX_LINKS:
        first_paragraph = message.text.strip().split("\n", 1)[0]
        return {
            "msgtype": "template_card",
            "template_card": {
                "card_type": "text_notice",
                "main_title": {"title": message.title[:WECOM_CARD_TITLE_MAX_CHARS]},
                "sub_title_text": first_paragraph[:WECOM_CARD_TEXT_MAX_CHARS],
                "jump_list": [{"type": 1, "title": button.title, "url": button.url} for button in buttons],
                "card_action": {"type": 1, "url": buttons[0].url},
            },
        }
    links = link_line(buttons)
    content = truncate_utf8(f"**{message.title}**\n{message.text}", WECOM_MARKDOWN_MAX_BYTES - len(links.encode()))
    return {"msgtype": "markdown", "markdown": {"content": content + links}}


def _url_lines(buttons: Sequence[Button]) -> str:
    """Buttons in a plain text message: WeCom makes the bare URLs clickable."""
    return "".join(f"\n{button.title}: {button.url}" for button in buttons)
