"""Throughput and latency of calls made many at a time, and the lines ``make bench`` prints them as."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from workers.bench_history import percentile


@dataclass
class Figures:
    """Throughput and latency of one kind of call."""

    count: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failures: int


async def measure(count: int, concurrency: int, call: Callable[[int], Awaitable[bool]]) -> Figures:
    """Runs ``call(i)`` for i < count, ``concurrency`` at a time; ``call`` answers whether it succeeded."""
    latencies: list[float] = []
    failures = 0
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        nonlocal failures
        async with limit:
            started = time.perf_counter()
            try:
                ok = await call(index)
            except Exception:  # a failed call is counted, the run goes on
                ok = False
            latencies.append(time.perf_counter() - started)
            failures += not ok

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Figures(
        count, count / elapsed, statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000, failures
    )


def row(name: str, figures: Figures, raw: Figures | None = None) -> None:
    line = (
        f"{name:<38} {figures.count:>6} {figures.per_second:>8.1f}/s"
        f" p50 {figures.p50_ms:>7.1f} ms p99 {figures.p99_ms:>7.1f} ms errors {figures.failures}"
    )
    if raw is not None:
        line += (
            f" | raw {raw.per_second:>6.1f}/s p50 {raw.p50_ms:>6.1f} ms p99 {raw.p99_ms:>6.1f} ms"
            f" | ratio {figures.per_second / raw.per_second:.2f}"
        )
    print(line, flush=True)
