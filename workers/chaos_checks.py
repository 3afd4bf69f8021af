"""What ``make chaos`` checks once its outages are over, and the table it prints.

Each check counts something that must be zero: workflows the API accepted that Temporal does not have,
cases refunded more than once at the payments simulator, messages a robot stand-in received twice, and
workflows stuck. Beside them, the longest delay of a deadline that fell due while a process was down.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from readmodel.tables import PartnerCall, SentNotification
from workers.bench_history import overdue_marked


@dataclass
class Check:
    """One count that must be zero, with what it was counted among and a few examples."""

    name: str
    found: int
    among: str
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.found == 0


@dataclass(frozen=True)
class Outage:
    """A process down from ``start`` until it was back (``end``), as the run recorded it."""

    name: str
    start: datetime
    end: datetime


def refund_keys_by_case(engine: Engine) -> dict[str, list[str]]:
    """Every refund the payments simulator paid, by case: the simulator records a key once, when it pays."""
    by_case: dict[str, list[str]] = defaultdict(list)
    with Session(engine) as session:
        for call in session.exec(select(PartnerCall).where(PartnerCall.partner == "payments")):
            by_case[str(call.request.get("case_id"))].append(call.key)
    return dict(by_case)


def refunds_paid_twice(by_case: dict[str, list[str]]) -> Check:
    """Cases paid under more than one refund key (a key paid twice is impossible at the simulator: it answers
    a known key with its first answer), among the refunds paid."""
    twice = sorted(case for case, keys in by_case.items() if len(keys) > 1)
    paid = sum(len(keys) for keys in by_case.values())
    return Check("refunds paid twice (cases paid under 2+ keys)", len(twice), f"{paid} refunds", twice[:5])


def recorded_robot_sends(engine: Engine) -> tuple[int, int]:
    """Messages the notifier recorded as sent to a robot (DingTalk, WeCom), and those it recorded refused."""
    with Session(engine) as session:
        rows = session.exec(select(SentNotification.channel, SentNotification.outcome)).all()
    robot = [outcome for channel, outcome in rows if channel.startswith(("dingtalk:", "wecom:"))]
    return robot.count("sent"), robot.count("failed")


async def describe_all(client: Client, ids: list[str]) -> dict[str, WorkflowExecutionDescription | None]:
    """Each workflow's description, None for one Temporal does not know."""
    limit = asyncio.Semaphore(20)

    async def one(workflow_id: str) -> WorkflowExecutionDescription | None:
        async with limit:
            try:
                return await client.get_workflow_handle(workflow_id).describe()
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise

    return dict(zip(ids, await asyncio.gather(*(one(i) for i in ids)), strict=True))


def lost(descriptions: dict[str, WorkflowExecutionDescription | None]) -> Check:
    """Workflows whose start the API acknowledged and that Temporal does not have."""
    missing = sorted(workflow_id for workflow_id, found in descriptions.items() if found is None)
    return Check("workflows lost (accepted, not in Temporal)", len(missing), f"{len(descriptions)} workflows", missing)


def failing(description: WorkflowExecutionDescription) -> str | None:
    """Why an open workflow is not moving on its own: a workflow task or an activity on a second attempt
    or later (after a quiet period nothing should be retrying); None if nothing is."""
    if description.status != WorkflowExecutionStatus.RUNNING:
        return None
    raw = description.raw_description
    if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 1:
        return f"workflow task attempt {raw.pending_workflow_task.attempt}"
    for activity in raw.pending_activities:
        if activity.attempt > 1:
            failure = activity.last_failure.message[:80] if activity.HasField("last_failure") else ""
            return f"{activity.activity_type.name} attempt {activity.attempt} {failure}".rstrip()
    return None


