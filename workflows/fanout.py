"""The fan-out loop every platform-wide change runs (a merchant's calendar, a holiday deadline shift).

Visibility is eventually consistent: a process started (or made visible) a moment before the listing may be
missing from it. So the loop lists, updates what it found in batches, waits a short durable while, lists
again and updates whoever it did not see the first time. Each batch is one activity (see
:class:`activities.fanout.Fanout`); a batch repeated after a worker restart is harmless because every
Update it carries is idempotent in the process that receives it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow

BATCH = 50
"""Workflows updated by one activity: few events per batch, and a retry repeats at most this many Updates."""


async def fan_out(
    list_running: Callable[[], Awaitable[list[str]]],
    update_batch: Callable[[tuple[str, ...]], Awaitable[None]],
    *,
    settle_seconds: float,
    on_listed: Callable[[int], None] = lambda fresh: None,
) -> None:
    """Lists twice, ``settle_seconds`` apart, and hands each workflow listed to ``update_batch`` once.

    Args:
        list_running: the activity listing the matching running workflows.
        update_batch: the activity updating one batch (its answers kept by the caller).
        settle_seconds: the durable wait before the second listing.
        on_listed: told how many workflows each listing found that the last had not.
    """
    seen: set[str] = set()
    for listing in range(2):
        if listing:
            await workflow.sleep(timedelta(seconds=settle_seconds), summary="visibility settles")
        fresh = [found for found in await list_running() if found not in seen]
        seen.update(fresh)
        on_listed(len(fresh))
        for start in range(0, len(fresh), BATCH):
            await update_batch(tuple(fresh[start : start + BATCH]))
