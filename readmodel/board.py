"""Reads for the SLA board and the daily digest: what needs someone's attention, per merchant and per day.

Chat watches are projected by a process that may not be deployed yet: its table is read when it exists and is
otherwise empty, so the board works on any schema revision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Engine, MetaData, Row, Table, and_, func, inspect, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from domain.facts import FactKind, Process
from domain.work_orders import OPEN
from readmodel.db import UTCDateTime
from readmodel.queries import CLOSED_CASES, PENDING_REVIEW, UNSHIPPED, Page
from readmodel.tables import CaseWatch, Merchant, OrderWatch, SlaFact, WorkOrderWatch

CONVERSATIONS = "conversation_watch"
OPEN_WORK_ORDERS = [status.value for status in OPEN]


def after_sales_waiting(
    engine: Engine, *, now: datetime, older_than: timedelta, merchant_id: str | None = None, limit: int = 500
) -> Page[CaseWatch]:
    """Open cases past their merchant deadline, or awaiting the merchant's decision longer than ``older_than``;
    the oldest first, with how many there are in all."""
    query = _needs_merchant(select(CaseWatch), now=now, older_than=older_than, merchant_id=merchant_id)
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = session.exec(query.order_by(col(CaseWatch.opened_at), col(CaseWatch.workflow_id)).limit(limit)).all()
    return Page(rows, total)


def _needs_merchant(query: Any, *, now: datetime, older_than: timedelta, merchant_id: str | None) -> Any:
    undecided = and_(col(CaseWatch.status) == PENDING_REVIEW, col(CaseWatch.opened_at) <= now - older_than)
    query = query.where(col(CaseWatch.status).not_in(CLOSED_CASES), or_(col(CaseWatch.overdue).is_(True), undecided))
    if merchant_id is not None:
        query = query.where(CaseWatch.merchant_id == merchant_id)
    return query


def optional_table(engine: Engine, name: str, *, times: Sequence[str] = ()) -> Table | None:
    """The table ``name`` as the database has it, or None where its process has not been migrated in yet.

    ``times`` are read as the read model writes them (aware UTC), which reflection alone cannot know.
    """
    inspector = inspect(engine)
    if not inspector.has_table(name):
        return None
    present = {column["name"] for column in inspector.get_columns(name)}
    columns: list[Column[Any]] = [Column(column, UTCDateTime()) for column in times if column in present]
    return Table(name, MetaData(), *columns, autoload_with=engine)


def chat_transfers(engine: Engine, *, merchant_id: str | None = None, limit: int = 500) -> Sequence[Row[Any]]:
    """Conversations handed to the backup agent because the store agent did not reply in time."""
    table = optional_table(engine, CONVERSATIONS, times=("opened_at", "waiting_since"))
    if table is None or "transferred" not in table.c:
        return []
    query = sa_select(table).where(table.c.transferred.is_(True))
    if merchant_id is not None:
        query = query.where(table.c.merchant_id == merchant_id)
    if "opened_at" in table.c:
        query = query.order_by(table.c.opened_at.desc())  # the newest first: what a supervisor acts on
    with engine.connect() as connection:
        return connection.execute(query.limit(limit)).all()


@dataclass
class MerchantAttention:
    """What one merchant has overdue right now (the digest's SMS)."""

    merchant_id: str
    overdue_shipments: int = 0
    overdue_after_sales: int = 0
    breached_work_orders: int = 0

    @property
    def total(self) -> int:
        return self.overdue_shipments + self.overdue_after_sales + self.breached_work_orders


def attention_by_merchant(engine: Engine, *, now: datetime, unprocessed_after: timedelta) -> list[MerchantAttention]:
    """Per merchant with anything overdue: unshipped past the deadline, after-sales overdue or undecided
    longer than ``unprocessed_after``, work orders with a breached clock; by merchant id."""
    found: dict[str, MerchantAttention] = {}

    def get(merchant_id: str) -> MerchantAttention:
        return found.setdefault(merchant_id, MerchantAttention(merchant_id))

    with Session(engine) as session:
        for merchant_id, count in session.exec(
            select(OrderWatch.merchant_id, func.count())
            .where(OrderWatch.status == UNSHIPPED, col(OrderWatch.overdue).is_(True))
            .group_by(OrderWatch.merchant_id)
        ).all():
            get(merchant_id).overdue_shipments = count
        cases = _needs_merchant(
            select(CaseWatch.merchant_id, func.count()), now=now, older_than=unprocessed_after, merchant_id=None
        )
        for merchant_id, count in session.exec(cases.group_by(CaseWatch.merchant_id)).all():
            get(merchant_id).overdue_after_sales = count
        for merchant_id, count in session.exec(
            select(WorkOrderWatch.merchant_id, func.count())
            .where(col(WorkOrderWatch.overdue).is_(True), col(WorkOrderWatch.status).in_(OPEN_WORK_ORDERS))
            .group_by(WorkOrderWatch.merchant_id)
        ).all():
            get(merchant_id).breached_work_orders = count
    return [found[merchant_id] for merchant_id in sorted(found) if found[merchant_id].total]


@dataclass
class DailyBreaches:
    """Breaches per local day over a period, oldest day first."""

    days: list[date]
    counts: dict[date, Counter[str]] = field(default_factory=dict)

    def total(self, day: date) -> int:
        return sum(self.counts.get(day, Counter()).values())


# The chart's kinds, by the process a breach fact comes from.
BREACH_KINDS = {
    Process.ORDER.value: "ship",
    Process.AFTER_SALE.value: "after_sales",
    Process.WORK_ORDER.value: "work_order",
    Process.CONVERSATION.value: "chat",
}


def breaches_per_day(
    engine: Engine, *, start: date, end: date, timezone: str, merchant_id: str | None = None
) -> DailyBreaches:
    """How many merchant deadlines were breached on each day from ``start`` to ``end`` (inclusive, local
    days), by kind (``ship``, ``after_sales``, ``work_order``, ``chat``): the ``clock_breached`` SLA facts,
    the same the KPIs count."""
    zone = ZoneInfo(timezone)
    since = datetime.combine(start, datetime.min.time(), zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    result = DailyBreaches(days=days, counts={day: Counter() for day in days})
    query = select(SlaFact.process, SlaFact.at).where(
        SlaFact.kind == FactKind.CLOCK_BREACHED.value, col(SlaFact.at) >= since, col(SlaFact.at) < until
    )
    if merchant_id is not None:
        query = query.where(SlaFact.merchant_id == merchant_id)
    with Session(engine) as session:
        for process, at in session.exec(query).all():
            day = at.astimezone(zone).date()
            if day in result.counts:
                result.counts[day][BREACH_KINDS.get(process, process)] += 1
    return result


def known_merchants(engine: Engine) -> list[str]:
    """Every merchant the platform has configured, by id (the board's merchant filter)."""
    with Session(engine) as session:
        return sorted(session.exec(select(Merchant.merchant_id)).all())
