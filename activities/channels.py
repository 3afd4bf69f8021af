"""Outbound notification channels: DingTalk and WeCom group robots, and SMS (logged or Aliyun-SendSms-shaped).

Each adapter turns a partner's answer into one of three typed errors, so the caller decides what to do
without knowing the partner: ``RateLimited`` (try later), ``TransientFailure`` (retry with backoff) and
``PermanentFailure`` (retrying cannot help). The adapters know nothing of Temporal or of the settings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import structlog

log = structlog.get_logger(__name__)

RATE_LIMIT_RETRY_AFTER = 60.0
"""Seconds to wait after a partner said "too many" without saying for how long
(a robot's wait is ``AFTERSALES_ROBOT_THROTTLE_WAIT``, passed in as ``throttle_wait``)."""

DINGTALK_TEXT_MAX_BYTES = 18_000
"""DingTalk refuses bodies over 20,000 bytes (errcode 460101); the rest is left for title, mentions, JSON."""
DINGTALK_TITLE_MAX_BYTES = 256
WECOM_MARKDOWN_MAX_BYTES = 4096
WECOM_TEXT_MAX_BYTES = 2048
TRUNCATION_NOTE = "\n\n……（内容过长，已截断）"

_JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


WECOM_CARD_TITLE_MAX_CHARS = 26  # WeCom's limits for a text_notice card's title, text and links
WECOM_CARD_TEXT_MAX_CHARS = 112
WECOM_CARD_MAX_LINKS = 3


@dataclass(frozen=True)
class Button:
    """A link a message carries: what it says and where it goes (a signed action link)."""

    title: str
    url: str


@dataclass(frozen=True)
class Message:
    """One notification as every robot shows it.

    Attributes:
        title: a short headline (DingTalk shows it in the chat list).
        text: the markdown body.
        mention_mobiles: mobiles of the group members to @mention.
        buttons: the actions its reader may take, as links.
    """

    title: str
    text: str
    mention_mobiles: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()


class ChannelError(Exception):
    """A channel did not deliver a message."""


class RateLimited(ChannelError):
    """The partner said "too many"; the same message may be sent again after ``retry_after`` seconds.

    Args:
        message: what happened, without secrets.
        retry_after: seconds to wait before trying again.
    """

    def __init__(self, message: str, retry_after: float = RATE_LIMIT_RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles ``self.args`` only, which would lose ``retry_after``.
        return (type(self), (str(self), self.retry_after))


class PermanentFailure(ChannelError):
    """The partner refused the message for good (bad token, bad signature, malformed); retrying won't help."""


class TransientFailure(ChannelError):
    """The partner could not be reached or failed on its side (5xx, timeout); a retry may succeed."""


class RobotRateLimiter:
    """At most ``max_per_minute`` messages per rolling 60 seconds per key (a robot's webhook URL).

    DingTalk and WeCom robots both accept 20 messages a minute and throttle a robot that sends more
    (DingTalk for ten minutes), so the worker spaces its own messages instead of provoking that. The
    bookkeeping is guarded by a lock because one limiter is shared by every activity of a worker.

    Args:
        max_per_minute: messages allowed per key in any 60-second window.
        clock: monotonic seconds; injectable so tests control time.
        sleep: how to wait; injectable so tests need not really wait.
    """

    WINDOW = 60.0

    def __init__(
        self,
        max_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_per_minute < 1:
            raise ValueError(f"max_per_minute must be at least 1, not {max_per_minute}")
        self._max = max_per_minute
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def delay(self, key: str) -> float:
        """Seconds until ``key`` has a free slot; 0 when one is free now. Takes nothing."""
        with self._lock:
            return self._delay(key, self._clock())

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> None:
        """Takes a slot for ``key``, sleeping until one is free.

        Args:
            key: what is limited, usually the webhook URL.
            max_wait: the longest the caller is willing to sleep.

        Raises:
            RateLimited: the wait would exceed ``max_wait``; no slot was taken.
        """
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(key, now)
                if wait <= 0:
                    self._sent.setdefault(key, deque()).append(now)
                    return
            if wait > max_wait:
                raise RateLimited(f"robot budget of {self._max} a minute is used up", retry_after=wait)
            # Another sender may take the slot first, hence the loop.
            await self._sleep(wait)

    def _delay(self, key: str, now: float) -> float:
        sent = self._sent.get(key)
        if sent is None:
            return 0.0
        while sent and sent[0] <= now - self.WINDOW:
            sent.popleft()
        if not sent:
            # Forget idle robots so the table does not grow with every webhook ever used.
            del self._sent[key]
            return 0.0
        if len(sent) < self._max:
            return 0.0
        return sent[0] + self.WINDOW - now


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
        await _post_to_robot(
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


async def _post_to_robot(
    partner: str,
    http: httpx.AsyncClient,
    url: httpx.URL,
    payload: dict[str, Any],
    *,
    throttled_errcode: int,
    retry_after: float,
) -> None:
    """Posts a robot message; both DingTalk and WeCom answer ``{"errcode": 0}`` on success."""
    answer = _json_object(partner, await _post(partner, http, url, content=_json_bytes(payload)))
    errcode = answer.get("errcode")
    if errcode == 0:
        return
    detail = f"{partner} answered errcode {errcode}: {answer.get('errmsg')}"
    if errcode == throttled_errcode:
        raise RateLimited(detail, retry_after=retry_after)
    raise PermanentFailure(detail)


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
    links = _link_line(message.buttons)
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


def _link_line(buttons: Sequence[Button]) -> str:
    """Buttons as markdown links, kept whole after the (possibly truncated) text."""
    return ("\n\n" + " | ".join(f"[{button.title}]({button.url})" for button in buttons)) if buttons else ""


def _url_lines(buttons: Sequence[Button]) -> str:
    """Buttons in a plain text message: WeCom makes the bare URLs clickable."""
    return "".join(f"\n{button.title}: {button.url}" for button in buttons)


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
        await _post_to_robot(
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
    links = _link_line(buttons)
    content = truncate_utf8(f"**{message.title}**\n{message.text}", WECOM_MARKDOWN_MAX_BYTES - len(links.encode()))
    return {"msgtype": "markdown", "markdown": {"content": content + links}}


class SmsSender(Protocol):
    """Sends one templated SMS."""

    async def send(self, *, mobile: str, params: dict[str, str], out_id: str, template_code: str = "") -> None:
        """Sends the template ``template_code`` (empty: the sender's own) with ``params`` to ``mobile``;
        ``out_id`` is our reference for the message."""
        ...


def mask_mobile(mobile: str) -> str:
    """A mobile fit for logs: ``13812345678`` becomes ``138****5678``, ``+8613812345678`` ``+86138****5678``.

    Shorter numbers keep only their last four characters.
    """
    if len(mobile) >= 11:
        return f"{mobile[: len(mobile) - 8]}****{mobile[-4:]}"
    if len(mobile) <= 4:
        return "*" * len(mobile)
    return "*" * (len(mobile) - 4) + mobile[-4:]


class LogSms:
    """The development SMS backend: logs what would be sent, with the mobile masked, and sends nothing."""

    async def send(self, *, mobile: str, params: dict[str, str], out_id: str, template_code: str = "") -> None:
        """Logs the message as ``sms_logged``."""
        log.info("sms_logged", mobile=mask_mobile(mobile), template_code=template_code, params=params, out_id=out_id)


class AliyunSms:
    """Aliyun Dysmsapi ``SendSms`` over its RPC-style API, signed with HMAC-SHA1.

    Args:
        http: the shared HTTP client (its timeout applies).
        endpoint: the API's URL, e.g. ``https://dysmsapi.aliyuncs.com/``.
        access_key_id: the RAM user's AccessKey ID.
        access_key_secret: its secret; only ever used as the HMAC key.
        sign_name: the approved SMS signature (签名), e.g. the shop's name.
        template_code: the approved template used when a message names none, e.g. ``SMS_123456789``.
        clock: epoch seconds, for the request's ``Timestamp``.
        nonce: a fresh ``SignatureNonce`` per request (Aliyun refuses a reused one).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._sign_name = sign_name
        self._template_code = template_code
        self._clock = clock
        self._nonce = nonce

    async def send(self, *, mobile: str, params: dict[str, str], out_id: str, template_code: str = "") -> None:
        """Sends the template ``template_code`` (empty: the adapter's own) with ``params`` to ``mobile``.

        Raises:
            RateLimited: Aliyun's per-mobile limit (``isv.BUSINESS_LIMIT_CONTROL``) or API throttling.
            PermanentFailure: any other refusal (signature, template, mobile, parameters).
            TransientFailure: Aliyun could not be reached or failed.
        """
        form = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "Format": "JSON",
            "AccessKeyId": self._access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": self._nonce(),
            "Timestamp": datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RegionId": "cn-hangzhou",
            "PhoneNumbers": mobile,
            "SignName": self._sign_name,
            "TemplateCode": template_code or self._template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False),
            "OutId": out_id,
        }
        form["Signature"] = aliyun_signature(self._access_key_secret, "POST", form)
        endpoint = httpx.URL(self._endpoint)
        response = await _post("aliyun sms", self._http, endpoint, data=form, check_status=False)
        # Aliyun explains most refusals in a JSON body whatever the HTTP status, so read the Code first.
        code, answer = _aliyun_code(response)
        detail = f"aliyun sms answered HTTP {response.status_code} {code}: {answer.get('Message')}"
        if code == "OK" and response.is_success:
            log.info("sms_sent", mobile=mask_mobile(mobile), out_id=out_id, biz_id=answer.get("BizId"))
            return
        if code == "isv.BUSINESS_LIMIT_CONTROL" or code.startswith("Throttling"):
            raise RateLimited(detail, retry_after=RATE_LIMIT_RETRY_AFTER)
        _raise_for_status("aliyun sms", response, detail)
        raise PermanentFailure(detail)


def aliyun_percent_encode(value: str) -> str:
    """Aliyun's RPC encoding: RFC 3986 on UTF-8, so space is ``%20``, ``*`` is ``%2A`` and ``~`` stays."""
    return quote(value, safe="-_.~")


def aliyun_signature(access_key_secret: str, method: str, params: dict[str, str]) -> str:
    """The ``Signature`` of an Aliyun RPC request with ``params`` (which must not contain ``Signature``).

    Args:
        access_key_secret: the AccessKey secret; the HMAC key is this plus ``&``.
        method: the HTTP method, ``POST`` here.
        params: every other request parameter.
    """
    encode = aliyun_percent_encode
    canonical = "&".join(f"{encode(key)}={encode(value)}" for key, value in sorted(params.items()))
    string_to_sign = f"{method}&{encode('/')}&{encode(canonical)}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character, with a note that it was cut.

    Partners count bytes, not characters, and a Chinese character takes three.
    """
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    budget = max(max_bytes - len(TRUNCATION_NOTE.encode()), 0)
    return encoded[:budget].decode(errors="ignore").rstrip() + TRUNCATION_NOTE


def _json_bytes(payload: dict[str, Any]) -> bytes:
    # Chinese kept as UTF-8 (3 bytes) rather than \\u escapes (6 bytes): the partners' limits count bytes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def _post(
    partner: str,
    http: httpx.AsyncClient,
    url: httpx.URL,
    *,
    content: bytes | None = None,
    data: dict[str, str] | None = None,
    check_status: bool = True,
) -> httpx.Response:
    """POSTs and maps transport failures (and, unless told not to, HTTP statuses) to channel errors.

    Messages name the partner but never the URL, which carries the robot's token or key.
    """
    try:
        response = await http.post(url, content=content, data=data, headers=_JSON_UTF8 if content else None)
    except httpx.TimeoutException as error:
        raise TransientFailure(f"{partner} timed out: {type(error).__name__}") from error
    except httpx.UnsupportedProtocol as error:
        raise PermanentFailure(f"{partner} URL has no http(s) scheme") from error
    except httpx.TransportError as error:
        raise TransientFailure(f"{partner} unreachable: {type(error).__name__}: {error}") from error
    if check_status:
        _raise_for_status(partner, response)
    return response


def _raise_for_status(partner: str, response: httpx.Response, detail: str = "") -> None:
    status = response.status_code
    if response.is_success:
        return
    detail = detail or f"{partner} answered HTTP {status}"
    if status == 429:
        raise RateLimited(detail, retry_after=_retry_after(response))
    if status >= 500 or status == 408:
        raise TransientFailure(detail)
    # 4xx, and 3xx too: a webhook that redirects is misconfigured, and following it would leak the token.
    raise PermanentFailure(detail)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        # Absent, or an HTTP date, which no partner here sends.
        return RATE_LIMIT_RETRY_AFTER


def _json_object(partner: str, response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as error:
        raise PermanentFailure(f"{partner} answered HTTP {response.status_code} without JSON") from error
    if not isinstance(answer, dict):
        raise PermanentFailure(f"{partner} answered JSON that is not an object")
    return answer


def _aliyun_code(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        _raise_for_status("aliyun sms", response)
        raise PermanentFailure(f"aliyun sms answered HTTP {response.status_code} without a JSON object")
    return str(answer.get("Code", "")), answer
