"""Fan-out activities: find running processes by visibility and hand each an Update.

One mechanism for every fan-out (a merchant's calendar, a platform deadline shift): :meth:`Fanout.list_matching`
lists by a visibility query, and each batch activity runs one Update per workflow through :meth:`Fanout._update`,
which tells an ended process and a refusal from a failure. They hold the worker's Temporal client (its data
converter and codec), so what they send reads exactly as what the API sends. All are safe to retry: listing
changes nothing, a process answers a calendar it runs on already with ``unchanged``, and a shift it applied
with its first answer.
"""

from __future__ import annotations

from typing import Any, TypeVar

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.calendar_change import (
    SET_CALENDAR,
    CalendarApplied,
    CalendarChange,
    CalendarOutcome,
    CalendarUpdate,
    visibility_query,
)
from domain.deadline_shifts import SHIFT_DEADLINES, ShiftAnswer, ShiftApplied, ShiftBatch, ShiftOutcome
from domain.model import Model

log = structlog.get_logger(__name__)

MAX_LISTED = 10_000
"""A merchant's running processes one fan-out re-times; more is a runaway listing, refused loudly."""


_T = TypeVar("_T")


class SetCalendars(Model):
    """One batch of the fan-out: the workflows and the calendar they get."""

    workflow_ids: tuple[str, ...]
    update: CalendarUpdate


class Fanout:
    """Lists and updates running workflows through the Temporal client.

    Args:
        client: the worker's client.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn
    async def list_running(self, change: CalendarChange) -> list[str]:
        """The ids of the merchant's running workflows of the change's kinds (visibility lags a little)."""
        return await self._list(visibility_query(change.merchant_id, change.kinds))

    @activity.defn
    async def list_matching(self, query: str) -> list[str]:
        """The ids of the running workflows ``query`` matches (visibility lags a little)."""
        return await self._list(query)

    async def _list(self, query: str) -> list[str]:
        found: list[str] = []
        async for execution in self._client.list_workflows(query):
            found.append(execution.id)
            if len(found) > MAX_LISTED:
                raise ApplicationError(f"more than {MAX_LISTED} running workflows for {query}", non_retryable=True)
            if len(found) % 500 == 0:
                activity.heartbeat(len(found))
        return sorted(set(found))

    @activity.defn
    async def set_calendars(self, batch: SetCalendars) -> list[CalendarApplied]:
        """Gives each workflow the calendar; one that has ended answers ``ended``. In the batch's order."""
        answers = []
        for workflow_id in batch.workflow_ids:
            answer = await self._update(workflow_id, SET_CALENDAR, batch.update, CalendarApplied)
            if isinstance(answer, ShiftOutcome):
                answer = CalendarApplied(outcome=CalendarOutcome(answer.value), fingerprint="")
            else:
                log.info("calendar_set", workflow_id=workflow_id, outcome=answer.outcome.value)
            answers.append(answer)
            activity.heartbeat(workflow_id)
        return answers

    @activity.defn
    async def shift_deadlines(self, batch: ShiftBatch) -> list[ShiftAnswer]:
        """Hands each workflow the platform shift; in the batch's order. A retried batch is harmless: each
        workflow answers a shift id it applied before with its first answer."""
        answers = []
        for workflow_id in batch.workflow_ids:
            answer = await self._update(workflow_id, SHIFT_DEADLINES, batch.shift, ShiftApplied)
            if isinstance(answer, ShiftOutcome):
                answers.append(ShiftAnswer(outcome=answer))
            else:
                answers.append(ShiftAnswer(outcome=ShiftOutcome.APPLIED, clocks=answer.clocks))
            activity.heartbeat(workflow_id)
        return answers

    async def _update(self, workflow_id: str, name: str, arg: Any, result_type: type[_T]) -> _T | ShiftOutcome:
        """Runs Update ``name`` on ``workflow_id``: its answer, or ``ended`` / ``refused``."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            answer: _T = await handle.execute_update(name, arg, result_type=result_type)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:  # completed since it was listed
                return ShiftOutcome.ENDED
            raise
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
            if isinstance(cause, ApplicationError) and cause.type == "invalid_state":  # ending, clocks stopped
                return ShiftOutcome.ENDED
            # Refused for good (a validator's answer does not change on retry): the others still get it.
            log.warning("update_refused", update=name, workflow_id=workflow_id, error=str(cause or failed))
            return ShiftOutcome.REFUSED
        return answer
