"""Throughput and latency of calls made many at a time, and the lines ``make bench`` prints them as."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from workers.bench_history import cpu_seconds, percentile


@dataclass
class Figures:
    """Throughput and latency of one kind of call."""

    count: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failures: int
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU time per call of each process watched, in ms (user + system, while the calls ran)."""


async def measure(
    count: int,
    concurrency: int,
    call: Callable[[int], Awaitable[bool]],
    processes: Mapping[str, int | None] | None = None,
) -> Figures:
    """Runs ``call(i)`` for i < count, ``concurrency`` at a time; ``call`` answers whether it succeeded.

    ``processes`` (name: pid): the CPU time each of them used meanwhile is reported per call.
    """
    watched = {name: pid for name, pid in (processes or {}).items() if pid is not None}
    cpu = {name: cpu_seconds(pid) for name, pid in watched.items()}
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
    used = {name: (cpu_seconds(pid) - cpu[name]) * 1000 / count for name, pid in watched.items()}
    latencies.sort()
    return Figures(
        count, count / elapsed, statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000, failures, used
    )


def cpu_line(figures: Figures, raw: Figures | None = None) -> str:
    """The CPU per call of each watched process, the raw baseline's beside it."""

    def each(f: Figures) -> str:
        return ", ".join(f"{name} {ms:.1f}" for name, ms in f.cpu_ms.items())

    line = f"{'':<38} CPU ms per call: {each(figures)}, total {sum(figures.cpu_ms.values()):.1f}"
    if raw is not None and raw.cpu_ms:
        line += f" | raw: {each(raw)}, total {sum(raw.cpu_ms.values()):.1f}"
    return line


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
    if figures.cpu_ms:
        print(cpu_line(figures, raw), flush=True)
