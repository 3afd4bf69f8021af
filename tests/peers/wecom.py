"""A WeCom group robot (群机器人) endpoint that checks requests as strictly as WeCom does, and a bit more.

It answers like WeCom: HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or a non-zero errcode.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.server import Peer

PATH = "/cgi-bin/webhook/send"
MAX_BYTES = {"markdown": 4096, "text": 2048}

ERRMSG = {
    -1: "system error",
    45009: "api freq out of limit",
    93000: "invalid webhook url",
    40008: "invalid message type",
    40058: "invalid Request Parameter",
    44004: "empty content",
}


class WeComPeer(Peer):
    """One WeCom group robot.

    Args:
        key: the key the webhook URL must carry.

    ``markdown``, ``text`` and ``template_card`` (``text_notice``) messages are modelled. Stricter than WeCom
    in one way: WeCom silently
    ignores ``mentioned_mobile_list`` in a markdown message, so the mention would be lost without anyone
    noticing; this peer refuses it instead, to make that loss visible in tests.
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    @property
    def webhook_url(self) -> str:
        """The URL to give the adapter, with the key."""
        return f"{self.base_url}{PATH}?key={self.key}"

    def fail_next(self, errcode: int, times: int = 1, *, status: int = 200) -> None:
        """Answers the next ``times`` messages with ``errcode`` (e.g. 45009, api freq out of limit)."""
        self.can({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}, times, status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(PATH, self._send, methods=["POST"])])

    async def _send(self, request: Request) -> JSONResponse:
        await self.stall()
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        if request.query_params.get("key") != self.key:
            return self._refuse(93000, "invalid webhook url", body)
        canned = self.take_canned()
        if canned is not None:
            self.reject(f"canned errcode {canned.answer['errcode']}", body)
            return JSONResponse(canned.answer, status_code=canned.status)
        if not isinstance(body, dict):
            return self._refuse(40058, "invalid Request Parameter: body is not a JSON object", body)
        errcode, problem = _message_problem(body)
        if problem:
            return self._refuse(errcode, problem, body)
        self.accept(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def _refuse(self, errcode: int, errmsg: str, body: Any) -> JSONResponse:
        self.reject(errmsg, body)
        return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _message_problem(body: dict[str, Any]) -> tuple[int, str | None]:
    msgtype = body.get("msgtype")
    if msgtype == "template_card":
        return _card_problem(body.get("template_card"))
    if msgtype not in MAX_BYTES:
        return 40008, f"invalid message type {msgtype!r}"
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return 40058, f"invalid Request Parameter: {msgtype} is missing"
    content = part.get("content")
    if not isinstance(content, str) or not content:
        return 44004, "empty content"
    if len(content.encode()) > MAX_BYTES[msgtype]:
        return 40058, f"{msgtype}.content exceed max length {MAX_BYTES[msgtype]}"
    mentions = [field for field in ("mentioned_list", "mentioned_mobile_list") if field in part]
    if msgtype == "markdown" and mentions:
        return 40058, f"markdown does not support {', '.join(mentions)}; WeCom would drop the mention"
    for field in mentions:
        values = part[field]
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            return 40058, f"text.{field} must be a list of strings"
    return 0, None


def _card_problem(card: Any) -> tuple[int, str | None]:
    """WeCom's rules for a ``text_notice`` card: a title or a text, a card action, at most three links."""
    if not isinstance(card, dict) or card.get("card_type") != "text_notice":
        return 40058, "template_card.card_type must be text_notice"
    title = (card.get("main_title") or {}).get("title")
    text = card.get("sub_title_text")
    if not title and not text:
        return 44004, "template_card needs main_title.title or sub_title_text"
    if (title and len(title) > 26) or (text and len(text) > 112):
        return 40058, "template_card title over 26 or text over 112 characters"
    action = card.get("card_action")
    if not isinstance(action, dict) or action.get("type") != 1 or not _is_link(action.get("url")):
        return 40058, "template_card.card_action must be {type: 1, url}"
    jumps = card.get("jump_list", [])
    if not isinstance(jumps, list) or len(jumps) > 3:
        return 40058, "template_card.jump_list holds at most 3 links"
    for jump in jumps:
        if (
            not isinstance(jump, dict)
            or jump.get("type") != 1
            or not jump.get("title")
            or not _is_link(jump.get("url"))
        ):
            return 40058, "template_card.jump_list[] must be {type: 1, title, url}"
    if any(field in card for field in ("mentioned_list", "mentioned_mobile_list")):
        return 40058, "template_card cannot mention; WeCom would drop the mention"
    return 0, None


def _is_link(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def buttons(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (title, URL) of every link of an accepted message, whatever its type."""
    if body["msgtype"] == "template_card":
        return [(jump["title"], jump["url"]) for jump in body["template_card"]["jump_list"]]
    content = body[body["msgtype"]]["content"]
    markdown = re.findall(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", content)
    return markdown or re.findall(r"^(.+?): (https?://\S+)$", content, flags=re.MULTILINE)
