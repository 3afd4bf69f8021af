"""Quiet hours under Temporal: a reminder due at night goes out in the morning, a breach at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from config.settings import Settings
from domain.quiet import QuietHours
from domain.sla import BREACH, SlaClock, StepLevel, StepSpec
from tests.waiting import until
from tests.workflows.cases import events, paid_order
from tests.workflows.conftest import Peers
from tests.workflows.sla_probe import ProbeState, ProbeView, SlaProbeWorkflow
from workflows.order import OrderWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours.model_validate("22:00-08:00")
SLACK = timedelta(seconds=2)


@pytest.fixture
async def probe_client(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Client]:
    """A worker running only the SLA runner's probe."""
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
    probe_client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = probe_client
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
    probe_client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = probe_client
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


async def test_an_order_s_ship_reminder_due_at_23_goes_out_at_8_and_its_breach_at_23_at_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    t0 = await ts_env.get_current_time()
    night = next_23h(t0)
    morning = (night + timedelta(days=1)).replace(hour=8)
    order = await paid_order(
        client,
        settings,
        merchant_id,
        t0,
        ship_deadline=night + timedelta(days=1) - t0,  # the breach at 23:00 the next day
        ship_reminders=(timedelta(hours=24),),  # the reminder at 23:00 tonight
        quiet_hours=NIGHT,
    )
    await ts_env.sleep(morning - t0 - timedelta(minutes=1))
    assert "reminder_sent" not in events(await order.query(OrderWorkflow.state))
    await ts_env.sleep(timedelta(minutes=2))
    await until(lambda: _has(order, "reminder_sent"))
    reminder = next(e for e in (await order.query(OrderWorkflow.state)).history if e.event == "reminder_sent")
    assert morning <= reminder.at <= morning + SLACK

    await ts_env.sleep(night + timedelta(days=1, minutes=1) - morning)
    state = await order.query(OrderWorkflow.state)
    overdue = next(e for e in state.history if e.event == "ship_overdue")
    assert night + timedelta(days=1) <= overdue.at <= night + timedelta(days=1) + SLACK
    await until(lambda: len([m for m in peers.platform_dingtalk.messages if state.order_id in str(m)]) == 1)


async def _has(order: Any, event: str) -> bool:
    return event in events(await order.query(OrderWorkflow.state))
