"""Writes of the read model: idempotent upserts keyed by workflow id, newest revision wins.

A projection is one statement and one transaction: ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE
revision < excluded.revision`` for the row, then the facts it carries (:func:`readmodel.facts.add_facts`),
committed together. The statements are SQLAlchemy Core built once per table and dialect, so each call only
binds values: the worker runs one projection per workflow task, and compiling ORM statements for each was
the larger part of its CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from domain.cases import CaseView
from domain.conversations import ConversationRecord
from domain.facts import Fact
from domain.orders import OrderView
from domain.work_orders import WorkOrderRecord
from readmodel.db import one_writer
from readmodel.facts import add_facts
from readmodel.tables import CaseWatch, ConversationWatch, OrderWatch, WorkOrderWatch

# "Since when" columns: an episode that goes on keeps the start the row holds; one that starts takes the
# start this projection brings; none going on clears it. The projection's value is None exactly when none is.
_SINCE = frozenset({"anomaly_since", "overdue_since"})


def upsert_order(engine: Engine, *, workflow_id: str, view: OrderView, facts: Sequence[Fact] = ()) -> bool:
    """Records an order watch's ``view`` unless a newer revision of it is already there, and the new ``facts``.

    Returns:
        Whether the row changed. A replayed or late projection (same or older revision) changes nothing.
    """
    values: dict[str, Any] = {
        "order_id": view.order_id,
        "merchant_id": view.merchant_id,
        "customer_id": view.customer_id,
        "status": view.status.value,
        "overdue": view.overdue,
        "paid_at": view.paid_at,
        "ship_deadline_at": view.ship_deadline_at,
        "deadline_at": view.deadline_at,
        "shipped_at": view.shipped_at,
        "delivered_at": view.delivered_at,
        "window_ends_at": view.after_sales_window_ends_at,
        "carrier": view.carrier,
        "tracking_no": view.tracking_no,
        "logistics_anomaly": view.logistics_anomaly.value if view.logistics_anomaly else None,
        "anomaly_since": _anomaly_start(view),
    }
    table: Table = OrderWatch.__table__  # type: ignore[attr-defined]
    return _upsert(engine, table, workflow_id, view.revision, values, facts)


def upsert_case(engine: Engine, *, workflow_id: str, view: CaseView, facts: Sequence[Fact] = ()) -> bool:
    """Records an after-sales case's ``view`` unless a newer revision is already there, and the new ``facts``."""
    values: dict[str, Any] = {
        "case_id": view.case_id,
        "order_id": view.order_id,
        "merchant_id": view.merchant_id,
        "kind": view.kind.value,
        "status": view.status.value,
        "overdue": view.overdue,
        "auto_decided": view.auto_decided,
        "refund_cents": view.refund_cents,
        "refunded_cents": view.refunded_cents,
        "deadline_at": view.deadline_at,
        "opened_at": view.opened_at,
        "work_order_id": view.work_order_id,
        "overdue_since": datetime.now(UTC) if view.overdue else None,
    }
    table: Table = CaseWatch.__table__  # type: ignore[attr-defined]
    return _upsert(engine, table, workflow_id, view.revision, values, facts)


def conversation_watch_id(workflow_id: str, opened_at: datetime) -> str:
    """The read model's key of one conversation: its workflow and when it opened (an id can be reused)."""
    return f"{workflow_id}@{opened_at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


def upsert_conversation(
    engine: Engine, *, workflow_id: str, record: ConversationRecord, facts: Sequence[Fact] = ()
) -> bool:
    """Records a conversation unless a newer revision of it is already there, and the new ``facts``."""
    values: dict[str, Any] = {
        "workflow_id": workflow_id,
        "conversation_id": record.conversation_id,
        "merchant_id": record.merchant_id,
        "agent_id": record.agent_id,
        "status": record.status.value,
        "transferred": record.transferred,
        "supervisor_told": record.supervisor_told,
        "first_reply_seconds": record.first_reply_seconds,
        "waiting_since": record.waiting_since,
        "deadline_at": record.deadline_at,
        "opened_at": record.opened_at,
    }
    key = conversation_watch_id(workflow_id, record.opened_at)
    table: Table = ConversationWatch.__table__  # type: ignore[attr-defined]
    return _upsert(engine, table, key, record.revision, values, facts)


