"""Writes of the read model: idempotent upserts keyed by workflow id, newest revision wins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from domain.cases import CaseView
from domain.conversations import ConversationRecord
from domain.orders import OrderView
from domain.work_orders import WorkOrderRecord
from readmodel.db import session_scope
from readmodel.tables import CaseWatch, ConversationWatch, OrderWatch, WorkOrderWatch

Row = TypeVar("Row", OrderWatch, CaseWatch, WorkOrderWatch, ConversationWatch)


def upsert_order(engine: Engine, *, workflow_id: str, view: OrderView) -> bool:
    """Records an order watch's ``view`` unless a newer revision of it is already there.

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
    }

    def since(row: OrderWatch) -> None:
        row.anomaly_since = _anomaly_since(row.anomaly_since, view)

    return _upsert(engine, OrderWatch, workflow_id, view.revision, values, since)


def upsert_case(engine: Engine, *, workflow_id: str, view: CaseView) -> bool:
    """Records an after-sales case's ``view`` unless a newer revision is already there."""
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
    }

    def since(row: CaseWatch) -> None:
        row.overdue_since = (row.overdue_since or datetime.now(UTC)) if view.overdue else None

    return _upsert(engine, CaseWatch, workflow_id, view.revision, values, since)


def conversation_watch_id(workflow_id: str, opened_at: datetime) -> str:
    """The read model's key of one conversation: its workflow and when it opened (an id can be reused)."""
    return f"{workflow_id}@{opened_at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


def upsert_conversation(engine: Engine, *, workflow_id: str, record: ConversationRecord) -> bool:
    """Records a conversation unless a newer revision of it is already there."""
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
    return _upsert(engine, ConversationWatch, key, record.revision, values, lambda row: None)


def upsert_work_order(engine: Engine, *, workflow_id: str, record: WorkOrderRecord) -> bool:
    """Records a work order's slim snapshot unless a newer revision is already there."""
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
    }

    def since(row: WorkOrderWatch) -> None:
        row.overdue_since = (row.overdue_since or datetime.now(UTC)) if record.overdue else None

    return _upsert(engine, WorkOrderWatch, workflow_id, record.revision, values, since)


def _upsert(
    engine: Engine,
    table: type[Row],
    workflow_id: str,
    revision: int,
    values: dict[str, Any],
    since: Callable[[Row], None],
) -> bool:
    """Inserts or updates the row of ``workflow_id`` with ``values`` if ``revision`` is newer.

    ``since`` sets the row's "since when" column from what the row held before (an episode that goes on
    keeps its start).
    """

    def write() -> bool:
        with session_scope(engine) as session:
            row = session.get(table, workflow_id, with_for_update=True)
            if row is None:
                row = table(**{_primary_key(table): workflow_id, **values})
            elif row.revision >= revision:
                return False
            since(row)
            for name, value in {**values, "revision": revision, "updated_at": datetime.now(UTC)}.items():
                setattr(row, name, value)
            session.add(row)
            return True

    try:
        return write()
    except IntegrityError:
        # Two first projections of one workflow raced to insert; the row exists now, so compare revisions.
        return write()


def _primary_key(table: type[Row]) -> str:
    """The name of ``table``'s key column (``workflow_id``, or ``watch_id`` for conversations)."""
    name: str = table.__table__.primary_key.columns.keys()[0]  # type: ignore[attr-defined]
    return name


def _anomaly_since(current: datetime | None, view: OrderView) -> datetime | None:
    if view.logistics_anomaly is None:
        return None
    if current is not None:
        return current
    return view.history[-1].at if view.history else datetime.now(UTC)
