"""A merchant's calendar changed: re-time every running process of the merchant that runs on it.

``CalendarChangeWorkflow`` (id :func:`workflow_id`) is started by ``PUT /v1/merchants/{id}`` after the
merchant is stored. It lists the merchant's running processes of the kinds that declare the
``set_calendar`` Update (:data:`domain.calendar_change.CALENDAR_KINDS`) and hands each the resolved
calendar, in batches. Visibility is eventually consistent, so it lists once more after a short durable
wait and updates whoever it did not see the first time; a process started after the merchant was stored
resolved the new calendar itself and answers ``unchanged``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.fanout import Fanout, SetCalendars
    from domain.calendar_change import CalendarApplied, CalendarChange, CalendarChangeResult, CalendarOutcome
    from workflows.fanout import fan_out

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def workflow_id(merchant_id: str, fingerprint: str) -> str:
    """One fan-out per merchant and calendar: a retried PUT finds it rather than starting another."""
    return f"calendar-{merchant_id}-{fingerprint}"


@workflow.defn
class CalendarChangeWorkflow:
    """Hands one merchant's new calendar to each of its running processes; answers what each did."""

    @workflow.run
    async def run(self, change: CalendarChange) -> CalendarChangeResult:
        answers: dict[str, CalendarApplied] = {}

        async def list_running() -> list[str]:
            return await workflow.execute_activity_method(
                Fanout.list_running,
                change,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_RETRY,
                summary=f"list {change.merchant_id}",
            )

        async def set_calendars(batch: tuple[str, ...]) -> None:
            applied = await workflow.execute_activity_method(
                Fanout.set_calendars,
                SetCalendars(workflow_ids=batch, update=change.update),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=_RETRY,
                summary=f"{len(batch)} workflows",
            )
            answers.update(zip(batch, applied, strict=True))

        await fan_out(list_running, set_calendars, settle_seconds=change.settle_seconds)
        by: dict[CalendarOutcome, list[str]] = {outcome: [] for outcome in CalendarOutcome}
        for updated, answer in answers.items():
            by[answer.outcome].append(updated)
        result = CalendarChangeResult(
            changed=tuple(by[CalendarOutcome.CHANGED]),
            unchanged=tuple(by[CalendarOutcome.UNCHANGED]),
            stale=tuple(by[CalendarOutcome.STALE]),
            ended=tuple(by[CalendarOutcome.ENDED]),
            refused=tuple(by[CalendarOutcome.REFUSED]),
        )
        workflow.logger.info(
            "calendar of %s: %s changed, %s unchanged, %s stale, %s ended, %s refused",
            change.merchant_id,
            len(result.changed),
            len(result.unchanged),
            len(result.stale),
            len(result.ended),
            len(result.refused),
        )
        return result
