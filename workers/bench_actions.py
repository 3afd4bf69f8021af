"""``make bench``: what one action costs Temporal, counted rather than timed.

For an action taken through the API (an Update), :func:`action_cost` counts the calls the API made to
Temporal's server (by a client interceptor, :class:`Calls`) and what the action added to the workflow's
history: events, workflow tasks, activity tasks and search-attribute upserts, counted once the workflow has
settled (its projection done).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.client import WorkflowExecutionDescription as Description

COUNTED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "workflow tasks",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity tasks",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upserts",
}


class Calls(Interceptor):
    """Counts the client's calls to Temporal's server by kind (describe, query, update, start, signal)."""

    def __init__(self) -> None:
        self.made: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.made)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, made: Counter[str]) -> None:
        super().__init__(next)
        self._made = made

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._made["start"] += 1
        return await super().start_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> Description:
        self._made["describe"] += 1
        return await super().describe_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._made["query"] += 1
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        self._made["update"] += 1
        return await super().start_workflow_update(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._made["signal"] += 1
        await super().signal_workflow(input)


async def settled(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """The workflow's history once its last workflow task completed and no activity is under way."""
    events: list[HistoryEvent] = []
    for _ in range(100):
        events = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
        kinds = Counter(event.event_type for event in events)
        scheduled = kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
        ended = sum(
            kinds[kind]
            for kind in (
                EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
                EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
            )
        )
        if events and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and scheduled == ended:
            return events
        await asyncio.sleep(0.2)
    return events


async def action_cost(
    name: str, client: Client, calls: Calls, workflow_id: str, action: Callable[[], Awaitable[bool]]
) -> None:
    """Takes ``action`` on the settled workflow ``workflow_id`` and prints what it cost."""
    before = await settled(client, workflow_id)
    calls.made.clear()
    ok = await action()
    made = dict(calls.made)
    after = await settled(client, workflow_id)
    added = after[len(before) :]
    kinds = Counter(COUNTED.get(event.event_type) for event in added)
    server = ", ".join(f"{kind} {count}" for kind, count in sorted(made.items()))
    print(
        f"  {name:<44} {'' if ok else '(failed) '}API calls to Temporal: {sum(made.values())} ({server});"
        f" history +{len(added)} events, {kinds['workflow tasks']} workflow tasks,"
        f" {kinds['activity tasks']} activity tasks, {kinds['upserts']} upserts",
        flush=True,
    )
