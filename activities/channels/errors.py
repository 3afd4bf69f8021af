"""The typed errors every channel raises, and how a partner's HTTP answer maps to them."""

from __future__ import annotations

from typing import Any

import httpx

RATE_LIMIT_RETRY_AFTER = 60.0
"""Seconds to wait after a partner said "too many" without saying for how long
(a robot's wait is ``AFTERSALES_ROBOT_THROTTLE_WAIT``, passed in as ``throttle_wait``)."""


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


def raise_for_status(partner: str, response: httpx.Response, detail: str = "") -> None:
    """Raises the channel error an unsuccessful HTTP status stands for; returns on a 2xx.

    Args:
        partner: the partner's name for the message (never the URL, which carries a token or key).
        response: the partner's answer.
        detail: the message to raise with; empty for ``<partner> answered HTTP <status>``.
    """
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


def json_object(partner: str, response: httpx.Response) -> dict[str, Any]:
    """The JSON object ``response`` carries.

    Raises:
        PermanentFailure: the body is not JSON, or not an object.
    """
    try:
        answer = response.json()
    except ValueError as error:
        raise PermanentFailure(f"{partner} answered HTTP {response.status_code} without JSON") from error
    if not isinstance(answer, dict):
        raise PermanentFailure(f"{partner} answered JSON that is not an object")
    return answer
