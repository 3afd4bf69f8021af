"""The worker's slots, pollers, sticky timeout and cache come from ``AFTERSALES_WORKER_*``."""

from __future__ import annotations

import concurrent.futures
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from config.settings import Settings
from workers.main import build_worker


async def test_worker_tuning_set_in_the_environment_reaches_the_worker(
    dev_env: WorkflowEnvironment, engine: Engine, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "MAX_CONCURRENT_WORKFLOW_TASKS": "7",
        "MAX_CONCURRENT_ACTIVITIES": "9",
        "WORKFLOW_TASK_POLLERS": "3",
        "ACTIVITY_POLLERS": "2",
        "STICKY_SCHEDULE_TO_START": "45",
        "MAX_CACHED_WORKFLOWS": "50",
        "MAX_CONCURRENT_LOCAL_ACTIVITIES": "11",
        "ACTIVITY_THREADS": "9",  # as many as the activity slots set here (the SDK warns otherwise)
        "SANDBOX": "off",
    }.items():
        monkeypatch.setenv(f"AFTERSALES_WORKER_{name}", value)

    async with build_worker(dev_env.client, Settings(), engine=engine, task_queue=task_queue) as worker:
        config = worker.config()
    assert config.get("max_concurrent_workflow_tasks") == 7
    assert config.get("max_concurrent_activities") == 9
    assert config.get("max_concurrent_workflow_task_polls") == 3
    assert config.get("max_concurrent_activity_task_polls") == 2
    assert config.get("sticky_queue_schedule_to_start_timeout") == timedelta(seconds=45)
    assert config.get("max_cached_workflows") == 50
    assert config.get("max_concurrent_local_activities") == 11
    executor = config.get("activity_executor")
    assert isinstance(executor, concurrent.futures.ThreadPoolExecutor)
    assert executor._max_workers == 9
    assert isinstance(config.get("workflow_runner"), UnsandboxedWorkflowRunner)


async def test_unset_worker_tuning_keeps_the_sdk_defaults_but_a_longer_sticky_wait(
    dev_env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    async with build_worker(dev_env.client, Settings(), engine=engine, task_queue=task_queue) as worker:
        config = worker.config()
    assert config.get("max_concurrent_workflow_tasks") is None  # the SDK's own (100 slots)
    assert config.get("max_concurrent_workflow_task_polls") is None
    assert config.get("sticky_queue_schedule_to_start_timeout") == timedelta(seconds=30)  # measured: see README
    assert config.get("max_cached_workflows") == 1000
    executor = config.get("activity_executor")
    assert isinstance(executor, concurrent.futures.ThreadPoolExecutor)
    assert executor._max_workers == 4  # measured: see README
    assert isinstance(config.get("workflow_runner"), SandboxedWorkflowRunner)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKFLOW_TASK_POLLERS", "1"),
        ("MAX_CONCURRENT_ACTIVITIES", "0"),
        ("STICKY_SCHEDULE_TO_START", "0"),
        ("ACTIVITY_THREADS", "0"),
        ("SANDBOX", "sometimes"),
    ],
)
def test_worker_tuning_that_cannot_work_refuses_to_start(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AFTERSALES_WORKER_{name}", value)
    with pytest.raises(ValidationError):
        Settings()
