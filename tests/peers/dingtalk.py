"""A DingTalk custom robot (自定义机器人) endpoint that checks requests as strictly as DingTalk does.

It answers like DingTalk: HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or a non-zero errcode. The
signature is recomputed here independently of the adapter, so a bug there cannot be mirrored here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.server import Peer

PATH = "/robot/send"
MAX_BODY_BYTES = 20_000
TIMESTAMP_TOLERANCE_MS = 60 * 60 * 1000

ERRMSG = {
    -1: "系统繁忙",
    130101: "send too fast, exceed 20 times per minute",
    300001: "token is not exist",
    310000: "sign not match",
    40035: "缺少参数 json",
    40008: "invalid msgtype",
    460101: "message too long, exceed 20000 bytes",
}


class DingTalkPeer(Peer):
    """One DingTalk group robot.

    Args:
        access_token: the token the webhook URL must carry.
        secret: the ``SEC...`` signing secret; None for a robot secured otherwise (no sign expected).
        keywords: when set, a message must contain one of them (DingTalk's keyword security setting).
        clock: epoch seconds, to judge the signature's timestamp.

    ``markdown``, ``text`` and ``actionCard`` messages are modelled; other message types are refused. Stricter
    than DingTalk in one way: DingTalk silently ignores ``at`` in an actionCard, so the mention would be lost
    without anyone noticing; this peer refuses an actionCard that asks to mention someone.
    """

    def __init__(
        self,
        access_token: str,
        secret: str | None = None,
        *,
        keywords: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.secret = secret
        self.keywords = keywords
        self._clock = clock

    @property
    def webhook_url(self) -> str:
        """The URL to give the adapter, with the access token."""
        return f"{self.base_url}{PATH}?access_token={self.access_token}"

    def fail_next(self, errcode: int, times: int = 1, *, status: int = 200) -> None:
        """Answers the next ``times`` authenticated messages with ``errcode`` (e.g. 130101, too fast)."""
        self.can({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}, times, status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(PATH, self._send, methods=["POST"])])

    async def _send(self, request: Request) -> JSONResponse:
        await self.stall()
        raw = await request.body()
        body = _parse(raw)
        if request.query_params.get("access_token") != self.access_token:
            return self._refuse(300001, "token is not exist", body)
        if self.secret is not None:
            query = request.query_params
            problem = self._sign_problem(query.get("timestamp"), query.get("sign"))
            if problem:
                return self._refuse(310000, problem, body)
        canned = self.take_canned()
        if canned is not None:
            self.reject(f"canned errcode {canned.answer['errcode']}", body)
            return JSONResponse(canned.answer, status_code=canned.status)
        if len(raw) > MAX_BODY_BYTES:
            return self._refuse(460101, ERRMSG[460101], body)
        if not isinstance(body, dict):
            return self._refuse(40035, "缺少参数 json", body)
        errcode, problem = _message_problem(body)
        if problem:
            return self._refuse(errcode, problem, body)
        if self.keywords and not any(word in _visible_text(body) for word in self.keywords):
            return self._refuse(310000, "keywords not in content", body)
        self.accept(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def _sign_problem(self, timestamp: str | None, sign: str | None) -> str | None:
        assert self.secret is not None
        if not timestamp or not timestamp.isdigit():
            return "invalid timestamp"
        if abs(self._clock() * 1000 - int(timestamp)) > TIMESTAMP_TOLERANCE_MS:
            return "invalid timestamp: more than an hour off"
        string_to_sign = f"{timestamp}\n{self.secret}".encode()
        expected = base64.b64encode(hmac.new(self.secret.encode(), string_to_sign, hashlib.sha256).digest())
        if not sign or not hmac.compare_digest(sign.encode(), expected):
            return "sign not match"
        return None

    def _refuse(self, errcode: int, errmsg: str, body: Any) -> JSONResponse:
        self.reject(errmsg, body)
        return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _message_problem(body: dict[str, Any]) -> tuple[int, str | None]:
    msgtype = body.get("msgtype")
    if msgtype == "markdown":
        markdown = body.get("markdown")
        if not isinstance(markdown, dict):
            return 40035, "缺少参数 markdown"
        for field in ("title", "text"):
            if not isinstance(markdown.get(field), str) or not markdown[field].strip():
                return 40035, f"缺少参数 markdown.{field}"
    elif msgtype == "actionCard":
        return _action_card_problem(body)
    elif msgtype == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("content"), str) or not text["content"]:
            return 40035, "缺少参数 text.content"
    else:
        return 40008, f"invalid msgtype {msgtype!r}"
    at = body.get("at", {})
    if not isinstance(at, dict):
        return 40035, "at must be an object"
    for field in ("atMobiles", "atUserIds"):
        values = at.get(field, [])
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            return 40035, f"at.{field} must be a list of strings"
    if not isinstance(at.get("isAtAll", False), bool):
        return 40035, "at.isAtAll must be a boolean"
    return 0, None


def _action_card_problem(body: dict[str, Any]) -> tuple[int, str | None]:
    card = body.get("actionCard")
    if not isinstance(card, dict):
        return 40035, "缺少参数 actionCard"
    for field in ("title", "text"):
        if not isinstance(card.get(field), str) or not card[field].strip():
            return 40035, f"缺少参数 actionCard.{field}"
    if card.get("btnOrientation", "0") not in ("0", "1"):
        return 40035, "actionCard.btnOrientation must be '0' or '1'"
    buttons = card.get("btns")
    if "singleTitle" in card:
        buttons = [{"title": card.get("singleTitle"), "actionURL": card.get("singleURL")}]
    if not isinstance(buttons, list) or not buttons:
        return 40035, "缺少参数 actionCard.btns"
    for button in buttons:
        if not isinstance(button, dict) or not isinstance(button.get("title"), str) or not button["title"]:
            return 40035, "actionCard.btns[].title missing"
        url = button.get("actionURL")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "dingtalk://")):
            return 40035, "actionCard.btns[].actionURL must be a link"
    at = body.get("at", {})
    if isinstance(at, dict) and (at.get("atMobiles") or at.get("atUserIds") or at.get("isAtAll")):
        return 40035, "actionCard cannot @mention; DingTalk would drop the mention"
    return 0, None


def buttons(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (title, URL) of every button or link of an accepted message, whatever its type."""
    if body["msgtype"] == "actionCard":
        return [(button["title"], button["actionURL"]) for button in body["actionCard"]["btns"]]
    text = _visible_text(body)
    return re.findall(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", text)


def _visible_text(body: dict[str, Any]) -> str:
    if body["msgtype"] == "actionCard":
        return f"{body['actionCard']['title']}\n{body['actionCard']['text']}"
    if body["msgtype"] == "markdown":
        return f"{body['markdown']['title']}\n{body['markdown']['text']}"
    return str(body["text"]["content"])
