"""The SLA runner on the time-skipping server: several clocks at once, pauses, continue-as-new, calendars."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from domain.calendar import ALWAYS, BusinessCalendar
from domain.sla import SlaClock
from tests.conftest import DATA_CONVERTER
from tests.workflows.sla_probe import Budget, ProbeState, ProbeView, SlaProbeWorkflow

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# The time-skipping server fires a timer at its time; a workflow task may start a moment after.
SLACK = timedelta(seconds=2)
Probe = WorkflowHandle[SlaProbeWorkflow, ProbeState]


@pytest.fixture
async def client(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Client]:
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SlaProbeWorkflow]):
        yield ts_env.client


async def probe(client: Client, task_queue: str, *clocks: SlaClock) -> Probe:
    return await client.start_workflow(
        SlaProbeWorkflow.run,
        ProbeState(clocks={clock.name: clock for clock in clocks}),
        id=f"sla-probe-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def view(client: Client, handle: Probe) -> ProbeView:
    """The probe's state, from whichever run is current (continue-as-new starts new runs)."""
    return await client.get_workflow_handle_for(SlaProbeWorkflow.run, handle.id).query(SlaProbeWorkflow.view)


def started_at(seen: ProbeView, name: str, budget: timedelta) -> datetime:
    """When clock ``name`` started, read back from its deadline (the workflow's own clock)."""
    due_at = next(clock.due_at for clock in seen.clocks if clock.name == name)
    assert due_at is not None
    return due_at - budget


async def chat_probe(client: Client, task_queue: str) -> tuple[Probe, datetime]:
    """A probe running a chat's two clocks (first response in 15 minutes, resolution in an hour), and their start."""
    handle = await probe(
        client,
        task_queue,
        SlaClock(name="first_response", budget=15 * MINUTE),
        SlaClock(name="resolution", budget=HOUR),
    )
    return handle, started_at(await view(client, handle), "resolution", HOUR)


def fired_on_time(seen: ProbeView) -> dict[str, datetime]:
    """Each fired step's key and due time, after checking it fired at its due time."""
    for fired in seen.fired:
        assert fired.due_at <= fired.fired_at <= fired.due_at + SLACK, fired
    return {fired.key: fired.due_at for fired in seen.fired}


