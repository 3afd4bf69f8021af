"""Saved histories replay against the current workflow code: a breaking change fails here first.

A history is recorded on purpose with ``AFTERSALES_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py``;
until the first release is tagged a re-recording is allowed, said so in its commit message. Afterwards a
change that breaks replay goes behind ``workflow.patched``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from config.settings import Settings
from domain import ids
from domain.calendar import CalendarConfig
from domain.calendar_change import CalendarChange, CalendarUpdate, revision
from domain.cases import Appeal, CaseStatus, ParcelShipment, Rejection
from domain.deadline_shifts import DeadlineShiftInput, PlatformShift
from domain.digest import DigestInput
from domain.holidays import resolve_calendar
from domain.orders import LogisticsEvent, OrderWatchInput, Shipment, WindowExtension
from domain.pickups import CourierEvent, PickupPayment, PickupRequest, PickupStatus
from domain.work_orders import (
    Accept,
    Assign,
    ChangePriority,
    Decision,
    Reopen,
    Reply,
    Resolve,
    Transfer,
    WorkOrderAppeal,
)
from readmodel.merchants import put_merchant
from tests.conftest import CODEC, DATA_CONVERTER
from tests.factories import merchant_body, place_order, project_order
from tests.payloads import decrypted
from tests.waiting import until
from tests.workflows.cases import delivered_order, open_case, outcome, started
from tests.workflows.test_case_continue import SHORT, approved_then_continued, run_id
from tests.workflows.test_conversation import agent, customer, open_chat
from tests.workflows.test_money_and_pickup import ADDRESS
from tests.workflows.work_orders import open_work_order
from workers.main import WORKFLOWS
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.calendar_change import workflow_id as calendar_change_id
from workflows.conversation import ConversationWorkflow
from workflows.deadline_shift import DeadlineShiftWorkflow
from workflows.deadline_shift import workflow_id as deadline_shift_id
from workflows.digest import DigestWorkflow
from workflows.order import OrderWorkflow
from workflows.pickup import PickupWorkflow
from workflows.work_order import WorkOrderWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def saved_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "no-sandbox"])
@pytest.mark.parametrize("path", saved_histories(), ids=lambda path: path.stem)
async def test_saved_history_replays_with_the_current_code(path: Path, sandboxed: bool) -> None:
    """Each history replays in the SDK's sandbox (the default) and without it (``AFTERSALES_WORKER_SANDBOX=off``)."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240  (a small local file)
    runner = {} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}
    await Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER, **runner).replay_workflow(history)


def test_every_workflow_type_has_a_saved_history() -> None:
    recorded = {path.name.split("-")[0] for path in saved_histories()}
    assert {workflow.__name__ for workflow in WORKFLOWS} <= recorded


async def saved(handle: WorkflowHandle[Any, Any]) -> str:
    """A history as it is saved here: decrypted, so it replays whatever keys a later run has (the
    replayer's codec passes plain payloads through, as it does for workflows older than the codec)."""
    return (await decrypted(await handle.fetch_history(), CODEC)).to_json()


RECORDING = pytest.mark.skipif(not os.environ.get("AFTERSALES_RECORD_HISTORIES"), reason="records only when asked")


@RECORDING
async def test_record_order_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """The order story every step of which a replay must reproduce: reminders, overdue, shipment, a stall,
    delivery, an after-sales case refunded, an extension, the window closing and the grace running out."""
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id, order_id="O-history")
    handle = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy(), board_url="http://board.test"),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    await ts_env.sleep(timedelta(hours=73))
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF-H1"))
    await ts_env.sleep(timedelta(days=4))
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now))
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=now))
    case = await open_case(client, settings, handle, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    await outcome(case)
    await handle.execute_update(OrderWorkflow.extend_window, WindowExtension(days=2))
    await ts_env.sleep(timedelta(days=40))
    await outcome(handle)
    (HISTORIES / "OrderWorkflow-full-story.json").write_text(await saved(handle))


@RECORDING
async def test_record_continued_order_histories(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """A parcel with many tracking updates: the watch continues as new in transit; the last run sees the
    delivery, the window closing and the grace running out."""
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id, order_id="O-long")
    handle = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy(), max_history_events=60),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF-H2"))
    for _ in range(8):
        await ts_env.sleep(timedelta(hours=6))
        now = await ts_env.get_current_time()
        await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now))
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=now))
    await ts_env.sleep(timedelta(days=38))
    await outcome(handle)
    assert await handle.query(OrderWorkflow.runs) >= 1
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    (HISTORIES / "OrderWorkflow-first-run.json").write_text(await saved(first))
    (HISTORIES / "OrderWorkflow-last-run.json").write_text(await saved(handle))


