"""What ``make bench`` counts beside the timings: one return-refund's history, what a new order and each
action cost the server (events, tasks, calls), and the order bodies the bench and ``make chaos`` report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import EventType

from workers.bench_actions import action_cost, settled

if TYPE_CHECKING:
    from workers.bench import Bench


def order_body(order_id: str, merchant_id: str = "m-bench", paid_at: datetime | None = None) -> dict[str, object]:
    return {
        "order_id": order_id,
        "merchant_id": merchant_id,
        "customer_id": "c-bench",
        "paid_at": (paid_at or datetime.now(UTC)).isoformat(),
        "lines": [{"line_id": "L1", "sku": "SKU-1", "title": "商品", "quantity": 2, "unit_price_cents": 9900}],
        "shipping_address": {"name": "测试", "phone": "13800000000", "address": "上海市"},
    }


async def lifecycle(bench: Bench) -> None:
    """One return-refund from report to refund through the API; the size of the histories it leaves."""
    order_id, case_id = f"L{bench.run}", f"L{bench.run}-c"
    paid = datetime.now(UTC) - timedelta(hours=2)
    steps: list[tuple[str, str, Any, str]] = [
        ("/v1/orders", "bench-mall", order_body(order_id, paid_at=paid), "report"),
        (f"/v1/orders/{order_id}/shipment", "bench-merchant", {"carrier": "SF", "tracking_no": "SF1"}, "ship"),
        (
            f"/v1/orders/{order_id}/logistics-events",
            "bench-mall",
            {"status": "delivered", "at": datetime.now(UTC).isoformat()},
            "delivered",
        ),
        (
            "/v1/after-sales",
            "bench-mall",
            {
                "case_id": case_id,
                "order_id": order_id,
                "kind": "return_refund",
                "lines": [{"line_id": "L1", "quantity": 1}],
                "reason": "bench",
            },
            "request",
        ),
        (f"/v1/after-sales/{case_id}/approve", "bench-merchant", None, "approve"),
        (
            f"/v1/after-sales/{case_id}/return-shipment",
            "bench-mall",
            {"carrier": "SF", "tracking_no": "SF2"},
            "return",
        ),
        (
            f"/v1/after-sales/{case_id}/logistics-events",
            "bench-mall",
            {"status": "delivered", "at": datetime.now(UTC).isoformat()},
            "returned",
        ),
        (f"/v1/after-sales/{case_id}/receipt", "bench-merchant", {"accepted": True}, "receipt"),
    ]
    for path, key, body, name in steps:
        response = await bench.post(path, body, key)
        if response.status_code >= 400:
            print(f"return-refund lifecycle: {name} failed: {response.status_code} {response.text[:200]}")
            return
    status = ""
    for _ in range(120):
        response = await bench.http.get(f"/v1/after-sales/{case_id}", headers={"Authorization": "Bearer bench-mall"})
        status = response.json().get("status", "")
        if status in ("completed", "closed"):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # the order hears of the settlement and projects it
    total_events = total_bytes = 0
    parts = []
    for workflow_id in (f"order-{order_id}", f"aftersale-{case_id}"):
        history = await bench.env.client.get_workflow_handle(workflow_id).fetch_history()
        size = sum(event.ByteSize() for event in history.events)
        total_events += len(history.events)
        total_bytes += size
        parts.append(f"{workflow_id.split('-')[0]} {len(history.events)} events {size / 1024:.1f} KiB")
    print(
        f"return-refund lifecycle (case {status or 'unfinished'}): {total_events} events,"
        f" {total_bytes / 1024:.1f} KiB ({'; '.join(parts)})",
        flush=True,
    )


async def intake_cost(bench: Bench) -> None:
    """What a new order (reported, never read nor acted on) cost the server once settled: events and tasks.

    Not the warm-up order: that one is read at once and was the worker's first task.
    """
    order_id = f"N{bench.run}"
    await bench.report(order_body(order_id))
    events = await settled(bench.env.client, f"order-{order_id}")
    tasks = {
        kind: sum(1 for event in events if event.event_type == kind)
        for kind in (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    }
    print(
        f"a new order, no action yet: {len(events)} history events,"
        f" {tasks[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]} workflow tasks,"
        f" {tasks[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]} activity tasks",
        flush=True,
    )


async def action_costs(bench: Bench) -> None:
    """What a shipment (merchant key) and two tracking updates (mall key) each cost one order."""
    order_id = f"A{bench.run}"
    await bench.report(order_body(order_id), counted=True)
    print("what one action costs (one order, settled before and after each):", flush=True)
    client, path = bench.env.client, f"/v1/orders/{order_id}"
    steps: list[tuple[str, str, dict[str, object], str]] = [
        ("POST .../shipment (merchant key)", "shipment", {"carrier": "SF", "tracking_no": "SF1"}, "bench-merchant"),
        ("POST .../logistics-events in_transit", "logistics-events", _tracking("in_transit"), "bench-mall"),
        ("POST .../logistics-events delivered", "logistics-events", _tracking("delivered"), "bench-mall"),
    ]
    for name, action, body, key in steps:

        async def take(url: str = f"{path}/{action}", body: dict[str, object] = body, key: str = key) -> bool:
            return await bench.ok(bench.post(url, body, key, counted=True))

        await action_cost(name, client, bench.calls, f"order-{order_id}", take)


def _tracking(status: str) -> dict[str, object]:
    return {"status": status, "at": datetime.now(UTC).isoformat(), "description": "bench"}
