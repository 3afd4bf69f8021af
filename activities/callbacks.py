"""Delivers events to the mall as signed Standard Webhooks requests (README: Callbacks).

``POST {AFTERSALES_CALLBACK_URL}`` with the event's JSON as the body and the three headers of the
Standard Webhooks specification: ``webhook-id`` (the event's stable id, the same on every retry),
``webhook-timestamp`` (seconds since the epoch, when this attempt was sent) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per secret of
``AFTERSALES_CALLBACK_SECRET``, space-separated, so a receiver holding either secret accepts it during a
rotation).

A 2xx answer is delivered. A 4xx other than 408 and 429 is a refusal for good: the activity fails without
retry (type ``permanent``) and the workflow records ``callback_failed``. Anything else (5xx, 408, 429, a
timeout, a refused connection) is raised for Temporal to retry with backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import structlog
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.callbacks import CallbackEvent

log = structlog.get_logger(__name__)

PERMANENT = "permanent"
_RETRYABLE_4XX = {408, 429}


def signers(secrets: str) -> list[Webhook]:
    """One signer per ``whsec_…`` secret of a comma-separated list.

    Raises:
        ValueError: a secret is not base64 (the ``whsec_`` prefix is optional), or there is none.
    """
    found = [secret.strip() for secret in secrets.split(",") if secret.strip()]
    if not found:
        raise ValueError("AFTERSALES_CALLBACK_SECRET holds no secret")
    try:
        return [Webhook(secret) for secret in found]
    except Exception as error:  # binascii.Error, the library's empty-secret error
        raise ValueError(f"AFTERSALES_CALLBACK_SECRET: not a whsec_<base64> secret ({type(error).__name__})") from error


def headers(event: CallbackEvent, body: str, signers: list[Webhook], at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt at ``at``, signed with every secret."""
    at = at.astimezone(UTC).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": event.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signer.sign(event.id, at, body) for signer in signers),
    }


class Callbacks:
    """The mall's event receiver.

    Args:
        http: the shared HTTP client.
        url: ``AFTERSALES_CALLBACK_URL``; None when callbacks are off.
        secrets: ``AFTERSALES_CALLBACK_SECRET``, comma-separated ``whsec_…`` secrets; every one signs.
    """

    def __init__(self, *, http: httpx.AsyncClient, url: str | None, secrets: str) -> None:
        self._http = http
        self._url = url
        self._signers = signers(secrets) if url else []

    @activity.defn(name="Callbacks.deliver")
    async def deliver(self, event: CallbackEvent) -> None:
        """Posts ``event`` once; raises for Temporal to retry, or fails for good on a refusal."""
        if not self._url:
            # Started while callbacks were on and delivered after they were switched off: nowhere to send.
            raise ApplicationError("AFTERSALES_CALLBACK_URL is not set", type=PERMANENT, non_retryable=True)
        body = event.body()
        answer = await self._http.post(
            self._url, content=body.encode(), headers=headers(event, body, self._signers, datetime.now(UTC))
        )
        if answer.is_success:
            log.info("callback_delivered", event_id=event.id, type=event.type)
            return
        if 400 <= answer.status_code < 500 and answer.status_code not in _RETRYABLE_4XX:
            raise ApplicationError(
                f"the receiver refused {event.type} with HTTP {answer.status_code}",
                type=PERMANENT,
                non_retryable=True,
            )
        raise ApplicationError(f"the receiver answered HTTP {answer.status_code}", type="unavailable")
