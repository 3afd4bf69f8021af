"""SMS senders: the development one that only logs, and Aliyun Dysmsapi ``SendSms``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import structlog

from activities.channels.errors import RATE_LIMIT_RETRY_AFTER, PermanentFailure, RateLimited, raise_for_status
from activities.channels.transport import post

log = structlog.get_logger(__name__)


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
        response = await post("aliyun sms", self._http, endpoint, data=form, check_status=False)
        # Aliyun explains most refusals in a JSON body whatever the HTTP status, so read the Code first.
        code, answer = _aliyun_code(response)
        detail = f"aliyun sms answered HTTP {response.status_code} {code}: {answer.get('Message')}"
        if code == "OK" and response.is_success:
            log.info("sms_sent", mobile=mask_mobile(mobile), out_id=out_id, biz_id=answer.get("BizId"))
            return
        if code == "isv.BUSINESS_LIMIT_CONTROL" or code.startswith("Throttling"):
            raise RateLimited(detail, retry_after=RATE_LIMIT_RETRY_AFTER)
        raise_for_status("aliyun sms", response, detail)
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


def _aliyun_code(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise_for_status("aliyun sms", response)
        raise PermanentFailure(f"aliyun sms answered HTTP {response.status_code} without a JSON object")
    return str(answer.get("Code", "")), answer
