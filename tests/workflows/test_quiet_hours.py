"""Quiet hours under Temporal: a reminder due at night goes out in the morning, a breach at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.quiet import QuietHours
from domain.sla import BREACH, SlaClock, StepLevel, StepSpec
from tests.workflows.sla_probe import ProbeState, ProbeView, SlaProbeWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours.model_validate("22:00-08:00")
SLACK = timedelta(seconds=2)


@pytest.fixture
async def client(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Client]:
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SlaProbeWorkflow]):
        yield ts_env.client


def next_23h(now: datetime) -> datetime:
    """The next 23:00 in Shanghai at least two hours after ``now`` (so the clocks start before it)."""
    local = (now + timedelta(hours=2)).astimezone(SHANGHAI)
    at = local.replace(hour=23, minute=0, second=0, microsecond=0)
    return at if at >= local else at + timedelta(days=1)


def clock(name: str, *, started: datetime, deadline: datetime, remind_before: timedelta | None) -> SlaClock:
    """A clock started at ``started`` whose breach is at ``deadline``, with one reminder ``remind_before`` it."""
    steps = [StepSpec(name=BREACH, level=StepLevel.BREACH, before=timedelta())]
    if remind_before is not None:
        steps.insert(0, StepSpec(name="remind", level=StepLevel.REMIND, before=remind_before))
    return SlaClock(name=name, budget=deadline - started, steps=tuple(steps))


async def test_a_reminder_due_at_23_shanghai_arrives_at_8_and_a_breach_at_23_goes_out_at_once(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    t0 = await ts_env.get_current_time()
    night = next_23h(t0)
    morning = (night + timedelta(days=1)).replace(hour=8)
    clocks = [
        # reminder at 23:00, breach at 09:00: the reminder waits for 08:00, the breach is on time
        clock("review", started=t0, deadline=night + timedelta(hours=10), remind_before=timedelta(hours=10)),
        # breach at 23:00: never held
        clock("ship", started=t0, deadline=night, remind_before=None),
        # reminder at 23:00, breach at 01:00: the held reminder is overtaken, the breach fires in its place
        clock("receipt", started=t0, deadline=night + timedelta(hours=2), remind_before=timedelta(hours=2)),
    ]
    handle = await client.start_workflow(
        SlaProbeWorkflow.run,
        ProbeState(clocks={c.name: c for c in clocks}, quiet=NIGHT),
        id=f"sla-probe-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    await ts_env.sleep(night + timedelta(hours=11) - t0)

    seen: ProbeView = await handle.query(SlaProbeWorkflow.view)
    fired = {f.key: f for f in seen.fired}
    assert list(fired) == ["ship:0:breach", "receipt:0:breach", "review:0:remind", "review:0:breach"]
    # the clocks started a moment after t0, so every time is within the slack of the plan
    assert night <= fired["ship:0:breach"].fired_at <= night + SLACK
    assert night + timedelta(hours=2) <= fired["receipt:0:breach"].fired_at <= night + timedelta(hours=2) + SLACK
    assert fired["receipt:0:breach"].skipped == ["remind"]
    assert morning <= fired["review:0:remind"].fired_at <= morning + SLACK
    assert night <= fired["review:0:remind"].due_at <= night + SLACK
    assert morning + timedelta(hours=1) <= fired["review:0:breach"].fired_at <= morning + timedelta(hours=1) + SLACK
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_without_quiet_hours_the_night_reminder_goes_out_at_23(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    t0 = await ts_env.get_current_time()
    night = next_23h(t0)
    review = clock("review", started=t0, deadline=night + timedelta(hours=10), remind_before=timedelta(hours=10))
    handle = await client.start_workflow(
        SlaProbeWorkflow.run,
        ProbeState(clocks={"review": review}),
        id=f"sla-probe-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    await ts_env.sleep(night + timedelta(hours=1) - t0)
    seen = await handle.query(SlaProbeWorkflow.view)
    assert [f.key for f in seen.fired] == ["review:0:remind"]
    assert night <= seen.fired[0].fired_at <= night + SLACK
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()
