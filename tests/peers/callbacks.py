"""The mall's event receiver: verifies Standard Webhooks signatures with the reference library, deduplicates.

It does what the README asks of a receiver: verify ``webhook-signature`` against the raw body with
``standardwebhooks.Webhook(secret).verify`` (which also checks the timestamp is within 5 minutes), answer
2xx, and process each ``webhook-id`` once. ``messages`` holds the events processed (once each, in arrival
order); ``deliveries`` every verified request, duplicates included.
"""

from __future__ import annotations

import json
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.peers.server import Peer

PATH = "/aftersales/events"


class CallbackReceiver(Peer):
    """One receiver of the mall.

    Args:
        secret: the ``whsec_…`` secret the receiver verifies with (the mall holds one at a time).
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self._seen: set[str] = set()
        self._deliveries: list[dict[str, Any]] = []
        self._refuse_with: int | None = None
        self._ack_then_fail = 0

    @property
    def url(self) -> str:
        """The callback URL to configure (``AFTERSALES_CALLBACK_URL``)."""
        return f"{self.base_url}{PATH}"

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every verified request, duplicates included: ``{"id", "headers", "event"}``."""
        with self._lock:
            return list(self._deliveries)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._seen.clear()
            self._deliveries.clear()
            self._refuse_with = None
            self._ack_then_fail = 0

    def unavailable(self, times: int) -> None:
        """Answers the next ``times`` requests 503 without processing them (a receiver that is down)."""
        self.can({"detail": "down for maintenance"}, times, 503)

    def refuse_all(self, status: int | None) -> None:
        """Answers every request ``status`` (e.g. 410 Gone) from now on; None answers normally again."""
        with self._lock:
            self._refuse_with = status

    def process_then_fail(self, times: int) -> None:
        """Processes the next ``times`` requests but answers 502, as when the answer is lost on the way back."""
        with self._lock:
            self._ack_then_fail += times

    def app(self) -> Starlette:
        return Starlette(routes=[Route(PATH, self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        await self.stall()
        raw = await request.body()
        with self._lock:
            refuse_with = self._refuse_with
        if refuse_with is not None:
            self.reject(f"refused {refuse_with}", raw.decode(errors="replace"))
            return JSONResponse({"detail": "gone"}, status_code=refuse_with)
        canned = self.take_canned()
        if canned is not None:
            self.reject(f"canned {canned.status}", raw.decode(errors="replace"))
            return JSONResponse(canned.answer, status_code=canned.status)
        try:
            event = Webhook(self.secret).verify(raw, dict(request.headers))
        except WebhookVerificationError as error:
            self.reject(f"bad signature: {error}", raw.decode(errors="replace"))
            return JSONResponse({"detail": str(error)}, status_code=400)
        event_id = request.headers["webhook-id"]
        with self._lock:
            self._deliveries.append({"id": event_id, "headers": dict(request.headers), "event": event})
            fresh = event_id not in self._seen
            self._seen.add(event_id)
            fail = self._ack_then_fail > 0
            self._ack_then_fail -= 1 if fail else 0
        if fresh:
            self.accept(event)
        if fail:
            return JSONResponse({"detail": "bad gateway"}, status_code=502)
        return Response(status_code=204)

    def types(self, resource_id: str | None = None) -> list[str]:
        """The types of the events processed, oldest first; only those mentioning ``resource_id`` if given."""
        return [
            event["type"]
            for event in self.messages
            if resource_id is None or resource_id in json.dumps(event["data"], ensure_ascii=False)
        ]
