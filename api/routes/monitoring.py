"""Monitoring: live lists and per-supplier KPIs from the read model, for supervisors and merchants."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import Caller, CallerDep, EngineDep, Role, allow
from api.errors import Problem
from domain.durations import parse_duration
from domain.model import Instant
from readmodel import kpis, queries
from readmodel.tables import WorkOrderWatch

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


class WatchedOrder(BaseModel):
    """An order on a monitoring list."""

    order_id: str
    merchant_id: str
    status: str
    overdue: bool
    paid_at: datetime
    ship_deadline_at: datetime
    shipped_at: datetime | None
    carrier: str | None
    tracking_no: str | None
    logistics_anomaly: str | None
    anomaly_since: datetime | None


class Paging(BaseModel):
    """Which page of a list: at most ``limit`` rows from ``offset``."""

    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


async def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="Rows per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip.")] = 0,
) -> Paging:
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]


class OrderList(BaseModel):
    """A page of a monitoring list: ``count`` rows on it, ``total`` in the whole list."""

    count: int
    total: int
    limit: int
    offset: int
    items: list[WatchedOrder]


def _scope(caller: Caller, merchant_id: str | None) -> str | None:
    """The merchant a list is limited to: a merchant key sees only its own."""
    if caller.role is Role.MERCHANT:
        if merchant_id not in (None, caller.merchant_id):
            raise Problem("not_found", f"no merchant {merchant_id}")
        return caller.merchant_id
    return merchant_id


ListT = TypeVar("ListT", bound=BaseModel)


def page_of(listing: type[ListT], item: type[BaseModel], rows: queries.Page[Any], paging: Paging) -> ListT:
    """The ``listing`` of one page: each read-model row as an ``item``, with the page's counts."""
    return listing(
        count=len(rows),
        total=rows.total,
        limit=paging.limit,
        offset=paging.offset,
        items=[item.model_validate(row, from_attributes=True) for row in rows],
    )


