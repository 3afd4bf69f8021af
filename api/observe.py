"""Every answer of the API observed the same way: its request id, its log line, its metrics.

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``): that one runs
the app in a task group of its own and streams the response through a memory channel, which cost the API
about a tenth of its CPU per call (README: Performance). This one only wraps ``send``.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.metrics import Metrics, method_label

log = structlog.get_logger(__name__)

# A caller's X-Request-Id is kept (it finds the call in both parties' logs) if it reads as an id: nothing
# else reaches the logs or the answer's header (markup, quotes, other scripts, kilobytes); otherwise one is made.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(headers: Headers) -> str:
    """The request's id: the caller's ``X-Request-Id`` if it is a safe one, else a new one."""
    given = headers.get("x-request-id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class Observe:
    """Tags every answer with the request's id, logs it (a 5xx as an error) and counts it in the metrics.

    An error no handler answered becomes the 500 of :func:`api.errors.unhandled` here, so it is counted, logged
    and tagged like every other answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: int | None = None

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception as error:
            if status is not None:
                raise  # the answer has begun: nothing else can be sent
            await errors.unhandled(Request(scope), error)(scope, receive, tagged)
        elapsed = time.perf_counter() - started
        # The router put the matched route into the scope; its template, not the path, labels the metrics.
        path = getattr(scope.get("route"), "path", "unmatched")
        method = method_label(scope["method"])
        code = status if status is not None else 500
        metrics: Metrics | None = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
        if metrics is not None:
            metrics.requests.labels(method, path, str(code)).inc()
            metrics.latency.labels(method, path).observe(elapsed)
        # A 5xx is the API's fault (or a service's behind it): logged as an error, so it is seen and can be
        # found by its request id.
        (log.error if code >= 500 else log.info)(
            "request", method=method, route=path, status=code, ms=round(elapsed * 1000, 1)
        )
