"""What ``make bench`` and ``make chaos`` read from the machine and from Temporal's histories.

Process figures from ``/proc`` (resident memory, CPU time, the dev server's process) and, from workflow
histories, when a deadline was acted on: the search-attribute upsert that marks an order overdue, the end of
the projection after it, a ``TimerFired``, the tasks an order took after its deadline, workflow-task timeouts.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(len(values) * share) - 1)]


def rss_kib(pid: int | None) -> int:
    """Resident memory of process ``pid`` in KiB (0 if unknown)."""
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) process ``pid`` has used so far (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The Temporal dev server: this process's child running the ``temporal`` binary."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] == me and "temporal" in (stat.parent / "comm").read_text():
                return int(stat.parent.name)
        except (OSError, IndexError):
            continue
    return None


def at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


async def histories(client: Client, ids: list[str]) -> list[list[HistoryEvent]]:
    limit = asyncio.Semaphore(20)

    async def one(workflow_id: str) -> list[HistoryEvent]:
        async with limit:
            try:
                return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
            except RPCError as error:  # never started (its start was refused or failed): reported as missing
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                return []

    return await asyncio.gather(*(one(i) for i in ids))


def overdue_marked(events: list[HistoryEvent]) -> tuple[datetime | None, datetime | None, datetime | None]:
    """When the order was marked overdue (the upsert setting ``Overdue``), when the timer before it fired and
    when the read model had it (the first order projection that ended after the mark)."""
    fired: datetime | None = None
    for index, event in enumerate(events):
        if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired = at(event)
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            overdue = fields.get(search_attributes.OVERDUE.name)
            if overdue is not None and overdue.data == b"true":
                return at(event), fired, projected(events, index)
    return None, fired, None


def marking_task(events: list[HistoryEvent]) -> tuple[float, float] | None:
    """For the workflow task that marked the order overdue: how long it waited for a worker (scheduled to
    started) and how long the worker took (started to completed), in seconds."""
    marks = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields.get(
            search_attributes.OVERDUE.name, Payload()
        ).data
        == b"true"
    ]
    return _task_before(events, marks[0]) if marks else None


def task_after_timer(events: list[HistoryEvent]) -> tuple[datetime, float, float] | None:
    """The workflow task that followed the first timer's firing (raw's counterpart of the marking task): when
    it completed, how long it waited for a worker and how long the worker took, in seconds."""
    fired = _first_timer_fired(events)
    if fired is None:
        return None
    completed = next(
        (i for i in range(fired, len(events)) if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        None,
    )
    if completed is None:
        return None
    phases = _task_before(events, completed + 1)
    return (at(events[completed]), *phases) if phases is not None else None


def _task_before(events: list[HistoryEvent], index: int) -> tuple[float, float] | None:
    """The last workflow task whose events come before ``events[index]``: scheduled to started, started to
    completed, in seconds."""
    times: dict[int, datetime] = {}
    for event in reversed(events[:index]):
        kind = event.event_type
        if (
            kind
            in (
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            )
            and kind not in times
        ):
            times[kind] = at(event)
        if len(times) == 3:
            break
    if len(times) < 3:
        return None
    scheduled = times[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]
    started = times[EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    completed = times[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    return (started - scheduled).total_seconds(), (completed - started).total_seconds()


def task_phases(phases: list[tuple[float, float]], task: str = "the marking task") -> str:
    """Where the tasks' time went: waiting for a worker, then in the worker (p50 / p99)."""
    if not phases:
        return f"{task}: none found"
    waited = sorted(w for w, _ in phases)
    worked = sorted(w for _, w in phases)
    return (
        f"{task} waited for a worker p50 {statistics.median(waited):.2f} s"
        f" p99 {percentile(waited, 0.99):.2f} s,"
        f" was in the worker p50 {statistics.median(worked):.2f} s p99 {percentile(worked, 0.99):.2f} s"
    )


def projected(events: list[HistoryEvent], after: int) -> datetime | None:
    """When the first order projection scheduled after ``events[after]`` ended: an activity's completion, or
    the marker of a local one (recorded with the workflow task it ran in, the overdue mark's own, after it)."""
    scheduled: set[int] = set()
    for event in events[after - 1 :]:  # a local activity's marker may be recorded just before the upsert
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and event.event_id > events[after].event_id:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "project_order":
                scheduled.add(event.event_id)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if event.activity_task_completed_event_attributes.scheduled_event_id in scheduled:
                return at(event)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            data = event.marker_recorded_event_attributes.details.get("data")
            if data is not None and b'"project_order"' in b"".join(p.data for p in data.payloads):
                return at(event)
    return None


def timer_fired(events: list[HistoryEvent]) -> datetime | None:
    fired = _first_timer_fired(events)
    return at(events[fired]) if fired is not None else None


def _first_timer_fired(events: list[HistoryEvent]) -> int | None:
    """The index of the first ``TimerFired`` event, if any."""
    return next((i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED), None)


def tasks_after_deadline(histories: list[list[HistoryEvent]]) -> str:
    """Per order, from its ship timer firing on: workflow tasks, activity tasks and local activities."""
    kinds = {
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: 0,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: 1,
        EventType.EVENT_TYPE_MARKER_RECORDED: 2,
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: 3,
    }
    totals = [0, 0, 0, 0]
    for events in histories:
        fired = _first_timer_fired(events)
        for event in events[fired or len(events) :]:
            if event.event_type in kinds:
                totals[kinds[event.event_type]] += 1
    n = max(1, len(histories))
    return (
        f"per order from its deadline on: {totals[0] / n:.2f} workflow tasks, {totals[1] / n:.2f} activity tasks,"
        f" {totals[2] / n:.2f} markers (local activities, patches), {totals[3] / n:.2f} workflow-task timeouts"
    )


def timeouts(histories: list[list[HistoryEvent]]) -> int:
    timed_out = EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    return sum(1 for events in histories for event in events if event.event_type == timed_out)


def lateness(name: str, dues: list[datetime], times: list[datetime | None]) -> None:
    late = sorted((at - due).total_seconds() for at, due in zip(times, dues, strict=True) if at is not None)
    missing = sum(1 for at in times if at is None)
    if not late:
        print(f"  {name:<44} none recorded ({missing} missing)", flush=True)
        return
    print(
        f"  {name:<44} p50 {statistics.median(late):>6.2f} s  p99 {percentile(late, 0.99):>6.2f} s"
        f"  max {late[-1]:>6.2f} s  missing {missing}",
        flush=True,
    )
