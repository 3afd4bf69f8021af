"""Writes of the read model: idempotent upserts keyed by workflow id, newest revision wins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from domain.cases import CaseView
from domain.orders import OrderView
from readmodel.db import session_scope
from readmodel.tables import CaseWatch, OrderWatch


def upsert_order(engine: Engine, *, workflow_id: str, view: OrderView) -> bool:
    """Records ``view`` unless a newer revision of the same watch is already there.

    Returns:
        Whether the row changed. A replayed or late projection (same or older revision) changes nothing.
    """
    try:
        return _upsert_order(engine, workflow_id, view)
    except IntegrityError:
        # Two first projections of one watch raced to insert; the row exists now, so compare revisions.
        return _upsert_order(engine, workflow_id, view)


def _upsert_order(engine: Engine, workflow_id: str, view: OrderView) -> bool:
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
        "revision": view.revision,
        "updated_at": datetime.now(UTC),
    }
    with session_scope(engine) as session:
        row = session.get(OrderWatch, workflow_id, with_for_update=True)
        if row is None:
            session.add(OrderWatch(workflow_id=workflow_id, anomaly_since=_anomaly_since(None, view), **values))
            return True
        if row.revision >= view.revision:
            return False
        row.anomaly_since = _anomaly_since(row, view)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        return True


def _anomaly_since(row: OrderWatch | None, view: OrderView) -> datetime | None:
    if view.logistics_anomaly is None:
        return None
    if row is not None and row.logistics_anomaly and row.anomaly_since:
        return row.anomaly_since
    return view.history[-1].at if view.history else datetime.now(UTC)


def upsert_case(engine: Engine, *, workflow_id: str, view: CaseView) -> bool:
    """Records a case's ``view`` unless a newer revision is already there (see :func:`upsert_order`)."""
    try:
        return _upsert_case(engine, workflow_id, view)
    except IntegrityError:
        return _upsert_case(engine, workflow_id, view)


def _upsert_case(engine: Engine, workflow_id: str, view: CaseView) -> bool:
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
        "revision": view.revision,
        "updated_at": datetime.now(UTC),
    }
    with session_scope(engine) as session:
        row = session.get(CaseWatch, workflow_id, with_for_update=True)
        if row is None:
            row = CaseWatch(workflow_id=workflow_id, **values)
        elif row.revision >= view.revision:
            return False
        else:
            for name, value in values.items():
                setattr(row, name, value)
        row.overdue_since = (row.overdue_since or datetime.now(UTC)) if view.overdue else None
        session.add(row)
        return True