async def test_two_clocks_fire_their_steps_at_their_times(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    handle, t0 = await chat_probe(client, task_queue)

    await ts_env.sleep(2 * HOUR + 30 * MINUTE)

    seen = await view(client, handle)
    assert fired_on_time(seen) == {
        "first_response:0:remind_50": t0 + 7 * MINUTE + 30 * timedelta(seconds=1),
        "first_response:0:remind_80": t0 + 12 * MINUTE,
        "first_response:0:breach": t0 + 15 * MINUTE,
        "first_response:0:escalate_200": t0 + 30 * MINUTE,
        "resolution:0:remind_50": t0 + 30 * MINUTE,
        "resolution:0:remind_80": t0 + 48 * MINUTE,
        "resolution:0:breach": t0 + HOUR,
        "resolution:0:escalate_200": t0 + 2 * HOUR,
    }
    assert [fired.key for fired in seen.fired][:3] == [
        "first_response:0:remind_50",
        "first_response:0:remind_80",
        "first_response:0:breach",
    ]
    assert {clock.name: (clock.breached, clock.level) for clock in seen.clocks} == {
        "first_response": (True, 2),
        "resolution": (True, 2),
    }
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_a_paused_clock_fires_nothing_and_resumes_where_it_stopped_while_the_other_runs_on(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    handle, t0 = await chat_probe(client, task_queue)
    await ts_env.sleep(5 * MINUTE)
    paused = await handle.execute_update(SlaProbeWorkflow.pause, "first_response")
    assert paused.paused
    assert paused.due_at is None
    assert 5 * 60 <= paused.consumed_seconds <= 5 * 60 + SLACK.total_seconds()

    await ts_env.sleep(HOUR)
    seen = await view(client, handle)
    assert fired_on_time(seen) == {
        "resolution:0:remind_50": t0 + 30 * MINUTE,
        "resolution:0:remind_80": t0 + 48 * MINUTE,
        "resolution:0:breach": t0 + HOUR,
    }
    assert next(clock for clock in seen.clocks if clock.name == "first_response").consumed_seconds == (
        paused.consumed_seconds
    )

    resumed = await handle.execute_update(SlaProbeWorkflow.resume, "first_response")
    assert resumed.due_at is not None
    # 15 min of budget, of which the 5 before the pause are spent: the deadline is 10 min after the resume.
    await ts_env.sleep(20 * MINUTE)
    fired = fired_on_time(await view(client, handle))
    assert fired["first_response:0:breach"] == resumed.due_at
    assert fired["first_response:0:remind_50"] == resumed.due_at - 7 * MINUTE - 30 * timedelta(seconds=1)
    assert fired["first_response:0:remind_80"] == resumed.due_at - 3 * MINUTE
    assert resumed.due_at - t0 > HOUR + 15 * MINUTE
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_continue_as_new_mid_clock_keeps_the_time_consumed_and_the_steps_fired(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    handle = await probe(client, task_queue, SlaClock(name="resolution", budget=HOUR))
    t0 = started_at(await view(client, handle), "resolution", HOUR)
    await ts_env.sleep(35 * MINUTE)
    first_run = (await handle.describe()).run_id

    await handle.execute_update(SlaProbeWorkflow.roll_over)
    await ts_env.sleep(30 * MINUTE)

    current = client.get_workflow_handle(handle.id)
    assert (await current.describe()).run_id != first_run
    seen = await view(client, handle)
    assert seen.runs == 2
    assert fired_on_time(seen) == {
        "resolution:0:remind_50": t0 + 30 * MINUTE,  # fired in the first run, not again in the second
        "resolution:0:remind_80": t0 + 48 * MINUTE,
        "resolution:0:breach": t0 + HOUR,
    }
    await client.get_workflow_handle_for(SlaProbeWorkflow.run, handle.id).execute_update(SlaProbeWorkflow.finish)


async def test_a_transfer_starts_a_new_generation_whose_steps_fire_again_under_new_keys(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    handle = await probe(client, task_queue, SlaClock(name="accept", budget=30 * MINUTE))
    await ts_env.sleep(20 * MINUTE)
    restarted = await handle.execute_update(SlaProbeWorkflow.restart, "accept")
    assert restarted.generation == 1
    assert restarted.due_at is not None
    await ts_env.sleep(25 * MINUTE)  # the new generation's 80 % falls 24 min after the transfer
    fired = fired_on_time(await view(client, handle))
    assert set(fired) == {"accept:0:remind_50", "accept:1:remind_50", "accept:1:remind_80"}
    assert fired["accept:1:remind_50"] == restarted.due_at - 15 * MINUTE
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_a_business_calendar_skips_a_holiday_week_and_a_new_calendar_re_arms_a_running_clock(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The week after today is off: every step of a 2-day clock falls exactly 7 days later than on the wall.

    One clock has the calendar from its start; the other runs round the clock until an Update gives it the
    calendar an hour later, keeping the hour it consumed.
    """
    today = (await ts_env.get_current_time()).astimezone(UTC).date()
    holiday_week = tuple(today + timedelta(days=offset) for offset in range(1, 8))
    calendar = BusinessCalendar(timezone="UTC", hours=ALWAYS, days_off=holiday_week)
    handle = await probe(
        client,
        task_queue,
        SlaClock(name="from_start", budget=timedelta(days=2), calendar=calendar),
        SlaClock(name="by_update", budget=timedelta(days=2)),
    )
    seen = await view(client, handle)
    t0 = started_at(seen, "by_update", timedelta(days=2))
    assert started_at(seen, "from_start", timedelta(days=2)) == t0 + timedelta(days=7)

    await ts_env.sleep(HOUR)
    re_armed = await handle.execute_update(SlaProbeWorkflow.set_calendar, calendar)
    by_update = next(clock for clock in re_armed if clock.name == "by_update")
    assert 3600 <= by_update.consumed_seconds <= 3600 + SLACK.total_seconds()
    assert by_update.due_at == t0 + timedelta(days=9)

    await ts_env.sleep(timedelta(days=3))
    assert (await view(client, handle)).fired == []  # wall-clock 50 % has passed, business 50 % has not

    await ts_env.sleep(timedelta(days=7))
    fired = fired_on_time(await view(client, handle))
    week = timedelta(days=7)
    for name in ("from_start", "by_update"):
        assert fired[f"{name}:0:remind_50"] == t0 + timedelta(days=1) + week
        assert fired[f"{name}:0:remind_80"] == t0 + timedelta(days=1.6) + week
        assert fired[f"{name}:0:breach"] == t0 + timedelta(days=2) + week
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_a_late_start_fires_only_the_latest_due_step_and_a_priority_change_keeps_the_time_consumed(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Started 50 min before the workflow saw it: the 80 % reminder goes out, the stale 50 % one does not.
    Urgent (1 h) → normal (24 h) → urgent again: the breach waits for the normal day, then falls due at once."""
    t0 = await ts_env.get_current_time() - 50 * MINUTE
    handle = await probe(client, task_queue, SlaClock(name="resolution", budget=HOUR).start(t0))
    seen = await view(client, handle)
    assert [(fired.key, fired.due_at, fired.skipped) for fired in seen.fired] == [
        ("resolution:0:remind_80", t0 + 48 * MINUTE, ["remind_50"])
    ]

    normal = await handle.execute_update(SlaProbeWorkflow.set_budget, Budget(name="resolution", budget=24 * HOUR))
    assert normal.due_at == t0 + 24 * HOUR
    await ts_env.sleep(HOUR)
    assert len((await view(client, handle)).fired) == 1  # the urgent hour has passed, the normal day has not

    urgent = await handle.execute_update(SlaProbeWorkflow.set_budget, Budget(name="resolution", budget=HOUR))
    assert urgent.consumed_seconds >= (HOUR + 50 * MINUTE).total_seconds()
    await ts_env.sleep(HOUR)
    fired = (await view(client, handle)).fired
    assert [(entry.key, entry.skipped) for entry in fired[1:]] == [
        ("resolution:0:breach", []),
        ("resolution:0:escalate_200", []),
    ]
    breach, escalation = fired[1:]
    assert breach.fired_at - breach.due_at <= SLACK  # due at the change that cut the budget
    assert escalation.due_at == t0 + 2 * HOUR
    await handle.execute_update(SlaProbeWorkflow.finish)
    await handle.result()


async def test_the_runners_history_replays_with_its_calendar_as_data(
    client: Client, ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Pauses, a calendar change and continue-as-new leave a history the current code reproduces exactly."""
    today = (await ts_env.get_current_time()).astimezone(UTC).date()
    calendar = BusinessCalendar(hours=ALWAYS, days_off=(today + timedelta(days=1),))
    handle = await probe(client, task_queue, SlaClock(name="resolution", budget=timedelta(days=2)))
    await ts_env.sleep(HOUR)
    await handle.execute_update(SlaProbeWorkflow.pause, "resolution")
    await handle.execute_update(SlaProbeWorkflow.set_calendar, calendar)
    await handle.execute_update(SlaProbeWorkflow.resume, "resolution")
    await ts_env.sleep(timedelta(days=1, hours=12))
    await handle.execute_update(SlaProbeWorkflow.roll_over)
    await ts_env.sleep(timedelta(days=4))  # the day off pushes every step a day: 2× the budget is day 5
    current = client.get_workflow_handle_for(SlaProbeWorkflow.run, handle.id)
    assert len((await current.query(SlaProbeWorkflow.view)).fired) == 4
    await current.execute_update(SlaProbeWorkflow.finish)
    await current.result()

    replayer = Replayer(workflows=[SlaProbeWorkflow], data_converter=DATA_CONVERTER)
    for run in (handle, current):
        await replayer.replay_workflow(await run.fetch_history())
