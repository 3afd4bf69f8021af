"""The load ``make chaos`` drives through the API: orders falling due all along, refund-only cases approved.

Every call is retried through the outages until it is answered (a 5xx or no answer at all is tried again),
and what the API accepted is written in a :class:`Ledger` for the checks.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from workers.bench_costs import order_body

CASES_MERCHANT = "m-chaos-cases"  # the refund-only cases' orders: the default 72 h ship deadline, never due
KEYS = {"chaos-mall": "mall", "chaos-admin": "admin", "chaos-merchant": f"merchant:{CASES_MERCHANT}"}
RETRY_FOR = 180.0  # seconds a driven call is retried through the outages before the run gives up on it
TRANSIENT = {502, 503, 504}


@dataclass
class Plan:
    """The load and the outages; times are seconds from the start of the load."""

    orders_per_second: float = 2.0
    cases_per_second: float = 0.5
    lead: int = 30  # each order's ship deadline: its paid_at plus this (the merchants' policy)
    outage: float = 10.0  # how long the worker, then the server, stays down
    merchants: int = 4
    settle: float = 120.0  # the longest wait after the last deadline for everything to settle

    @property
    def worker_kill_at(self) -> float:
        return self.lead + 5.0  # orders reported since the start fall due from now on

    @property
    def server_kill_at(self) -> float:
        # A minute after the worker is back: the tasks a dead worker's sticky queue held (30 s) are taken by
        # then, so the second outage does not land on the first one's backlog and each is measured alone.
        return self.worker_kill_at + self.outage + 60.0

    @property
    def load_for(self) -> float:
        return self.server_kill_at + self.outage + 10.0


@dataclass
class Ledger:
    """What the API accepted, as the load saw it."""

    dues: dict[str, datetime] = field(default_factory=dict)  # order id -> its ship deadline
    case_orders: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)  # what a driven call met before it went through
    gave_up: list[str] = field(default_factory=list)


class Load:
    """Orders and refund-only cases through the API, each call retried through outages until it is answered."""

    def __init__(self, http: httpx.AsyncClient, plan: Plan) -> None:
        self.http, self.plan, self.ledger = http, plan, Ledger()

    async def call(self, path: str, body: Any, key: str) -> httpx.Response | None:
        """POSTs until the answer is not a 5xx nor a transport error, or ``RETRY_FOR`` has passed (None)."""
        give_up = time.monotonic() + RETRY_FOR
        while True:
            try:
                response = await self.http.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
                if response.status_code not in TRANSIENT:
                    return response
                self.ledger.retried[str(response.status_code)] += 1
            except httpx.TransportError as error:
                self.ledger.retried[type(error).__name__] += 1
            if time.monotonic() > give_up:
                return None
            await asyncio.sleep(0.5)

    async def accepted(self, path: str, body: Any, key: str, what: str) -> bool:
        response = await self.call(path, body, key)
        if response is not None and response.status_code < 300:
            return True
        self.ledger.gave_up.append(f"{what}: {response.status_code if response else 'no answer'}")
        return False

    async def order(self, number: int) -> None:
        """An order of one of the merchants whose ship deadline is ``plan.lead`` seconds after payment."""
        order_id, paid = f"O{number}", datetime.now(UTC)
        body = order_body(order_id, f"m-chaos-{number % self.plan.merchants}", paid)
        if await self.accepted("/v1/orders", body, "chaos-mall", f"order {order_id}"):
            self.ledger.dues[order_id] = paid + timedelta(seconds=self.plan.lead)

    async def case(self, number: int) -> None:
        """An order, a refund-only case on it, the merchant's approval (then the workflow refunds)."""
        order_id, case_id = f"R{number}", f"R{number}-c"
        if not await self.accepted(
            "/v1/orders", order_body(order_id, CASES_MERCHANT), "chaos-mall", f"order {order_id}"
        ):
            return
        self.ledger.case_orders.append(order_id)
        request = {
            "case_id": case_id,
            "order_id": order_id,
            "kind": "refund_only",
            "lines": [{"line_id": "L1", "quantity": 1}],
            "reason": "chaos",
        }
        if not await self.accepted("/v1/after-sales", request, "chaos-mall", f"case {case_id}"):
            return
        self.ledger.cases.append(case_id)
        if await self.accepted(f"/v1/after-sales/{case_id}/approve", None, "chaos-merchant", f"approve {case_id}"):
            self.ledger.approved.append(case_id)

    async def run(self) -> None:
        """Starts orders and cases at their rates for ``plan.load_for`` seconds; returns when all are answered."""
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        orders = cases = 0
        while (elapsed := time.monotonic() - start) < self.plan.load_for:
            while orders < elapsed * self.plan.orders_per_second:
                tasks.append(asyncio.create_task(self.order(orders)))
                orders += 1
            while cases < elapsed * self.plan.cases_per_second:
                tasks.append(asyncio.create_task(self.case(cases)))
                cases += 1
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks)


async def warm_up(driver: Load) -> None:
    """One order reported and read (a query: the worker is polling and past its first task)."""
    body = order_body("W", CASES_MERCHANT)
    if await driver.accepted("/v1/orders", body, "chaos-mall", "warm-up order"):
        driver.ledger.case_orders.append("W")
    for _ in range(600):
        response = await driver.http.get("/v1/orders/W", headers={"Authorization": "Bearer chaos-mall"})
        if response.status_code == 200:
            return
        await asyncio.sleep(0.1)
