"""The board's and the digest's reads on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from domain.cases import CaseKind, CaseStatus, CaseView
from domain.facts import Fact, FactKind, Process
from domain.orders import OrderStatus
from domain.work_orders import WorkOrderRecord
from readmodel.board import after_sales_waiting, attention_by_merchant, breaches_per_day, chat_transfers
from readmodel.db import make_engine
from readmodel.projection import upsert_case, upsert_work_order
from readmodel.tables import CaseWatch, Merchant, OrderWatch
from tests.factories import project_order, record_facts

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ZONE = "Asia/Shanghai"
DAY = timedelta(hours=24)


def order(
    engine: Engine, merchant_id: str, *, paid_at: datetime, overdue: bool, status: str = "awaiting_shipment"
) -> str:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    return project_order(
        engine, order_id=order_id, merchant_id=merchant_id, paid_at=paid_at, overdue=overdue, status=OrderStatus(status)
    )


def case(engine: Engine, merchant_id: str, *, opened_at: datetime, overdue: bool, status: CaseStatus) -> str:
    case_id = f"C-{uuid.uuid4().hex[:8]}"
    view = CaseView(
        case_id=case_id,
        order_id="O-x",
        merchant_id=merchant_id,
        customer_id="c-1",
        kind=CaseKind.REFUND_ONLY,
        status=status,
        reason="broken",
        lines=[],
        refund_cents=100,
        deadline_at=None,
        overdue=overdue,
        opened_at=opened_at,
        revision=1,
    )
    upsert_case(engine, workflow_id=f"aftersale-{case_id}", view=view)
    return case_id


def merchant() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def test_after_sales_waiting_on_a_merchant_are_the_overdue_and_the_long_undecided(any_engine: Engine) -> None:
    m = merchant()
    overdue = case(any_engine, m, opened_at=NOW - timedelta(hours=50), overdue=True, status=CaseStatus.AWAITING_RECEIPT)
    undecided = case(
        any_engine, m, opened_at=NOW - timedelta(hours=25), overdue=False, status=CaseStatus.PENDING_REVIEW
    )
    case(any_engine, m, opened_at=NOW - timedelta(hours=2), overdue=False, status=CaseStatus.PENDING_REVIEW)
    case(any_engine, m, opened_at=NOW - timedelta(hours=90), overdue=False, status=CaseStatus.AWAITING_RETURN)
    case(any_engine, m, opened_at=NOW - timedelta(hours=90), overdue=True, status=CaseStatus.COMPLETED)

    rows = after_sales_waiting(any_engine, now=NOW, older_than=timedelta(hours=24), merchant_id=m)
    assert [row.case_id for row in rows] == [overdue, undecided]  # the oldest first
    assert rows.total == 2
    first = after_sales_waiting(any_engine, now=NOW, older_than=timedelta(hours=24), merchant_id=m, limit=1)
    assert ([row.case_id for row in first], first.total) == ([overdue], 2)


def test_attention_counts_only_merchants_with_something_overdue(any_engine: Engine) -> None:
    busy, calm = merchant(), merchant()
    order(any_engine, busy, paid_at=NOW - timedelta(hours=80), overdue=True)
    order(any_engine, busy, paid_at=NOW - timedelta(hours=75), overdue=True)
    order(any_engine, busy, paid_at=NOW - timedelta(hours=90), overdue=True, status="shipped")  # shipped late: done
    case(any_engine, busy, opened_at=NOW - timedelta(hours=30), overdue=False, status=CaseStatus.PENDING_REVIEW)
    order(any_engine, calm, paid_at=NOW - timedelta(hours=5), overdue=False)

    found = {
        item.merchant_id: item
        for item in attention_by_merchant(any_engine, now=NOW, unprocessed_after=timedelta(hours=24))
    }
    assert calm not in found
    assert (found[busy].overdue_shipments, found[busy].overdue_after_sales) == (2, 1)


def breach(engine: Engine, merchant_id: str, at: datetime, process: Process = Process.ORDER) -> None:
    key = f"{uuid.uuid4().hex}:breached"
    record_facts(
        engine,
        [
            Fact(
                key=key,
                workflow_id=f"wf-{key[:8]}",
                seq=1,
                process=process,
                merchant_id=merchant_id,
                kind=FactKind.CLOCK_BREACHED,
                clock="ship",
                at=at,
                event="overdue",
            )
        ],
    )


def test_breaches_fall_on_the_day_they_happened_where_people_read_it(any_engine: Engine) -> None:
    m = merchant()
    breach(any_engine, m, datetime(2026, 11, 24, 17, 30, tzinfo=UTC))  # already the 25th in Shanghai
    breach(any_engine, m, datetime(2026, 11, 24, 15, 30, tzinfo=UTC))  # the 24th, 23:30 in Shanghai
    breach(any_engine, m, datetime(2026, 11, 24, 15, 0, tzinfo=UTC), Process.AFTER_SALE)
    breach(any_engine, m, datetime(2026, 11, 22, 15, 0, tzinfo=UTC))  # before the period
    breach(any_engine, merchant(), datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # another merchant

    breaches = breaches_per_day(
        any_engine, start=date(2026, 11, 23), end=date(2026, 11, 26), timezone=ZONE, merchant_id=m
    )
    assert breaches.days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)]
    assert [breaches.total(day) for day in breaches.days] == [0, 2, 1, 0]
    assert breaches.counts[date(2026, 11, 24)] == {"ship": 1, "after_sales": 1}


def work_order(engine: Engine, merchant_id: str, *, overdue: bool, status: str = "in_progress") -> str:
    work_order_id = f"W-{uuid.uuid4().hex[:8]}"
    record = WorkOrderRecord(
        work_order_id=work_order_id,
        merchant_id=merchant_id,
        category="quality",
        status=status,
        priority="normal",
        assignee_id="a-1",
        escalation_level=1 if overdue else 0,
        overdue=overdue,
        deadline_at=NOW,
        breached_clocks=["resolution"] if overdue else [],
        opened_at=NOW - timedelta(hours=30),
        first_response_at=None,
        resolved_at=None,
        satisfaction=None,
        case_id=None,
        revision=1,
    )
    upsert_work_order(engine, workflow_id=f"workorder-{work_order_id}", record=record)
    return work_order_id


def test_attention_counts_open_work_orders_past_a_clock(any_engine: Engine) -> None:
    m = merchant()
    work_order(any_engine, m, overdue=True)
    work_order(any_engine, m, overdue=True, status="appealed")
    work_order(any_engine, m, overdue=True, status="closed")  # over: not waiting on anyone
    work_order(any_engine, m, overdue=False)

    found = {item.merchant_id: item for item in attention_by_merchant(any_engine, now=NOW, unprocessed_after=DAY)}
    assert (found[m].overdue_shipments, found[m].overdue_after_sales, found[m].breached_work_orders) == (0, 0, 2)


def test_a_database_without_chat_watches_yet_reads_as_none(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'older.db'}")
    tables = [model.__table__ for model in (OrderWatch, CaseWatch, Merchant)]  # type: ignore[attr-defined]
    SQLModel.metadata.create_all(engine, tables=tables)

    assert chat_transfers(engine) == []
    engine.dispose()


def test_chat_transfers_are_read_from_the_chat_watch_table_once_it_exists(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'chats.db'}")
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE conversation_watch (watch_id VARCHAR PRIMARY KEY, conversation_id VARCHAR,"
                " merchant_id VARCHAR, agent_id VARCHAR, transferred BOOLEAN, opened_at DATETIME)"
            )
        )
        for watch_id, merchant_id, transferred, opened_at in (
            ("w1", "m-a", True, "2026-11-25 01:00:00.000000"),
            ("w2", "m-a", False, "2026-11-25 02:00:00.000000"),
            ("w3", "m-a", True, "2026-11-25 03:00:00.000000"),
            ("w4", "m-b", True, "2026-11-25 04:00:00.000000"),
        ):
            connection.execute(
                text("INSERT INTO conversation_watch VALUES (:w, :c, :m, 'a-1', :t, :o)"),
                {"w": watch_id, "c": f"chat-{watch_id}", "m": merchant_id, "t": transferred, "o": opened_at},
            )

    rows = chat_transfers(engine, merchant_id="m-a")
    assert [row.conversation_id for row in rows] == ["chat-w3", "chat-w1"]  # the newest first
    assert rows[0].opened_at == datetime(2026, 11, 25, 3, tzinfo=UTC)
    engine.dispose()
