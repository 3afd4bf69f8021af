"""The API end to end: a real dev server, a real worker, the API served over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from tests.waiting import wait_for
from workers.main import build_worker

KEYS = {
    "k-mall": "mall",
    "k-admin": "admin",
    "k-acme": "merchant:m-acme",
    "k-other": "merchant:m-other",
    "k-slow": "merchant:m-slow",
    "k-kpi": "merchant:m-kpi",
    "k-kpi-patient": "merchant:m-kpi-patient",
}
METRICS_KEY = "k-prometheus"
ROLE_KEYS = {role: key for key, role in KEYS.items()} | {"prometheus": METRICS_KEY}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedApp:
    """An ASGI app served by uvicorn on a local port, in the test's event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ServedApp:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return self
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError("the API did not start")

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task:
            await self._task


@pytest.fixture(scope="session")
def api_settings(sqlite_url: str) -> Settings:
    return Settings(
        database_url=sqlite_url,
        task_queue="api-e2e",
        api_keys=KEYS,
        public_url="http://board.test",
        metrics_key=METRICS_KEY,
        allow_insecure_webhooks=True,  # the fake robots (tests/peers) answer plain http on 127.0.0.1
    )


@pytest.fixture(scope="session")
async def api_url(dev_env: WorkflowEnvironment, api_settings: Settings) -> AsyncIterator[str]:
    """The API's base URL, with a worker running behind it on the dev server."""
    async with (
        build_worker(dev_env.client, api_settings) as worker,
        worker,
        ServedApp(create_app(api_settings, client=dev_env.client)) as served,
    ):
        yield served.url


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Calls the API as a role: ``await api("mall", "POST", "/v1/orders", json=...)``."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:

        async def call(role: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
            headers = kwargs.pop("headers", {})
            if role is not None:
                headers["Authorization"] = f"Bearer {ROLE_KEYS.get(role, role)}"
            return await http.request(method, path, headers=headers, **kwargs)

        yield call


async def read_model(api: Callable[..., Any], path: str, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """GETs a monitoring list until ``holds`` (the read model follows the workflows a moment later)."""

    async def listed() -> dict[str, Any]:
        return dict((await api("admin", "GET", path)).json())

    return await wait_for(listed, holds, what=path)


async def web_ui_query(client: Client, query: str) -> list[str]:
    """The workflow ids a supervisor's Web UI query lists, once visibility has caught up."""

    async def found() -> list[str]:
        return [execution.id async for execution in client.list_workflows(query)]

    return await wait_for(found, what=query)
