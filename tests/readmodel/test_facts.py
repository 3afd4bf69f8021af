"""The SLA fact table on SQLite and PostgreSQL: append-only, replay-safe, stamped with workflow time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from domain.cases import CaseKind
from domain.facts import FactKind, case_facts, order_facts
from domain.orders import Actor, HistoryEntry, LineState, OrderStatus, OrderView
from readmodel.tables import SlaFact
from tests.factories import completed_case, record_facts

PAID = datetime(2026, 3, 2, 8, tzinfo=UTC)


def entry(at: datetime, event: str, detail: str = "", actor: Actor = Actor.SYSTEM) -> HistoryEntry:
    return HistoryEntry(at=at, event=event, actor=actor, detail=detail)


def shipped_order(merchant_id: str) -> OrderView:
    history = [
        entry(PAID, "order_paid", actor=Actor.CUSTOMER),
        entry(PAID + timedelta(hours=48), "reminder_sent", f"ship remind_24h to {merchant_id}"),
        entry(PAID + timedelta(hours=72), "ship_overdue"),
        entry(PAID + timedelta(hours=80), "shipped", "SF SF100", Actor.MERCHANT),
    ]
    return OrderView(
        order_id=f"O-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        customer_id="c-1",
        status=OrderStatus.SHIPPED,
        overdue=True,
        paid_at=PAID,
        ship_deadline_at=PAID + timedelta(hours=72),
        deadline_at=None,
        shipped_at=PAID + timedelta(hours=80),
        lines=[LineState(line_id="L1", quantity=1)],
        history=history,
        revision=len(history),
    )


def facts_of(engine: Engine, workflow_id: str) -> list[SlaFact]:
    with Session(engine) as session:
        return list(session.exec(select(SlaFact).where(SlaFact.workflow_id == workflow_id).order_by(col(SlaFact.key))))


def test_a_replayed_projection_adds_no_fact(any_engine: Engine) -> None:
    view = shipped_order(f"m-{uuid.uuid4().hex[:6]}")
    workflow_id = f"order-{view.order_id}"
    early = view.model_copy(update={"history": view.history[:2], "revision": 2})

    assert record_facts(any_engine, order_facts(workflow_id, early)) == 2  # started, the 24 h step
    assert record_facts(any_engine, order_facts(workflow_id, early)) == 0  # a retried activity
    assert record_facts(any_engine, order_facts(workflow_id, view)) == 3  # breach, shipment, stop
    assert record_facts(any_engine, order_facts(workflow_id, view)) == 0
    assert record_facts(any_engine, order_facts(workflow_id, early)) == 0  # a late, older projection

    with Session(any_engine) as session:
        count = session.exec(select(func.count()).where(SlaFact.workflow_id == workflow_id)).one()
    assert count == 5


def test_facts_carry_the_workflows_times_not_the_writers_clock(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    view = shipped_order(merchant)
    workflow_id = f"order-{view.order_id}"
    record_facts(any_engine, order_facts(workflow_id, view))

    stored = {(row.kind, row.clock): row for row in facts_of(any_engine, workflow_id)}
    assert stored["clock_started", "ship"].at == PAID
    assert stored["clock_step", "ship"].outcome == "remind_24h"
    assert stored["clock_breached", "ship"].at == PAID + timedelta(hours=72)
    assert stored["clock_stopped", "ship"].at == PAID + timedelta(hours=80)
    shipment = stored["shipment", None]
    assert (shipment.at, shipment.value, shipment.merchant_id) == (PAID + timedelta(hours=80), 80 * 3600.0, merchant)
    assert shipment.key == f"{workflow_id}:3:shipment"


def test_a_case_records_its_merchant_clocks_decisions_and_end(any_engine: Engine) -> None:
    opened = PAID + timedelta(days=5)
    history = [
        entry(opened, "case_opened", "return_refund: 坏了", Actor.CUSTOMER),
        entry(opened + timedelta(hours=24), "reminder_sent", "review remind_24h"),
        entry(opened + timedelta(hours=48), "auto_approved"),
        entry(opened + timedelta(hours=60), "return_shipped", "SF R1", Actor.CUSTOMER),
        entry(opened + timedelta(hours=90), "return_delivered"),
        entry(opened + timedelta(hours=100), "received", actor=Actor.MERCHANT),
        entry(opened + timedelta(hours=101), "refund_issued", "19900 cents p-1"),
    ]
    view = completed_case(
        CaseKind.RETURN_REFUND,
        history,
        opened_at=opened,
        case_id=f"C-{uuid.uuid4().hex[:8]}",
        order_id="O-1",
        merchant_id=f"m-{uuid.uuid4().hex[:6]}",
        refund_cents=19900,
        reason="坏了",
    )
    workflow_id = f"aftersale-{view.case_id}"
    record_facts(any_engine, case_facts(workflow_id, view))

    rows = [(row.seq, row.kind, row.clock, row.value, row.outcome) for row in facts_of(any_engine, workflow_id)]
    assert sorted(rows) == [
        (0, FactKind.CLOCK_STARTED, "review", None, None),
        (1, FactKind.CLOCK_STEP, "review", None, "remind_24h"),
        (2, FactKind.CLOCK_BREACHED, "review", None, None),
        (2, FactKind.CLOCK_STOPPED, "review", None, None),
        (2, FactKind.DECISION, "review", 1.0, "approved"),
        (4, FactKind.CLOCK_STARTED, "receipt", None, None),
        (5, FactKind.CLOCK_STOPPED, "receipt", None, None),
        (5, FactKind.DECISION, "receipt", 0.0, "approved"),
        (6, FactKind.CLOSED, None, 101 * 3600.0, "resolved"),
    ]
