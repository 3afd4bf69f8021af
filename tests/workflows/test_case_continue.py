"""A long after-sales case continues as new and keeps everything: under the time-skipping server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.deps import Caller, Role, check_owner
from api.errors import Problem
from config.settings import Settings
from domain import ids
from domain.cases import Action, Appeal, CaseStatus, CaseView, ParcelShipment, Receipt, Rejection
from domain.orders import LogisticsEvent, LogisticsStatus
from domain.pickups import CourierEvent, CourierStatus, PickupPayment, PickupRequest, PickupStatus
from domain.retries import Attempt
from domain.work_orders import Decision
from readmodel.tables import CaseWatch
from tests.peers.partners import PartnersPeer
from tests.waiting import until
from tests.workflows.cases import (
    Case,
    delivered_order,
    events,
    idle,
    in_after_sales,
    open_case,
    outcome,
    started,
)
from workflows import search_attributes as sa
from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow
from workflows.pickup import PickupWorkflow
from workflows.work_order import WorkOrderWorkflow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ADDRESS = {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"}
SHORT = 40  # history events a case may reach before it continues as new


async def run_id(case: Case) -> str:
    """The case's current run (asked raw: the time-skipping server keeps a deadline set to None as a null
    the client's ``describe`` cannot read)."""
    request = DescribeWorkflowExecutionRequest(
        namespace=case._client.namespace, execution=WorkflowExecution(workflow_id=case.id)
    )
    described = await case._client.workflow_service.describe_workflow_execution(request)
    return described.workflow_execution_info.execution.run_id


async def continued(case: Case, retry: Callable[[], Awaitable[CaseView]], answer: CaseView) -> None:
    """Retries an action until the case has continued as new; each retry is answered with ``answer``'s history
    (no event, only Temporal history)."""
    first = await run_id(case)
    for _ in range(2 * SHORT):
        if await run_id(case) != first:
            # The time-skipping server holds a query sent while a run's first task runs: wait for it.
            await started(case)
            return
        assert (await retry()).history == answer.history
    raise AssertionError(f"{case.id} did not continue as new")


async def approved_then_continued(ts_env: WorkflowEnvironment, case: Case, wait: timedelta = DAY) -> CaseView:
    """Approves a return, lets ``wait`` of its return clock pass, and retries the approval until the case has
    continued as new; answers the view the approval returned."""
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    assert approved.status is CaseStatus.AWAITING_RETURN
    if wait:
        await ts_env.sleep(wait)
    await continued(case, lambda: case.execute_update(AfterSaleWorkflow.approve), approved)
    return approved


async def test_a_case_continued_as_new_in_its_return_clock_keeps_deadline_history_retries_and_refunds_once(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    partners: PartnersPeer,
    engine: Engine,
) -> None:
    order = await delivered_order(
        client, settings, merchant_id, await ts_env.get_current_time(), case_max_history_events=SHORT
    )
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 1}])
    approved = await approved_then_continued(ts_env, case)

    carried = await case.query(AfterSaleWorkflow.state)
    assert carried.deadline_at == approved.deadline_at  # the return clock's 7 days, the day consumed counted
    assert carried.history == approved.history  # case_opened … approved, from the first run
    assert carried.revision == approved.revision
    assert carried.opened_at == approved.opened_at
    # What each step was applied with carries over: a retry in the new run is answered, with no new event.
    assert await case.query(AfterSaleWorkflow.already_applied, Attempt.of(Action.APPROVE))
    assert (await case.execute_update(AfterSaleWorkflow.approve)).history == carried.history
    # The new run keeps what the API reads of the server alone: the merchant's attribute and the request's memo.
    described = await case.describe()
    assert described.typed_search_attributes.get(sa.MERCHANT_ID) == merchant_id
    assert (await described.memo()).get(REQUEST_MEMO)

    shipment = ParcelShipment(carrier="YTO", tracking_no="YT9", postage_cents=1000)
    sent = await case.execute_update(AfterSaleWorkflow.ship_return, shipment)
    assert sent.revision > carried.revision  # the read model's revision goes on from the last run's
    assert (await case.execute_update(AfterSaleWorkflow.ship_return, shipment)).history == sent.history
    now = await ts_env.get_current_time()
    delivery = LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    arrived = await case.execute_update(AfterSaleWorkflow.record_return_logistics, delivery)
    assert arrived.deadline_at == now + 10 * DAY
    received = await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=True))
    assert received.status in (CaseStatus.REFUNDING, CaseStatus.COMPLETED)

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert await case.query(AfterSaleWorkflow.runs) >= 1
    assert events(done)[: len(approved.history)] == events(approved)
    assert events(done).count("refund_issued") == events(done).count("insurance_claimed") == 1
    assert [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == done.case_id] == [3500]
    assert len([c for c in partners.acted("/claims") if c["case_id"] == done.case_id]) == 1
    await until(lambda: in_after_sales(order, "L2", 0))  # the order heard of the end from the last run

    def projected() -> bool:
        with Session(engine) as session:
            row = session.get(CaseWatch, case.id)
            return row is not None and row.revision == done.revision and row.status == CaseStatus.COMPLETED

    await until(projected)


