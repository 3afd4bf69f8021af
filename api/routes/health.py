"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, text

from api.deps import ClientDep, EngineDep, metrics_reader
from api.errors import problem_response

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """What a probe reports."""

    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "Temporal or the database is down"}})
async def readyz(client: ClientDep, engine: EngineDep) -> Response | Health:
    """Temporal and the database answer."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        checks["temporal"] = "ok"
    except Exception as error:
        checks["temporal"] = f"unreachable: {type(error).__name__}"
    try:
        await asyncio.to_thread(_ping, engine)
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
    if all(value == "ok" for value in checks.values()):
        return Health(status="ok", checks=checks)
    failing = ", ".join(f"{name} {value}" for name, value in checks.items() if value != "ok")
    return problem_response("unavailable", failing, "/readyz", checks=checks)


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/metrics", response_class=Response, include_in_schema=True, dependencies=[Depends(metrics_reader)])
async def metrics(request: Request) -> Response:
    """Prometheus text: HTTP traffic and the read model's open counters.

    The counters are per merchant only when AFTERSALES_METRICS_KEY is set, and then only for that key.
    """
    body = await asyncio.to_thread(generate_latest, request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
