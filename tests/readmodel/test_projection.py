"""The read model on SQLite and on PostgreSQL: idempotent projection and the monitoring lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from domain.orders import HistoryEntry, LineState, OrderStatus, OrderView
from readmodel.merchants import get_merchant, put_merchant
from readmodel.projection import upsert_order
from readmodel.queries import logistics_anomalies, open_counts_by_merchant, overdue_shipments
from readmodel.tables import OrderWatch

PAID = datetime(2026, 11, 1, 10, tzinfo=UTC)


def view(merchant_id: str, revision: int, **changes: object) -> OrderView:
    base = OrderView(
        order_id=f"O-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        customer_id="c-1",
        status=OrderStatus.AWAITING_SHIPMENT,
        overdue=False,
        paid_at=PAID,
        ship_deadline_at=PAID + timedelta(hours=72),
        deadline_at=PAID + timedelta(hours=72),
        lines=[LineState(line_id="L1", quantity=1)],
        history=[HistoryEntry(at=PAID, event="order_paid", actor="customer")],
        revision=revision,
    )
    return OrderView.model_validate({**base.model_dump(), **changes})


def test_a_newer_revision_replaces_the_row_and_an_older_one_is_ignored(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    first = view(merchant, revision=1)
    workflow_id = f"order-{first.order_id}"
    assert upsert_order(any_engine, workflow_id=workflow_id, view=first)
    overdue = first.model_copy(update={"revision": 3, "overdue": True})
    assert upsert_order(any_engine, workflow_id=workflow_id, view=overdue)
    assert not upsert_order(any_engine, workflow_id=workflow_id, view=first.model_copy(update={"revision": 2}))
    assert not upsert_order(any_engine, workflow_id=workflow_id, view=overdue)  # a retried projection

    with Session(any_engine) as session:
        row = session.get(OrderWatch, workflow_id)
        assert row is not None
        assert (row.revision, row.overdue) == (3, True)
        assert row.paid_at == PAID  # time zones survive SQLite too


def test_overdue_shipments_lists_only_unshipped_overdue_orders_of_the_merchant(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    late = view(merchant, 2, overdue=True)
    shipped_late = view(merchant, 3, overdue=True, status=OrderStatus.SHIPPED)
    on_time = view(merchant, 1)
    other = view(f"m-{uuid.uuid4().hex[:6]}", 2, overdue=True)
    for item in (late, shipped_late, on_time, other):
        upsert_order(any_engine, workflow_id=f"order-{item.order_id}", view=item)

    assert [row.order_id for row in overdue_shipments(any_engine, merchant_id=merchant)] == [late.order_id]
    assert open_counts_by_merchant(any_engine)[merchant] == {"overdue_shipments": 1}


def test_an_anomaly_keeps_its_start_until_it_is_cleared(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    shipped = view(merchant, 2, status=OrderStatus.SHIPPED, deadline_at=None)
    workflow_id = f"order-{shipped.order_id}"
    raised_at = PAID + timedelta(days=4)
    stalled = OrderView.model_validate(
        {
            **shipped.model_dump(),
            "revision": 3,
            "logistics_anomaly": "stalled",
            "history": [*shipped.history, HistoryEntry(at=raised_at, event="logistics_anomaly", actor="system")],
        }
    )
    upsert_order(any_engine, workflow_id=workflow_id, view=stalled)
    upsert_order(any_engine, workflow_id=workflow_id, view=stalled.model_copy(update={"revision": 4}))
    rows = logistics_anomalies(any_engine, merchant_id=merchant)
    assert [(row.order_id, row.anomaly_since) for row in rows] == [(shipped.order_id, raised_at)]

    upsert_order(
        any_engine, workflow_id=workflow_id, view=stalled.model_copy(update={"revision": 5, "logistics_anomaly": None})
    )
    assert logistics_anomalies(any_engine, merchant_id=merchant) == []


def test_a_merchant_is_created_then_replaced(any_engine: Engine) -> None:
    merchant_id = f"m-{uuid.uuid4().hex[:6]}"
    values = {
        "name": "店",
        "head_mobile": "13900000001",
        "supervisor_mobile": "13900000002",
        "agents": [{"agent_id": "a", "name": "A", "mobile": "13900000003"}],
        "policy": {"ship_deadline": "48h"},
    }
    put_merchant(any_engine, merchant_id=merchant_id, values=values)
    put_merchant(any_engine, merchant_id=merchant_id, values={**values, "name": "新店", "policy": {}})
    merchant = get_merchant(any_engine, merchant_id=merchant_id)
    assert merchant is not None
    assert (merchant.name, merchant.policy, merchant.agents[0]["agent_id"]) == ("新店", {}, "a")
