"""Real local HTTP servers standing in for partners, and what every partner peer shares.

A peer is served by uvicorn on 127.0.0.1 in a thread of its own, with its own event loop, so it answers
sync tests, async tests, and activities of a Temporal worker running in the test's loop alike.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0
POLL_INTERVAL = 0.02


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serves ``app`` on a free port of 127.0.0.1 until the block ends.

    The socket is bound here and handed to uvicorn, so no other process can take the port in between.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_level="warning",
        # uvicorn's default log config would reconfigure the process's logging under the other tests.
        log_config=None,
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"peer-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"peer on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()


@dataclass(frozen=True)
class Canned:
    """An answer a test asked the peer to give instead of the normal one."""

    answer: Any
    status: int = 200


class Peer:
    """A partner's service: records what it accepted and refused, and can be told to fail.

    Subclasses build the ASGI app (``app``) and call ``accept``, ``reject`` and ``take_canned`` from
    their handlers, which run in the server's thread; the lock makes that safe for the test's thread.
    Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Any] = []
        self._rejected: list[tuple[str, Any]] = []
        self._canned: deque[Canned] = deque()
        self._stalls: deque[float] = deque()
        self._stack: ExitStack | None = None
        self._base_url: str | None = None

    def app(self) -> ASGIApp:
        """The peer's ASGI application."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running peer."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    def start(self) -> Self:
        """Starts serving; returns the peer for chaining."""
        if self._stack is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        stack = ExitStack()
        self._base_url = stack.enter_context(serve(self.app()))
        self._stack = stack
        return self

    def stop(self) -> None:
        """Stops serving; idempotent."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def messages(self) -> list[Any]:
        """A snapshot of the messages accepted, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[tuple[str, Any]]:
        """A snapshot of ``(reason, message)`` for every request refused, canned failures included."""
        with self._lock:
            return list(self._rejected)

    def reset(self) -> None:
        """Forgets messages, refusals and pending failures, so a shared peer starts a test clean."""
        with self._lock:
            self._messages.clear()
            self._rejected.clear()
            self._canned.clear()
            self._stalls.clear()

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Makes the next ``times`` requests wait ``seconds`` before being handled (to provoke timeouts)."""
        with self._lock:
            self._stalls.extend([seconds] * times)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Blocks until at least ``count`` messages were accepted; returns them.

        Raises:
            AssertionError: fewer arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while len(messages := self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(self._shortfall(count, messages))
            time.sleep(POLL_INTERVAL)
        return messages

    async def wait_for_async(self, count: int, timeout: float = 5.0) -> list[Any]:
        """``wait_for`` without blocking the event loop (a worker in the same loop keeps running)."""
        deadline = time.monotonic() + timeout
        while len(messages := self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(self._shortfall(count, messages))
            await asyncio.sleep(POLL_INTERVAL)
        return messages

    def _shortfall(self, count: int, messages: list[Any]) -> str:
        return f"expected {count} messages, got {len(messages)}; rejected: {self.rejected}"

    # What handlers call, from the server's thread.

    def can(self, answer: Any, times: int, status: int) -> None:
        """Queues a canned ``answer`` for the next ``times`` authenticated requests."""
        with self._lock:
            self._canned.extend([Canned(answer, status)] * times)

    def take_canned(self) -> Canned | None:
        """The next canned answer, if a test queued one."""
        with self._lock:
            return self._canned.popleft() if self._canned else None

    async def stall(self) -> None:
        """Waits as long as a test asked the next request to wait."""
        with self._lock:
            seconds = self._stalls.popleft() if self._stalls else 0.0
        if seconds:
            await asyncio.sleep(seconds)

    def accept(self, message: Any) -> None:
        with self._lock:
            self._messages.append(message)

    def reject(self, reason: str, message: Any) -> None:
        with self._lock:
            self._rejected.append((reason, message))
