"""Work orders under the time-skipping server: every clock, ladder step, pause, transfer and reopen.

The merchant's robots, the platform's groups and Aliyun SMS are real local servers (tests/peers); what the
tests assert is what reached them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.fanout import Fanout, SetCalendars
from config.settings import Settings, SmsBackend
from domain import ids
from domain.calendar import BusinessCalendar, CalendarConfig
from domain.calendar_change import CalendarOutcome, CalendarUpdate
from domain.holidays import known_years, resolve_calendar
from domain.work_orders import (
    Accept,
    Assign,
    ChangePriority,
    Confirm,
    Decision,
    Reopen,
    Reply,
    Resolve,
    Transfer,
    WorkOrderAppeal,
    WorkOrderDecided,
    WorkOrderStatus,
    WorkOrderView,
)
from readmodel.merchants import put_merchant
from readmodel.tables import WorkOrderWatch
from tests.factories import merchant_body
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.waiting import until
from tests.workflows.case_probe import CaseProbe
from tests.workflows.cases import outcome
from tests.workflows.conftest import Peers
from tests.workflows.work_orders import WorkOrder, about, events, open_work_order, text
from workflows.work_order import WorkOrderWorkflow

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SUPERVISOR = "13900000002"
AGENT_1, AGENT_2 = "13900000011", "13900000012"
PLATFORM = "13700000000"
PLATFORM_CS = "13600000000"


@pytest.fixture(scope="session")
def sms() -> Iterator[SmsPeer]:
    with SmsPeer(access_key_id="LTAI5tWorkOrders", access_key_secret="wo-secret", sign_name="美好生活") as peer:
        yield peer


@pytest.fixture(scope="session")
def platform_cs() -> Iterator[DingTalkPeer]:
    """The platform customer-service group's robot."""
    with DingTalkPeer(access_token="platform-cs-token", secret="SECplatformcs") as peer:
        yield peer


@pytest.fixture
def settings(settings: Settings, sms: SmsPeer, platform_cs: DingTalkPeer) -> Settings:
    """The workflow tests' settings with Aliyun SMS and the platform customer-service group."""
    return settings.model_copy(
        update={
            "sms_backend": SmsBackend.ALIYUN,
            "sms_endpoint": sms.endpoint,
            "sms_access_key_id": sms.access_key_id,
            "sms_access_key_secret": sms.access_key_secret,
            "sms_template_code": sms.template_code,
            "platform_cs_dingtalk_webhook": platform_cs.webhook_url,
            "platform_cs_dingtalk_secret": platform_cs.secret,
            "platform_cs_mobiles": PLATFORM_CS,
        }
    )


async def view(handle: WorkOrder) -> WorkOrderView:
    return await handle.query(WorkOrderWorkflow.state)


def clock(state: WorkOrderView, name: str) -> dict[str, object]:
    return next(c.model_dump() for c in state.clocks if c.name == name)


def sms_to(sms: SmsPeer, work_order_id: str, clock: str | None = None) -> list[str]:
    """The mobiles that got an SMS about the work order (about one of its clocks)."""
    return [
        m["PhoneNumbers"]
        for m in sms.messages
        if work_order_id in m.get("TemplateParam", "") and (clock is None or f":{clock}:" in m.get("OutId", ""))
    ]


async def test_an_unassigned_work_order_prompts_platform_customer_service_after_30_minutes(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, platform_cs: DingTalkPeer
) -> None:
    handle = await open_work_order(client, settings, merchant_id)
    wo = (await view(handle)).work_order_id

    await ts_env.sleep(29 * MINUTE)
    assert about(platform_cs, wo) == []
    await ts_env.sleep(2 * MINUTE)
    await until(lambda: len(about(platform_cs, wo)) == 1)
    prompt = about(platform_cs, wo)[0]
    assert prompt["at"]["atMobiles"] == [PLATFORM_CS]
    assert "未分配" in text(prompt)
    assert "30 分钟" in text(prompt)
    state = await view(handle)
    assert clock(state, "assignment")["breached"] is True
    assert "escalated assignment breach (generation 0, level 1)" in events(state)
    assert state.status is WorkOrderStatus.UNASSIGNED