def upsert_work_order(engine: Engine, *, workflow_id: str, record: WorkOrderRecord, facts: Sequence[Fact] = ()) -> bool:
    """Records a work order's slim snapshot unless a newer revision is already there, and the new ``facts``."""
    values: dict[str, Any] = {
        "work_order_id": record.work_order_id,
        "merchant_id": record.merchant_id,
        "category": record.category.value,
        "status": record.status.value,
        "priority": record.priority.value,
        "assignee_id": record.assignee_id,
        "escalation_level": record.escalation_level,
        "overdue": record.overdue,
        "breached_clocks": list(record.breached_clocks),
        "deadline_at": record.deadline_at,
        "opened_at": record.opened_at,
        "first_response_at": record.first_response_at,
        "resolved_at": record.resolved_at,
        "satisfaction": record.satisfaction,
        "case_id": record.case_id,
        "overdue_since": datetime.now(UTC) if record.overdue else None,
    }
    table: Table = WorkOrderWatch.__table__  # type: ignore[attr-defined]
    return _upsert(engine, table, workflow_id, record.revision, values, facts)


def _upsert(
    engine: Engine, table: Table, key: str, revision: int, values: dict[str, Any], facts: Sequence[Fact]
) -> bool:
    """Inserts or updates the row ``key`` of ``table`` with ``values`` if ``revision`` is newer; adds ``facts``.

    ``ON CONFLICT`` makes the insert race-free: two first projections of one workflow no longer collide on
    the key (PostgreSQL makes the second wait for the first and then update; SQLite has one writer at a
    time), so there is no IntegrityError to catch. On PostgreSQL the conflicting row stays locked to the end
    of the transaction even when the revision check skips it, so projections of one workflow (their facts
    too) still follow one another.

    The row goes first: on SQLite its INSERT opens the write transaction, so the facts' SELECT that follows
    never has to upgrade a read transaction (which WAL can refuse outright, without waiting).

    Returns:
        Whether the row changed: RETURNING yields nothing when the revision check skipped the update.
    """
    params = {**values, _key_of(table): key, "revision": revision, "updated_at": datetime.now(UTC)}
    statement = _upsert_statement(table, engine.dialect.name, tuple(params))
    with one_writer(engine), engine.begin() as connection:
        changed = connection.execute(statement, params).first() is not None
        add_facts(connection, facts)
    return changed


@cache
def _upsert_statement(table: Table, dialect: str, columns: tuple[str, ...]) -> Insert:
    """The upsert of ``columns`` into ``table``, built once: each call binds its values to the same statement."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    excluded = statement.excluded
    key = _key_of(table)
    update: dict[str, ColumnElement[Any]] = {}
    for name in columns:
        if name == key:
            continue
        if name in _SINCE:
            update[name] = case((excluded[name].is_(None), None), else_=func.coalesce(table.c[name], excluded[name]))
        else:
            update[name] = excluded[name]
    upsert = statement.on_conflict_do_update(
        index_elements=[key], set_=update, where=table.c.revision < excluded.revision
    )
    return upsert.returning(table.c.revision)


def _key_of(table: Table) -> str:
    """The name of ``table``'s key column (``workflow_id``, or ``watch_id`` for conversations)."""
    name: str = table.primary_key.columns.keys()[0]
    return name


def _anomaly_start(view: OrderView) -> datetime | None:
    """When the anomaly ``view`` reports began if it began now: its last history entry; None without one."""
    if view.logistics_anomaly is None:
        return None
    return view.history[-1].at if view.history else datetime.now(UTC)
