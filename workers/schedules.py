"""The product's Temporal Schedules, created (or brought up to date) idempotently.

The daily digest is a Schedule on the Temporal server, not a timer of ours: it shows in the Web UI's
*Schedules*, can be paused, triggered or backfilled there (or with ``temporal schedule …``), and survives
any worker. Every worker makes sure it exists when it starts, and so does ``aftersales schedules``.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain.digest import DigestInput
from workflows.digest import DigestWorkflow

log = structlog.get_logger(__name__)

DIGEST_SCHEDULE_ID = "aftersales-daily-digest"
# A digest missed while Temporal was down still goes out if Temporal is back within this long (same day).
CATCHUP_WINDOW = timedelta(hours=12)


def digest_schedule(settings: Settings, *, workflow_id: str = "digest") -> Schedule:
    """The digest's Schedule: ``AFTERSALES_DIGEST_CRON`` in ``AFTERSALES_TIMEZONE``, one run at a time.

    Temporal appends each run's scheduled time to ``workflow_id``, so every day's run has an id of its own.
    """
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DigestWorkflow.run,
            DigestInput(),
            id=workflow_id,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[settings.digest_cron], time_zone_name=settings.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(note="daily SMS digest to supplier heads and a summary to the platform group"),
    )


async def ensure_digest_schedule(
    client: Client, settings: Settings, *, schedule_id: str = DIGEST_SCHEDULE_ID
) -> ScheduleHandle:
    """Creates the digest's Schedule, or updates it to the current settings; safe to call from every worker.

    An update keeps the Schedule's paused state and its note, which an operator may have set in the Web UI.
    """
    wanted = digest_schedule(settings, workflow_id=f"{schedule_id}-run")
    try:
        handle = await client.create_schedule(schedule_id, wanted)
        log.info("schedule_created", schedule_id=schedule_id, cron=settings.digest_cron, timezone=settings.timezone)
        return handle
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.action = wanted.action
        schedule.spec = wanted.spec
        schedule.policy = wanted.policy
        return ScheduleUpdate(schedule=schedule)

    try:
        await handle.update(update)
    except RPCError as error:
        # Workers starting together race to update it; the one that lost finds it as another just made it.
        if error.status not in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED):
            raise
        log.info("schedule_update_raced", schedule_id=schedule_id, error=str(error))
        return handle
    log.info("schedule_updated", schedule_id=schedule_id, cron=settings.digest_cron, timezone=settings.timezone)
    return handle


async def run_schedules(settings: Settings, *, trigger: bool = False) -> int:
    """``aftersales schedules``: ensures the digest's Schedule, optionally triggers it, prints where it is."""
    from config.temporal import connect

    client = await connect(settings)
    handle = await ensure_digest_schedule(client, settings)
    if trigger:
        await handle.trigger()
    description = await handle.describe()
    upcoming = ", ".join(t.isoformat() for t in description.info.next_action_times[:3])
    print(f"schedule {handle.id}: {settings.digest_cron} ({settings.timezone}); next runs {upcoming}")
    if trigger:
        print("triggered: the digest runs now (a day's messages go out once, whatever reruns)")
    return 0