@RECORDING
async def test_record_after_sale_and_pickup_histories(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """A return-refund collected door to door: review reminders, approval, a paid pickup, the courier,
    delivery to the merchant, auto-receipt, the refund and the insurance claim."""
    now = await ts_env.get_current_time()
    order = await delivered_order(client, settings, merchant_id, now)
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    await ts_env.sleep(timedelta(hours=45))
    await case.execute_update(AfterSaleWorkflow.approve)
    now = await ts_env.get_current_time()
    slot = PickupRequest.model_validate(
        {"address": ADDRESS, "slot_start": now + timedelta(hours=1), "slot_end": now + timedelta(hours=3)}
    )
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, slot)
    assert booked.pickup_id
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))  # the case id
    await started(pickup)

    async def awaiting_payment() -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is PickupStatus.AWAITING_PAYMENT

    await until(awaiting_payment)
    await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=1200))
    await ts_env.sleep(timedelta(hours=2))
    picked_at = await ts_env.get_current_time()
    await pickup.execute_update(PickupWorkflow.record_courier, CourierEvent(status="picked_up", at=picked_at))
    await outcome(pickup)

    async def in_transit() -> bool:
        return (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.RETURN_IN_TRANSIT

    await until(in_transit)
    now = await ts_env.get_current_time()
    await case.execute_update(AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status="delivered", at=now))
    await ts_env.sleep(timedelta(days=11))
    await outcome(case)
    (HISTORIES / "AfterSaleWorkflow-return-by-pickup.json").write_text(await saved(case))
    (HISTORIES / "PickupWorkflow-paid-and-picked-up.json").write_text(await saved(pickup))


@RECORDING
async def test_record_case_decided_by_its_work_order_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """A rejected refund appealed: the case opens its platform work order (a child), whose decision for the
    customer settles the case, which refunds."""
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="超出售后范围"))
    disputed = await case.execute_update(AfterSaleWorkflow.appeal, Appeal(reason="商品有质量问题"))
    assert disputed.work_order_id is not None
    work_order = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(disputed.work_order_id))
    await started(work_order)
    await ts_env.sleep(timedelta(minutes=31))
    await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=True, reason="质量问题属实"))
    await outcome(case)
    await outcome(work_order)
    (HISTORIES / "AfterSaleWorkflow-appeal-decided-by-work-order.json").write_text(await saved(case))
    (HISTORIES / "WorkOrderWorkflow-settles-a-case.json").write_text(await saved(work_order))


@RECORDING
async def test_record_continued_case_histories(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """A return whose case continues as new in its return clock: the first run (approval, retries, the
    handover) and the last (shipped, delivered, auto-received, refunded, postage claimed, the order told)."""
    now = await ts_env.get_current_time()
    order = await delivered_order(client, settings, merchant_id, now, case_max_history_events=SHORT)
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 1}])
    first_run = await run_id(case)
    await approved_then_continued(ts_env, case)
    shipment = ParcelShipment(carrier="YTO", tracking_no="YT-H1", postage_cents=1000)
    await case.execute_update(AfterSaleWorkflow.ship_return, shipment)
    now = await ts_env.get_current_time()
    await case.execute_update(AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status="delivered", at=now))
    await ts_env.sleep(timedelta(days=11))
    await outcome(case)
    first = client.get_workflow_handle(case.id, run_id=first_run)
    (HISTORIES / "AfterSaleWorkflow-first-run.json").write_text(await saved(first))
    (HISTORIES / "AfterSaleWorkflow-last-run.json").write_text(await saved(case))


@RECORDING
async def test_record_work_order_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    """A work order through every clock: unassigned prompt, assignment, accept breach, a transfer, the
    first-response ladder, a pause, a priority change, resolution, reopen, resolution again, appeal and the
    platform's decision, continuing as new on the way."""
    handle = await open_work_order(client, settings, merchant_id, max_history_events=60, case_id="C-history")
    await ts_env.sleep(timedelta(minutes=31))
    await handle.execute_update(WorkOrderWorkflow.assign, Assign(assignee_id="a-1", assigned_by="a-2"))
    await ts_env.sleep(timedelta(minutes=31))
    await handle.execute_update(WorkOrderWorkflow.transfer, Transfer(assignee_id="a-2", reason="换人"))
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-2"))
    await handle.execute_update(WorkOrderWorkflow.wait_customer)
    await ts_env.sleep(timedelta(hours=2))
    await handle.execute_update(WorkOrderWorkflow.customer_replied)
    await handle.execute_update(WorkOrderWorkflow.change_priority, ChangePriority(priority="urgent"))
    await handle.execute_update(WorkOrderWorkflow.reply, Reply(by="assignee", message="已处理"))
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已换新"))
    await ts_env.sleep(timedelta(days=1))
    await handle.execute_update(WorkOrderWorkflow.reopen, Reopen(reason="还是坏的"))
    await ts_env.sleep(timedelta(minutes=40))
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已退款"))
    await handle.execute_update(WorkOrderWorkflow.appeal, WorkOrderAppeal(reason="要求赔偿"))
    await ts_env.sleep(timedelta(hours=13))
    await handle.execute_update(WorkOrderWorkflow.decide, Decision(approve=False, reason="已足额退款"))
    await outcome(handle)
    assert await handle.query(WorkOrderWorkflow.runs) >= 1
    # The last run holds the decision; the first run's history is the one the first events replay.
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    (HISTORIES / "WorkOrderWorkflow-first-run.json").write_text(await saved(first))
    (HISTORIES / "WorkOrderWorkflow-last-run.json").write_text(await saved(handle))


