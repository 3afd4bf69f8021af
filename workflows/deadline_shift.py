"""A platform-wide deadline shift (a holiday): move the running deadlines of every matching process.

``DeadlineShiftWorkflow`` (id :func:`workflow_id`) is started by ``POST /v1/deadline-shifts``. It runs on
the calendar fan-out's machinery (:class:`activities.fanout.Fanout`): it lists the running processes that
match (kind, merchant) by visibility, hands each the shift in batches (Update
:data:`~domain.deadline_shifts.SHIFT_DEADLINES`), then lists once more after a short durable wait for
visibility's lag and updates whoever it did not see the first time. A worker restart midway repeats at most
the batch that was running; each process applies a shift id once and answers a repeat with its first answer.
Progress (matched, applied, failed, done) is the ``progress`` query, and the result once done.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.fanout import Fanout
    from domain.deadline_shifts import (
        DeadlineShiftInput,
        DeadlineShiftProgress,
        ShiftBatch,
        ShiftOutcome,
        kinds_for,
        visibility_query,
    )
    from workflows.fanout import fan_out

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def workflow_id(shift_id: str) -> str:
    return f"deadline-shift-{shift_id}"


@workflow.defn
class DeadlineShiftWorkflow:
    """Hands one platform shift to each matching running process; counts what each did."""

    @workflow.init
    def __init__(self, input: DeadlineShiftInput) -> None:
        self._progress = DeadlineShiftProgress(shift_id=input.shift.shift_id)

    @workflow.run
    async def run(self, input: DeadlineShiftInput) -> DeadlineShiftProgress:
        shift = input.shift
        query = visibility_query(kinds_for(input.kind, shift.clock), input.merchant_id)

        async def list_matching() -> list[str]:
            return await workflow.execute_activity_method(
                Fanout.list_matching,
                query,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=_RETRY,
                summary="list matching",
            )

        async def shift_batch(batch: tuple[str, ...]) -> None:
            answers = await workflow.execute_activity_method(
                Fanout.shift_deadlines,
                ShiftBatch(workflow_ids=batch, shift=shift),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=_RETRY,
                summary=f"{len(batch)} workflows",
            )
            outcomes = [answer.outcome for answer in answers]
            self._count(
                applied=outcomes.count(ShiftOutcome.APPLIED),
                shifted=sum(1 for answer in answers if answer.clocks),
                failed=outcomes.count(ShiftOutcome.REFUSED),
                ended=outcomes.count(ShiftOutcome.ENDED),
            )

        await fan_out(
            list_matching,
            shift_batch,
            settle_seconds=input.settle_seconds,
            on_listed=lambda fresh: self._count(matched=fresh),
        )
        self._progress = self._progress.model_copy(update={"done": True})
        p = self._progress
        workflow.logger.info(
            "deadline shift %s: %s matched, %s applied (%s shifted), %s failed, %s ended",
            shift.shift_id,
            p.matched,
            p.applied,
            p.shifted,
            p.failed,
            p.ended,
        )
        return self._progress

    @workflow.query
    def progress(self) -> DeadlineShiftProgress:
        """How far the shift has come."""
        return self._progress

    def _count(self, **more: int) -> None:
        p = self._progress
        self._progress = p.model_copy(update={name: getattr(p, name) + n for name, n in more.items()})
