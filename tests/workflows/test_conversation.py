"""The chat reply watch under the time-skipping server: the agent's 3 minutes, the backup, the supervisor.

The time-skipping server has no update-with-start, so these tests start the workflow and send the very
Update the API sends with it (tests/api/test_conversations.py drives the update-with-start itself).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.routes.conversations import conversation_input
from config.settings import Settings
from domain import ids
from domain.calendar import WEEKDAYS, BusinessCalendar, WeeklyHours, add_business_time
from domain.calendar_change import CalendarOutcome, CalendarUpdate, revision
from domain.conversations import ChatMessage, ConversationStatus, ConversationView
from domain.merchants import MerchantConfig
from readmodel.merchants import get_merchant, put_merchant
from readmodel.tables import ConversationWatch, SlaFact
from tests.factories import merchant_body
from tests.peers.server import Peer
from tests.waiting import until
from tests.workflows.cases import outcome, started
from tests.workflows.conftest import Peers
from workflows import search_attributes as sa
from workflows.conversation import ConversationWorkflow

MINUTE = timedelta(minutes=1)
SLACK = 2  # seconds: a timer fires at its time, the workflow task runs a moment after
AGENT, BACKUP = ("a-1", "13900000011"), ("a-2", "13900000012")
SUPERVISOR_MOBILE = "13900000002"
Chat = WorkflowHandle[ConversationWorkflow, ConversationView]


async def open_chat(
    client: Client, settings: Settings, engine: Engine, merchant_id: str, *, max_history_events: int | None = None
) -> Chat:
    """A conversation of ``merchant_id``, started with what the API would resolve for it."""
    conversation_id = f"c-{uuid.uuid4().hex[:10]}"
    merchant = get_merchant(engine, merchant_id=merchant_id)
    input = conversation_input(conversation_id, merchant_id, merchant, settings)
    if max_history_events is not None:
        input = input.model_copy(update={"max_history_events": max_history_events})
    handle = await client.start_workflow(
        ConversationWorkflow.run,
        input,
        id=ids.conversation(conversation_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_conversation_attributes(merchant_id=merchant_id, status="open"),
    )
    await started(handle)
    return handle


def customer(merchant_id: str, **extra: Any) -> ChatMessage:
    return ChatMessage(merchant_id=merchant_id, sender="customer", **extra)  # type: ignore[arg-type]


def agent(merchant_id: str, agent_id: str, **extra: Any) -> ChatMessage:
    return ChatMessage(merchant_id=merchant_id, sender="agent", agent_id=agent_id, **extra)  # type: ignore[arg-type]


async def at_rest(handle: Chat) -> None:
    """Waits until the conversation's current run has no activity and no workflow task pending."""
    request = DescribeWorkflowExecutionRequest(
        namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
    )

    async def resting() -> bool:
        described = await handle._client.workflow_service.describe_workflow_execution(request)
        return not described.pending_activities and not described.HasField("pending_workflow_task")

    await until(resting)


def about(peer: Peer, conversation_id: str) -> list[dict[str, Any]]:
    return [m for m in peer.messages if conversation_id in json.dumps(m, ensure_ascii=False)]


def events(view: ConversationView) -> list[str]:
    return [entry.event for entry in view.history]


async def test_a_reply_in_time_stops_the_clock_and_records_the_first_reply_time(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str, peers: Peers
) -> None:
    chat = await open_chat(client, settings, engine, merchant_id)
    waiting = await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    assert waiting.status is ConversationStatus.AWAITING_REPLY
    assert waiting.agent_id == AGENT[0]
    assert waiting.waiting_since is not None
    assert waiting.deadline_at == waiting.waiting_since + 3 * MINUTE

    await ts_env.sleep(MINUTE)
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))  # still the same wait
    await ts_env.sleep(MINUTE)
    replied = await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, AGENT[0]))
    assert replied.first_reply_seconds is not None
    assert 120 <= replied.first_reply_seconds <= 120 + SLACK
    assert (replied.status, replied.waiting_since, replied.deadline_at) == (ConversationStatus.OPEN, None, None)

    await ts_env.sleep(10 * MINUTE)
    view = await chat.query(ConversationWorkflow.state)
    assert view.transferred is False
    assert events(view) == ["opened", "customer_waiting", "replied"]
    conversation_id = view.conversation_id
    assert about(peers.merchant_dingtalk, conversation_id) == []