@router.get("/overdue-shipments", response_model=OrderList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def overdue_shipments(
    engine: EngineDep, caller: CallerDep, page: PagingDep, merchant_id: str | None = Query(default=None)
) -> OrderList:
    """Orders still unshipped past their ship deadline, the longest overdue first."""
    rows = await asyncio.to_thread(
        queries.overdue_shipments, engine, merchant_id=_scope(caller, merchant_id), **page.model_dump()
    )
    return page_of(OrderList, WatchedOrder, rows, page)


@router.get("/logistics-anomalies", response_model=OrderList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def logistics_anomalies(
    engine: EngineDep, caller: CallerDep, page: PagingDep, merchant_id: str | None = Query(default=None)
) -> OrderList:
    """Shipments with an open logistics anomaly (stalled, carrier exception, late), the oldest first."""
    rows = await asyncio.to_thread(
        queries.logistics_anomalies, engine, merchant_id=_scope(caller, merchant_id), **page.model_dump()
    )
    return page_of(OrderList, WatchedOrder, rows, page)


class WatchedCase(BaseModel):
    """An after-sales case on a monitoring list."""

    case_id: str
    order_id: str
    merchant_id: str
    kind: str
    status: str
    overdue: bool
    deadline_at: datetime | None
    overdue_since: datetime | None
    opened_at: datetime
    refund_cents: int


class CaseList(BaseModel):
    """A page of a monitoring list of cases: ``count`` rows on it, ``total`` in the whole list."""

    count: int
    total: int
    limit: int
    offset: int
    items: list[WatchedCase]


@router.get("/overdue-after-sales", response_model=CaseList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def overdue_after_sales(
    engine: EngineDep, caller: CallerDep, page: PagingDep, merchant_id: str | None = Query(default=None)
) -> CaseList:
    """Open after-sales cases past their merchant deadline, the longest overdue first."""
    rows = await asyncio.to_thread(
        queries.overdue_after_sales, engine, merchant_id=_scope(caller, merchant_id), **page.model_dump()
    )
    return page_of(CaseList, WatchedCase, rows, page)


MAX_AGE = timedelta(days=365)


def _age(older_than: str) -> timedelta:
    try:
        age = parse_duration(older_than)
    except ValueError as error:
        raise Problem("validation_error", f"older_than: {error}") from None
    if not timedelta() <= age <= MAX_AGE:
        raise Problem("validation_error", "older_than must be between 0s and 365d")
    return age


@router.get("/unprocessed-after-sales", response_model=CaseList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def unprocessed_after_sales(
    engine: EngineDep,
    caller: CallerDep,
    page: PagingDep,
    merchant_id: str | None = Query(default=None),
    older_than: str = Query(default="24h", max_length=40, description="e.g. 24h, 90m, 2d"),
) -> CaseList:
    """Cases awaiting the merchant's decision for longer than ``older_than``, breached or not; oldest first."""
    opened_before = datetime.now(UTC) - _age(older_than)
    rows = await asyncio.to_thread(
        queries.unprocessed_after_sales,
        engine,
        opened_before=opened_before,
        merchant_id=_scope(caller, merchant_id),
        **page.model_dump(),
    )
    return page_of(CaseList, WatchedCase, rows, page)


# --- KPIs ------------------------------------------------------------------------------------------------------

DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=366)


class KpiFormat(StrEnum):
    """How the KPIs are answered."""

    JSON = "json"
    CSV = "csv"


class KpiReport(BaseModel):
    """Per-supplier KPIs over ``[from, to)``."""

    since: datetime = Field(serialization_alias="from")
    until: datetime = Field(serialization_alias="to")
    count: int
    items: list[kpis.SupplierKpis]


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise Problem("validation_error", "`from` must be before `to`")
    if until - since > MAX_PERIOD:
        raise Problem("validation_error", "a KPI period is at most 366 days")
    return since.astimezone(UTC), until.astimezone(UTC)


@router.get(
    "/kpis",
    response_model=KpiReport,
    response_model_by_alias=True,
    dependencies=[allow(Role.ADMIN, Role.MERCHANT)],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`"}},
)
async def supplier_kpis(
    engine: EngineDep,
    caller: CallerDep,
    merchant_id: str | None = Query(default=None),
    since: Instant | None = Query(default=None, alias="from", description="Start (inclusive); 7 days ago."),
    until: Instant | None = Query(default=None, alias="to", description="End (exclusive); now."),
    format: KpiFormat = Query(default=KpiFormat.JSON),
) -> KpiReport | Response:
    """Per supplier over a period: first-response, ship and handling times (median, p90), breaches, rates."""
    start, end = _period(since, until)
    rows = await asyncio.to_thread(
        kpis.supplier_kpis, engine, since=start, until=end, merchant_id=_scope(caller, merchant_id)
    )
    if format is KpiFormat.CSV:
        filename = f"kpis-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
        return Response(
            kpis.kpis_csv(rows, since=start, until=end),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return KpiReport(since=start, until=end, count=len(rows), items=rows)


WORK_ORDER_COLUMNS = (
    "work_order_id",
    "merchant_id",
    "category",
    "priority",
    "status",
    "assignee_id",
    "opened_at",
    "first_response_at",
    "first_response_seconds",
    "resolved_at",
    "satisfaction",
    "escalation_level",
    "overdue",
    "breached_clocks",
    "case_id",
)


def _work_orders_csv(rows: Sequence[WorkOrderWatch]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WORK_ORDER_COLUMNS)
    for row in rows:
        responded = row.first_response_at
        writer.writerow(
            [
                row.work_order_id,
                row.merchant_id,
                row.category,
                row.priority,
                row.status,
                row.assignee_id or "",
                row.opened_at.isoformat(),
                responded.isoformat() if responded else "",
                int((responded - row.opened_at).total_seconds()) if responded else "",
                row.resolved_at.isoformat() if row.resolved_at else "",
                row.satisfaction if row.satisfaction is not None else "",
                row.escalation_level,
                "true" if row.overdue else "false",
                " ".join(row.breached_clocks),
                row.case_id or "",
            ]
        )
    return out.getvalue()


@router.get(
    "/work-orders.csv",
    response_class=Response,
    dependencies=[allow(Role.ADMIN, Role.MERCHANT)],
    responses={200: {"content": {"text/csv": {}}, "description": "One row per work order opened in the period"}},
)
async def work_orders_csv(
    engine: EngineDep,
    caller: CallerDep,
    merchant_id: str | None = Query(default=None),
    since: Instant | None = Query(default=None, alias="from", description="Opened from (inclusive); 7 days ago."),
    until: Instant | None = Query(default=None, alias="to", description="Opened before (exclusive); now."),
) -> Response:
    """The work orders opened in a period, as the read model last saw them, in the order they were opened."""
    start, end = _period(since, until)
    rows = await asyncio.to_thread(
        queries.work_orders_opened, engine, since=start, until=end, merchant_id=_scope(caller, merchant_id)
    )
    filename = f"work-orders-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
    return Response(
        _work_orders_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
