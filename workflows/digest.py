"""``DigestWorkflow``: the daily digest, started by a Temporal Schedule (see :mod:`workers.schedules`).

Each run reads who has something overdue (an activity over the read model), sends one SMS to each such
supplier's head and one summary to the platform's group. Every message is keyed by the **scheduled** day,
so a second trigger, a retry or a catch-up of the same day sends nothing twice (the notifier's dedupe).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.digest import AttentionQuery, Digests
    from domain.digest import DigestInput, DigestResult, merchant_digest, platform_summary
    from workflows.effects import notify

# Set by the Schedule on every run it starts: the nominal time (for a backfill, the time it stands in for).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# Merchants told at once; the rest wait their turn, so a big platform does not flood the worker.
BATCH = 50
READ = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=10)


@workflow.defn
class DigestWorkflow:
    """One day's digest."""

    @workflow.run
    async def run(self, request: DigestInput) -> DigestResult:
        """Tells every supplier with something overdue, then the platform; returns who was told."""
        scheduled_at = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME) or workflow.info().start_time
        report = await workflow.execute_activity_method(
            Digests.overdue_by_merchant,
            AttentionQuery(scheduled_at=scheduled_at, day=request.day),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=READ,
            summary="who has something overdue",
        )
        result = DigestResult(day=report.day)
        for start in range(0, len(report.merchants), BATCH):
            batch = report.merchants[start : start + BATCH]
            delivered = await asyncio.gather(
                *(notify(merchant_digest(report.day, counts, report.public_url)) for counts in batch)
            )
            for counts, ok in zip(batch, delivered, strict=True):
                (result.merchants if ok else result.undelivered).append(counts.merchant_id)
        if report.merchants and not await notify(platform_summary(report.day, report.merchants, report.public_url)):
            result.undelivered.append("platform")
        told, undelivered = len(result.merchants), len(result.undelivered)
        workflow.logger.info("digest of %s: %d merchants told, %d undelivered", report.day, told, undelivered)
        return result
