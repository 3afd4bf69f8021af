"""Local stand-ins for DingTalk custom robots and WeCom group robots that count every message they receive.

``make chaos`` points merchants' and the platform's robots here, so a message delivered twice is seen where
it lands. Each answers as the real robot does on success (HTTP 200, ``{"errcode": 0, "errmsg": "ok"}``;
wire formats in the README's "Notifications"). A message's dedupe key is the robot it reached and the
SHA-256 of its JSON body: the notifier renders a notification into the same body on every try (without
action links; those are signed when sent, so a run with ``AFTERSALES_LINK_SECRET`` would see each try as
another message).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

OK = {"errcode": 0, "errmsg": "ok"}


class RobotStandIns:
    """Any number of DingTalk and WeCom robots on one local server, each named by its path.

    Args:
        base_url: where the server serving :meth:`app` listens, e.g. ``http://127.0.0.1:8765``.
    """

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url
        self.received: Counter[str] = Counter()  # dedupe key -> messages received with it
        self.last_received = 0.0  # time.monotonic() of the last message; 0 before the first

    def app(self) -> Starlette:
        """The robots' HTTP app: ``POST /dingtalk/{robot}`` and ``POST /wecom/{robot}``."""
        return Starlette(
            routes=[
                Route("/dingtalk/{robot}", self._receive, methods=["POST"]),
                Route("/wecom/{robot}", self._receive, methods=["POST"]),
            ]
        )

    def dingtalk_url(self, robot: str) -> str:
        """The webhook of DingTalk robot ``robot`` (with an access token, as DingTalk's has)."""
        return f"{self.base_url}/dingtalk/{robot}?access_token=standin-{robot}"

    def wecom_url(self, robot: str) -> str:
        """The webhook of WeCom robot ``robot`` (with a key, as WeCom's has)."""
        return f"{self.base_url}/wecom/{robot}?key=standin-{robot}"

    @property
    def messages(self) -> int:
        """Messages received, duplicates included."""
        return sum(self.received.values())

    @property
    def duplicates(self) -> int:
        """Messages received again under a key already received: every copy after the first."""
        return sum(count - 1 for count in self.received.values() if count > 1)

    def quiet_for(self) -> float:
        """Seconds since the last message arrived (since the epoch of ``time.monotonic`` if none has)."""
        return time.monotonic() - self.last_received

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False)
        except ValueError:
            return JSONResponse({"errcode": 40035, "errmsg": "invalid json"})
        robot = request.url.path  # /dingtalk/{robot} or /wecom/{robot}
        self.received[f"{robot}:{hashlib.sha256(canonical.encode()).hexdigest()}"] += 1
        self.last_received = time.monotonic()
        return JSONResponse(OK)