async def test_no_reply_in_time_transfers_to_the_backup_who_is_mentioned_in_the_merchant_groups(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str, peers: Peers
) -> None:
    chat = await open_chat(client, settings, engine, merchant_id)
    waiting = await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    await ts_env.sleep(3 * MINUTE + 5 * timedelta(seconds=1))

    view = await chat.query(ConversationWorkflow.state)
    assert (view.agent_id, view.transferred, view.status) == (BACKUP[0], True, ConversationStatus.AWAITING_REPLY)
    transfer = next(entry for entry in view.history if entry.event == "transferred")
    assert transfer.detail == f"{AGENT[0]} → {BACKUP[0]}"
    assert waiting.waiting_since is not None
    assert (
        waiting.waiting_since + 3 * MINUTE
        <= transfer.at
        <= waiting.waiting_since + 3 * MINUTE + SLACK * timedelta(seconds=1)
    )
    # the backup's own clock: a new generation, three minutes from the transfer
    assert view.deadline_at == transfer.at + 3 * MINUTE

    await until(lambda: len(about(peers.merchant_dingtalk, view.conversation_id)) == 1)
    await until(lambda: len(about(peers.merchant_wecom, view.conversation_id)) == 1)
    dingtalk = about(peers.merchant_dingtalk, view.conversation_id)[0]
    assert dingtalk["at"]["atMobiles"] == [BACKUP[1]]  # the backup, not the agent who stayed silent
    assert "转接" in dingtalk["markdown"]["title"]
    wecom = about(peers.merchant_wecom, view.conversation_id)[0]
    assert BACKUP[1] in json.dumps(wecom)
    assert AGENT[1] not in json.dumps(wecom)

    replied = await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, BACKUP[0]))
    assert replied.first_reply_seconds is not None
    assert 185 <= replied.first_reply_seconds <= 185 + SLACK
    assert replied.transferred is True


async def test_the_backup_silent_too_tells_the_merchant_supervisor(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str, peers: Peers
) -> None:
    chat = await open_chat(client, settings, engine, merchant_id)
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    await ts_env.sleep(7 * MINUTE)

    view = await chat.query(ConversationWorkflow.state)
    assert view.status is ConversationStatus.UNANSWERED
    assert view.supervisor_told is True
    assert events(view)[-2:] == ["transferred", "supervisor_told"]
    await until(lambda: len(about(peers.merchant_dingtalk, view.conversation_id)) == 2)
    alert = about(peers.merchant_dingtalk, view.conversation_id)[1]
    assert alert["at"]["atMobiles"] == [SUPERVISOR_MOBILE]
    assert "无人回复" in alert["markdown"]["title"]

    # nothing more is sent while it stays unanswered
    await ts_env.sleep(30 * MINUTE)
    assert len(about(peers.merchant_dingtalk, view.conversation_id)) == 2


async def test_a_conversation_idle_for_a_day_completes_and_its_figures_reach_the_read_model(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str
) -> None:
    chat = await open_chat(client, settings, engine, merchant_id)
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    await ts_env.sleep(4 * MINUTE)
    await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, BACKUP[0]))
    await ts_env.sleep(timedelta(hours=23))
    assert (await chat.query(ConversationWorkflow.state)).status is not ConversationStatus.CLOSED

    await ts_env.sleep(timedelta(hours=2))
    final = await outcome(chat)
    assert final.status is ConversationStatus.CLOSED
    assert events(final)[-1] == "closed"
    with Session(engine) as session:
        row = session.exec(
            select(ConversationWatch).where(ConversationWatch.conversation_id == final.conversation_id)
        ).one()
    assert (row.merchant_id, row.status, row.transferred, row.agent_id) == (merchant_id, "closed", True, BACKUP[0])
    assert row.first_reply_seconds == final.first_reply_seconds
    assert row.first_reply_seconds is not None
    assert 240 <= row.first_reply_seconds <= 240 + SLACK
    with Session(engine) as session:
        facts = session.exec(
            select(SlaFact).where(SlaFact.workflow_id == row.watch_id).order_by(SlaFact.seq, SlaFact.key)
        ).all()
    assert [(fact.kind, fact.clock) for fact in facts] == [
        ("clock_started", "chat_reply"),
        ("clock_breached", "chat_reply"),  # the transfer: the agent's clock breached, the backup's started
        ("clock_started", "chat_backup_reply"),
        ("transfer", "chat_reply"),
        ("clock_stopped", "chat_reply"),
        ("first_response", None),
    ]
    assert {fact.process for fact in facts} == {"conversation"}
    assert facts[-1].value == row.first_reply_seconds


