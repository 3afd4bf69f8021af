"""After-sales cases under the time-skipping server: every rule of DESIGN §1–2 told as a story."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import Appeal as AppealBody
from domain.cases import CaseStatus, CaseView, DisputeDecision, ParcelShipment, Receipt, Rejection
from domain.orders import LogisticsEvent, LogisticsStatus, OrderStatus
from domain.policy import ReviewTimeoutAction
from domain.work_orders import WorkOrderStatus
from readmodel.tables import CaseWatch, SentNotification
from tests.peers.partners import PartnersPeer
from tests.peers.server import Peer
from tests.waiting import until
from tests.workflows.cases import delivered_order, events, in_after_sales, open_case, outcome, paid_order
from tests.workflows.conftest import Peers
from tests.workflows.test_order import about
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow
from workflows.work_order import WorkOrderWorkflow


def case_messages(peer: Peer, case: CaseView) -> list[dict[str, Any]]:
    """The messages about the case itself, not those of the ladder of its platform work order."""
    return [m for m in about(peer, case.case_id) if not case.work_order_id or case.work_order_id not in str(m)]


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ORDER_TOTAL = 19900 + 2 * 3500


async def test_a_whole_order_refund_within_cooling_off_is_refunded_at_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    await ts_env.sleep(timedelta(minutes=10))
    case = await open_case(client, settings, order, "refund_only")

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert done.auto_decided
    assert events(done)[:2] == ["case_opened", "auto_refunded_cooling_off"]
    assert "refund_issued" in events(done)
    assert done.refunded_cents == ORDER_TOTAL
    refunds = [r for r in partners.acted("/refunds") if r["case_id"] == done.case_id]
    assert [r["amount_cents"] for r in refunds] == [ORDER_TOTAL]
    # The key is the case's, bound to the order, the lines and the amount.
    bound = (done.order_id, refunds[0]["lines"], ORDER_TOTAL)
    assert refunds[0]["refund_id"] == ids.partner_key("refund", done.case_id, *bound)

    settled = await outcome(order)
    assert settled.status is OrderStatus.REFUNDED
    assert [(line.refunded, line.in_after_sales) for line in settled.lines] == [(1, 0), (2, 0)]


async def test_a_partial_request_in_cooling_off_goes_to_the_merchant(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L2", "quantity": 1}])
    state = await case.query(AfterSaleWorkflow.state)
    assert state.status is CaseStatus.PENDING_REVIEW
    assert state.refund_cents == 3500
    assert state.deadline_at == state.opened_at + timedelta(hours=48)
    lines = (await order.query(OrderWorkflow.state)).lines
    assert [(line.line_id, line.in_after_sales) for line in lines] == [("L1", 0), ("L2", 1)]


async def test_a_whole_order_request_after_cooling_off_goes_to_the_merchant(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    paid_at = await ts_env.get_current_time() - timedelta(minutes=31)
    order = await paid_order(client, settings, merchant_id, paid_at)
    case = await open_case(client, settings, order, "refund_only")
    assert (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.PENDING_REVIEW


async def test_a_silent_merchant_is_reminded_then_the_request_is_approved_and_refunded(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    peers: Peers,
    partners: PartnersPeer,
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    await ts_env.sleep(HOUR)
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    case_id = (await case.query(AfterSaleWorkflow.state)).case_id

    await ts_env.sleep(24 * HOUR + timedelta(minutes=1))  # 24 h before the 48 h review deadline
    await until(lambda: len(about(peers.merchant_dingtalk, case_id)) == 1)
    assert "24h" in about(peers.merchant_dingtalk, case_id)[0]["markdown"]["text"]
    await ts_env.sleep(20 * HOUR)
    await until(lambda: len(about(peers.merchant_dingtalk, case_id)) == 2)
    await ts_env.sleep(5 * HOUR)

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert done.auto_decided
    assert events(done).count("reminder_sent") == 2
    approved = next(entry for entry in done.history if entry.event == "auto_approved")
    assert approved.due_at == done.opened_at + timedelta(hours=48)
    assert approved.due_at <= approved.at < approved.due_at + timedelta(minutes=1)
    assert [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == case_id] == [19900]
    lines = (await order.query(OrderWorkflow.state)).lines
    assert [(line.line_id, line.refunded) for line in lines] == [("L1", 1), ("L2", 0)]


async def test_with_the_escalate_rule_a_silent_merchant_is_escalated_and_listed_overdue(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    peers: Peers,
    engine: Engine,
) -> None:
    now = await ts_env.get_current_time()
    order = await paid_order(client, settings, merchant_id, now, review_timeout_action=ReviewTimeoutAction.ESCALATE)
    await ts_env.sleep(HOUR)
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await ts_env.sleep(49 * HOUR)

    state = await case.query(AfterSaleWorkflow.state)
    assert state.status is CaseStatus.PENDING_REVIEW
    assert state.overdue
    assert "escalated" in events(state)
    assert state.work_order_id == ids.case_work_order(state.case_id, 1)  # the platform decides if no one does
    work_order = client.get_workflow_handle_for(WorkOrderWorkflow.run, ids.work_order(state.work_order_id))
    # The work order's own ladder reaches the platform's group too; the case's escalation is told once.
    await until(lambda: len(case_messages(peers.platform_dingtalk, state)) == 1)

    def listed() -> bool:
        with Session(engine) as session:
            row = session.get(CaseWatch, case.id)
            return row is not None and row.overdue and row.overdue_since is not None

    await until(listed)
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    assert not approved.overdue
    assert (await outcome(case)).status is CaseStatus.COMPLETED
    # The merchant decided after all: the platform's work order closes as settled, with nothing to decide.
    moot = await outcome(work_order)
    assert moot.status is WorkOrderStatus.CLOSED
    assert (moot.history[-1].event, moot.history[-1].actor, moot.decision) == ("case_settled", "merchant", None)


async def test_a_rejected_customer_appeals_and_the_case_is_disputed_with_platform_cs_told(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    rejected = await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="商品已使用"))
    assert rejected.status is CaseStatus.REJECTED
    assert rejected.deadline_at == rejected.history[-1].at + timedelta(days=7)

    await ts_env.sleep(6 * DAY)
    disputed = await case.execute_update(AfterSaleWorkflow.appeal, AppealBody(reason="商品有质量问题"))
    assert disputed.status is CaseStatus.DISPUTED
    assert [(e.event, e.actor) for e in disputed.history][-3:] == [
        ("rejected", "merchant"),
        ("appealed", "customer"),
        ("work_order_opened", "system"),
    ]
    assert disputed.work_order_id == ids.case_work_order(disputed.case_id, 1)
    await until(lambda: len(case_messages(peers.platform_dingtalk, disputed)) == 1)
    assert "商品有质量问题" in case_messages(peers.platform_dingtalk, disputed)[0]["markdown"]["text"]


async def test_a_rejection_not_appealed_in_time_closes_the_case_and_frees_the_quantity(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L2", "quantity": 2}])
    await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="超出售后范围"))
    await ts_env.sleep(7 * DAY + HOUR)

    closed = await outcome(case)
    assert closed.status is CaseStatus.REJECTED
    assert events(closed)[-1] == "case_closed"
    await until(lambda: in_after_sales(order, "L2", 0))


async def test_a_return_not_sent_back_in_seven_days_is_auto_cancelled(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    assert approved.status is CaseStatus.AWAITING_RETURN
    assert approved.deadline_at == approved.history[-1].at + timedelta(days=7)
    await ts_env.sleep(7 * DAY + HOUR)

    cancelled = await outcome(case)
    assert cancelled.status is CaseStatus.CANCELLED
    auto = next(entry for entry in cancelled.history if entry.event == "auto_cancelled")
    assert (auto.due_at, auto.actor) == (approved.deadline_at, "system")
    assert approved.deadline_at <= auto.at < approved.deadline_at + timedelta(minutes=1)  # acted on as it fell
    await until(lambda: in_after_sales(order, "L1", 0))


async def test_a_return_received_by_a_silent_merchant_is_auto_received_refunded_and_insured_postage_claimed(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    await ts_env.sleep(2 * DAY)
    sent = await case.execute_update(
        AfterSaleWorkflow.ship_return, ParcelShipment(carrier="YTO", tracking_no="YT9", postage_cents=1000)
    )
    assert sent.status is CaseStatus.RETURN_IN_TRANSIT
    assert sent.deadline_at is None
    now = await ts_env.get_current_time()
    moving = await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.IN_TRANSIT, at=now)
    )
    assert moving.status is CaseStatus.RETURN_IN_TRANSIT
    arrived = await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    assert arrived.status is CaseStatus.AWAITING_RECEIPT
    assert arrived.deadline_at == now + timedelta(days=10)
    await ts_env.sleep(10 * DAY + HOUR)

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert done.auto_decided
    assert {"auto_received", "refund_issued", "insurance_claimed"} <= set(events(done))
    assert events(done).count("insurance_claimed") == 1
    claims = [c for c in partners.acted("/claims") if c["case_id"] == done.case_id]
    assert [(c["line_ids"], c["postage_cents"]) for c in claims] == [(["L2"], 1000)]
    assert [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == done.case_id] == [3500]


async def test_a_delivery_reported_late_starts_the_receipt_clock_at_the_delivery_and_sends_only_the_due_reminder(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, engine: Engine
) -> None:
    """The carrier tells of a delivery 9 days 22 h after it happened: the 10-day receipt clock has 2 h left,
    so the 4 h reminder goes out at once and the 24 h one, stale, never does."""
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    await case.execute_update(
        AfterSaleWorkflow.ship_return, ParcelShipment(carrier="YTO", tracking_no="YT10", postage_cents=1000)
    )
    delivered_at = await ts_env.get_current_time()
    await ts_env.sleep(9 * DAY + 22 * HOUR)
    arrived = await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=delivered_at)
    )
    assert arrived.deadline_at == delivered_at + 10 * DAY

    async def reminded() -> bool:
        return "reminder_sent" in events(await case.query(AfterSaleWorkflow.state))

    await until(reminded)
    reminders = [e.detail for e in (await case.query(AfterSaleWorkflow.state)).history if e.event == "reminder_sent"]
    assert reminders == ["receipt remind_4h"]
    with Session(engine) as session:
        keys = {row.key for row in session.exec(select(SentNotification)) if row.key.startswith(f"{case.id}:")}
    assert keys  # one per channel: {case}:{clock}:{generation}:{step}:{channel}
    assert {tuple(key.removeprefix(f"{case.id}:").split(":")[:3]) for key in keys} == {("receipt", "0", "remind_4h")}


async def test_an_exchange_is_reshipped_to_the_new_address_and_auto_completes(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    new_address = {"name": "王小明", "phone": "13800138000", "address": "北京市朝阳区建国路 1 号"}
    case = await open_case(
        client, settings, order, "exchange", [{"line_id": "L1", "quantity": 1}], new_address=new_address
    )
    await case.execute_update(AfterSaleWorkflow.approve)
    await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF-R1"))
    now = await ts_env.get_current_time()
    await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    received = await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=True))
    assert received.status is CaseStatus.AWAITING_REPLACEMENT
    assert received.deadline_at == received.history[-1].at + timedelta(hours=72)
    assert received.replacement_address is not None
    assert received.replacement_address.address == new_address["address"]

    await ts_env.sleep(49 * HOUR)  # the same ladder as shipping: 24 h before the 72 h deadline
    await until(lambda: len(about(peers.merchant_dingtalk, received.case_id)) == 1)
    shipped = await case.execute_update(
        AfterSaleWorkflow.ship_replacement, ParcelShipment(carrier="SF", tracking_no="SF-X1")
    )
    assert shipped.status is CaseStatus.REPLACEMENT_IN_TRANSIT
    assert shipped.deadline_at == shipped.history[-1].at + timedelta(days=10)
    await ts_env.sleep(10 * DAY + HOUR)

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert events(done)[-1] == "auto_completed"
    assert done.refunded_cents == 0
    await until(lambda: in_after_sales(order, "L1", 0))


async def test_a_replacement_not_shipped_in_time_makes_the_case_overdue(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "exchange", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF-R2"))
    now = await ts_env.get_current_time()
    await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=True))
    await ts_env.sleep(73 * HOUR)
    state = await case.query(AfterSaleWorkflow.state)
    assert state.status is CaseStatus.AWAITING_REPLACEMENT
    assert state.overdue
    await until(lambda: len(about(peers.platform_dingtalk, state.case_id)) == 1)


async def test_a_refused_receipt_disputes_the_case(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF-R3"))
    now = await ts_env.get_current_time()
    await case.execute_update(
        AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
    )
    refused = await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=False, reason="空包裹"))
    assert refused.status is CaseStatus.DISPUTED
    await until(lambda: len(about(peers.platform_dingtalk, refused.case_id)) == 1)

    # Platform CS sides with the customer: the goods are already back, so the refund follows at once.
    upheld = await case.execute_update(
        AfterSaleWorkflow.resolve_dispute, DisputeDecision(approve=True, reason="签收照片显示商品完好")
    )
    assert upheld.status is CaseStatus.REFUNDING
    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert done.refunded_cents == 19900
