"""Builders of realistic inputs, so each test states only what its story is about."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from domain.cases import CaseKind, CaseLine, CaseStatus, CaseView
from domain.facts import Fact
from domain.orders import HistoryEntry, OrderStatus, OrderView, PlaceOrder
from readmodel.facts import add_facts
from readmodel.projection import upsert_order

_numbers = itertools.count(1)


def order_id() -> str:
    """A fresh order id."""
    return f"O{next(_numbers):05d}-{uuid.uuid4().hex[:6]}"


def place_order(*, paid_at: datetime, merchant_id: str = "m-acme", **overrides: Any) -> PlaceOrder:
    """A paid order of two lines (a kettle and two mugs), as the mall reports it."""
    body: dict[str, Any] = {
        "order_id": order_id(),
        "merchant_id": merchant_id,
        "customer_id": "c-1001",
        "paid_at": paid_at,
        "lines": [
            {"line_id": "L1", "sku": "KETTLE-1", "title": "电水壶", "quantity": 1, "unit_price_cents": 19900},
            {
                "line_id": "L2",
                "sku": "MUG-2",
                "title": "马克杯",
                "quantity": 2,
                "unit_price_cents": 3500,
                "insured": True,
            },
        ],
        "shipping_address": {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"},
    }
    body.update(overrides)
    return PlaceOrder.model_validate(body)


def order_body(*, paid_at: str, merchant_id: str = "m-acme", **overrides: Any) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders``."""
    order = place_order(paid_at=datetime.fromisoformat(paid_at), merchant_id=merchant_id, **overrides)
    return order.model_dump(mode="json")


def merchant_body(
    *, dingtalk: tuple[str, str] | None = None, wecom: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The JSON body of ``PUT /v1/merchants/{id}``."""
    body: dict[str, Any] = {
        "name": "Acme 家居旗舰店",
        "head_mobile": "13900000001",
        "supervisor_mobile": "13900000002",
        "agents": [
            {"agent_id": "a-1", "name": "小李", "mobile": "13900000011"},
            {"agent_id": "a-2", "name": "小张", "mobile": "13900000012"},
        ],
        "backup_agent_id": "a-2",
        "policy": {},
    }
    if dingtalk:
        body["dingtalk"] = {"webhook_url": dingtalk[0], "secret": dingtalk[1]}
    if wecom:
        body["wecom"] = {"webhook_url": wecom}
    body.update(overrides)
    return body


def project_order(
    engine: Engine,
    *,
    order_id: str,
    merchant_id: str,
    paid_at: datetime,
    overdue: bool,
    status: OrderStatus = OrderStatus.AWAITING_SHIPMENT,
    customer_id: str = "c-1",
) -> str:
    """An order as the read model holds it (no workflow behind it), due to ship 72 hours after ``paid_at``."""
    view = order_view(order_id, merchant_id, paid_at, status=status, overdue=overdue, customer_id=customer_id)
    upsert_order(engine, workflow_id=f"order-{order_id}", view=view)
    return order_id


def order_view(order_id: str, merchant_id: str, paid_at: datetime, *, revision: int = 1, **fields: Any) -> OrderView:
    """An order's view awaiting shipment, due to ship 72 hours after ``paid_at``; ``fields`` change the rest."""
    base: dict[str, Any] = {
        "order_id": order_id,
        "merchant_id": merchant_id,
        "customer_id": "c-1",
        "status": OrderStatus.AWAITING_SHIPMENT,
        "overdue": False,
        "paid_at": paid_at,
        "ship_deadline_at": paid_at + timedelta(hours=72),
        "deadline_at": paid_at + timedelta(hours=72),
        "lines": [],
        "revision": revision,
    }
    return OrderView.model_validate({**base, **fields})


def completed_case(
    kind: CaseKind,
    history: list[HistoryEntry],
    *,
    opened_at: datetime,
    case_id: str = "C1",
    order_id: str = "O1",
    merchant_id: str = "m-1",
    refund_cents: int = 100,
    reason: str = "r",
) -> CaseView:
    """A closed one-line after-sales case that went through ``history``."""
    return CaseView(
        case_id=case_id,
        order_id=order_id,
        merchant_id=merchant_id,
        customer_id="c-1",
        kind=kind,
        status=CaseStatus.COMPLETED,
        reason=reason,
        lines=[CaseLine(line_id="L1", quantity=1)],
        refund_cents=refund_cents,
        deadline_at=None,
        history=history,
        revision=len(history),
        opened_at=opened_at,
    )


def record_facts(engine: Engine, facts: Sequence[Fact]) -> int:
    """Adds SLA facts to the read model, in a transaction of their own, as a projection would with its row;
    answers how many were new (:func:`readmodel.facts.add_facts`)."""
    if not facts:
        return 0
    with engine.begin() as connection:
        return add_facts(connection, facts)
