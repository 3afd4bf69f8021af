"""The worker process: the composition root of workflows and activities."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.calendars import Calendars
from activities.callbacks import Callbacks
from activities.channels.limiter import RobotRateLimiter
from activities.channels.sms import AliyunSms, LogSms, SmsSender
from activities.digest import Digests
from activities.fanout import Fanout
from activities.notify import Notifier
from activities.partners import Partners
from activities.records import Records
from config.settings import Settings, SmsBackend
from config.temporal import connect
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from workers.interceptors import LogContextInterceptor
from workers.schedules import ensure_digest_schedule
from workflows.aftersale import AfterSaleWorkflow
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.deadline_shift import DeadlineShiftWorkflow
from workflows.digest import DigestWorkflow
from workflows.order import OrderWorkflow
from workflows.pickup import PickupWorkflow
from workflows.work_order import WorkOrderWorkflow

log = structlog.get_logger(__name__)

WORKFLOWS: Sequence[type] = (
    OrderWorkflow,
    AfterSaleWorkflow,
    PickupWorkflow,
    WorkOrderWorkflow,
    DigestWorkflow,
    ConversationWorkflow,
    CalendarChangeWorkflow,
    DeadlineShiftWorkflow,
)


def make_sms(settings: Settings, http: httpx.AsyncClient) -> SmsSender:
    """The configured SMS backend."""
    if settings.sms_backend is SmsBackend.ALIYUN:
        if not settings.sms_endpoint:
            raise ValueError("AFTERSALES_SMS_BACKEND=aliyun needs AFTERSALES_SMS_ENDPOINT")
        return AliyunSms(
            http,
            settings.sms_endpoint,
            settings.sms_access_key_id,
            settings.sms_access_key_secret,
            settings.sms_sign_name,
            settings.sms_template_code,
        )
    return LogSms()


def activities(settings: Settings, *, engine: Engine, http: httpx.AsyncClient, client: Client) -> list[Any]:
    """Every activity of the product, bound to its clients (``client``: the worker's own, for fan-outs)."""
    records = Records(engine)
    notifier = Notifier(
        http=http,
        engine=engine,
        settings=settings,
        sms=make_sms(settings, http),
        limiter=RobotRateLimiter(settings.robot_max_per_minute),
    )
    partners = Partners(http=http, engine=engine, settings=settings)
    callbacks = Callbacks(http=http, url=settings.callback_url, secrets=settings.callback_secret.get_secret_value())
    digests = Digests(engine, settings)
    fanout = Fanout(client)
    calendars = Calendars(engine)
    return [
        records.project_order,
        records.project_case,
        records.project_conversation,
        notifier.channels,
        notifier.deliver,
        records.project_work_order,
        notifier.notify,
        partners.refund,
        partners.book_pickup,
        partners.cancel_pickup,
        partners.claim_insurance,
        callbacks.deliver,
        digests.overdue_by_merchant,
        fanout.list_running,
        fanout.set_calendars,
        fanout.list_matching,
        fanout.shift_deadlines,
        calendars.merchant_calendar,
    ]


def tuning(settings: Settings) -> dict[str, Any]:
    """The worker's slots, pollers, cache and sandbox from ``AFTERSALES_WORKER_*``; unset ones keep the SDK's
    defaults."""
    options: dict[str, Any] = {
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.worker_sticky_schedule_to_start),
        "max_cached_workflows": settings.worker_max_cached_workflows,
    }
    optional = {
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "max_concurrent_activities": settings.worker_max_concurrent_activities,
        "max_concurrent_local_activities": settings.worker_max_concurrent_local_activities,
        "max_concurrent_workflow_task_polls": settings.worker_workflow_task_pollers,
        "max_concurrent_activity_task_polls": settings.worker_activity_pollers,
    }
    options.update({name: value for name, value in optional.items() if value is not None})
    if not settings.worker_sandbox:
        options["workflow_runner"] = UnsandboxedWorkflowRunner()
    return options


@asynccontextmanager
async def build_worker(
    client: Client, settings: Settings, *, engine: Engine | None = None, task_queue: str | None = None
) -> AsyncIterator[Worker]:
    """A worker for every workflow and activity, with its HTTP client and thread pool; closes them after."""
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
        with concurrent.futures.ThreadPoolExecutor(max_workers=settings.worker_activity_threads) as executor:
            yield Worker(
                client,
                task_queue=task_queue or settings.task_queue,
                workflows=list(WORKFLOWS),
                activities=activities(settings, engine=engine, http=http, client=client),
                activity_executor=executor,
                interceptors=[LogContextInterceptor()],
                **tuning(settings),
            )
    if own_engine:
        engine.dispose()


def runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics for Prometheus, when an address is configured."""
    if not settings.worker_metrics_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.worker_metrics_address)))


async def run_worker(settings: Settings) -> None:
    """Migrates the read model, then polls the task queue until cancelled."""
    await asyncio.to_thread(upgrade, settings.database_url)
    client = await connect(settings, runtime=runtime(settings))
    await ensure_digest_schedule(client, settings)
    async with build_worker(client, settings) as worker:
        # SIGTERM (docker stop, systemd, make dev) drains the worker like Ctrl-C does.
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        log.info("worker_started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        async with worker:
            await stopping.wait()
        log.info("worker_stopped")
