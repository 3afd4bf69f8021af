"""The API process: a thin FastAPI layer that starts, signals, updates and queries workflows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from api import docs, errors, problems
from api.bounded import bounded
from api.deps import Caller, InvalidKeysError, parse_role
from api.head import HeadAsGet
from api.limits import RequestLimits
from api.metrics import Metrics
from api.observe import Observe
from api.routes import (
    actions,
    board,
    cases,
    codec,
    conversations,
    deadline_shifts,
    health,
    merchants,
    monitoring,
    orders,
    work_orders,
)
from config.codec import EncryptionCodec
from config.settings import Settings, get_settings
from config.temporal import connect
from readmodel.db import make_engine
from readmodel.migrate import upgrade

log = structlog.get_logger(__name__)

DESCRIPTION = """
Durable after-sales and work-order orchestration for the mall. Every order watch is a Temporal workflow;
this API starts, updates and queries them. Errors are `application/problem+json` with a `code`.
Authenticate with `Authorization: Bearer <key>` (roles: `mall`, `merchant:<merchant_id>`, `admin`). The contract,
with what is planned, is docs/api.md in the repository.
"""


def create_app(settings: Settings | None = None, *, client: Client | None = None) -> FastAPI:
    """The API application.

    Args:
        settings: the settings; read from the environment when omitted.
        client: a Temporal client to use instead of connecting (tests pass their server's client).

    Raises:
        InvalidKeysError: a key of ``AFTERSALES_API_KEYS`` has a role the API does not know.
    """
    settings = settings or get_settings()
    keys = callers(settings)  # refused here, before anything starts, rather than on the first request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        # Per-merchant series only behind AFTERSALES_METRICS_KEY: merchant ids are not for anonymous callers.
        app.state.metrics = Metrics(engine, per_merchant=settings.metrics_key is not None)
        app.state.callers = keys
        # Lazy: the API starts while Temporal is down and answers 503 until it is back.
        # Every call bounded (api.bounded): a worker that is down costs a caller a 503, not an endless wait.
        app.state.client = bounded(client or await connect(settings, lazy=True), settings.api_temporal_timeout)
        # The codec endpoints decrypt with the very codec the client encrypts with.
        payload_codec = app.state.client.data_converter.payload_codec
        app.state.codec = payload_codec if isinstance(payload_codec, EncryptionCodec) else None
        log.info("api_started", temporal=settings.temporal_address, keys=len(app.state.callers))
        yield
        engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the app itself (no CDN): they work offline.
    app = FastAPIOffline(
        title="aftersales", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, redoc_url=None
    )
    docs.install(app)  # /redoc with ReDoc's bundle patched to load nothing from outside (api.docs)
    errors.install(app)
    problems.document(app)
    routers = (orders.router, cases.router, cases.pickups, merchants.router, monitoring.router, health.router)
    for router in (*routers, codec.router):
        app.include_router(router)
    app.include_router(conversations.router)
    app.include_router(work_orders.router)
    app.include_router(work_orders.monitoring)
    app.include_router(board.router)
    app.include_router(deadline_shifts.router)
    app.mount("/board/static", StaticFiles(directory=board.STATIC_DIR), name="board-static")
    app.include_router(actions.router)

    # Innermost: everything outside it (limits, logs, metrics) sees the HEAD as it came.
    app.add_middleware(HeadAsGet)
    # Added before Observe, so it runs inside it: its refusals are logged and counted like any answer.
    # The codec takes a page of history at once, more than any resource's body (its own limit, api.routes.codec).
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.max_body_bytes, per_path={"/codec/": codec.MAX_BODY_BYTES}
    )

    # Outermost of the three: its log line and metrics cover the refusals of the limits too.
    app.add_middleware(Observe)

    return app


def callers(settings: Settings) -> dict[str, Caller]:
    """The API keys of ``settings`` and who they stand for.

    Raises:
        InvalidKeysError: naming the key with an unknown role by its position, never by the key itself.
    """
    found: dict[str, Caller] = {}
    for position, (key, role) in enumerate(settings.api_keys.items(), start=1):
        try:
            found[key] = parse_role(role)
        except InvalidKeysError as error:
            raise InvalidKeysError(f"AFTERSALES_API_KEYS, key #{position}: {error}") from None
    return found
