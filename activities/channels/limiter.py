"""The worker's own rate limit for group robots, so it never provokes a partner's throttling."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

from activities.channels.errors import RateLimited


class RobotRateLimiter:
    """At most ``max_per_minute`` messages per rolling 60 seconds per key (a robot's webhook URL).

    DingTalk and WeCom robots both accept 20 messages a minute and throttle a robot that sends more
    (DingTalk for ten minutes), so the worker spaces its own messages instead of provoking that. The
    bookkeeping is guarded by a lock because one limiter is shared by every activity of a worker.

    Args:
        max_per_minute: messages allowed per key in any 60-second window.
        clock: monotonic seconds; injectable so tests control time.
        sleep: how to wait; injectable so tests need not really wait.
    """

    WINDOW = 60.0

    def __init__(
        self,
        max_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_per_minute < 1:
            raise ValueError(f"max_per_minute must be at least 1, not {max_per_minute}")
        self._max = max_per_minute
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def delay(self, key: str) -> float:
        """Seconds until ``key`` has a free slot; 0 when one is free now. Takes nothing."""
        with self._lock:
            return self._delay(key, self._clock())

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> None:
        """Takes a slot for ``key``, sleeping until one is free.

        Args:
            key: what is limited, usually the webhook URL.
            max_wait: the longest the caller is willing to sleep.

        Raises:
            RateLimited: the wait would exceed ``max_wait``; no slot was taken.
        """
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(key, now)
                if wait <= 0:
                    self._sent.setdefault(key, deque()).append(now)
                    return
            if wait > max_wait:
                raise RateLimited(f"robot budget of {self._max} a minute is used up", retry_after=wait)
            # Another sender may take the slot first, hence the loop.
            await self._sleep(wait)

    def _delay(self, key: str, now: float) -> float:
        sent = self._sent.get(key)
        if sent is None:
            return 0.0
        while sent and sent[0] <= now - self.WINDOW:
            sent.popleft()
        if not sent:
            # Forget idle robots so the table does not grow with every webhook ever used.
            del self._sent[key]
            return 0.0
        if len(sent) < self._max:
            return 0.0
        return sent[0] + self.WINDOW - now