async def test_an_assignment_not_accepted_in_30_minutes_prompts_the_assigner_and_texts_the_assignee(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers, sms: SmsPeer
) -> None:
    handle = await open_work_order(client, settings, merchant_id)
    wo = (await view(handle)).work_order_id
    await ts_env.sleep(10 * MINUTE)
    assigned = await handle.execute_update(WorkOrderWorkflow.assign, Assign(assignee_id="a-1", assigned_by="a-2"))
    assert assigned.status is WorkOrderStatus.ASSIGNED
    assert clock(assigned, "assignment")["breached"] is False

    await ts_env.sleep(29 * MINUTE)
    assert sms_to(sms, wo, "accept") == []
    await ts_env.sleep(2 * MINUTE)
    await until(lambda: sms_to(sms, wo, "accept") == [AGENT_1])
    prompts = [m for m in about(peers.merchant_dingtalk, wo) if "未接单" in text(m)]
    assert sorted(m["at"]["atMobiles"][0] for m in prompts) == [AGENT_1, AGENT_2]  # the assigner, and the assignee
    template = json.loads(next(m for m in sms.messages if f"{wo}:accept:" in m["OutId"])["TemplateParam"])
    assert "请尽快接单" in template["content"]


async def test_each_clock_climbs_its_ladder_at_50_80_100_and_200_percent_once(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    peers: Peers,
    sms: SmsPeer,
    engine: Engine,
) -> None:
    handle = await open_work_order(client, settings, merchant_id, priority="urgent", assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    wo = (await view(handle)).work_order_id

    # first response: 15 min → reminders at 7.5 and 12 min, breach at 15, platform at 30
    await ts_env.sleep(8 * MINUTE)
    await until(lambda: len(about(peers.merchant_dingtalk, wo)) == 1)
    reminder = about(peers.merchant_dingtalk, wo)[0]
    assert reminder["at"]["atMobiles"] == [AGENT_1]
    assert "剩余 7 分钟" in text(reminder)
    assert "7 min left" in text(reminder)
    assert "0h" not in text(reminder)
    assert (await view(handle)).escalation_level == 0

    await ts_env.sleep(8 * MINUTE)  # 16 min: 80 % and the breach
    await until(lambda: any(m["at"]["atMobiles"] == [SUPERVISOR] for m in about(peers.merchant_dingtalk, wo)))
    state = await view(handle)
    assert state.escalation_level == 1
    assert state.overdue
    assert clock(state, "first_response")["level"] == 1
    breach = next(m for m in about(peers.merchant_dingtalk, wo) if m["at"]["atMobiles"] == [SUPERVISOR])
    # At the deadline: neither time left nor "1 min overdue".
    assert "已到期" in text(breach)
    assert "due now" in text(breach)
    assert "分钟" not in text(breach).split("已超时")[1].split("）")[0]

    await ts_env.sleep(15 * MINUTE)  # 31 min: twice the first-response budget, and 50 % of the hour to resolve
    await until(lambda: PLATFORM in sms_to(sms, wo))
    await until(lambda: len(about(peers.platform_dingtalk, wo)) == 1)
    state = await view(handle)
    assert state.escalation_level == 2
    steps = [e for e in events(state) if e.startswith(("reminder", "escalated"))]
    assert steps == [
        "reminder first_response remind_50 (generation 0, level 0)",
        "reminder first_response remind_80 (generation 0, level 0)",
        "escalated first_response breach (generation 0, level 1)",
        "escalated first_response escalate_200 (generation 0, level 2)",
        "reminder resolution remind_50 (generation 0, level 0)",
    ]
    assert all(entry.actor.value == "system" for entry in state.history if entry.event in ("reminder", "escalated"))
    first_response_steps = [
        entry.due_at - state.opened_at for entry in state.history if "first_response" in entry.detail and entry.due_at
    ]
    assert first_response_steps == [timedelta(minutes=7.5), 12 * MINUTE, 15 * MINUTE, 30 * MINUTE]

    await handle.execute_update(WorkOrderWorkflow.reply, Reply(by="assignee", message="已安排换货"))
    await ts_env.sleep(90 * MINUTE)  # 121 min: the resolution clock goes on to its own breach and 200 %
    await until(lambda: len(about(peers.platform_dingtalk, wo)) == 2)
    state = await view(handle)
    assert state.first_response_at is not None
    assert [e for e in events(state) if e.startswith("escalated resolution")] == [
        "escalated resolution breach (generation 0, level 1)",
        "escalated resolution escalate_200 (generation 0, level 2)",
    ]
    assert len([e for e in events(state) if "first_response" in e]) == 4  # each step once

    def projected() -> bool:
        with Session(engine) as session:
            row = session.get(WorkOrderWatch, handle.id)
            return row is not None and row.overdue and row.escalation_level == 2

    await until(projected)


async def test_waiting_on_the_customer_pauses_the_clocks_and_keeps_the_time_consumed_across_a_breach(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await ts_env.sleep(10 * MINUTE)
    paused = await handle.execute_update(WorkOrderWorkflow.wait_customer)
    assert clock(paused, "first_response")["paused"] is True
    assert clock(paused, "first_response")["due_at"] is None
    consumed = int(clock(paused, "first_response")["consumed_seconds"])  # type: ignore[call-overload]
    assert 600 <= consumed < 610

    await ts_env.sleep(2 * HOUR)  # far past 15 min of wall-clock time, no breach while paused
    state = await view(handle)
    assert state.escalation_level == 0
    assert clock(state, "first_response")["consumed_seconds"] == consumed

    resumed = await handle.execute_update(WorkOrderWorkflow.customer_replied)
    assert resumed.status is WorkOrderStatus.IN_PROGRESS
    first_response = clock(resumed, "first_response")
    assert first_response["paused"] is False
    left = first_response["due_at"] - await ts_env.get_current_time()  # type: ignore[operator]
    assert abs(left - (15 * MINUTE - timedelta(seconds=consumed))) < timedelta(seconds=2)  # what the pause kept
    await ts_env.sleep(6 * MINUTE)  # 16 min consumed: breached
    wo = state.work_order_id
    await until(lambda: any(m["at"]["atMobiles"] == [SUPERVISOR] for m in about(peers.merchant_dingtalk, wo)))
    breached = await view(handle)
    assert clock(breached, "first_response")["breached"] is True
    # Consumed as of the workflow's last task: the breach, at 15 min of working time.
    assert 900 <= int(clock(breached, "first_response")["consumed_seconds"]) < 1000  # type: ignore[call-overload]

    # Paused past its breach, the clock keeps its level; resuming it does not fire the breach again.
    await handle.execute_update(WorkOrderWorkflow.wait_customer)
    await ts_env.sleep(HOUR)
    await handle.execute_update(WorkOrderWorkflow.customer_replied)
    await ts_env.sleep(MINUTE)
    assert [e for e in events(await view(handle)) if "first_response breach" in e] == [
        "escalated first_response breach (generation 0, level 1)"
    ]


async def test_a_business_calendar_skips_a_holiday_week(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    now = await ts_env.get_current_time()
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    holiday_week = tuple(today + timedelta(days=n) for n in range(1, 8))
    calendar = BusinessCalendar(timezone="Asia/Shanghai", days_off=holiday_week)
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", calendar=calendar)
    state = await view(handle)
    resolution = clock(state, "resolution")
    # What is left of today counts, the seven days off do not, and the rest of the 24 h runs on day eight.
    expected = now + 8 * 24 * HOUR
    assert abs(resolution["due_at"] - expected) < timedelta(seconds=5)  # type: ignore[operator]

    await ts_env.sleep(25 * HOUR)  # a day of wall-clock time, mostly holiday: no breach of the 24 h budget
    assert not any("resolution breach" in e for e in events(await view(handle)))
    await ts_env.sleep(7 * 24 * HOUR)

    async def breached() -> bool:
        return "escalated resolution breach (generation 0, level 1)" in events(await view(handle))

    await until(breached)
    breach_at = next(e.at for e in (await view(handle)).history if "resolution breach" in e.detail)
    assert abs(breach_at - expected) < timedelta(seconds=5)
    supervisor = [
        m for m in about(peers.merchant_dingtalk, state.work_order_id) if m["at"]["atMobiles"] == [SUPERVISOR]
    ]
    assert supervisor


async def test_a_new_calendar_by_update_re_arms_the_running_clocks_and_keeps_the_time_consumed(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    opened = clock(await view(handle), "resolution")
    await ts_env.sleep(HOUR)

    # The merchant's calendar now has today and the six days after it off (a holiday week from now).
    now = await ts_env.get_current_time()
    today = now.astimezone(shanghai).date()
    calendar = BusinessCalendar(timezone="Asia/Shanghai", days_off=tuple(today + timedelta(days=n) for n in range(7)))
    update = CalendarUpdate.of(calendar, revision=1)
    applied = await handle.execute_update(WorkOrderWorkflow.set_calendar, update)
    assert applied.outcome is CalendarOutcome.CHANGED

    state = await view(handle)
    resolution = clock(state, "resolution")
    assert 3590 <= int(resolution["consumed_seconds"]) <= 3610  # type: ignore[call-overload]  # the hour is kept
    # The 23 hours left count from the first working day, a week on.
    expected = datetime.combine(today + timedelta(days=7), time(), tzinfo=shanghai) + 23 * HOUR
    assert abs(resolution["due_at"] - expected) < timedelta(seconds=5)  # type: ignore[operator]
    assert resolution["due_at"] > opened["due_at"] + 5 * 24 * HOUR  # type: ignore[operator]
    assert clock(state, "first_response")["due_at"] is not None
    assert any(e.startswith(f"calendar_changed {update.fingerprint}") for e in events(state))

    # The same calendar again (a second fan-out) changes nothing; an older change never overrides a newer one.
    again = await handle.execute_update(WorkOrderWorkflow.set_calendar, update)
    assert again.outcome is CalendarOutcome.UNCHANGED
    older = await handle.execute_update(WorkOrderWorkflow.set_calendar, CalendarUpdate.of(BusinessCalendar(), 0))
    assert older.outcome is CalendarOutcome.STALE
    assert clock(await view(handle), "resolution")["due_at"] == resolution["due_at"]
    assert [e for e in events(await view(handle)) if e.startswith("calendar_changed")] == [
        f"calendar_changed {update.fingerprint}"
    ]

    # The old deadline passes quietly; the breach comes at the new one.
    await ts_env.sleep(24 * HOUR)
    assert not any("resolution breach" in e for e in events(await view(handle)))
    await ts_env.sleep(expected - await ts_env.get_current_time() + MINUTE)

    async def breached() -> bool:
        return "escalated resolution breach (generation 0, level 1)" in events(await view(handle))

    await until(breached)
    breach_at = next(e.at for e in (await view(handle)).history if "resolution breach" in e.detail)
    assert abs(breach_at - expected) < timedelta(seconds=5)


async def test_a_work_order_living_into_a_year_its_calendar_lacks_asks_for_that_years_holidays_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, engine: Engine
) -> None:
    office = [["09:00", "18:00"]]
    config = {"timezone": "Asia/Shanghai", "hours": {"mon": office, "tue": office, "wed": office}, "holidays": "CN"}
    put_merchant(engine, merchant_id=merchant_id, values=merchant_body(calendar=config))
    this_year = (await ts_env.get_current_time()).astimezone(ZoneInfo("Asia/Shanghai")).year
    # Resolved long ago: it knows the holidays of an earlier year only, as if opened then and still open.
    old = resolve_calendar(CalendarConfig.model_validate(config), years=(this_year - 1,))
    assert old.holiday_years == (this_year - 1,)
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", calendar=old)

    async def resolved() -> list[str]:
        return [e for e in events(await view(handle)) if e.startswith("holidays_resolved")]

    async def asked() -> bool:
        return bool(await resolved())

    await until(asked)
    [entry] = await resolved()
    # This year and next, as far as the installed holiday package knows them.
    years = ", ".join(str(year) for year in sorted({this_year, this_year + 1} & known_years())) or "none"
    assert entry.endswith(f"(holidays {years})")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await ts_env.sleep(HOUR)
    assert len(await resolved()) == 1  # asked once, not at every wake-up


async def test_a_transfer_rearms_the_accept_clock_for_the_new_assignee(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, sms: SmsPeer
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    wo = (await view(handle)).work_order_id
    await ts_env.sleep(31 * MINUTE)
    await until(lambda: sms_to(sms, wo, "accept") == [AGENT_1])

    moved = await handle.execute_update(WorkOrderWorkflow.transfer, Transfer(assignee_id="a-2", reason="专人处理"))
    assert moved.assignee_id == "a-2"
    assert moved.status is WorkOrderStatus.ASSIGNED
    accept = clock(moved, "accept")
    assert accept["generation"] == 1
    assert accept["breached"] is False
    assert accept["consumed_seconds"] == 0

    await ts_env.sleep(31 * MINUTE)
    await until(lambda: sms_to(sms, wo, "accept") == [AGENT_1, AGENT_2])
    assert "escalated accept breach (generation 1, level 1)" in events(await view(handle))


async def test_priority_change_gives_a_new_budget_and_keeps_the_time_consumed(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    # A minute past two hours: the clock starts with the workflow's first task, which a loaded machine may run
    # a moment after the test's clock, and exactly two hours could then still be short of the 200 % step.
    await ts_env.sleep(2 * HOUR + MINUTE)
    urgent = await handle.execute_update(WorkOrderWorkflow.change_priority, ChangePriority(priority="urgent"))
    resolution = clock(urgent, "resolution")
    assert urgent.priority.value == "urgent"
    assert abs(int(resolution["consumed_seconds"]) - 7260) < 10  # type: ignore[call-overload]
    assert resolution["due_at"] < await ts_env.get_current_time()  # type: ignore[operator]
    await ts_env.sleep(MINUTE)

    # Two hours consumed of a one-hour budget: only the latest due step (200 %) fires, the rest are skipped.
    async def escalated() -> bool:
        return any("resolution" in e for e in events(await view(handle)))

    await until(escalated)
    state = await view(handle)
    assert [e for e in events(state) if "resolution" in e] == [
        "escalated resolution escalate_200 (generation 0, level 2)"
    ]


async def test_reopen_restarts_the_resolution_clock_in_a_new_generation(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await open_work_order(client, settings, merchant_id, priority="urgent", assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await ts_env.sleep(2 * HOUR)  # the urgent resolution clock is at 200 %
    resolved = await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已换新"))
    assert resolved.status is WorkOrderStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert resolved.escalation_level == 2
    assert not resolved.overdue

    await ts_env.sleep(24 * HOUR)
    reopened = await handle.execute_update(WorkOrderWorkflow.reopen, Reopen(reason="新的也漏水"))
    resolution = clock(reopened, "resolution")
    assert reopened.status is WorkOrderStatus.IN_PROGRESS
    assert reopened.resolved_at is None
    assert resolution["generation"] == 1
    assert resolution["consumed_seconds"] == 0
    assert resolution["level"] == 0
    await ts_env.sleep(31 * MINUTE)
    assert "reminder resolution remind_50 (generation 1, level 0)" in events(await view(handle))


async def test_a_resolved_work_order_closes_itself_after_3_days_and_ends_after_the_reopen_window(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    resolved = await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已补发配件"))
    assert resolved.first_response_at is not None
    assert resolved.resolved_at is not None
    # Both are clocks people see, not hidden timers.
    assert clock(resolved, "auto_close")["due_at"] == resolved.resolved_at + 3 * 24 * HOUR
    assert clock(resolved, "reopen_window")["due_at"] == resolved.resolved_at + 7 * 24 * HOUR

    await ts_env.sleep(3 * 24 * HOUR + MINUTE)
    closed = await view(handle)
    assert closed.status is WorkOrderStatus.CLOSED
    auto = next(entry for entry in closed.history if entry.event == "auto_closed")
    assert auto.actor.value == "system"
    # The entry says when the close was due and when the workflow acted on it (its own clock then).
    assert auto.due_at == resolved.resolved_at + 3 * 24 * HOUR
    assert auto.due_at <= auto.at < auto.due_at + MINUTE
    assert closed.closed_at == auto.at
    assert clock(closed, "auto_close")["breached"] is True
    assert clock(closed, "reopen_window")["breached"] is False
    assert (closed.escalation_level, closed.overdue) == (0, False)  # closing itself is no breach of anyone's

    await ts_env.sleep(5 * 24 * HOUR)
    final = await outcome(handle)
    assert final.status is WorkOrderStatus.CLOSED
    assert clock(final, "reopen_window")["breached"] is True
    assert [c.name for c in final.clocks if c.breached] == ["auto_close", "reopen_window"]


async def test_a_new_calendar_leaves_the_auto_close_and_reopen_window_counting_round_the_clock(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    resolved = await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已补发配件"))
    assert resolved.resolved_at is not None
    today = resolved.resolved_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    holiday_week = BusinessCalendar(
        timezone="Asia/Shanghai", days_off=tuple(today + timedelta(days=n) for n in range(7))
    )
    await handle.execute_update(WorkOrderWorkflow.set_calendar, CalendarUpdate.of(holiday_week, revision=1))
    # The customer's three days are not the merchant's working days.
    state = await view(handle)
    assert clock(state, "auto_close")["due_at"] == resolved.resolved_at + 3 * 24 * HOUR
    assert clock(state, "reopen_window")["due_at"] == resolved.resolved_at + 7 * 24 * HOUR


async def test_the_auto_close_and_reopen_window_clocks_carry_over_continue_as_new(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", max_history_events=20)
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    resolved = await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已补发配件"))
    assert resolved.resolved_at is not None
    await ts_env.sleep(HOUR)
    confirmed = await handle.execute_update(WorkOrderWorkflow.confirm, Confirm(satisfaction=4))
    assert clock(confirmed, "auto_close")["due_at"] is None  # the customer closed it: nothing to close

    async def continued() -> bool:
        return await handle.query(WorkOrderWorkflow.runs) >= 1

    await until(continued)
    carried = await view(handle)
    assert clock(carried, "reopen_window")["due_at"] == resolved.resolved_at + 7 * 24 * HOUR
    reopened = await handle.execute_update(WorkOrderWorkflow.reopen, Reopen(reason="又坏了"))
    assert clock(reopened, "reopen_window")["due_at"] is None  # the next resolution opens a new window
    again = await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="换新"))
    assert again.resolved_at is not None
    assert clock(again, "reopen_window")["generation"] == 1
    assert clock(again, "auto_close")["due_at"] == again.resolved_at + 3 * 24 * HOUR

    await ts_env.sleep(7 * 24 * HOUR + MINUTE)  # closed itself at 3 d, ended at 7 d, in a later run
    final = await outcome(handle)
    assert final.status is WorkOrderStatus.CLOSED
    assert [e for e in events(final) if e.startswith("auto_closed")] == ["auto_closed"]


async def test_the_customer_confirms_with_a_satisfaction_score(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已补发配件"))
    confirmed = await handle.execute_update(WorkOrderWorkflow.confirm, Confirm(satisfaction=5))
    assert confirmed.status is WorkOrderStatus.CLOSED
    assert confirmed.satisfaction == 5


async def test_an_appeal_is_decided_by_platform_customer_service_on_its_own_clock(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, platform_cs: DingTalkPeer
) -> None:
    case_id = f"C-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=f"{settings.task_queue}-cases", workflows=[CaseProbe]):
        case = await client.start_workflow(
            CaseProbe.run, id=ids.after_sale(case_id), task_queue=f"{settings.task_queue}-cases"
        )
        wo = await appeal_and_decide(ts_env, client, settings, merchant_id, platform_cs, case_id)
        told = await outcome(case)  # the linked case heard the decision
    assert told == WorkOrderDecided(work_order_id=wo, case_id=case_id, approve=True, reason="支持客户")


async def appeal_and_decide(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    platform_cs: DingTalkPeer,
    case_id: str,
) -> str:
    """A work order of ``case_id`` resolved, appealed and decided for the customer; answers its id."""
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", case_id=case_id)
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="不予处理"))
    wo = (await view(handle)).work_order_id
    appealed = await handle.execute_update(WorkOrderWorkflow.appeal, WorkOrderAppeal(reason="商家拒绝处理"))
    assert appealed.status is WorkOrderStatus.APPEALED
    assert clock(appealed, "appeal")["due_at"] is not None
    await until(lambda: len(about(platform_cs, wo)) == 1)  # platform CS takes it over

    await ts_env.sleep(13 * HOUR)  # 50 % of 24 h: platform CS reminded
    await until(lambda: len(about(platform_cs, wo)) == 2)
    decided = await handle.execute_update(WorkOrderWorkflow.decide, Decision(approve=True, reason="支持客户"))
    assert decided.status is WorkOrderStatus.CLOSED
    assert decided.history[-1].event == "appeal_upheld"
    assert decided.history[-1].actor.value == "platform"
    assert clock(decided, "appeal")["due_at"] is None
    final = await outcome(handle)  # the platform decided: nothing reopens it, the workflow ends
    assert final.status is WorkOrderStatus.CLOSED
    return wo


async def test_a_long_work_order_continues_as_new_mid_clock_and_keeps_clocks_and_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", max_history_events=40)
    await handle.execute_update(WorkOrderWorkflow.transfer, Transfer(assignee_id="a-2", reason="换人"))
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-2"))
    for n in range(8):
        await handle.execute_update(WorkOrderWorkflow.reply, Reply(by="customer", message=f"还在吗 {n}"))
        await ts_env.sleep(MINUTE)
    await handle.execute_update(WorkOrderWorkflow.wait_customer)
    await ts_env.sleep(HOUR)
    await handle.execute_update(WorkOrderWorkflow.customer_replied)

    async def continued() -> bool:
        return await handle.query(WorkOrderWorkflow.runs) >= 1

    await until(continued)
    state = await view(handle)
    assert events(state)[0].startswith("opened")  # the history of the first run carried over
    assert sum(e.startswith("customer_message") for e in events(state)) == 8
    assert 480 <= int(clock(state, "first_response")["consumed_seconds"]) < 540  # type: ignore[call-overload]
    assert "reminder first_response remind_50 (generation 0, level 0)" in events(state)
    assert (clock(state, "accept")["generation"], state.assignee_id, state.status) == (1, "a-2", "in_progress")
    # What each step was applied with carries over too: a retry in the new run is answered, with no new event.
    assert (await handle.execute_update(WorkOrderWorkflow.customer_replied)).history == state.history
    assert (await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-2"))).history == state.history

    await ts_env.sleep(10 * MINUTE)  # the first-response clock breaches in the new run, exactly once

    async def breached() -> bool:
        return any("first_response breach" in e for e in events(await view(handle)))

    await until(breached)
    state = await view(handle)
    assert [e for e in events(state) if "first_response breach" in e] == [
        "escalated first_response breach (generation 0, level 1)"
    ]


async def test_reopen_and_appeal_after_the_reopen_window_are_refused_with_window_closed(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """Told last: a refused Update stops the time-skipping server's clock, and nothing here needs it after."""
    short = settings.model_copy(update={"wo_reopen_window": 2 * HOUR})
    handle = await open_work_order(client, short, merchant_id, assignee_id="a-1")
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已处理"))
    await ts_env.sleep(3 * HOUR)

    for update, body in (
        (WorkOrderWorkflow.reopen, Reopen(reason="还是坏的")),
        (WorkOrderWorkflow.appeal, WorkOrderAppeal(reason="要求赔偿")),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(update, body)  # type: ignore[arg-type]
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "window_closed"
    state = await view(handle)
    assert state.status is WorkOrderStatus.RESOLVED
    assert "reopened" not in events(state)


async def test_a_calendar_whose_fingerprint_does_not_match_is_refused_and_the_fan_out_goes_on(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    """On the dev server: a refused Update stalls the time-skipping server's clock."""
    handle = await open_work_order(dev_client, settings, merchant_id, assignee_id="a-1")
    forged = CalendarUpdate(calendar=BusinessCalendar(timezone="UTC"), fingerprint="0" * 16, revision=1)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(WorkOrderWorkflow.set_calendar, forged)
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "validation_error"

    fair = CalendarUpdate.of(BusinessCalendar(timezone="UTC", days_off=(date(2099, 1, 1),)), revision=1)
    batch = SetCalendars(workflow_ids=(handle.id,), update=forged)
    fanout = Fanout(dev_client)
    assert [a.outcome for a in await ActivityEnvironment().run(fanout.set_calendars, batch)] == [
        CalendarOutcome.REFUSED
    ]
    batch = SetCalendars(workflow_ids=(handle.id,), update=fair)
    assert [a.outcome for a in await ActivityEnvironment().run(fanout.set_calendars, batch)] == [
        CalendarOutcome.CHANGED
    ]
    assert "calendar_changed" in [e.event for e in (await view(handle)).history]
