"""The POST every channel makes, with transport failures and HTTP statuses mapped to channel errors."""

from __future__ import annotations

from typing import Any

import httpx

from activities.channels.errors import PermanentFailure, RateLimited, TransientFailure, json_object, raise_for_status
from activities.channels.messages import json_bytes

_JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


async def post(
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
        raise_for_status(partner, response)
    return response


async def post_to_robot(
    partner: str,
    http: httpx.AsyncClient,
    url: httpx.URL,
    payload: dict[str, Any],
    *,
    throttled_errcode: int,
    retry_after: float,
) -> None:
    """Posts a robot message; both DingTalk and WeCom answer ``{"errcode": 0}`` on success."""
    answer = json_object(partner, await post(partner, http, url, content=json_bytes(payload)))
    errcode = answer.get("errcode")
    if errcode == 0:
        return
    detail = f"{partner} answered errcode {errcode}: {answer.get('errmsg')}"
    if errcode == throttled_errcode:
        raise RateLimited(detail, retry_after=retry_after)
    raise PermanentFailure(detail)
