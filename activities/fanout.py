"""Fan-out activities: find a merchant's running processes by visibility and hand each an Update.

They hold the worker's Temporal client (its data converter and codec), so what they send reads exactly as
what the API sends. Both are safe to retry: listing changes nothing, and a process answers a calendar it
runs on already with ``unchanged``.
"""

from __future__ import annotations

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
from domain.model import Model

log = structlog.get_logger(__name__)

MAX_LISTED = 10_000
"""A merchant's running processes one fan-out re-times; more is a runaway listing, refused loudly."""


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
        query = visibility_query(change.merchant_id, change.kinds)
        found: list[str] = []
        async for execution in self._client.list_workflows(query):
            found.append(execution.id)
            if len(found) > MAX_LISTED:
                raise ApplicationError(f"more than {MAX_LISTED} running workflows for {query}", non_retryable=True)
        return sorted(set(found))

    @activity.defn
    async def set_calendars(self, batch: SetCalendars) -> list[CalendarApplied]:
        """Gives each workflow the calendar; one that has ended answers ``ended``. In the batch's order."""
        answers = []
        for workflow_id in batch.workflow_ids:
            answers.append(await self._set_calendar(workflow_id, batch.update))
            activity.heartbeat(workflow_id)
        return answers

    async def _set_calendar(self, workflow_id: str, update: CalendarUpdate) -> CalendarApplied:
        handle = self._client.get_workflow_handle(workflow_id)
        ended = CalendarApplied(outcome=CalendarOutcome.ENDED, fingerprint="")
        try:
            answer: CalendarApplied = await handle.execute_update(SET_CALENDAR, update, result_type=CalendarApplied)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:  # completed since it was listed
                return ended
            raise
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
            if isinstance(cause, ApplicationError) and cause.type == "invalid_state":  # ending, clocks stopped
                return ended
            # Refused for good (a validator's answer does not change on retry): the others still get it.
            log.warning("calendar_refused", workflow_id=workflow_id, error=str(cause or failed))
            return CalendarApplied(outcome=CalendarOutcome.REFUSED, fingerprint="")
        log.info("calendar_set", workflow_id=workflow_id, outcome=answer.outcome.value)
        return answer
