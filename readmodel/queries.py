"""Reads of the read model, for the monitoring endpoints, the board and the metrics."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from domain.cases import FINAL, CaseStatus
from domain.orders import OrderStatus
from domain.work_orders import OPEN as OPEN_WORK_ORDERS
from readmodel.tables import CaseWatch, OrderWatch, WorkOrderWatch

UNSHIPPED = OrderStatus.AWAITING_SHIPMENT.value
CLOSED_CASES = [status.value for status in (*FINAL, CaseStatus.REJECTED)]


def overdue_shipments(engine: Engine, *, merchant_id: str | None = None, limit: int = 500) -> Sequence[OrderWatch]:
    """Orders still unshipped past their ship deadline, the longest overdue first."""
    query = select(OrderWatch).where(OrderWatch.status == UNSHIPPED, col(OrderWatch.overdue).is_(True))
    if merchant_id is not None:
        query = query.where(OrderWatch.merchant_id == merchant_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(OrderWatch.ship_deadline_at)).limit(limit)).all()


def logistics_anomalies(engine: Engine, *, merchant_id: str | None = None, limit: int = 500) -> Sequence[OrderWatch]:
    """Shipments with an open logistics anomaly, the oldest first."""
    query = select(OrderWatch).where(col(OrderWatch.logistics_anomaly).is_not(None))
    if merchant_id is not None:
        query = query.where(OrderWatch.merchant_id == merchant_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(OrderWatch.anomaly_since)).limit(limit)).all()


def overdue_after_sales(engine: Engine, *, merchant_id: str | None = None, limit: int = 500) -> Sequence[CaseWatch]:
    """Open after-sales cases past their merchant deadline (review, reshipment, offline refund)."""
    query = select(CaseWatch).where(col(CaseWatch.overdue).is_(True), col(CaseWatch.status).not_in(CLOSED_CASES))
    if merchant_id is not None:
        query = query.where(CaseWatch.merchant_id == merchant_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(CaseWatch.overdue_since)).limit(limit)).all()


def overdue_work_orders(
    engine: Engine, *, merchant_id: str | None = None, limit: int = 500
) -> Sequence[WorkOrderWatch]:
    """Open work orders with a clock past its budget, the longest overdue first."""
    open_statuses = [status.value for status in OPEN_WORK_ORDERS]
    query = select(WorkOrderWatch).where(
        col(WorkOrderWatch.overdue).is_(True), col(WorkOrderWatch.status).in_(open_statuses)
    )
    if merchant_id is not None:
        query = query.where(WorkOrderWatch.merchant_id == merchant_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(WorkOrderWatch.overdue_since)).limit(limit)).all()


def open_counts_by_merchant(engine: Engine) -> dict[str, dict[str, int]]:
    """Per merchant: overdue unshipped orders, overdue after-sales, open logistics anomalies (``/metrics``)."""
    counts: dict[str, dict[str, int]] = {}
    with Session(engine) as session:
        overdue = session.exec(
            select(OrderWatch.merchant_id, func.count())
            .where(OrderWatch.status == UNSHIPPED, col(OrderWatch.overdue).is_(True))
            .group_by(OrderWatch.merchant_id)
        ).all()
        anomalies = session.exec(
            select(OrderWatch.merchant_id, func.count())
            .where(col(OrderWatch.logistics_anomaly).is_not(None))
            .group_by(OrderWatch.merchant_id)
        ).all()
        cases = session.exec(
            select(CaseWatch.merchant_id, func.count())
            .where(col(CaseWatch.overdue).is_(True), col(CaseWatch.status).not_in(CLOSED_CASES))
            .group_by(CaseWatch.merchant_id)
        ).all()
    for merchant_id, count in cases:
        counts.setdefault(merchant_id, {})["overdue_after_sales"] = count
    for merchant_id, count in overdue:
        counts.setdefault(merchant_id, {})["overdue_shipments"] = count
    for merchant_id, count in anomalies:
        counts.setdefault(merchant_id, {})["logistics_anomalies"] = count
    return counts


def order_of_case(engine: Engine, *, workflow_id: str) -> str | None:
    """The order a case (by its workflow id) was opened on, if the read model has ever seen it.

    The read model keeps a case's row after Temporal has forgotten its closed workflow (retention), so
    the API can refuse a case id used before on another order however long ago.
    """
    with Session(engine) as session:
        row = session.get(CaseWatch, workflow_id)
        return row.order_id if row is not None else None