@RECORDING
async def test_record_conversation_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, engine: Engine, merchant_id: str
) -> None:
    """A chat: the agent silent (transfer to the backup), the backup silent (the supervisor told), the
    backup's reply, a run of messages continuing as new, a reply in time, and a day of silence ending it."""
    chat = await open_chat(client, settings, engine, merchant_id, max_history_events=40)
    await chat.execute_update(ConversationWorkflow.post, customer(merchant_id, message_id="m-first"))
    await ts_env.sleep(timedelta(minutes=7))
    await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, "a-2"))
    for number in range(8):
        await chat.execute_update(ConversationWorkflow.post, customer(merchant_id, message_id=f"m-{number}"))
        await ts_env.sleep(timedelta(minutes=1))
        await chat.execute_update(ConversationWorkflow.post, agent(merchant_id, "a-1"))
    await ts_env.sleep(timedelta(days=1, hours=1))
    await outcome(chat)
    first = client.get_workflow_handle(chat.id, run_id=chat.first_execution_run_id)
    assert (await first.fetch_history()).events[
        -1
    ].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    (HISTORIES / "ConversationWorkflow-first-run.json").write_text(await saved(first))
    (HISTORIES / "ConversationWorkflow-last-run.json").write_text(await saved(chat))


@RECORDING
async def test_record_calendar_change_histories(
    dev_client: Client, settings: Settings, merchant_id: str, engine: Engine
) -> None:
    """A merchant's new calendar fanned out to its running work order (on the dev server: the fan-out lists
    by visibility), which takes it by Update; and a work order that asks for a year's holidays it lacks."""
    office = [["09:00", "18:00"]]
    config = {"timezone": "Asia/Shanghai", "hours": {"mon": office, "tue": office, "wed": office}, "holidays": "CN"}
    put_merchant(engine, merchant_id=merchant_id, values=merchant_body(calendar=config))
    calendar = resolve_calendar(CalendarConfig.model_validate(config), years=(2024,))
    handle = await open_work_order(dev_client, settings, merchant_id, assignee_id="a-1", calendar=calendar)

    async def holidays_resolved() -> bool:
        return any(e.event == "holidays_resolved" for e in (await handle.query(WorkOrderWorkflow.state)).history)

    await until(holidays_resolved)

    async def visible() -> bool:
        return bool([e async for e in dev_client.list_workflows(f"WorkflowId = '{handle.id}'")])

    await until(visible)
    update = CalendarUpdate.of(resolve_calendar(None, years=()), revision(datetime.now(UTC)))
    fanout = await dev_client.start_workflow(
        CalendarChangeWorkflow.run,
        CalendarChange(merchant_id=merchant_id, update=update, settle_seconds=1),
        id=calendar_change_id(merchant_id, update.fingerprint),
        task_queue=settings.task_queue,
    )
    result = await fanout.result()
    assert result.changed == (handle.id,)
    (HISTORIES / "CalendarChangeWorkflow-one-work-order.json").write_text(await saved(fanout))
    (HISTORIES / "WorkOrderWorkflow-calendar-changed.json").write_text(await saved(handle))


@RECORDING
async def test_record_deadline_shift_history(dev_client: Client, settings: Settings, merchant_id: str) -> None:
    """A holiday shift of one merchant's open order (on the dev server: the fan-out lists by visibility)."""
    order = place_order(paid_at=datetime.now(UTC), merchant_id=merchant_id)
    handle = await dev_client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy()),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )

    async def visible() -> bool:
        return bool([e async for e in dev_client.list_workflows(f"WorkflowId = '{handle.id}'")])

    await until(visible)
    shift = PlatformShift(shift_id=f"cny-{merchant_id}", hours=72, reason="春节")
    fanout = await dev_client.start_workflow(
        DeadlineShiftWorkflow.run,
        DeadlineShiftInput(shift=shift, merchant_id=merchant_id, settle_seconds=1),
        id=deadline_shift_id(shift.shift_id),
        task_queue=settings.task_queue,
    )
    result = await fanout.result()
    assert (result.matched, result.applied, result.shifted) == (1, 1, 1)
    await handle.terminate("recorded")
    (HISTORIES / "DeadlineShiftWorkflow-one-order.json").write_text(await saved(fanout))


@RECORDING
async def test_record_digest_history(client: Client, settings: Settings, merchant_id: str, engine: Engine) -> None:
    """A day's digest: one supplier with an overdue shipment told by SMS, then the platform's summary."""
    paid_at = datetime.now(UTC) - timedelta(hours=80)
    project_order(engine, order_id="O-digest-history", merchant_id=merchant_id, paid_at=paid_at, overdue=True)
    handle = await client.start_workflow(
        DigestWorkflow.run, DigestInput(day="2026-11-26"), id="digest-history", task_queue=settings.task_queue
    )
    result = await handle.result()
    assert merchant_id in result.merchants
    (HISTORIES / "DigestWorkflow-one-day.json").write_text(await saved(handle))
