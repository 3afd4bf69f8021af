"""The read model on SQLite and on PostgreSQL: idempotent projection and the monitoring lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from domain.cases import CaseKind, CaseStatus, CaseView
from domain.conversations import ConversationRecord, ConversationStatus
from domain.facts import Fact, order_facts
from domain.orders import HistoryEntry, LineState, OrderStatus, OrderView
from domain.work_orders import WorkOrderRecord
from readmodel.merchants import get_merchant, put_merchant
from readmodel.projection import (
    conversation_watch_id,
    upsert_case,
    upsert_conversation,
    upsert_order,
    upsert_work_order,
)
from readmodel.queries import logistics_anomalies, open_counts_by_merchant, overdue_shipments
from readmodel.tables import CaseWatch, ConversationWatch, OrderWatch, SlaFact, WorkOrderWatch
from tests.factories import order_view

PAID = datetime(2026, 11, 1, 10, tzinfo=UTC)


def view(merchant_id: str, revision: int, **changes: object) -> OrderView:
    return order_view(
        f"O-{uuid.uuid4().hex[:8]}",
        merchant_id,
        PAID,
        revision=revision,
        **{
            "lines": [LineState(line_id="L1", quantity=1)],
            "history": [HistoryEntry(at=PAID, event="order_paid", actor="customer")],
            **changes,
        },
    )


def test_a_newer_revision_replaces_the_row_and_an_older_one_is_ignored(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    first = view(merchant, revision=1)
    workflow_id = f"order-{first.order_id}"
    assert upsert_order(any_engine, workflow_id=workflow_id, view=first)
    overdue = first.model_copy(update={"revision": 3, "overdue": True})
    assert upsert_order(any_engine, workflow_id=workflow_id, view=overdue)
    assert not upsert_order(any_engine, workflow_id=workflow_id, view=first.model_copy(update={"revision": 2}))
    assert not upsert_order(any_engine, workflow_id=workflow_id, view=overdue)  # a retried projection

    with Session(any_engine) as session:
        row = session.get(OrderWatch, workflow_id)
        assert row is not None
        assert (row.revision, row.overdue) == (3, True)
        assert row.paid_at == PAID  # time zones survive SQLite too


def test_overdue_shipments_lists_only_unshipped_overdue_orders_of_the_merchant(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    late = view(merchant, 2, overdue=True)
    shipped_late = view(merchant, 3, overdue=True, status=OrderStatus.SHIPPED)
    on_time = view(merchant, 1)
    other = view(f"m-{uuid.uuid4().hex[:6]}", 2, overdue=True)
    for item in (late, shipped_late, on_time, other):
        upsert_order(any_engine, workflow_id=f"order-{item.order_id}", view=item)

    assert [row.order_id for row in overdue_shipments(any_engine, merchant_id=merchant)] == [late.order_id]
    assert open_counts_by_merchant(any_engine)[merchant] == {"overdue_shipments": 1}


def test_an_anomaly_keeps_its_start_until_it_is_cleared(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    shipped = view(merchant, 2, status=OrderStatus.SHIPPED, deadline_at=None)
    workflow_id = f"order-{shipped.order_id}"
    raised_at = PAID + timedelta(days=4)
    stalled = OrderView.model_validate(
        {
            **shipped.model_dump(),
            "revision": 3,
            "logistics_anomaly": "stalled",
            "history": [*shipped.history, HistoryEntry(at=raised_at, event="logistics_anomaly", actor="system")],
        }
    )
    upsert_order(any_engine, workflow_id=workflow_id, view=stalled)
    upsert_order(any_engine, workflow_id=workflow_id, view=stalled.model_copy(update={"revision": 4}))
    rows = logistics_anomalies(any_engine, merchant_id=merchant)
    assert [(row.order_id, row.anomaly_since) for row in rows] == [(shipped.order_id, raised_at)]

    upsert_order(
        any_engine, workflow_id=workflow_id, view=stalled.model_copy(update={"revision": 5, "logistics_anomaly": None})
    )
    assert logistics_anomalies(any_engine, merchant_id=merchant) == []


def test_a_merchant_is_created_then_replaced(any_engine: Engine) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:6]}"
    values = {
        "name": "店",
        "head_mobile": "13900000001",
        "supervisor_mobile": "13900000002",
        "agents": [{"agent_id": "a", "name": "A", "mobile": "13900000003"}],
        "policy": {"ship_deadline": "48h"},
    }
    put_merchant(any_engine, merchant_id=merchant_id, values=values)
    put_merchant(any_engine, merchant_id=merchant_id, values={**values, "name": "新店", "policy": {}})
    merchant = get_merchant(any_engine, merchant_id=merchant_id)
    assert merchant is not None
    assert (merchant.name, merchant.policy, merchant.agents[0]["agent_id"]) == ("新店", {}, "a")


def order_row(engine: Engine, workflow_id: str) -> OrderWatch:
    with Session(engine) as session:
        row = session.get(OrderWatch, workflow_id)
    assert row is not None
    return row


def with_anomaly(base: OrderView, revision: int, raised_at: datetime | None) -> OrderView:
    """``base`` at ``revision``, stalled since an entry at ``raised_at`` (None: no anomaly, nothing added)."""
    if raised_at is None:
        return base.model_copy(update={"revision": revision, "logistics_anomaly": None})
    entry = HistoryEntry(at=raised_at, event="logistics_anomaly", actor="system")
    return OrderView.model_validate(
        {**base.model_dump(), "revision": revision, "logistics_anomaly": "stalled", "history": [*base.history, entry]}
    )


def test_an_anomaly_starts_at_its_entry_goes_on_ends_and_starts_anew(any_engine: Engine) -> None:
    shipped = view(f"m-{uuid.uuid4().hex[:6]}", 1, status=OrderStatus.SHIPPED, deadline_at=None)
    workflow_id = f"order-{shipped.order_id}"
    first, later, again = (PAID + timedelta(days=days) for days in (3, 4, 6))
    assert upsert_order(any_engine, workflow_id=workflow_id, view=shipped)
    assert order_row(any_engine, workflow_id).anomaly_since is None

    assert upsert_order(any_engine, workflow_id=workflow_id, view=with_anomaly(shipped, 2, first))  # starts
    assert order_row(any_engine, workflow_id).anomaly_since == first
    assert upsert_order(any_engine, workflow_id=workflow_id, view=with_anomaly(shipped, 3, later))  # goes on
    assert (order_row(any_engine, workflow_id).anomaly_since, order_row(any_engine, workflow_id).revision) == (first, 3)

    assert upsert_order(any_engine, workflow_id=workflow_id, view=with_anomaly(shipped, 4, None))  # cleared
    assert order_row(any_engine, workflow_id).anomaly_since is None
    assert not upsert_order(any_engine, workflow_id=workflow_id, view=with_anomaly(shipped, 3, later))  # late
    assert order_row(any_engine, workflow_id).anomaly_since is None

    assert upsert_order(any_engine, workflow_id=workflow_id, view=with_anomaly(shipped, 5, again))  # a new one
    row = order_row(any_engine, workflow_id)
    assert (row.anomaly_since, row.logistics_anomaly, row.revision) == (again, "stalled", 5)


def case_view(revision: int, *, overdue: bool, case_id: str = "C-1") -> CaseView:
    return CaseView(
        case_id=case_id,
        order_id="O-x",
        merchant_id="m-1",
        customer_id="c-1",
        kind=CaseKind.REFUND_ONLY,
        status=CaseStatus.PENDING_REVIEW,
        reason="broken",
        lines=[],
        refund_cents=100 * revision,
        deadline_at=PAID + timedelta(hours=48),
        overdue=overdue,
        opened_at=PAID,
        revision=revision,
    )


def work_order_record(revision: int, *, overdue: bool, work_order_id: str = "W-1") -> WorkOrderRecord:
    return WorkOrderRecord(
        work_order_id=work_order_id,
        merchant_id="m-1",
        category="quality",
        status="in_progress",
        priority="normal",
        assignee_id="a-1",
        escalation_level=revision,
        overdue=overdue,
        deadline_at=PAID + timedelta(hours=24),
        breached_clocks=["resolution"] if overdue else [],
        opened_at=PAID,
        first_response_at=None,
        resolved_at=None,
        satisfaction=None,
        case_id=None,
        revision=revision,
    )


@pytest.mark.parametrize("kind", ["case", "work_order"])
def test_overdue_since_is_set_when_it_becomes_overdue_kept_while_it_stays_and_cleared(
    any_engine: Engine, kind: str
) -> None:
    item_id = uuid.uuid4().hex[:8]
    table: type[CaseWatch | WorkOrderWatch]
    if kind == "case":
        workflow_id, table = f"aftersale-C-{item_id}", CaseWatch

        def project(revision: int, overdue: bool) -> bool:
            item = case_view(revision, overdue=overdue, case_id=f"C-{item_id}")
            return upsert_case(any_engine, workflow_id=workflow_id, view=item)
    else:
        workflow_id, table = f"workorder-W-{item_id}", WorkOrderWatch

        def project(revision: int, overdue: bool) -> bool:
            record = work_order_record(revision, overdue=overdue, work_order_id=f"W-{item_id}")
            return upsert_work_order(any_engine, workflow_id=workflow_id, record=record)

    def since() -> tuple[datetime | None, int]:
        with Session(any_engine) as session:
            row = session.get(table, workflow_id)
        assert row is not None
        return row.overdue_since, row.revision

    assert project(1, overdue=False)
    assert since() == (None, 1)
    before = datetime.now(UTC)
    assert project(2, overdue=True)
    became, _ = since()
    assert became is not None
    assert before <= became <= datetime.now(UTC)
    assert project(3, overdue=True)
    assert since() == (became, 3)  # still overdue: the episode keeps its start
    assert not project(2, overdue=True)  # a late projection
    assert not project(3, overdue=False)  # a retried one that would clear it
    assert since() == (became, 3)
    assert project(4, overdue=False)
    assert since() == (None, 4)
    assert project(5, overdue=True)
    again, _ = since()
    assert again is not None
    assert again > became


def test_an_older_conversation_revision_is_ignored(any_engine: Engine) -> None:
    conversation_id = f"c-{uuid.uuid4().hex[:8]}"

    def record(revision: int, status: ConversationStatus) -> ConversationRecord:
        return ConversationRecord(
            conversation_id=conversation_id,
            merchant_id="m-1",
            agent_id="a-1",
            status=status,
            transferred=False,
            supervisor_told=False,
            first_reply_seconds=None,
            waiting_since=PAID,
            deadline_at=PAID + timedelta(minutes=3),
            opened_at=PAID,
            revision=revision,
        )

    workflow_id = f"chat-{conversation_id}"
    assert upsert_conversation(any_engine, workflow_id=workflow_id, record=record(1, ConversationStatus.AWAITING_REPLY))
    assert upsert_conversation(any_engine, workflow_id=workflow_id, record=record(3, ConversationStatus.OPEN))
    assert not upsert_conversation(
        any_engine, workflow_id=workflow_id, record=record(2, ConversationStatus.AWAITING_REPLY)
    )
    with Session(any_engine) as session:
        row = session.get(ConversationWatch, conversation_watch_id(workflow_id, PAID))
    assert row is not None
    assert (row.status, row.revision) == (ConversationStatus.OPEN.value, 3)


def test_a_projection_writes_its_new_facts_once_and_with_its_row_or_not_at_all(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    first = view(merchant, 1)
    workflow_id = f"order-{first.order_id}"
    reminded = OrderView.model_validate(
        {
            **first.model_dump(),
            "revision": 2,
            "history": [
                *first.history,
                HistoryEntry(
                    at=PAID + timedelta(hours=24), event="reminder_sent", actor="system", detail="ship remind_24h"
                ),
            ],
        }
    )

    def facts() -> list[str]:
        with Session(any_engine) as session:
            return sorted(session.exec(select(SlaFact.kind).where(SlaFact.workflow_id == workflow_id)))

    assert upsert_order(any_engine, workflow_id=workflow_id, view=first, facts=order_facts(workflow_id, first))
    assert upsert_order(any_engine, workflow_id=workflow_id, view=reminded, facts=order_facts(workflow_id, reminded))
    assert not upsert_order(
        any_engine, workflow_id=workflow_id, view=reminded, facts=order_facts(workflow_id, reminded)
    )
    assert facts() == ["clock_started", "clock_step"]

    # A fact the database refuses (no event) undoes the row of the same projection.
    broken = Fact.model_construct(**{**order_facts(workflow_id, reminded)[0].model_dump(), "key": "x", "event": None})
    with pytest.raises(IntegrityError):
        upsert_order(
            any_engine, workflow_id=workflow_id, view=reminded.model_copy(update={"revision": 3}), facts=[broken]
        )
    assert order_row(any_engine, workflow_id).revision == 2
    assert facts() == ["clock_started", "clock_step"]
