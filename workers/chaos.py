"""``make chaos``: load through the API while the worker, then the Temporal server, is killed and restarted.

It runs a file-backed Temporal dev server and the project's worker as processes of their own (so each can
be sent SIGKILL), the API in this process (as ``make bench`` does), and local stand-ins for every robot
(:mod:`workers.standins`). It drives orders whose ship deadlines fall due all along, the outages included,
and refund-only cases that are requested and approved, paid by the built-in payments simulator. Meanwhile
it SIGKILLs the worker and starts it again, then SIGKILLs the dev server and starts it again on the same
database file. Once everything has settled it checks (:mod:`workers.chaos_checks`) and prints: workflows
lost, refunds paid twice, notifications delivered twice, workflows stuck (each must be zero) and the delay
of the deadlines that fell due during each outage. It exits 1 if a check fails.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import Engine
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from config.codec import new_key
from config.settings import Settings
from config.temporal import connect
from domain import ids
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from workers import chaos_checks as checks
from workers.bench_history import histories, overdue_marked, timeouts
from workers.chaos_load import CASES_MERCHANT, KEYS, Ledger, Load, Plan, warm_up
from workers.stack import api_server, free_port, http_server, start_worker, started, temporal_server_command
from workers.stack import wait_for_port as listening
from workers.standins import RobotStandIns


class Processes:
    """The dev server and the worker, as processes this run kills and starts again."""

    def __init__(self, workdir: Path, settings: Settings, port: int, worker_env: dict[str, str], log: IO[bytes]):
        self.workdir, self.settings, self.port, self.worker_env, self.log = workdir, settings, port, worker_env, log
        self.server: asyncio.subprocess.Process | None = None
        self.worker: asyncio.subprocess.Process | None = None

    async def start_server(self) -> None:
        """The dev server on its port and its database file, whether new or left by a killed server."""
        command = temporal_server_command(
            db_filename=self.workdir / "temporal.db",
            host="127.0.0.1",
            port=self.port,
            namespace=self.settings.temporal_namespace,
        )
        self.server = await asyncio.create_subprocess_exec(*command, stdout=self.log, stderr=self.log)
        await listening(self.port)

    async def start_worker(self) -> None:
        address = self.settings.temporal_address
        self.worker = await start_worker(
            self.settings, address, log_level="WARNING", env=self.worker_env, output=self.log
        )

    @staticmethod
    async def kill(process: asyncio.subprocess.Process | None) -> None:
        """SIGKILL: no shutdown hook runs, nothing in flight is finished or handed back."""
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def stop(self) -> None:
        for process in (self.worker, self.server):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()


def _say(start: float, text: str) -> None:
    print(f"[{time.monotonic() - start:6.1f} s] {text}", flush=True)


async def _outages(processes: Processes, plan: Plan, start: float) -> list[checks.Outage]:
    """SIGKILLs the worker and starts it again, then the server; when each was down, by the wall clock."""
    outages = []
    await asyncio.sleep(max(0.0, start + plan.worker_kill_at - time.monotonic()))
    down = datetime.now(UTC)
    await processes.kill(processes.worker)
    _say(start, "worker SIGKILLed")
    await asyncio.sleep(plan.outage)
    await processes.start_worker()
    outages.append(checks.Outage("worker SIGKILLed, restarted", down, datetime.now(UTC)))
    _say(start, "worker started again")
    await asyncio.sleep(max(0.0, start + plan.server_kill_at - time.monotonic()))
    down = datetime.now(UTC)
    await processes.kill(processes.server)
    _say(start, "Temporal dev server SIGKILLed")
    await asyncio.sleep(plan.outage)
    await processes.start_server()
    outages.append(checks.Outage("dev server SIGKILLed, restarted", down, datetime.now(UTC)))
    _say(start, "Temporal dev server started again on the same database file")
    return outages


async def _settle(client: Client, ledger: Ledger, robots: RobotStandIns, plan: Plan, start: float) -> None:
    """Waits until every deadline is due and marked, every approved case has completed and the robots have
    been quiet for 5 s; or ``plan.settle`` seconds after the last deadline."""
    last_due = max(ledger.dues.values(), default=datetime.now(UTC))
    give_up = last_due + timedelta(seconds=plan.settle)
    _say(start, f"load done; waiting for the last deadline ({last_due:%H:%M:%S} UTC) and for quiet")
    while datetime.now(UTC) < give_up:
        if datetime.now(UTC) > last_due:
            overdue = await client.count_workflows("Overdue = true")
            completed = await client.count_workflows(
                "WorkflowType = 'AfterSaleWorkflow' AND ExecutionStatus = 'Completed'"
            )
            marked = overdue.count >= len(ledger.dues) and completed.count >= len(ledger.approved)
            if marked and robots.quiet_for() >= 5:
                _say(start, "settled")
                return
        await asyncio.sleep(1)
    _say(start, f"not settled {plan.settle:.0f} s after the last deadline; checking as it stands")


async def _check(
    client: Client, engine: Engine, ledger: Ledger, robots: RobotStandIns
) -> tuple[list[checks.Check], dict[str, list[HistoryEvent]]]:
    """The checks, and the histories of the orders with a deadline."""
    orders = [*ledger.dues, *ledger.case_orders]
    workflow_ids = [ids.order(o) for o in orders] + [ids.after_sale(c) for c in ledger.cases]
    descriptions = await checks.describe_all(client, workflow_ids)
    order_histories = await histories(client, [ids.order(o) for o in ledger.dues])
    marked = {o: overdue_marked(events) for o, events in zip(ledger.dues, order_histories, strict=True)}
    now = datetime.now(UTC)
    unmarked = [ids.order(o) for o, due in ledger.dues.items() if due < now and marked[o][0] is None]
    by_case = checks.refund_keys_by_case(engine)
    return (
        [
            checks.lost(descriptions),
            checks.refunds_paid_twice(by_case),
            checks.delivered_twice(dict(robots.received)),
            checks.stuck(
                descriptions,
                unmarked_orders=unmarked,
                approved_cases={ids.after_sale(c): c for c in ledger.approved},
                refunded_cases=set(by_case),
            ),
        ],
        dict(zip(ledger.dues, order_histories, strict=True)),
    )


def run_chaos(plan: Plan) -> int:
    """Runs the load and the outages, checks, prints the results; 0 if every check found nothing, else 1.

    The server's and the worker's logs go to a file, whose end is printed if a check fails.
    """
    with tempfile.TemporaryDirectory(prefix="aftersales-chaos-") as workdir:
        path = Path(workdir) / "processes.log"
        with path.open("wb") as log:
            outcome = asyncio.run(_chaos(plan, Path(workdir), log))
        if outcome:
            print("\nthe end of the server's and the worker's logs:", *path.read_text().splitlines()[-30:], sep="\n")
        return outcome


async def _chaos(plan: Plan, workdir: Path, log: IO[bytes]) -> int:
    port = free_port()
    settings = Settings(
        temporal_address=f"127.0.0.1:{port}",
        database_url=f"sqlite:///{workdir / 'chaos.db'}",
        task_queue="chaos",
        api_keys=KEYS,
        codec_keys=new_key("chaos"),
        allow_insecure_webhooks=True,  # the robots' stand-ins answer plain http on this machine
    )
    robots_server, robots_port = http_server((robots := RobotStandIns()).app())
    robots.base_url = f"http://127.0.0.1:{robots_port}"
    worker_env = {
        "AFTERSALES_PLATFORM_DINGTALK_WEBHOOK": robots.dingtalk_url("platform"),
        # Every message counted, none held back: the robots' 20 a minute would stretch the run to an hour.
        "AFTERSALES_ROBOT_MAX_PER_MINUTE": "1000000",
        "AFTERSALES_LINK_SECRET": "",  # no action links: a message's body is the same on every try
        "AFTERSALES_PAYMENTS_ENDPOINT": "",  # the built-in simulator, which records each refund paid
    }
    processes = Processes(workdir, settings, port, worker_env, log)
    # The API's client connects lazily, as in production; its retries while the server is down go unlogged.
    quiet = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))
    client = await connect(settings, lazy=True, runtime=Runtime(telemetry=quiet))
    api, api_port = api_server(settings, client)
    serving = [asyncio.create_task(api.serve()), asyncio.create_task(robots_server.serve())]
    try:
        await processes.start_server()
        await asyncio.to_thread(upgrade, settings.database_url)  # once, before the worker and the API look
        await processes.start_worker()
        await started(api)
        await started(robots_server)
        return await _run(plan, client, settings, processes, robots, f"http://127.0.0.1:{api_port}")
    finally:
        api.should_exit = robots_server.should_exit = True
        await asyncio.gather(*serving)
        await processes.stop()


async def _run(
    plan: Plan, client: Client, settings: Settings, processes: Processes, robots: RobotStandIns, url: str
) -> int:
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {plan.orders_per_second:g}"
        f" orders/s (ship deadline {plan.lead} s after payment) and {plan.cases_per_second:g} refund-only cases/s"
        f" for {plan.load_for:.0f} s; worker and dev server each down {plan.outage:g} s",
        flush=True,
    )
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for number in range(plan.merchants):
            merchant = f"m-chaos-{number}"
            await _merchant(http, merchant, robots, {"ship_deadline": f"{plan.lead}s", "ship_reminders": "10s"})
        await _merchant(http, CASES_MERCHANT, robots, {})
        driver = Load(http, plan)
        await warm_up(driver)
        start = time.monotonic()
        _say(start, "load started")
        outages = asyncio.create_task(_outages(processes, plan, start))
        await driver.run()
        ledger = driver.ledger
        await _settle(client, ledger, robots, plan, start)
        engine = make_engine(settings.database_url)
        results, histories = await _check(client, engine, ledger, robots)
        print(
            f"\nload: {len(ledger.dues)} orders with a deadline, {len(ledger.cases)} refund-only cases requested,"
            f" {len(ledger.approved)} approved; calls retried through the outages: {dict(ledger.retried) or 'none'};"
            f" given up: {ledger.gave_up or 'none'}",
            flush=True,
        )
        print(checks.table(results, checks.delays(await outages, ledger.dues, histories)), flush=True)
        print(f"    workflow-task timeouts in the orders' histories: {timeouts(list(histories.values()))}")
        sent, refused = checks.recorded_robot_sends(engine)
        engine.dispose()
        print(
            f"robot messages the notifier recorded: {sent} sent, {refused} refused; distinct messages the"
            f" robots received: {len(robots.received)}",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    return 0 if all(check.ok for check in results) and not ledger.gave_up else 1


async def _merchant(http: httpx.AsyncClient, merchant: str, robots: RobotStandIns, policy: dict[str, str]) -> None:
    """A merchant whose DingTalk and WeCom robots are stand-ins of their own."""
    config = {
        "name": merchant,
        "head_mobile": "13800000001",
        "supervisor_mobile": "13800000002",
        "dingtalk": {"webhook_url": robots.dingtalk_url(merchant)},
        "wecom": {"webhook_url": robots.wecom_url(merchant)},
        "policy": policy,
    }
    response = await http.put(f"/v1/merchants/{merchant}", json=config, headers={"Authorization": "Bearer chaos-admin"})
    response.raise_for_status()
