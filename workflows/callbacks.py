"""A workflow's outbox of events for the mall, delivered in order, one at a time, each one.

The journal hands every history event the mall is told of (:data:`domain.callbacks.TYPES`) to the outbox
at the moment it is recorded, with the workflow's state as it is then. One background loop delivers them
through the ``Callbacks.deliver`` activity in the order they happened; unlike the read-model projection,
nothing is coalesced, because the mall sees each state change. A transient failure is retried with backoff
(5 s doubling, at most 10 min apart) for :data:`DELIVERY_WINDOW`; a refusal (a 4xx other than 408/429), or
a receiver still unreachable after that window, is given up: the workflow records ``callback_failed`` with
the event's id and type and goes on to the next event.

A workflow does not complete (nor continue as new) while its outbox holds an event: at-least-once delivery
holds across the worker's restarts because the outbox lives in the workflow's own state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.callbacks import PERMANENT, Callbacks
    from domain.callbacks import CallbackEvent, callback_type

DELIVERY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[PERMANENT],
)
DELIVERY_WINDOW = timedelta(days=3)
"""How long one event is retried against a receiver that is down (README: Callbacks)."""


class Outbox:
    """The events of one workflow waiting for the mall.

    Args:
        kind: ``order``, ``case``, ``pickup`` or ``work_order`` (the prefix of its callback types).
        stream: what makes event ids unique to this workflow: its id, and a pickup's run number.
        data: the workflow's current state as a callback's ``data``.
        failed: called with a detail when an event is given up, to record ``callback_failed``.
    """

    def __init__(
        self, kind: str, stream: str, data: Callable[[], dict[str, Any]], failed: Callable[[str], None]
    ) -> None:
        self._kind = kind
        self._stream = stream
        self._data = data
        self._failed = failed
        self._pending: list[CallbackEvent] = []

    def add(self, event: str, sequence: int, at: datetime) -> None:
        """Queues the ``sequence``-th history entry of the workflow if the mall is told of ``event``."""
        type_ = callback_type(self._kind, event)
        if type_ is None:
            return
        self._pending.append(
            CallbackEvent(id=f"{self._stream}:{sequence}", type=type_, occurred_at=at, data=self._data())
        )

    async def run(self) -> None:
        """Delivers forever, oldest first; start it as a task when the workflow starts."""
        while True:
            await workflow.wait_condition(lambda: bool(self._pending))
            event = self._pending[0]
            try:
                await workflow.execute_activity_method(
                    Callbacks.deliver,
                    event,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=DELIVERY_WINDOW,
                    retry_policy=DELIVERY,
                    summary=event.type,
                )
            except ActivityError as failure:
                workflow.logger.warning("callback %s failed: %s", event.id, failure)
                self._failed(f"{event.type} {event.id} not delivered: {str(failure.cause or failure)[:160]}")
            self._pending.pop(0)

    def idle(self) -> bool:
        """Whether every event so far was delivered or given up."""
        return not self._pending

    async def drain(self) -> None:
        """Waits until every queued event was delivered or given up (before the workflow completes)."""
        await workflow.wait_condition(lambda: not self._pending)
