"""Refusals made before a request's body is read: who is calling, what the body is, how large it is.

FastAPI reads and parses a body before its dependencies run, so without this a request with no key and a
broken body is a 422 (telling a stranger what the API expects) and a 100 MB body is read into memory
before anything refuses it. This middleware answers, in this order and without reading more than the limit:

1. 401 ``unauthorized``: a ``/v1`` request with a body but without a known API key (requests without a body
   reach their route, whose dependencies check the key and the role as before);
2. 415 ``unsupported_media_type``: a body that is not JSON (``application/json`` or ``application/*+json``);
   outside ``/v1`` a page's HTML form (``application/x-www-form-urlencoded``) is accepted too;
3. 413 ``payload_too_large``: a body over ``AFTERSALES_MAX_BODY_BYTES`` (or its path's own limit), by its
   ``Content-Length`` or, when streamed without one, as soon as the bytes read pass the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import authenticate
from api.errors import Problem, problem_response

AUTHENTICATED = "/v1/"  # every resource of the API; probes, metrics and the docs stay open


class RequestLimits:
    """An ASGI middleware: refuses requests by their headers, then reads a body only up to the limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, per_path: dict[str, int] | None = None) -> None:
        """``per_path``: path prefix → its own limit instead of ``max_body_bytes`` (the codec's batches)."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.per_path = per_path or {}

    def _limit(self, scope: Scope) -> int:
        path: str = scope["path"]
        return next((limit for prefix, limit in self.per_path.items() if path.startswith(prefix)), self.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self._check_headers(scope, headers)
        except Problem as problem:
            await problem_response(problem.code, problem.detail, scope["path"])(scope, receive, send)
            return
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away while sending
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._limit(scope):
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _check_headers(self, scope: Scope, headers: Headers) -> None:
        if not _has_body(headers):
            return
        if scope["path"].startswith(AUTHENTICATED):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            callers = getattr(scope["app"].state, "callers", {})  # none before the lifespan has started
            authenticate(callers, token.strip() if scheme.lower() == "bearer" else None)
        content_type = headers.get("content-type", "")
        # Pages (logins, confirmation forms) post HTML forms; the API's resources take JSON only.
        page_form = not scope["path"].startswith(AUTHENTICATED) and _is_form(content_type)
        if not (_is_json(content_type) or page_form):
            raise Problem("unsupported_media_type", "send the body as application/json")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._limit(scope):
            raise Problem("payload_too_large", f"the body may hold at most {self._limit(scope)} bytes")

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the body may hold at most {self._limit(scope)} bytes"
        await problem_response("payload_too_large", detail, scope["path"])(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _is_form(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body read already, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
