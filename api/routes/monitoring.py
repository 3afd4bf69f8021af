"""Monitoring: live lists from the read model for supervisors and merchants."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Caller, CallerDep, EngineDep, Role, allow
from api.errors import Problem
from readmodel import queries
from readmodel.tables import CaseWatch, OrderWatch

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


class OrderList(BaseModel):
    """A monitoring list and how many it holds."""

    count: int
    items: list[WatchedOrder]


def _scope(caller: Caller, merchant_id: str | None) -> str | None:
    """The merchant a list is limited to: a merchant key sees only its own."""
    if caller.role is Role.MERCHANT:
        if merchant_id not in (None, caller.merchant_id):
            raise Problem("not_found", f"no merchant {merchant_id}")
        return caller.merchant_id
    return merchant_id


def _list(rows: list[OrderWatch]) -> OrderList:
    return OrderList(count=len(rows), items=[WatchedOrder.model_validate(row, from_attributes=True) for row in rows])


@router.get("/overdue-shipments", response_model=OrderList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def overdue_shipments(
    engine: EngineDep, caller: CallerDep, merchant_id: str | None = Query(default=None)
) -> OrderList:
    """Orders still unshipped past their ship deadline, the longest overdue first."""
    rows = await asyncio.to_thread(queries.overdue_shipments, engine, merchant_id=_scope(caller, merchant_id))
    return _list(list(rows))


@router.get("/logistics-anomalies", response_model=OrderList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def logistics_anomalies(
    engine: EngineDep, caller: CallerDep, merchant_id: str | None = Query(default=None)
) -> OrderList:
    """Shipments with an open logistics anomaly (stalled, carrier exception, late), the oldest first."""
    rows = await asyncio.to_thread(queries.logistics_anomalies, engine, merchant_id=_scope(caller, merchant_id))
    return _list(list(rows))


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
    """A monitoring list of cases and how many it holds."""

    count: int
    items: list[WatchedCase]


@router.get("/overdue-after-sales", response_model=CaseList, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def overdue_after_sales(
    engine: EngineDep, caller: CallerDep, merchant_id: str | None = Query(default=None)
) -> CaseList:
    """Open after-sales cases past their merchant deadline, the longest overdue first."""
    rows: list[CaseWatch] = list(
        await asyncio.to_thread(queries.overdue_after_sales, engine, merchant_id=_scope(caller, merchant_id))
    )
    return CaseList(count=len(rows), items=[WatchedCase.model_validate(row, from_attributes=True) for row in rows])
