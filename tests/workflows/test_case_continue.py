"""A long after-sales case continues as new and keeps everything: under the time-skipping server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import Action, CaseStatus, ParcelShipment, Receipt
from domain.orders import LogisticsEvent, LogisticsStatus, OrderWatchInput, Shipment
from domain.retries import Attempt
from readmodel.tables import CaseWatch
from tests.factories import place_order
from tests.peers.partners import PartnersPeer
from tests.waiting import until
from tests.workflows.cases import Case, Order, events, in_after_sales, open_case, outcome
from tests.workflows.conftest import remember
from workflows import search_attributes as sa
from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow
from workflows.order import OrderWorkflow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SHORT = 40  # history events a case may reach before it continues as new


async def delivered(client: Client, settings: Settings, merchant_id: str, now: datetime) -> Order:
    """A delivered order whose cases continue as new after ``SHORT`` history events."""
    order = place_order(paid_at=now, merchant_id=merchant_id)
    watch = OrderWatchInput(order=order, policy=settings.policy(), case_max_history_events=SHORT)
    handle = await client.start_workflow(
        OrderWorkflow.run,
        watch,
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    remember(settings.task_queue, handle.id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    await handle.execute_update(
        OrderWorkflow.record_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    return handle


async def approved_then_continued(ts_env: WorkflowEnvironment, case: Case) -> Any:
    """Approves a return, lets a day of its return clock pass, and retries the approval until the case has
    continued as new; answers the view the approval returned."""
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    assert approved.status is CaseStatus.AWAITING_RETURN
    await ts_env.sleep(DAY)
    for _ in range(SHORT):
        if await case.query(AfterSaleWorkflow.runs) > 0:
            return approved
        # A retry of the approval is answered with the case as it stands: no event, only history.
        assert (await case.execute_update(AfterSaleWorkflow.approve)).history == approved.history
    raise AssertionError(f"{case.id} did not continue as new")


async def test_a_case_continued_as_new_in_its_return_clock_keeps_deadline_history_retries_and_refunds_once(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    partners: PartnersPeer,
    engine: Engine,
) -> None:
    order = await delivered(client, settings, merchant_id, await ts_env.get_current_time())
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
    order = await delivered(client, settings, merchant_id, await ts_env.get_current_time())
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