def stuck(
    descriptions: dict[str, WorkflowExecutionDescription | None],
    *,
    unmarked_orders: list[str],
    approved_cases: dict[str, str],
    refunded_cases: set[str],
) -> Check:
    """Workflows whose state should have advanced and has not: an order past its ship deadline not marked
    overdue, an approved refund-only case not completed or not refunded, an open workflow retrying a task.

    Args:
        descriptions: every workflow of the run, by id.
        unmarked_orders: the workflow ids of orders due before the end and not marked overdue.
        approved_cases: approved cases' workflow ids to their case ids.
        refunded_cases: the case ids the payments simulator paid.
    """
    why: dict[str, str] = {workflow_id: "due, not marked overdue" for workflow_id in unmarked_orders}
    for workflow_id, case_id in approved_cases.items():
        description = descriptions.get(workflow_id)
        if description is None:
            continue  # counted as lost
        if description.status != WorkflowExecutionStatus.COMPLETED:
            why[workflow_id] = f"approved, {description.status.name if description.status else 'unknown'}"
        elif case_id not in refunded_cases:
            why[workflow_id] = "approved and completed, no refund paid"
    for workflow_id, description in descriptions.items():
        if description is not None and workflow_id not in why and (reason := failing(description)):
            why[workflow_id] = reason
    examples = [f"{workflow_id}: {reason}" for workflow_id, reason in sorted(why.items())]
    return Check("workflows stuck", len(why), f"{len(descriptions)} workflows", examples[:5])


def delays(outages: list[Outage], dues: dict[str, datetime], histories: dict[str, list[HistoryEvent]]) -> list[str]:
    """Per outage, the ship deadlines that fell due while it lasted: how late the order was marked overdue
    (the upsert's event time minus the deadline; median and longest) and how late its timer fired at the
    latest (``TimerFired``); the longest one's workflow tasks after its deadline; then all deadlines."""
    lines = []
    marked = {order: overdue_marked(events) for order, events in histories.items()}
    for outage in [*outages, Outage("any time (all deadlines)", min(dues.values()), max(dues.values()))]:
        due = {order: at for order, at in dues.items() if outage.start <= at <= outage.end}
        late = sorted(((at - due[o]).total_seconds(), o) for o in due if (at := marked[o][0]) is not None)
        fired = max(((at - due[o]).total_seconds() for o in due if (at := marked[o][1]) is not None), default=None)
        if not late:
            lines.append(f"{outage.name}: no deadline fell due in it")
            continue
        longest, order = late[-1]
        lines.append(
            f"{outage.name}: {len(due)} deadlines; marked overdue median {late[len(late) // 2][0]:.1f} s, longest"
            f" {longest:.1f} s; timer fired at the latest {'-' if fired is None else f'{fired:.1f}'} s"
        )
        fired_at = marked[order][1]
        since = min(due[order], fired_at) if fired_at is not None else due[order]
        lines.append(f"  the longest, {order}: {trail(histories[order], due[order], since, longest)}")
    return lines


TRAIL = {
    EventType.EVENT_TYPE_TIMER_FIRED: "timer fired",
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "task scheduled",
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: "started",
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "timed out",
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "completed",
}


def trail(events: list[HistoryEvent], due: datetime, since: datetime, until: float) -> str:
    """The timer and workflow-task events from ``since`` until ``until`` seconds after ``due``, as offsets
    from ``due`` (``since`` is earlier when the timer that woke the workflow fired before the deadline)."""
    steps = []
    for event in events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        offset = (at - due).total_seconds()
        if at >= since and offset <= until + 0.01 and event.event_type in TRAIL:
            steps.append(f"{TRAIL[event.event_type]} {offset:+.1f}")
    return ", ".join(steps[:16]) + (f", … {len(steps) - 16} more" if len(steps) > 16 else "")


def table(checks: list[Check], delay_lines: list[str]) -> str:
    """The results as printed: one row per check, then the delays."""
    rows = [f"{'check':<48} {'found':>5}  {'among':<18} must be 0"]
    for check in checks:
        rows.append(f"{check.name:<48} {check.found:>5}  {check.among:<18} {'ok' if check.ok else 'FAILED'}")
        rows += [f"    {example}" for example in check.examples]
    rows.append("longest delay of a deadline due during an outage (reported):")
    rows += [f"    {line}" for line in delay_lines]
    return "\n".join(rows)


def delivered_twice(received: dict[str, int]) -> Check:
    """Messages a robot stand-in received again (``received``: dedupe key → copies), among all received."""
    again = sorted(key for key, count in received.items() if count > 1)
    extra = sum(received[key] - 1 for key in again)
    total = sum(received.values())
    return Check("notifications delivered twice (at the robots)", extra, f"{total} messages", again[:5])