async def test_a_long_conversation_continues_as_new_with_its_state(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str
) -> None:
    # about ten events a message: the first run continues as new after a dozen, the second holds the rest
    chat = await open_chat(client, settings, engine, merchant_id, max_history_events=150)
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    await ts_env.sleep(4 * MINUTE)  # transferred to the backup
    await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, BACKUP[0]))
    for number in range(12):
        await chat.execute_update(ConversationWorkflow.post, customer(merchant_id, message_id=f"m-{number}"))
        await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, BACKUP[0]))
        # The time-skipping server can lose a message that races the hand-over (a real server retries it
        # on the new run), so each pair waits until the run is at rest.
        await at_rest(chat)
    # a retried message of the first run is still known to the last
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id, message_id="m-0"))

    first_run = client.get_workflow_handle(chat.id, run_id=chat.result_run_id)

    async def continued() -> bool:
        events = [event.event_type async for event in first_run.fetch_history_events()]
        return events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    await until(continued)
    current = client.get_workflow_handle_for(ConversationWorkflow.run, chat.id)
    await started(current)
    view = await current.query(ConversationWorkflow.state)
    assert (view.transferred, view.agent_id, view.status) == (True, BACKUP[0], ConversationStatus.OPEN)
    assert view.first_reply_seconds is not None
    assert 240 <= view.first_reply_seconds <= 240 + SLACK
    assert events(view).count("replied") == 13
    assert events(view).count("customer_waiting") == 13
    # the clock planned afresh by the new run still runs: a new wait transfers nobody (it sits with the backup)
    # and tells the supervisor in time
    await current.execute_update(ConversationWorkflow.post, customer(merchant_id))
    await ts_env.sleep(4 * MINUTE)
    assert events(await current.query(ConversationWorkflow.state))[-1] == "supervisor_told"


async def test_the_reply_clock_runs_on_the_merchant_calendar(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, peers: Peers, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    opens = (now.astimezone(ZoneInfo("Asia/Shanghai")).hour + 2) % 24
    hours = [[f"{opens:02d}:00", f"{opens + 1:02d}:00" if opens < 23 else "24:00"]]
    merchant_id = f"m-cal-{task_queue[-6:]}"
    body = merchant_body(
        dingtalk=(peers.merchant_dingtalk.webhook_url, peers.merchant_dingtalk.secret),
        calendar={
            "timezone": "Asia/Shanghai",
            "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), hours),
        },
    )
    put_merchant(engine, merchant_id=merchant_id, values=MerchantConfig.model_validate(body).model_dump(mode="json"))
    chat = await open_chat(client, settings, engine, merchant_id)

    waiting = await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    assert waiting.waiting_since is not None
    assert waiting.deadline_at is not None
    calendar = conversation_input("x", merchant_id, get_merchant(engine, merchant_id=merchant_id), settings).calendar
    assert waiting.deadline_at == add_business_time(calendar, waiting.waiting_since, 3 * MINUTE)
    local_deadline = waiting.deadline_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local_deadline.hour, local_deadline.minute) == (opens, 3)

    await ts_env.sleep(waiting.deadline_at - waiting.waiting_since - MINUTE)
    assert (await chat.query(ConversationWorkflow.state)).transferred is False
    await ts_env.sleep(2 * MINUTE)
    assert (await chat.query(ConversationWorkflow.state)).transferred is True


async def test_a_calendar_change_re_times_a_running_reply_clock_and_the_same_change_again_is_unchanged(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str
) -> None:
    chat = await open_chat(client, settings, engine, merchant_id)
    waiting = await chat.execute_update(ConversationWorkflow.post, customer(merchant_id))
    assert waiting.deadline_at is not None
    await ts_env.sleep(MINUTE)

    now = await ts_env.get_current_time()
    opens = (now.astimezone(ZoneInfo("Asia/Shanghai")).hour + 2) % 24
    hours = [(f"{opens:02d}:00", f"{opens + 1:02d}:00" if opens < 23 else "24:00")]
    calendar = BusinessCalendar(hours=WeeklyHours(**dict.fromkeys(WEEKDAYS, hours)))
    update = CalendarUpdate.of(calendar, revision(datetime.now(UTC)))  # the merchant's newer revision
    applied = await chat.execute_update(ConversationWorkflow.set_calendar, update)
    assert applied.outcome is CalendarOutcome.CHANGED
    assert (await chat.execute_update(ConversationWorkflow.set_calendar, update)).outcome is CalendarOutcome.UNCHANGED

    view = await chat.query(ConversationWorkflow.state)
    assert view.deadline_at is not None
    local = view.deadline_at.astimezone(ZoneInfo("Asia/Shanghai"))
    # the minute consumed before the change is kept: two minutes left, counted from the next opening
    assert local.hour == opens
    assert 120 - SLACK <= local.minute * 60 + local.second <= 120
    assert events(view)[-1] == "calendar_changed"
    await ts_env.sleep(2 * MINUTE)
    assert (await chat.query(ConversationWorkflow.state)).transferred is False
