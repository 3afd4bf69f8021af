"""``make demo``: a few realistic orders against a running stack, so the Web UI and lists have data."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from config.settings import Settings
from workers.dev import STACK_FILE, STATE_DIR

MERCHANT = "m-demo"


def _keys(settings: Settings) -> dict[str, str]:
    keys = settings.api_keys or json.loads((STATE_DIR / "dev-api-keys.json").read_text())
    return {role: key for key, role in keys.items()}


def _order(order_id: str, paid_at: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "merchant_id": MERCHANT,
        "customer_id": "c-demo",
        "paid_at": paid_at.isoformat(),
        "lines": [
            {"line_id": "L1", "sku": "TEA-500", "title": "西湖龙井 500g", "quantity": 1, "unit_price_cents": 36800},
            {
                "line_id": "L2",
                "sku": "CUP-2",
                "title": "玻璃杯",
                "quantity": 2,
                "unit_price_cents": 2900,
                "insured": True,
            },
        ],
        "shipping_address": {"name": "李雷", "phone": "13800001111", "address": "杭州市西湖区文三路 1 号"},
    }


Call = Callable[..., Awaitable[dict[str, Any]]]


async def open_work_orders(call: Call, run: str, merchant_key: str | None) -> None:
    """Three work orders: one nobody took yet, one assigned and accepted, one waiting on the customer."""
    staff = merchant_key or "admin"  # platform customer service answers for agents without a merchant key
    stories = {
        f"demo-{run}-wo-new": ("logistics", "urgent", "快递三天没有更新", None),
        f"demo-{run}-wo-taken": ("quality", "normal", "茶叶受潮结块", "a-1"),
        f"demo-{run}-wo-waiting": ("service", "normal", "发票抬头开错了", "a-1"),
    }
    for work_order_id, (category, priority, title, assignee) in stories.items():
        body = {
            "work_order_id": work_order_id,
            "merchant_id": MERCHANT,
            "category": category,
            "priority": priority,
            "title": title,
            "customer_id": "c-demo",
            **({"assignee_id": assignee} if assignee else {}),
        }
        await call("mall", "POST", "/v1/work-orders", body)
        if assignee:
            await call(staff, "POST", f"/v1/work-orders/{work_order_id}/accept", {"assignee_id": assignee})
    waiting = f"demo-{run}-wo-waiting"
    await call(staff, "POST", f"/v1/work-orders/{waiting}/reply", {"by": "assignee", "message": "请提供正确的抬头"})
    await call(staff, "POST", f"/v1/work-orders/{waiting}/wait-customer", {})
    for work_order_id in stories:
        work_order = await call("admin", "GET", f"/v1/work-orders/{work_order_id}")
        print(f"{work_order_id:32} work_order {work_order['status']:16} deadline={work_order['deadline_at']}")


def on_dev_stack(settings: Settings) -> Settings:
    """``settings`` with the ports ``make dev`` used (.temporal/dev-stack.json) where the environment sets none.

    ``make dev`` with AFTERSALES_API_PORT=18000 moves its Web UI too (AFTERSALES_UI_PORT); ``make demo`` in
    another terminal, without those variables, must still print the URLs the stack serves.
    """
    path = STATE_DIR / STACK_FILE
    if not path.exists():
        return settings
    stack = json.loads(path.read_text())
    unset = {name: stack[name] for name in ("api_port", "ui_port") if name not in settings.model_fields_set}
    return settings.model_copy(update=unset)


def local_api_url(settings: Settings) -> str:
    """The API of the stack on this machine: ``make dev`` serves it on AFTERSALES_API_PORT."""
    host = settings.api_host if settings.api_host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{settings.api_port}"


async def run_demo(settings: Settings, *, base_url: str | None = None) -> int:
    """Creates the demo merchant, six orders in different states and two cases; prints what it did.

    Args:
        settings: the stack's settings (its API port, Web UI port and keys).
        base_url: the API's base URL; by default the local stack's (``local_api_url``).
    """
    settings = on_dev_stack(settings)
    keys = _keys(settings)
    base_url = base_url or local_api_url(settings)
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def call(role: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            response = await http.request(method, path, json=body, headers={"Authorization": f"Bearer {keys[role]}"})
            if response.status_code >= 400:
                raise SystemExit(f"{method} {path} → {response.status_code}: {response.text}")
            result: dict[str, Any] = response.json()
            return result

        await call(
            "admin",
            "PUT",
            f"/v1/merchants/{MERCHANT}",
            {
                "name": "演示茶叶旗舰店",
                "head_mobile": "13900000001",
                "supervisor_mobile": "13900000002",
                "agents": [{"agent_id": "a-1", "name": "小王", "mobile": "13900000011"}],
                "backup_agent_id": "a-1",
            },
        )
        merchant_key = "merchant:" + MERCHANT
        stories = {
            f"demo-{run}-fresh": now,  # just paid: reminders at 48 h and 68 h
            f"demo-{run}-late": now - timedelta(hours=80),  # past 72 h: overdue at once
            f"demo-{run}-shipped": now - timedelta(hours=20),
            f"demo-{run}-delivered": now - timedelta(hours=50),
            f"demo-{run}-exception": now - timedelta(hours=30),
            f"demo-{run}-regret": now - timedelta(minutes=5),  # a whole-order refund in cooling-off
        }
        for order_id, paid_at in stories.items():
            await call("mall", "POST", "/v1/orders", _order(order_id, paid_at))
        role = merchant_key if merchant_key in keys else "mall"
        for order_id in list(stories)[2:5]:  # not the regret: cooling-off refunds only what is not shipped yet
            await call(role, "POST", f"/v1/orders/{order_id}/shipment", {"carrier": "SF", "tracking_no": f"SF{run}"})
        await call(
            "mall",
            "POST",
            f"/v1/orders/demo-{run}-delivered/logistics-events",
            {"status": "delivered", "at": now.isoformat(), "description": "已签收"},
        )
        await call(
            "mall",
            "POST",
            f"/v1/orders/demo-{run}-exception/logistics-events",
            {"status": "exception", "at": now.isoformat(), "description": "派件异常：地址不详"},
        )
        cases = {
            f"demo-{run}-regret": ("refund_only", [{"line_id": "L1", "quantity": 1}, {"line_id": "L2", "quantity": 2}]),
            f"demo-{run}-delivered": ("return_refund", [{"line_id": "L2", "quantity": 1}]),
        }
        for order_id, (kind, lines) in cases.items():
            body = {
                "case_id": f"{order_id}-c1",
                "order_id": order_id,
                "kind": kind,
                "lines": lines,
                "reason": "不想要了",
            }
            await call("mall", "POST", "/v1/after-sales", body)
        if merchant_key in keys:
            await call(merchant_key, "POST", f"/v1/after-sales/demo-{run}-delivered-c1/approve", {})
        for order_id in stories:
            order = await call("admin", "GET", f"/v1/orders/{order_id}")
            print(f"{order_id:32} {order['status']:18} overdue={order['overdue']} anomaly={order['logistics_anomaly']}")
        for order_id in cases:
            case = await call("admin", "GET", f"/v1/after-sales/{order_id}-c1")
            print(f"{case['case_id']:32} {case['kind']:18} {case['status']} deadline={case['deadline_at']}")

        # The cooling-off refund goes to the payment side in the background: wait for it, a few seconds at most.
        regret = f"/v1/after-sales/demo-{run}-regret-c1"
        case = await call("admin", "GET", regret)
        for _ in range(100):
            if case["status"] == "completed":
                break
            await asyncio.sleep(0.1)
            case = await call("admin", "GET", regret)
        events = [entry["event"] for entry in case["history"]]
        if case["status"] != "completed" or "auto_refunded_cooling_off" not in events:
            raise SystemExit(f"the cooling-off refund did not happen: {case['status']}, {events}")
        print(
            f"\ncooling-off refund: {case['case_id']} {case['status']}, {case['refunded_cents'] / 100:.2f} CNY "
            f"refunded with no merchant review ({' → '.join(events)})"
        )
        await open_work_orders(call, run, merchant_key if merchant_key in keys else None)
    print(f"\nWeb UI: http://localhost:{settings.ui_port}/namespaces/{settings.temporal_namespace}/workflows")
    print('Filter e.g.: MerchantId="m-demo" AND Overdue=true')
    print(f"SLA board: {base_url}/board (log in with the admin key), the demo merchant: ?merchant_id={MERCHANT}")
    print("Daily digest now: aftersales schedules --trigger")
    return 0
