"""Keeps the read model in step with a workflow, in the workflow task that changed it.

A workflow marks itself changed; one background loop runs the projection with the newest snapshot, one
at a time, coalescing bursts (ten quick updates make one or two writes, not ten). The projection is a
*local* activity: it runs in the worker within the workflow task that made the change, with no task of
its own on the server and no further workflow task when it ends, so a deadline's step is in the history
and in the read model at the same moment (README: Performance). An Update's answer leaves with that task,
after the write (a few ms), where it used to cost a second task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
LOCAL_RETRY_THRESHOLD = timedelta(seconds=5)
"""A retry further off than this waits on a durable timer, not in a workflow task held open (a read model
that is down must not keep every workflow's task busy)."""


class Projector:
    """Runs ``activity(snapshot())`` after changes, coalesced.

    Args:
        activity: the projection activity (an idempotent upsert keyed by workflow id and revision).
        snapshot: the workflow's current state, with its revision.
        revision: the workflow's change counter; a projection is due while it is ahead of the last one.
    """

    def __init__(self, activity: Callable[..., Any], snapshot: Callable[[], Any], revision: Callable[[], int]) -> None:
        self._activity = activity
        self._snapshot = snapshot
        self._revision = revision
        self._projected = 0
        self._in_flight = False
        self._halted = False

    async def run(self) -> None:
        """Projects forever; start it as a task when the workflow starts."""
        while True:
            await workflow.wait_condition(lambda: self._projected < self._revision() and not self._halted)
            revision = self._revision()
            self._in_flight = True
            try:
                await self._project()
            except ActivityError as failure:  # retried without end, so only a bug gets here: never fail the workflow
                workflow.logger.warning("projection of revision %d failed: %s", revision, failure)
            self._in_flight = False
            self._projected = revision  # each projection writes the whole state: the next change repairs a failed one

    async def _project(self) -> None:
        await workflow.execute_local_activity(
            self._activity,
            self._snapshot(),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            summary="project to the read model",
        )

    async def halt(self) -> None:
        """Starts no further projection and waits for the one under way (before continuing as new)."""
        self._halted = True
        await workflow.wait_condition(lambda: not self._in_flight)

    async def flush(self) -> None:
        """Waits until the newest change is in the read model (before the workflow completes)."""
        await workflow.wait_condition(lambda: self._projected >= self._revision())
