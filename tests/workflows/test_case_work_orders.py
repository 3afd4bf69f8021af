"""An after-sales case and its platform work order, linked both ways: the work order's decision settles the
case, and a case settled otherwise closes its work order (time-skipping server, real payments peer)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import Appeal, CaseStatus, CaseView, DisputeDecision, ParcelShipment, Receipt, Rejection
from domain.orders import LogisticsEvent, LogisticsStatus
from domain.policy import ReviewTimeoutAction
from domain.work_orders import Decision, WorkOrderCategory, WorkOrderStatus, WorkOrderView
from readmodel.tables import CaseWatch
from tests.peers.partners import PartnersPeer
from tests.waiting import until
from tests.workflows.cases import Case, delivered_order, events, in_after_sales, open_case, outcome, paid_order, started
from workflows.aftersale import AfterSaleWorkflow
from workflows.work_order import WorkOrderWorkflow

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
WorkOrder = WorkflowHandle[WorkOrderWorkflow, WorkOrderView]


async def work_order_of(client: Client, case: CaseView) -> WorkOrder:
    """The platform work order the case shows, once it has run its first task."""
    assert case.work_order_id is not None
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(case.work_order_id))
    await started(handle)
    return handle


def refunds(partners: PartnersPeer, case_id: str) -> list[int]:
    return [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == case_id]


async def returned_and_refused(ts_env: WorkflowEnvironment, case: Case) -> CaseView:
    """A return approved, sent back, delivered, and refused by the merchant at receipt."""
    await case.execute_update(AfterSaleWorkflow.approve)
    await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF-W1"))
    now = await ts_env.get_current_time()
    await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    return await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=False, reason="空包裹"))


async def test_an_appeal_opens_a_linked_platform_work_order_whose_upheld_decision_refunds_the_customer(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    partners: PartnersPeer,
    engine: Engine,
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="超出售后范围"))
    disputed = await case.execute_update(AfterSaleWorkflow.appeal, Appeal(reason="商品有质量问题 13800000000"))
    assert disputed.status is CaseStatus.DISPUTED
    assert disputed.work_order_id == ids.case_work_order(disputed.case_id, 1)

    work_order = await work_order_of(client, disputed)
    linked = await work_order.query(WorkOrderWorkflow.state)

    def projected() -> bool:  # the read model shows the link too
        with Session(engine) as session:
            row = session.get(CaseWatch, case.id)
            return row is not None and row.work_order_id == disputed.work_order_id

    await until(projected)
    assert (linked.case_id, linked.merchant_id, linked.order_id) == (disputed.case_id, merchant_id, disputed.order_id)
    assert (linked.category, linked.priority.value, linked.status) == (
        WorkOrderCategory.SERVICE,
        "normal",
        WorkOrderStatus.UNASSIGNED,
    )
    assert linked.settles_case
    # The customer's words (here with a phone number) stay on the case, out of the work order.
    assert "13800000000" not in linked.title
    assert "质量问题" not in linked.title

    await ts_env.sleep(31 * MINUTE)  # nobody took it: platform customer service is prompted (seed 004)
    prompted = await work_order.query(WorkOrderWorkflow.state)
    assert any(e.event == "escalated" and e.detail.startswith("assignment breach") for e in prompted.history)

    decided = await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=True, reason="质量问题属实"))
    assert (decided.status, decided.decision, decided.history[-1].event) == (WorkOrderStatus.CLOSED, True, "decided")
    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert ("dispute_upheld", "platform") in [(e.event, e.actor) for e in done.history]
    assert done.refunded_cents == 19900
    assert refunds(partners, done.case_id) == [19900]
    assert (await outcome(work_order)).status is WorkOrderStatus.CLOSED


async def test_a_refused_receipt_opens_a_quality_work_order_and_its_dismissal_rejects_the_case_for_good(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    refused = await returned_and_refused(ts_env, case)
    assert refused.status is CaseStatus.DISPUTED
    work_order = await work_order_of(client, refused)
    assert (await work_order.query(WorkOrderWorkflow.state)).category is WorkOrderCategory.QUALITY

    await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=False, reason="退回为空包裹"))
    closed = await outcome(case)
    assert closed.status is CaseStatus.REJECTED
    assert closed.rejection_reason == "退回为空包裹"
    assert "dispute_dismissed" in events(closed)
    assert refunds(partners, closed.case_id) == []
    await until(lambda: in_after_sales(order, "L2", 0))


async def test_under_the_escalate_rule_a_lapsed_review_is_decided_by_the_platform_work_order(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    now = await ts_env.get_current_time()
    order = await paid_order(client, settings, merchant_id, now, review_timeout_action=ReviewTimeoutAction.ESCALATE)
    await ts_env.sleep(HOUR)
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await ts_env.sleep(49 * HOUR)
    lapsed = await case.query(AfterSaleWorkflow.state)
    assert (lapsed.status, lapsed.overdue) == (CaseStatus.PENDING_REVIEW, True)
    work_order = await work_order_of(client, lapsed)

    await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=False, reason="已超过七天无理由"))
    closed = await outcome(case)
    # Rejected by the platform itself, with its reason: there is nobody left to appeal to.
    assert (closed.status, closed.rejection_reason, closed.deadline_at) == (
        CaseStatus.REJECTED,
        "已超过七天无理由",
        None,
    )
    assert [(e.event, e.actor) for e in closed.history][-2:] == [("rejected", "platform"), ("case_closed", "platform")]


async def test_a_dispute_decided_on_the_case_first_closes_its_work_order_and_the_work_orders_decision_is_refused(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    """Told last: a refused Update stops the time-skipping server's clock. (The API answers 409: see
    tests/api/test_cases.py.)"""
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    refused = await returned_and_refused(ts_env, case)
    work_order = await work_order_of(client, refused)

    decision = DisputeDecision(approve=True, reason="签收照片显示商品完好")
    await case.execute_update(AfterSaleWorkflow.resolve_dispute, decision)
    done = await outcome(case)
    assert (done.status, refunds(partners, done.case_id)) == (CaseStatus.COMPLETED, [19900])
    moot = await outcome(work_order)
    assert (moot.status, moot.history[-1].event, moot.history[-1].actor) == (
        WorkOrderStatus.CLOSED,
        "case_settled",
        "platform",
    )
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # the work order ended: nothing left to decide
        await work_order.execute_update(WorkOrderWorkflow.decide, Decision(approve=False, reason="晚了"))
    assert refunds(partners, done.case_id) == [19900]  # once, whoever decided
