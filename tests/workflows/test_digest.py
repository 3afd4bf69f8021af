"""The daily digest: a real Temporal Schedule on the dev server (the time-skipping server has no Schedules),
triggered and backfilled, with SMS read at a local Aliyun-shaped peer and the summary at a DingTalk peer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, ScheduleBackfill, ScheduleHandle, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings, SmsBackend
from domain.cases import CaseKind, CaseStatus, CaseView
from domain.digest import DigestResult
from domain.merchants import MerchantConfig
from domain.work_orders import WorkOrderRecord
from readmodel.db import make_engine
from readmodel.merchants import put_merchant
from readmodel.migrate import upgrade
from readmodel.projection import upsert_case, upsert_work_order
from tests.conftest import CODEC_KEYS
from tests.factories import merchant_body, project_order
from tests.peers.dingtalk import DingTalkPeer
from tests.peers.sms import SmsPeer
from tests.waiting import wait_for
from workers.main import build_worker
from workers.schedules import DIGEST_SCHEDULE_ID, ensure_digest_schedule, run_schedules

ZONE = "Asia/Shanghai"
# Midnight where people read it: a day's nominal run is then always in the past, so the test can backfill it.
CRON = "0 0 * * *"


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    """A read model of the test's own: the digest reports every merchant it holds."""
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sms() -> Iterator[SmsPeer]:
    with SmsPeer(access_key_id="LTAI5tDigest", access_key_secret="digest-secret", template_code="SMS_900") as peer:
        yield peer


@pytest.fixture
def platform() -> Iterator[DingTalkPeer]:
    with DingTalkPeer(access_token="platform-token", secret="SECdigest") as peer:
        yield peer


def digest_settings(engine: Engine, sms: SmsPeer, platform: DingTalkPeer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": str(engine.url),
        "task_queue": f"digest-{uuid.uuid4()}",
        "public_url": "https://sla.mall.test",
        "timezone": ZONE,
        "digest_cron": CRON,
        "sms_backend": SmsBackend.ALIYUN,
        "sms_endpoint": sms.endpoint,
        "sms_access_key_id": sms.access_key_id,
        "sms_access_key_secret": sms.access_key_secret,
        "sms_template_code": sms.template_code,
        "platform_dingtalk_webhook": platform.webhook_url,
        "platform_dingtalk_secret": platform.secret,
    }
    return Settings(**{**values, **overrides})


def seed(engine: Engine, now: datetime) -> None:
    """m-acme: two shipments overdue, a case undecided for 30 h, a work order past its resolution clock;
    m-beta: one case overdue; m-calm: on time."""
    for merchant_id, name, head in (
        ("m-acme", "Acme 家居", "13900000001"),
        ("m-beta", "Beta 数码", "13900000002"),
        ("m-calm", "Calm 食品", "13900000003"),
    ):
        config = MerchantConfig.model_validate(merchant_body(name=name, head_mobile=head))
        put_merchant(engine, merchant_id=merchant_id, values=config.model_dump(mode="json"))

    def order(order_id: str, merchant_id: str, *, overdue: bool) -> None:
        paid_at = now - timedelta(hours=80 if overdue else 10)
        project_order(engine, order_id=order_id, merchant_id=merchant_id, paid_at=paid_at, overdue=overdue)

    def case(case_id: str, merchant_id: str, *, overdue: bool, opened_hours_ago: int) -> None:
        view = CaseView.model_validate(
            {
                "case_id": case_id,
                "order_id": f"O-{case_id}",
                "merchant_id": merchant_id,
                "kind": CaseKind.REFUND_ONLY,
                "status": CaseStatus.PENDING_REVIEW,
                "overdue": overdue,
                "opened_at": now - timedelta(hours=opened_hours_ago),
                "deadline_at": now + timedelta(hours=18),
                "customer_id": "c-1",
                "reason": "坏了",
                "refund_cents": 1000,
                "lines": [],
                "revision": 1,
            }
        )
        upsert_case(engine, workflow_id=f"aftersale-{case_id}", view=view)

    order("O-A1", "m-acme", overdue=True)
    order("O-A2", "m-acme", overdue=True)
    case("C-A1", "m-acme", overdue=False, opened_hours_ago=30)
    case("C-B1", "m-beta", overdue=True, opened_hours_ago=50)
    record = WorkOrderRecord.model_validate(
        {
            "work_order_id": "W-A1",
            "merchant_id": "m-acme",
            "category": "quality",
            "status": "in_progress",
            "priority": "urgent",
            "assignee_id": "a-1",
            "escalation_level": 1,
            "overdue": True,
            "deadline_at": now - timedelta(hours=1),
            "breached_clocks": ["resolution"],
            "opened_at": now - timedelta(hours=2),
            "first_response_at": None,
            "resolved_at": None,
            "satisfaction": None,
            "case_id": None,
            "revision": 1,
        }
    )
    upsert_work_order(engine, workflow_id="workorder-W-A1", record=record)
    order("O-C1", "m-calm", overdue=False)
    case("C-C1", "m-calm", overdue=False, opened_hours_ago=2)


