"""``make bench``: throughput, latency and deadline lateness of the product beside raw Temporal, in one run.

Runs a file-backed Temporal dev server (as ``make dev`` does), the project's worker and the API each in a
process of its own (as in production; a second API in this process serves the calls whose cost is counted),
and beside them a raw worker on a task queue of its own (:mod:`workers.bench_raw`: one timer, one Update, no
codec) on the same server. Then:

- throughput and p50/p99 of each API call, the start and the Update beside a raw ``start_workflow`` and a
  raw Update round trip (the ratio is the project's throughput over raw);
- a burst: ``--burst`` order watches whose ship deadline falls due in the same second, and as many raw
  timers due then; a spread (``--spread``): as many deadlines, falling due at 20 per second. Lateness is
  read from Temporal's own event times: for the project the search-attribute upsert that marks the order
  overdue (the workflow task that acted on the deadline), for raw the ``TimerFired`` event; each minus the
  deadline. Workflow-task timeouts are counted across the histories;
- the Temporal history (events and bytes) of one full return-refund, driven through the API;
- what one action costs, counted (:mod:`workers.bench_actions`): the API's calls to Temporal, and the
  events, workflow tasks and activity tasks it adds to the history;
- worker and server RSS per 1,000 open workflows (``--scale N`` opens N more order watches for it, before
  the burst and the spread, which then fall due among them).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.codec import new_key
from config.settings import Settings
from config.temporal import codec, data_converter
from readmodel.db import make_engine
from readmodel.tables import OrderWatch
from workers.bench_actions import Calls
from workers.bench_costs import action_costs, intake_cost, lifecycle, order_body
from workers.bench_figures import measure, row
from workers.bench_history import (
    cpu_seconds,
    histories,
    lateness,
    marking_task,
    overdue_marked,
    rss_kib,
    server_pid,
    task_phases,
    tasks_after_deadline,
    timeouts,
)
from workers.bench_raw import RawWorkflow, raw_timers
from workers.stack import (
    api_server,
    free_port,
    sqlite_pragmas,
    start_command,
    start_worker,
    started,
    temporal_binary,
    wait_for_port,
)
from workflows import search_attributes

KEYS = {"bench-mall": "mall", "bench-admin": "admin", "bench-merchant": "merchant:m-bench"}
RAW_QUEUE = "bench-raw"
FAR = 7 * 24 * 3600.0  # a raw timer that never fires during the run (seconds from now)


class Bench:
    """One bench run's processes and clients."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        raw: Client,
        http: httpx.AsyncClient,
        concurrency: int,
        calls: Calls,
        database_url: str,
        counted_http: httpx.AsyncClient,
    ) -> None:
        self.env, self.raw, self.http, self.concurrency, self.calls = env, raw, http, concurrency, calls
        self.counted_http = counted_http
        self.database_url = database_url
        self.worker_pid: int | None = None
        self.api_pid: int | None = None
        self.raw_worker_pid: int | None = None
        self.run = uuid.uuid4().hex[:6]

    async def post(self, path: str, body: Any, key: str = "bench-mall", *, counted: bool = False) -> httpx.Response:
        """POSTs to the API's own process; ``counted``: to the one in this process, whose calls are counted."""
        http = self.counted_http if counted else self.http
        return await http.post(path, json=body, headers={"Authorization": f"Bearer {key}"})

    async def report(self, order: dict[str, object], *, counted: bool = False) -> bool:
        return (await self.post("/v1/orders", order, counted=counted)).status_code == 201

    async def warm_up(self) -> None:
        """One order reported and read, one raw workflow started and updated."""
        order_id = f"W{self.run}"
        await self.report(order_body(order_id))
        for _ in range(600):
            if await self._get(f"/v1/orders/{order_id}"):
                break
            await asyncio.sleep(0.1)
        handle = await self.raw.start_workflow(
            RawWorkflow.run, time.time() + FAR, id=f"raw-w{self.run}", task_queue=RAW_QUEUE
        )
        await handle.execute_update(RawWorkflow.ping, 0)
        await handle.signal(RawWorkflow.finish)

    async def throughput(self, count: int) -> None:
        """The API's calls, the start and the Update beside their raw counterparts."""
        run, c = self.run, self.concurrency
        raw_ids = [f"raw-{run}-{i}" for i in range(count)]
        far = time.time() + FAR

        async def raw_start(i: int) -> bool:
            await self.raw.start_workflow(RawWorkflow.run, far, id=raw_ids[i], task_queue=RAW_QUEUE)
            return True

        async def raw_update(i: int) -> bool:
            return (
                await self.raw.get_workflow_handle_for(RawWorkflow.run, raw_ids[i]).execute_update(RawWorkflow.ping, i)
                == i
            )

        # The CPU each process spends per call, the raw baseline's beside it.
        server, me = server_pid(), os.getpid()
        project = {"server": server, "worker": self.worker_pid, "api": self.api_pid, "bench": me}
        plain = {"server": server, "raw worker": self.raw_worker_pid, "bench": me}
        print(f"{count} operations each, {c} at a time", flush=True)
        raw_starts = await measure(count, c, raw_start, plain)
        row(
            "POST /v1/orders (start)",
            await measure(count, c, lambda i: self.report(order_body(f"B{run}-{i}")), project),
            raw_starts,
        )
        row(
            "GET /v1/orders/{id} (query)",
            await measure(count, c, lambda i: self._get(f"/v1/orders/B{run}-{i}"), project),
        )
        raw_updates = await measure(count, c, raw_update, plain)
        shipment = await measure(
            count,
            c,
            lambda i: self.ok(
                self.post(
                    f"/v1/orders/B{run}-{i}/shipment", {"carrier": "SF", "tracking_no": f"SF{i}"}, "bench-merchant"
                )
            ),
            project,
        )
        row("POST .../shipment (update, merchant)", shipment, raw_updates)
        case = {"kind": "refund_only", "lines": [{"line_id": "L1", "quantity": 1}], "reason": "bench"}
        row(
            "POST /v1/after-sales (update+child)",
            await measure(
                count,
                c,
                lambda i: self.ok(
                    self.post("/v1/after-sales", {**case, "case_id": f"B{run}-{i}-c", "order_id": f"B{run}-{i}"})
                ),
                project,
            ),
            raw_starts,
        )
        row(
            "GET /v1/after-sales/{id} (query)",
            await measure(count, c, lambda i: self._get(f"/v1/after-sales/B{run}-{i}-c"), project),
        )
        row(
            "GET /v1/monitoring/... (read model)",
            await measure(count, c, lambda i: self._get("/v1/monitoring/logistics-anomalies", "bench-admin"), project),
        )
        await asyncio.gather(*(self.raw.get_workflow_handle(i).signal(RawWorkflow.finish) for i in raw_ids))

    async def ok(self, response: Awaitable[httpx.Response]) -> bool:
        return (await response).status_code < 400

    async def _get(self, path: str, key: str = "bench-mall") -> bool:
        return (await self.http.get(path, headers={"Authorization": f"Bearer {key}"})).status_code < 400

    async def deadlines(self, count: int, lead: float, rate: float | None = None) -> None:
        """``count`` ship deadlines all due ``lead`` s from now (a burst), or from then on at ``rate`` per second
        (a spread); once the project has acted on all of them, as many raw timers due the same way.

        The two take turns: each gets the machine to itself, as either would in production. (Due in the same
        second, the raw workers' 500 timers took the server's CPU from the project's and the project's from
        theirs, and both figures told of the other.)"""
        merchant = f"m-{'spread' if rate else 'burst'}-{self.run}"
        lead = float(int(lead))  # whole seconds: the merchant's ship deadline is written in them
        started = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        offsets = [timedelta(seconds=i / rate if rate else 0) for i in range(count)]
        dues = [started + timedelta(seconds=lead) + offset for offset in offsets]
        config = {
            "name": "bench",
            "head_mobile": "13800000001",
            "supervisor_mobile": "13800000002",
            "policy": {"ship_deadline": f"{int(lead)}s", "ship_reminders": ""},
        }
        put = await self.http.put(
            f"/v1/merchants/{merchant}", json=config, headers={"Authorization": "Bearer bench-admin"}
        )
        put.raise_for_status()
        orders = [f"{merchant[2]}{self.run}-{i}" for i in range(count)]
        what = f"at {rate:g}/s from" if rate else "all at"
        print(f"{count} ship deadlines due {what} {dues[0]:%H:%M:%S} UTC", flush=True)
        intake = await measure(
            count, self.concurrency, lambda i: self.report(order_body(orders[i], merchant, started + offsets[i]))
        )
        if intake.failures:
            print(f"  warning: {intake.failures} of the {count} orders were not accepted; they count as missing")
        if datetime.now(UTC) >= dues[0]:
            print(f"  warning: intake ({intake.per_second:.1f}/s) ended after the first deadline; raise --burst-lead")
        # Wait for the last deadline, then until every order is marked overdue (or two minutes have passed).
        query = f"MerchantId = '{merchant}' AND Overdue = true"
        await asyncio.sleep(max(0.0, (dues[0] - datetime.now(UTC)).total_seconds() - 1))
        pids = (self.worker_pid, server_pid())
        cpu = [cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(max(0.0, (dues[-1] - datetime.now(UTC)).total_seconds()))
        for _ in range(240):
            if (await self.env.client.count_workflows(query)).count >= count:
                break
            await asyncio.sleep(0.5)
        used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        for _ in range(120):  # then until the worker is idle: the effects that follow a mark are its cost too
            idle = cpu_seconds(pids[0])
            await asyncio.sleep(1)
            if cpu_seconds(pids[0]) - idle < 0.05:
                break
        settled = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        project = await histories(self.env.client, [f"order-{o}" for o in orders])
        marked = [overdue_marked(events) for events in project]
        lateness("project: marked overdue (upsert event)", dues, [m for m, _, _ in marked])
        lateness("project: in the read model (projection ended)", dues, [p for _, _, p in marked])
        lateness("project: its ship timer fired (TimerFired)", dues, [f for _, f, _ in marked])
        print(f"  workflow-task timeouts: project {timeouts(project)} in {count} histories", flush=True)
        print(f"  {tasks_after_deadline(project)}", flush=True)
        print(f"  {task_phases([p for e in project if (p := marking_task(e)) is not None])}", flush=True)
        print(
            f"  CPU from the first deadline until all were marked: worker {used[0]:.1f} s"
            f" ({used[0] / count * 1000:.0f} ms per order), server {used[1]:.1f} s"
            f" ({used[1] / count * 1000:.0f} ms per order);"
            f" until the worker was idle: worker {settled[0] / count * 1000:.0f} ms per order,"
            f" server {settled[1] / count * 1000:.0f} ms per order",
            flush=True,
        )
        await raw_timers(self.raw, RAW_QUEUE, f"{self.run}{'s' if rate else 'b'}", lead, offsets, self.concurrency)

    async def scale(self, count: int, worker_pid: int | None) -> None:
        """Opens ``count`` more order watches and reports the RSS they add per 1,000."""
        server = server_pid()
        before = rss_kib(worker_pid), rss_kib(server)
        figures = await measure(count, self.concurrency, lambda i: self.report(order_body(f"S{self.run}-{i}")))
        started = time.perf_counter()
        query = select(func.count()).select_from(OrderWatch).where(col(OrderWatch.order_id).startswith(f"S{self.run}-"))
        engine = make_engine(self.database_url)
        for _ in range(1200):  # until the worker has run every new watch's first task (its projection)
            with engine.connect() as connection:
                if connection.execute(query).scalar_one() >= count:
                    break
            await asyncio.sleep(1)
        engine.dispose()
        settled = time.perf_counter() - started
        after = rss_kib(worker_pid), rss_kib(server)
        per = [(a - b) / 1024 / count * 1000 for a, b in zip(after, before, strict=True)]
        print(
            f"scale: {count} more order watches open ({figures.per_second:.1f}/s, errors {figures.failures};"
            f" all in the read model {settled:.0f} s after the last start):"
            f" worker RSS {after[0] / 1024:.0f} MiB (+{per[0]:.1f} MiB per 1,000),"
            f" server RSS {after[1] / 1024:.0f} MiB (+{per[1]:.1f} MiB per 1,000)",
            flush=True,
        )


async def run_bench(
    *,
    count: int = 300,
    concurrency: int = 20,
    burst: int = 500,
    spread: int = 0,
    burst_lead: float | None = None,
    scale: int = 0,
    fsync: bool = True,
    wal: bool = True,
    database_url: str | None = None,
) -> int:
    """Runs the benchmark and prints its figures; the read model in a SQLite file of its own unless
    ``database_url`` names one (e.g. PostgreSQL, as in production: its tables are migrated, rows added)."""
    with tempfile.TemporaryDirectory(prefix="aftersales-bench-") as workdir:
        settings = Settings(
            database_url=database_url or f"sqlite:///{Path(workdir) / 'bench.db'}",
            task_queue="bench",
            api_keys=KEYS,
            codec_keys=new_key("bench"),
        )
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(codec(settings)),
            dev_server_existing_path=temporal_binary(),
            dev_server_database_filename=str(Path(workdir) / "temporal.db"),
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
            # --no-fsync: the dev server's one SQLite file written without fsync; a Temporal cluster's store is
            # not one file on the worker's disk, and the burst otherwise waits mostly on those fsyncs.
            dev_server_extra_args=sqlite_pragmas(wal=wal, fsync=fsync),
        )
        address = env.client.service_client.config.target_host
        calls = Calls()  # the API's calls to Temporal, counted for the action costs
        api_client = Client(env.client.service_client, data_converter=env.client.data_converter, interceptors=[calls])
        server, port = api_server(settings, api_client)
        # Log level ERROR: the bench's merchants have no robots, so every message warns. Its bytecode cache in
        # the run's directory: the sandbox imports each workflow's module anew for every workflow it starts.
        # The worker as the production compose runs it: no sandbox, unless the environment says otherwise.
        tuning = {name: value for name, value in os.environ.items() if name.startswith("AFTERSALES_WORKER_")}
        tuning.setdefault("AFTERSALES_WORKER_SANDBOX", "off")
        worker_env = {"PYTHONPYCACHEPREFIX": str(Path(workdir) / "pycache"), **tuning}
        worker = await start_worker(settings, address, log_level="ERROR", env=worker_env)
        raw_worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "workers.bench_raw", address, RAW_QUEUE)
        processes = [worker, raw_worker]
        try:
            serving = asyncio.create_task(server.serve())
            await started(server)
            raw = await Client.connect(address)
            load = os.getloadavg()
            print(
                f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f};"
                f" file-backed dev server ({'WAL' if wal else 'rollback journal'}{'' if fsync else ', no fsync'}),"
                f" read model {settings.database_url.split(':', 1)[0]};"
                " raw: workers/bench_raw.py on its own task queue",
                flush=True,
            )
            print(f"worker tuning: {tuning or 'the SDK defaults'}", flush=True)
            api_port = free_port()
            api = await start_command(
                "api",
                settings,
                address,
                env={
                    "AFTERSALES_API_HOST": "127.0.0.1",
                    "AFTERSALES_API_PORT": str(api_port),
                    "AFTERSALES_API_KEYS": json.dumps(KEYS),
                },
            )
            processes.append(api)
            await wait_for_port(api_port)
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=60) as http,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as counted_http,
            ):
                bench = Bench(env, raw, http, concurrency, calls, settings.database_url, counted_http)
                bench.worker_pid, bench.api_pid, bench.raw_worker_pid = worker.pid, api.pid, raw_worker.pid
                await bench.warm_up()  # both workers polling and past their first task before anything is timed
                rss = rss_kib(worker.pid), rss_kib(server_pid())
                await bench.throughput(count)
                if scale:  # before the deadlines, which then fall due among that many open watches
                    await bench.scale(scale, worker.pid)
                if burst:
                    await bench.deadlines(burst, burst_lead if burst_lead is not None else 15 + burst / 12)
                if spread:
                    await bench.deadlines(spread, burst_lead if burst_lead is not None else 15 + spread / 12, rate=20)
                await lifecycle(bench)
                await intake_cost(bench)
                await action_costs(bench)
                opened = 3 * count + (burst + spread) * 2 + scale  # orders, cases, raw workflows open on the server
                worker_growth = (rss_kib(worker.pid) - rss[0]) / 1024 / (2 * count + burst + spread + scale) * 1000
                server_growth = (rss_kib(server_pid()) - rss[1]) / 1024 / opened * 1000
                print(
                    f"RSS: worker {rss_kib(worker.pid) / 1024:.0f} MiB, +{worker_growth:.1f} MiB per 1,000 project"
                    f" workflows since the warm-up; server {rss_kib(server_pid()) / 1024:.0f} MiB,"
                    f" +{server_growth:.1f} MiB per 1,000 open workflows (all kinds)",
                    flush=True,
                )
            load = os.getloadavg()
            print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
            server.should_exit = True
            await serving
        finally:
            for process in processes:
                process.terminate()
                await process.wait()
            await env.shutdown()
    return 0
