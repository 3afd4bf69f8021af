"""Reads of the read model, for the monitoring endpoints, the board and the metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from domain.cases import FINAL, CaseStatus
from domain.orders import OrderStatus
from domain.work_orders import OPEN as OPEN_WORK_ORDERS
from readmodel.tables import CaseWatch, OrderWatch, WorkOrderWatch

UNSHIPPED = OrderStatus.AWAITING_SHIPMENT.value
CLOSED_CASES = [status.value for status in (*FINAL, CaseStatus.REJECTED)]
PENDING_REVIEW = CaseStatus.PENDING_REVIEW.value

Row = TypeVar("Row", bound=SQLModel)


class Page(list[Row]):
    """One page of a monitoring list (a list of its rows) and how many rows the whole list holds."""

    def __init__(self, rows: Iterable[Row], total: int) -> None:
        super().__init__(rows)
        self.total = total


def _page(engine: Engine, query: SelectOfScalar[Row], order: Any, limit: int, offset: int) -> Page[Row]:
    """The rows of ``query`` from ``offset`` (at most ``limit``) in ``order``, and their true total.

    The order ends with the primary key, so pages never overlap or skip a row when times tie.
    """
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = session.exec(query.order_by(*order).offset(offset).limit(limit)).all()
    return Page(rows, total)


def overdue_shipments(
    engine: Engine, *, merchant_id: str | None = None, limit: int = 500, offset: int = 0
) -> Page[OrderWatch]:
    """Orders still unshipped past their ship deadline, the longest overdue first."""
    query = select(OrderWatch).where(OrderWatch.status == UNSHIPPED, col(OrderWatch.overdue).is_(True))
    if merchant_id is not None:
        query = query.where(OrderWatch.merchant_id == merchant_id)
    order = (col(OrderWatch.ship_deadline_at), col(OrderWatch.workflow_id))
    return _page(engine, query, order, limit, offset)


def logistics_anomalies(
    engine: Engine, *, merchant_id: str | None = None, limit: int = 500, offset: int = 0
) -> Page[OrderWatch]:
    """Shipments with an open logistics anomaly, the oldest first."""
    query = select(OrderWatch).where(col(OrderWatch.logistics_anomaly).is_not(None))
    if merchant_id is not None:
        query = query.where(OrderWatch.merchant_id == merchant_id)
    return _page(engine, query, (col(OrderWatch.anomaly_since), col(OrderWatch.workflow_id)), limit, offset)


def overdue_after_sales(
    engine: Engine, *, merchant_id: str | None = None, limit: int = 500, offset: int = 0
) -> Page[CaseWatch]:
    """Open after-sales cases past their merchant deadline (review, reshipment, offline refund)."""
    query = select(CaseWatch).where(col(CaseWatch.overdue).is_(True), col(CaseWatch.status).not_in(CLOSED_CASES))
    if merchant_id is not None:
        query = query.where(CaseWatch.merchant_id == merchant_id)
    return _page(engine, query, (col(CaseWatch.overdue_since), col(CaseWatch.workflow_id)), limit, offset)


def unprocessed_after_sales(
    engine: Engine,
    *,
    opened_before: datetime,
    merchant_id: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> Page[CaseWatch]:
    """Cases still awaiting the merchant's decision (``pending_review``) opened before ``opened_before``.

    Breached or not: a merchant whose review deadline is 48 h is listed after 24 h too. The oldest first.
    """
    query = select(CaseWatch).where(CaseWatch.status == PENDING_REVIEW, col(CaseWatch.opened_at) <= opened_before)
    if merchant_id is not None:
        query = query.where(CaseWatch.merchant_id == merchant_id)
    return _page(engine, query, (col(CaseWatch.opened_at), col(CaseWatch.workflow_id)), limit, offset)


def overdue_work_orders(
    engine: Engine, *, merchant_id: str | None = None, limit: int = 500, offset: int = 0
) -> Page[WorkOrderWatch]:
    """Open work orders with a clock past its budget, the longest overdue first."""
    open_statuses = [status.value for status in OPEN_WORK_ORDERS]
    query = select(WorkOrderWatch).where(
        col(WorkOrderWatch.overdue).is_(True), col(WorkOrderWatch.status).in_(open_statuses)
    )
    if merchant_id is not None:
        query = query.where(WorkOrderWatch.merchant_id == merchant_id)
    order = (col(WorkOrderWatch.overdue_since), col(WorkOrderWatch.workflow_id))
    return _page(engine, query, order, limit, offset)


def work_orders_opened(
    engine: Engine, *, since: datetime, until: datetime, merchant_id: str | None = None
) -> Sequence[WorkOrderWatch]:
    """The work orders opened in ``[since, until)``, in the order they were opened (the CSV export)."""
    query = select(WorkOrderWatch).where(col(WorkOrderWatch.opened_at) >= since, col(WorkOrderWatch.opened_at) < until)
    if merchant_id is not None:
        query = query.where(WorkOrderWatch.merchant_id == merchant_id)
    with Session(engine) as session:
        return session.exec(query.order_by(col(WorkOrderWatch.opened_at), col(WorkOrderWatch.workflow_id))).all()


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
