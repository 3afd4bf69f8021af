"""Waiting in tests for what the system does a moment later: one helper, on wall time, for every poll.

Workflows answer an Update at once and do the rest in the background (activities, the read model, visibility,
robots); a test reads until what it expects holds. Each wait polls every 20 ms for up to ``timeout`` seconds of
wall time, so a loaded CI machine may take its time and a story that holds returns at the first poll that sees
it; a wait that gives up says what it waited for and what it read last.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
TIMEOUT = 30.0
POLL = 0.02


async def wait_for(
    read: Callable[[], T | Awaitable[T]],
    holds: Callable[[T], bool] = bool,
    *,
    timeout: float = TIMEOUT,
    what: str = "",
) -> T:
    """Reads until ``holds(value)``; answers the value that held.

    Args:
        read: what to read (sync or async).
        holds: the condition on what was read (default: truthy).
        timeout: seconds of wall time before giving up.
        what: what is waited for, for the failure's message.
    """
    give_up = time.monotonic() + timeout
    while True:
        value = read()
        if inspect.isawaitable(value):
            value = await value
        if holds(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        if time.monotonic() >= give_up:
            raise AssertionError(f"waited {timeout:.0f} s for {what or 'a condition'}; last read: {value!r:.2000}")
        await asyncio.sleep(POLL)


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = TIMEOUT, what: str = "") -> None:
    """Waits until ``check()`` holds (work the workflows have already scheduled is done)."""
    await wait_for(check, timeout=timeout, what=what)
