"""``make bench``: throughput and latency of the API on one machine, end to end.

Runs a file-backed Temporal dev server (as ``make dev`` does), a worker in a process of its own and the
API in this one (separate processes, as in production), then drives them over HTTP: reporting orders
(workflow starts), shipping them (Updates), reading them (queries) and a monitoring list (the read
model). Prints one line per operation.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.codec import new_key
from config.settings import Settings
from config.temporal import codec, data_converter
from workers.dev import temporal_binary
from workflows import search_attributes

KEYS = {"bench-mall": "mall", "bench-admin": "admin", "bench-merchant": "merchant:m-bench"}


async def _measure(
    name: str, count: int, concurrency: int, call: Callable[[int], Awaitable[httpx.Response]]
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        nonlocal failures
        async with limit:
            started = time.perf_counter()
            response = await call(index)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    figures = {
        "per_second": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "failures": failures,
    }
    print(
        f"{name:<34} {count:>6} {figures['per_second']:>9.1f}/s"
        f" p50 {figures['p50_ms']:>7.1f} ms  p95 {figures['p95_ms']:>7.1f} ms  errors {failures}",
        flush=True,
    )
    return figures


def _order(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "merchant_id": "m-bench",
        "customer_id": "c-bench",
        "paid_at": datetime.now(UTC).isoformat(),
        "lines": [{"line_id": "L1", "sku": "SKU-1", "title": "商品", "quantity": 2, "unit_price_cents": 9900}],
        "shipping_address": {"name": "测试", "phone": "13800000000", "address": "上海市"},
    }


async def run_bench(*, count: int = 300, concurrency: int = 20) -> int:
    """Runs the benchmark and prints its figures."""
    with tempfile.TemporaryDirectory(prefix="aftersales-bench-") as workdir:
        settings = Settings(
            database_url=f"sqlite:///{Path(workdir) / 'bench.db'}",
            task_queue="bench",
            api_keys=KEYS,
            codec_keys=new_key("bench"),
        )
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(codec(settings)),
            dev_server_existing_path=temporal_binary(),
            dev_server_database_filename=str(Path(workdir) / "temporal.db"),
            search_attributes=search_attributes.ALL,
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, client=env.client), port=port, log_level="warning", log_config=None)
        )
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workers.cli",
            "worker",
            env={
                **os.environ,
                "AFTERSALES_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "AFTERSALES_DATABASE_URL": settings.database_url,
                "AFTERSALES_TASK_QUEUE": settings.task_queue,
                "AFTERSALES_CODEC_KEYS": settings.codec_keys.get_secret_value(),
                "AFTERSALES_LOG_LEVEL": "WARNING",
            },
        )
        try:
            serving = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to await)
                await asyncio.sleep(0.05)
            run = uuid.uuid4().hex[:6]
            print(f"{count} operations each, {concurrency} at a time, file-backed dev server, SQLite read model")
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench-mall"}, timeout=60
            ) as http:
                await _measure(
                    "POST /v1/orders (start)",
                    count,
                    concurrency,
                    lambda i: http.post("/v1/orders", json=_order(f"B{run}-{i}")),
                )
                await _measure(
                    "GET /v1/orders/{id} (query)", count, concurrency, lambda i: http.get(f"/v1/orders/B{run}-{i}")
                )
                await _measure(
                    "POST .../shipment (update)",
                    count,
                    concurrency,
                    lambda i: http.post(
                        f"/v1/orders/B{run}-{i}/shipment", json={"carrier": "SF", "tracking_no": f"SF{i}"}
                    ),
                )
                await _measure(
                    "POST /v1/after-sales (update+child)",
                    count,
                    concurrency,
                    lambda i: http.post(
                        "/v1/after-sales",
                        json={
                            "case_id": f"B{run}-{i}-c",
                            "order_id": f"B{run}-{i}",
                            "kind": "refund_only",
                            "lines": [{"line_id": "L1", "quantity": 1}],
                            "reason": "bench",
                        },
                    ),
                )
                await _measure(
                    "GET /v1/after-sales/{id} (query)",
                    count,
                    concurrency,
                    lambda i: http.get(f"/v1/after-sales/B{run}-{i}-c"),
                )
                await _measure(
                    "GET /v1/monitoring/... (read model)",
                    count,
                    concurrency,
                    lambda i: http.get(
                        "/v1/monitoring/logistics-anomalies", headers={"Authorization": "Bearer bench-admin"}
                    ),
                )
            server.should_exit = True
            await serving
        finally:
            worker.terminate()
            await worker.wait()
            await env.shutdown()
    return 0
