"""The API process: a thin FastAPI layer that starts, signals, updates and queries workflows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from temporalio.client import Client

from api import errors
from api.deps import Caller, parse_role
from api.metrics import Metrics
from api.routes import cases, conversations, health, merchants, monitoring, orders
from config.settings import Settings, get_settings
from config.temporal import connect
from readmodel.db import make_engine
from readmodel.migrate import upgrade

log = structlog.get_logger(__name__)

DESCRIPTION = """
Durable after-sales and work-order orchestration for the mall. Every order watch is a Temporal workflow;
this API starts, updates and queries them. Errors are `application/problem+json` with a `code`.
Authenticate with `Authorization: Bearer <key>` (roles: mall, merchant:<id>, admin).
"""


def create_app(settings: Settings | None = None, *, client: Client | None = None) -> FastAPI:
    """The API application.

    Args:
        settings: the settings; read from the environment when omitted.
        client: a Temporal client to use instead of connecting (tests pass their server's client).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.metrics = Metrics(engine)
        app.state.callers = callers(settings)
        # Lazy: the API starts while Temporal is down and answers 503 until it is back.
        app.state.client = client or await connect(settings, lazy=True)
        log.info("api_started", temporal=settings.temporal_address, keys=len(app.state.callers))
        yield
        engine.dispose()

    app = FastAPI(
        title="aftersales",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            401: {"description": "Missing or unknown API key (problem+json)"},
            403: {"description": "The key's role may not do this (problem+json)"},
            422: {"description": "Invalid body (problem+json, code validation_error)"},
            503: {"description": "Temporal or the database is unreachable (problem+json, code unavailable)"},
        },
    )
    errors.install(app)
    for router in (orders.router, cases.router, cases.pickups, merchants.router, monitoring.router, health.router):
        app.include_router(router)
    app.include_router(conversations.router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        metrics: Metrics | None = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.requests.labels(request.method, path, str(response.status_code)).inc()
            metrics.latency.labels(request.method, path).observe(elapsed)
        response.headers["x-request-id"] = request_id
        log.info(
            "request",
            method=request.method,
            route=path,
            status=response.status_code,
            ms=round(elapsed * 1000, 1),
        )
        return response

    return app


def callers(settings: Settings) -> dict[str, Caller]:
    """The API keys of ``settings`` and who they stand for."""
    return {key: parse_role(role) for key, role in settings.api_keys.items()}