async def recent_actions(handle: ScheduleHandle) -> list[Any]:
    """The runs the Schedule has started, oldest first."""
    return list((await handle.describe()).info.recent_actions)


async def run_result(client: Client, handle: ScheduleHandle, runs: int) -> tuple[datetime, DigestResult]:
    """Waits until the Schedule has started ``runs`` runs; the newest one's scheduled time and result."""
    started = await wait_for(lambda: recent_actions(handle), lambda done: len(done) >= runs, what=f"run {runs}")
    newest = started[runs - 1]
    workflow_id = newest.action.workflow_id  # type: ignore[attr-defined]
    result = await client.get_workflow_handle(workflow_id, result_type=DigestResult).result()
    return newest.scheduled_at, result


def sms_by_mobile(sms: SmsPeer) -> dict[str, dict[str, Any]]:
    return {form["PhoneNumbers"]: {**form, "params": json.loads(form["TemplateParam"])} for form in sms.messages}


async def test_daily_digest_texts_each_supplier_head_once_however_often_it_runs(
    dev_env: WorkflowEnvironment, own_engine: Engine, sms: SmsPeer, platform: DingTalkPeer
) -> None:
    now = datetime.now(UTC)
    seed(own_engine, now)
    settings = digest_settings(own_engine, sms, platform)
    schedule_id = f"digest-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_env.client, settings, engine=own_engine) as worker, worker:
        handle = await ensure_digest_schedule(dev_env.client, settings, schedule_id=schedule_id)
        try:
            await handle.trigger()
            scheduled_at, first = await run_result(dev_env.client, handle, 1)
            day = scheduled_at.astimezone(ZoneInfo(ZONE)).date().isoformat()
            assert first.day == day
            assert sorted(first.merchants) == ["m-acme", "m-beta"]
            assert first.undelivered == []

            texts = sms_by_mobile(sms)
            assert set(texts) == {"13900000001", "13900000002"}  # m-calm has nothing overdue: no SMS
            acme = texts["13900000001"]
            assert acme["TemplateCode"] == "SMS_900"
            assert acme["OutId"] == f"digest:{day}:m-acme"
            assert acme["params"]["date"] == day
            assert acme["params"]["overdue_shipments"] == "2"
            assert acme["params"]["overdue_after_sales"] == "1"  # undecided for 30 h counts, not yet overdue
            assert acme["params"]["breached_work_orders"] == "1"
            assert acme["params"]["link"] == "https://sla.mall.test/board?merchant_id=m-acme"
            # The one approved template's ${content}: the whole message, for templates that take only that.
            assert acme["params"]["content"] == (
                f"{day} 超时未发货 2 单，超时或未处理售后 1 单，超时工单 1 单，"
                "详见 https://sla.mall.test/board?merchant_id=m-acme"
            )
            beta = texts["13900000002"]["params"]
            assert (beta["overdue_shipments"], beta["overdue_after_sales"]) == ("0", "1")

            [summary] = platform.messages
            text = summary["markdown"]["text"]
            assert day in text
            assert "m-acme" in text
            assert "m-beta" in text
            assert "m-calm" not in text
            assert "https://sla.mall.test/board" in text

            # A catch-up of the same day (the nominal midnight run, backfilled) sends nothing again.
            midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(ZONE))
            await handle.backfill(
                ScheduleBackfill(
                    start_at=midnight - timedelta(minutes=1),
                    end_at=midnight + timedelta(minutes=1),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            backfilled_at, caught_up = await run_result(dev_env.client, handle, 2)
            assert backfilled_at == midnight
            assert caught_up.day == day
            assert sorted(caught_up.merchants) == ["m-acme", "m-beta"]  # already told: nothing left to send

            # And so does a second trigger the same day.
            await handle.trigger()
            _, again = await run_result(dev_env.client, handle, 3)
            assert again.day == day

            assert len(sms.messages) == 2
            assert len(platform.messages) == 1
            assert sms.rejected == []
        finally:
            await handle.delete()


async def test_digest_schedule_is_created_once_and_follows_the_settings(
    dev_env: WorkflowEnvironment, own_engine: Engine, sms: SmsPeer, platform: DingTalkPeer
) -> None:
    schedule_id = f"digest-{uuid.uuid4().hex[:8]}"
    settings = digest_settings(own_engine, sms, platform, digest_cron="0 9 * * *")
    # Three workers starting at once: one creates it, the others find it.
    handles = await asyncio.gather(
        *(ensure_digest_schedule(dev_env.client, settings, schedule_id=schedule_id) for _ in range(3))
    )
    handle = handles[0]
    try:
        moved = settings.model_copy(update={"digest_cron": "30 8 * * 1-5"})
        again = await ensure_digest_schedule(dev_env.client, moved, schedule_id=schedule_id)
        assert again.id == schedule_id

        described = await handle.describe()
        # The server keeps a cron as calendar specs; what counts is when it fires, in Shanghai.
        assert described.schedule.spec.time_zone_name == ZONE
        assert described.info.next_action_times
        for upcoming in described.info.next_action_times:
            local = upcoming.astimezone(ZoneInfo(ZONE))
            assert (local.hour, local.minute) == (8, 30)
            assert local.weekday() < 5

        await handle.pause(note="paused by an operator")
        await ensure_digest_schedule(dev_env.client, moved, schedule_id=schedule_id)
        assert (await handle.describe()).schedule.state.paused  # what an operator set in the Web UI stays
    finally:
        await handle.delete()


async def test_the_schedules_command_creates_the_digest_schedule_and_triggers_it(
    dev_env: WorkflowEnvironment, own_engine: Engine, sms: SmsPeer, platform: DingTalkPeer, capsys: Any
) -> None:
    settings = digest_settings(
        own_engine,
        sms,
        platform,
        temporal_address=dev_env.client.service_client.config.target_host,
        codec_keys=CODEC_KEYS,
    )
    handle = dev_env.client.get_schedule_handle(DIGEST_SCHEDULE_ID)
    try:
        assert await run_schedules(settings, trigger=True) == 0
        printed = capsys.readouterr().out
        assert f"schedule {DIGEST_SCHEDULE_ID}: {CRON} ({ZONE})" in printed
        assert "triggered" in printed
        # the trigger's run, waiting on the command's own task queue
        [run] = await wait_for(
            lambda: recent_actions(handle), lambda actions: bool(actions), what="the triggered digest run"
        )
        assert run.action.workflow_id.startswith(f"{DIGEST_SCHEDULE_ID}-run-")  # type: ignore[attr-defined]
        await dev_env.client.get_workflow_handle(run.action.workflow_id).terminate("test over")  # type: ignore[attr-defined]
    finally:
        await handle.delete()