async def test_the_return_clock_of_a_continued_case_falls_due_at_the_same_deadline(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(
        client, settings, merchant_id, await ts_env.get_current_time(), case_max_history_events=SHORT
    )
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    approved = await approved_then_continued(ts_env, case)
    assert approved.deadline_at is not None
    await ts_env.sleep(6 * DAY + HOUR)

    cancelled = await outcome(case)
    assert cancelled.status is CaseStatus.CANCELLED
    auto = next(entry for entry in cancelled.history if entry.event == "auto_cancelled")
    assert auto.due_at == approved.deadline_at
    assert approved.deadline_at <= auto.at < approved.deadline_at + timedelta(minutes=1)
    assert events(cancelled).count("auto_cancelled") == 1
    await until(lambda: in_after_sales(order, "L1", 0))


async def test_a_pickup_booked_before_the_case_continued_reaches_the_continued_case(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    # Long enough that the case continues once only, before the pickup's news: a query is not held then.
    order = await delivered_order(
        client, settings, merchant_id, await ts_env.get_current_time(), case_max_history_events=2 * SHORT
    )
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    now = await ts_env.get_current_time()
    slot = {"address": ADDRESS, "slot_start": now + DAY + 2 * HOUR, "slot_end": now + DAY + 4 * HOUR}
    await case.execute_update(AfterSaleWorkflow.approve)
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, PickupRequest.model_validate(slot))
    assert booked.pickup_id is not None
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))
    await started(pickup)

    async def status_is(status: PickupStatus) -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is status

    await until(lambda: status_is(PickupStatus.AWAITING_PAYMENT))
    fee = (await pickup.query(PickupWorkflow.state)).fee_cents
    await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=fee))
    await idle(pickup)

    async def waybill_on_case() -> bool:
        return "pickup_scheduled" in events(await case.query(AfterSaleWorkflow.state))

    await until(waybill_on_case)
    await approved_then_continued(ts_env, case, wait=timedelta())

    # The pickup's owner is told by its parent's id, which names the continued case.
    assert (await pickup.describe()).parent_id == case.id
    await check_owner(pickup, Caller(Role.MERCHANT, merchant_id), parents=client)
    with pytest.raises(Problem):
        await check_owner(pickup, Caller(Role.MERCHANT, "someone-else"), parents=client)

    await ts_env.sleep(DAY + 3 * HOUR)
    came = CourierEvent(status=CourierStatus.PICKED_UP, at=await ts_env.get_current_time())
    picked = await pickup.execute_update(PickupWorkflow.record_courier, came)

    async def in_transit() -> bool:
        return (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.RETURN_IN_TRANSIT

    await until(in_transit)
    state = await case.query(AfterSaleWorkflow.state)
    assert await case.query(AfterSaleWorkflow.runs) == 1
    assert (state.return_carrier, state.return_tracking_no) == ("SF", picked.waybill_no)
    assert {"pickup_requested", "pickup_scheduled", "return_shipped"} <= set(events(state))
    assert (await outcome(pickup)).status is PickupStatus.PICKED_UP


async def test_a_work_order_opened_before_the_case_continued_settles_the_continued_case(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await delivered_order(
        client, settings, merchant_id, await ts_env.get_current_time(), case_max_history_events=2 * SHORT
    )
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="超出售后范围"))
    appeal = Appeal(reason="商品有质量问题")
    disputed = await case.execute_update(AfterSaleWorkflow.appeal, appeal)
    assert disputed.work_order_id is not None
    work_order = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(disputed.work_order_id))
    await started(work_order)
    await continued(case, lambda: case.execute_update(AfterSaleWorkflow.appeal, appeal), disputed)
    carried = await case.query(AfterSaleWorkflow.state)
    assert (carried.status, carried.work_order_id) == (CaseStatus.DISPUTED, disputed.work_order_id)

    await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=True, reason="质量问题属实"))
    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert ("dispute_upheld", "platform") in [(e.event, e.actor) for e in done.history]
    assert [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == done.case_id] == [19900]
