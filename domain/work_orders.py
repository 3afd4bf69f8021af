"""Work orders (工单): the customer-service tickets of the mall, their statuses, clocks and rules.

A work order is opened by the mall (or the platform), assigned to one of the merchant's agents, accepted,
answered, resolved and confirmed by the customer, or appealed to the platform's customer service. Five SLA
clocks (:mod:`domain.sla`) run over its life; which ones run, who hears of their steps and which action is
allowed in which status are the rules of this module. The workflow only sequences them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar
from domain.ids import fingerprint
from domain.model import Flag, LongText, Model
from domain.notifications import Recipient, RecipientKind
from domain.orders import Actor, HistoryEntry, Id, Text
from domain.policy import Policy
from domain.retries import Attempt
from domain.sla import BREACH, ClockView, SlaClock, StepLevel, StepSpec, fraction_steps


class WorkOrderCategory(StrEnum):
    """What the customer's problem is about."""

    QUALITY = "quality"
    LOGISTICS = "logistics"
    ORDER = "order"
    PAYMENT = "payment"
    SERVICE = "service"


class Priority(StrEnum):
    """How fast a work order must be resolved: 1 h (urgent) or 24 h (normal) by default."""

    URGENT = "urgent"
    NORMAL = "normal"


class WorkOrderStatus(StrEnum):
    """Where a work order stands (API.md)."""

    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    APPEALED = "appealed"


OPEN = frozenset(
    {
        WorkOrderStatus.UNASSIGNED,
        WorkOrderStatus.ASSIGNED,
        WorkOrderStatus.IN_PROGRESS,
        WorkOrderStatus.WAITING_CUSTOMER,
        WorkOrderStatus.APPEALED,
    }
)


class WorkOrderAction(StrEnum):
    """What someone can do to a work order (``POST /v1/work-orders/{id}/<action>``)."""

    ASSIGN = "assign"
    ACCEPT = "accept"
    REPLY = "reply"
    TRANSFER = "transfer"
    WAIT_CUSTOMER = "wait-customer"
    CUSTOMER_REPLIED = "customer-replied"
    PRIORITY = "priority"
    RESOLVE = "resolve"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    APPEAL = "appeal"
    DECIDE = "decide"


_S, _A = WorkOrderStatus, WorkOrderAction
_WORKING = frozenset({_A.REPLY, _A.PRIORITY})
_ALLOWED: dict[WorkOrderStatus, frozenset[WorkOrderAction]] = {
    _S.UNASSIGNED: frozenset({_A.ASSIGN, *_WORKING}),
    _S.ASSIGNED: frozenset({_A.ACCEPT, _A.TRANSFER, *_WORKING}),
    _S.IN_PROGRESS: frozenset({_A.TRANSFER, _A.WAIT_CUSTOMER, _A.RESOLVE, *_WORKING}),
    # Transferring a paused work order would leave its clocks paused with nobody to resume them.
    _S.WAITING_CUSTOMER: frozenset({_A.CUSTOMER_REPLIED, _A.RESOLVE, *_WORKING}),
    _S.RESOLVED: frozenset({_A.CONFIRM, _A.REOPEN, _A.APPEAL}),
    _S.CLOSED: frozenset({_A.REOPEN, _A.APPEAL}),
    _S.APPEALED: frozenset({_A.DECIDE}),
}


def allowed(status: WorkOrderStatus, action: WorkOrderAction) -> bool:
    """Whether ``action`` is allowed in ``status`` (time windows and who acts are checked apart)."""
    return action in _ALLOWED.get(status, frozenset())


# --- the API's bodies ----------------------------------------------------------------------------------------


class OpenWorkOrder(Model):
    """``POST /v1/work-orders``: a customer's problem handed to a merchant."""

    work_order_id: Id
    merchant_id: Id
    category: WorkOrderCategory
    priority: Priority = Priority.NORMAL
    title: Text
    description: LongText = ""
    order_id: Id | None = None
    case_id: Id | None = Field(default=None, description="The after-sales case this work order is about.")
    customer_id: Id | None = None
    assignee_id: Id | None = Field(default=None, description="An agent of the merchant to assign it to at once.")


class Acting(Model):
    """A staff step's body, with who takes it: ``actor`` is set by the API from the caller's key (the mall, a
    merchant's agent, the platform), never by the client, which the API refuses; not in the API's schema."""

    actor: SkipJsonSchema[Actor | None] = None


class Assign(Acting):
    """Gives an unassigned work order to an agent; ``assigned_by`` (an agent) hears if it is not accepted."""

    assignee_id: Id
    assigned_by: Id | None = None


class Accept(Acting):
    """The assignee takes the work order on."""

    assignee_id: Id


class ReplyBy(StrEnum):
    """Who wrote a reply."""

    ASSIGNEE = "assignee"
    CUSTOMER = "customer"


class Reply(Acting):
    """A message on the work order; the assignee's first one is the first response."""

    by: ReplyBy
    message: Text


class Transfer(Acting):
    """Hands the work order to another agent, who must accept it in turn."""

    assignee_id: Id
    reason: Text


class NoBody(Model):
    """An action without parameters (``wait-customer``, ``customer-replied``)."""


class ChangePriority(Acting):
    """A new priority: the resolution clock gets the new budget and keeps the time consumed."""

    priority: Priority


class Resolve(Acting):
    """The assignee's resolution (or preliminary solution)."""

    resolution: Text


Satisfaction = Annotated[int, Field(strict=True, ge=1, le=5)]
"""A customer's rating: a JSON integer 1..5 (``"5"`` and ``5.0`` are refused)."""


class Confirm(Model):
    """The customer confirms the resolution and rates it."""

    satisfaction: Satisfaction


class Reopen(Model):
    """The customer is not helped after all: the resolution clock starts again."""

    reason: Text


class WorkOrderAppeal(Model):
    """The customer appeals to the platform's customer service, which takes the work order over."""

    reason: Text


class Decision(Model):
    """The platform's decision on an appealed work order: for the customer (``approve``) or not."""

    approve: Flag
    reason: Text


WORK_ORDER_DECIDED = "work_order_decided"
"""The name of the signal a linked after-sales case receives when the platform decides (the handler is
``AfterSaleWorkflow.work_order_decided``; the name is fixed so histories and other listeners keep it)."""


class WorkOrderDecided(Model):
    """What a linked case hears (signal :data:`WORK_ORDER_DECIDED`) when the platform decides."""

    work_order_id: str
    case_id: str
    approve: Flag
    reason: Text


class CaseSettled(Model):
    """What a case's own platform work order hears when the case was settled without it: the merchant
    decided after all, the customer withdrew, or the platform decided on the case itself."""

    case_id: str
    status: str = Field(description="What the case became: approved, rejected, cancelled, dispute_upheld …")
    actor: Actor
    reason: str = ""


# --- clocks ----------------------------------------------------------------------------------------------------


class ClockName(StrEnum):
    """The work order's clocks (API.md)."""

    ASSIGNMENT = "assignment"
    ACCEPT = "accept"
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    APPEAL = "appeal"
    AUTO_CLOSE = "auto_close"
    REOPEN_WINDOW = "reopen_window"


LIFECYCLE_CLOCKS = frozenset({ClockName.AUTO_CLOSE.value, ClockName.REOPEN_WINDOW.value})
"""Clocks of the work order's life, not of anyone's service: a resolved one closes itself (``auto_close``,
``AFTERSALES_WO_AUTO_CLOSE``), and a resolution can be reopened or appealed for a while
(``reopen_window``, ``AFTERSALES_WO_REOPEN_WINDOW``). They run round the clock, as the customer counts
days, have only their end as a step, tell nobody, and never make a work order overdue or escalated."""


# Assignment and acceptance have one step, the prompt at the deadline; the other clocks the full ladder.
_PROMPT_ONLY = (StepSpec(name=BREACH, level=StepLevel.BREACH, fraction=1.0),)


def resolution_budget(policy: Policy, priority: Priority) -> timedelta:
    """How long the resolution may take at ``priority``."""
    return policy.wo_resolve_urgent if priority is Priority.URGENT else policy.wo_resolve_normal


def initial_clocks(policy: Policy, priority: Priority, calendar: BusinessCalendar) -> dict[str, SlaClock]:
    """The clocks of a new work order, none started yet: the five SLA clocks on ``calendar``, then the two
    lifecycle clocks (:data:`LIFECYCLE_CLOCKS`) round the clock."""
    ladder = fraction_steps()
    specs = {
        ClockName.ASSIGNMENT: (policy.wo_assign, _PROMPT_ONLY),
        ClockName.ACCEPT: (policy.wo_accept, _PROMPT_ONLY),
        ClockName.FIRST_RESPONSE: (policy.wo_first_response, ladder),
        ClockName.RESOLUTION: (resolution_budget(policy, priority), ladder),
        ClockName.APPEAL: (policy.wo_appeal_response, ladder),
    }
    clocks = {
        name.value: SlaClock(name=name.value, budget=budget, steps=steps, calendar=calendar)
        for name, (budget, steps) in specs.items()
    }
    lifecycle = {ClockName.AUTO_CLOSE: policy.wo_auto_close, ClockName.REOPEN_WINDOW: policy.wo_reopen_window}
    for name, budget in lifecycle.items():
        clocks[name.value] = SlaClock(name=name.value, budget=budget, steps=_PROMPT_ONLY)
    return clocks


def service_clocks(clocks: dict[str, SlaClock]) -> list[SlaClock]:
    """The SLA clocks someone answers for: every clock but the lifecycle ones."""
    return [clock for name, clock in clocks.items() if name not in LIFECYCLE_CLOCKS]


def recipients(
    clock: str, level: StepLevel, *, assignee_id: str | None, assigned_by: str | None
) -> tuple[Recipient, ...]:
    """Who hears of a step of ``clock`` at ``level``.

    Reminders go to the assignee (@ on the merchant's group; without one, the merchant's agents), the breach
    to the merchant's supervisor, twice the budget to platform operations and by SMS. Nobody took the work
    order: the platform's customer-service group is prompted (it phones the merchant). Not accepted: the
    assigner (or, without one, the merchant's supervisor) is prompted and the assignee gets an SMS. The
    appeal is the platform's own clock: its customer-service group is reminded, operations hear of a breach.
    """
    if clock == ClockName.ASSIGNMENT:
        return (Recipient(kind=RecipientKind.PLATFORM_CS),)
    supervisor = Recipient(kind=RecipientKind.MERCHANT_SUPERVISOR)
    if clock == ClockName.ACCEPT:
        assigner = Recipient.person(assigned_by) if assigned_by else supervisor
        return (assigner, Recipient.person(assignee_id, sms=True)) if assignee_id else (assigner,)
    if clock == ClockName.APPEAL:
        if level is StepLevel.REMIND:
            return (Recipient(kind=RecipientKind.PLATFORM_CS),)
        return (Recipient(kind=RecipientKind.PLATFORM_OPS, sms=level is StepLevel.ESCALATE),)
    if level is StepLevel.REMIND:
        return (Recipient.person(assignee_id) if assignee_id else Recipient(kind=RecipientKind.MERCHANT_GROUP),)
    if level is StepLevel.BREACH:
        return (supervisor,)
    return (Recipient(kind=RecipientKind.PLATFORM_OPS, sms=True),)


# (中文, English) of what each clock waits for, in the words of the messages.
TASKS = {
    ClockName.ASSIGNMENT: ("分配处理人", "assignment"),
    ClockName.ACCEPT: ("接单", "acceptance"),
    ClockName.FIRST_RESPONSE: ("首次响应", "first response"),
    ClockName.RESOLUTION: ("解决", "resolution"),
    ClockName.APPEAL: ("申诉处理", "appeal decision"),
}


def spell(duration: timedelta, *, days: bool = True) -> tuple[str, str]:
    """A duration as people read it, (中文, English): minutes under two hours (never "0h"), hours under two
    days, then days and hours, so a far deadline reads ``10076 天 18 小时``, not ``241842 小时``.

    ``7 分钟`` / ``7 min``; ``5 小时 30 分钟`` / ``5 h 30 min``; ``3 天 2 小时`` / ``3 d 2 h``. Under a minute reads
    as one minute. ``days=False`` keeps hours: a budget of business time is working hours, and 72 working
    hours are not three days.
    """
    seconds = abs(duration.total_seconds())
    minutes = max(1, int(seconds // 60)) if seconds else 0
    if minutes < 120:
        return f"{minutes} 分钟", f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if days and hours >= 48:
        whole_days, hours = divmod(hours, 24)
        return (
            f"{whole_days} 天" + (f" {hours} 小时" if hours else ""),
            f"{whole_days} d" + (f" {hours} h" if hours else ""),
        )
    zh = f"{hours} 小时" + (f" {rest} 分钟" if rest else "")
    en = f"{hours} h" + (f" {rest} min" if rest else "")
    return zh, en


def time_left(left: timedelta) -> tuple[str, str]:
    """Time left before a deadline (wall-clock time, also on a business calendar: it is when the deadline
    falls): ``剩余 7 分钟`` / ``7 min left``; past it ``超时 3 分钟`` / ``3 min overdue``.

    Minutes are whole ones, rounded down, so the words never claim more time than there is nor more delay
    than there was: at the deadline (a breach fires a moment after it) it is ``已到期`` / ``due now``, and the
    last minute reads ``剩余不到 1 分钟`` / ``under 1 min left``.
    """
    if left <= timedelta(0) and -left < timedelta(minutes=1):
        return "已到期", "due now"
    if timedelta(0) < left < timedelta(minutes=1):
        return "剩余不到 1 分钟", "under 1 min left"
    zh, en = spell(left)
    if left < timedelta():
        return f"超时 {zh}", f"{en} overdue"
    return f"剩余 {zh}", f"{en} left"


# --- retries ---------------------------------------------------------------------------------------------------

BODIES: dict[WorkOrderAction, type[Model] | None] = {
    WorkOrderAction.ASSIGN: Assign,
    WorkOrderAction.ACCEPT: Accept,
    WorkOrderAction.TRANSFER: Transfer,
    WorkOrderAction.WAIT_CUSTOMER: None,
    WorkOrderAction.CUSTOMER_REPLIED: None,
    WorkOrderAction.PRIORITY: ChangePriority,
    WorkOrderAction.RESOLVE: Resolve,
    WorkOrderAction.CONFIRM: Confirm,
    WorkOrderAction.REOPEN: Reopen,
    WorkOrderAction.APPEAL: WorkOrderAppeal,
    WorkOrderAction.DECIDE: Decision,
}
"""The actions a retry of which is answered rather than refused, with their body types. ``reply`` is not one:
every reply is a new message."""


def body_print(body: BaseModel | None) -> str:
    """What :attr:`WorkOrderState.applied` keeps of a body: its fingerprint ("" for an action without one).

    Who acted is not part of it: the same step retried through another key is the same step.
    """
    return fingerprint(body.model_dump(mode="json", exclude={"actor"})) if body is not None else ""


def repeats_attempt(applied: dict[str, str], attempt: Attempt) -> bool:
    """Whether the API's ``attempt`` is the action last applied with that body (asked also once it ended)."""
    try:
        action = WorkOrderAction(attempt.action)
        kind = BODIES[action]
        body = kind.model_validate(attempt.body) if kind is not None and attempt.body is not None else None
    except (ValueError, KeyError):  # pydantic's ValidationError is a ValueError
        return False
    if (kind is None) != (body is None):
        return False
    return applied.get(action.value) == body_print(body)


# --- state, input and views ------------------------------------------------------------------------------------


class WorkOrderState(BaseModel):
    """Everything a work order must keep, in one serialisable object: it is the next run's input when the
    workflow continues as new, so clocks, consumed time, generations and history carry over whole."""

    model_config = ConfigDict(extra="forbid")

    status: WorkOrderStatus = WorkOrderStatus.UNASSIGNED
    priority: Priority = Priority.NORMAL
    assignee_id: str | None = None
    assigned_by: str | None = None
    clocks: dict[str, SlaClock]
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0
    opened_at: datetime
    accepted_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    last_resolved_at: datetime | None = Field(default=None, description="start of the reopen window")
    closed_at: datetime | None = None
    resolution: str | None = None
    satisfaction: int | None = None
    appealed: bool = False
    decision: bool | None = None
    runs: int = Field(default=0, description="how many times the workflow continued as new")
    applied: dict[str, str] = Field(
        default_factory=dict,
        description="each human step's last body (by :func:`body_print`), so that a retry of it is answered",
    )
    shifts: dict[str, list[str]] = Field(
        default_factory=dict, description="platform deadline shifts applied (id → clocks moved): a repeat is a no-op"
    )


class WorkOrderInput(Model):
    """What a work order starts with: the request, the policy and calendar in force, and on a continued
    run the state of the run before."""

    request: OpenWorkOrder
    policy: Policy
    calendar: BusinessCalendar = ROUND_THE_CLOCK
    calendar_revision: int = Field(default=0, ge=0, description="the merchant's revision the calendar came with")
    board_url: str = ""
    max_history_events: int = Field(default=5000, ge=20)
    callbacks: bool = Field(default=False, description="Call the mall back on each change (README: Callbacks).")
    settles_case: bool = Field(
        default=False,
        description=(
            "A platform work order an after-sales case opened (an appeal, a refused receipt, a review the "
            "merchant let lapse): the platform's decision settles the case, in any open status."
        ),
    )
    state: WorkOrderState | None = None


class WorkOrderClock(ClockView):
    """A clock as the API shows it, with the time left as people read it."""

    left: str | None = Field(default=None, description="e.g. 剩余 7 分钟 / 7 min left, while it runs")


class WorkOrderView(Model):
    """A work order as the API shows it (``GET /v1/work-orders/{id}``)."""

    work_order_id: str
    merchant_id: str
    category: WorkOrderCategory
    status: WorkOrderStatus
    priority: Priority
    title: str
    assignee_id: str | None
    escalation_level: int
    overdue: bool
    deadline_at: datetime | None = Field(description="The nearest deadline of a running clock.")
    opened_at: datetime
    accepted_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    satisfaction: int | None = None
    order_id: str | None = None
    case_id: str | None = None
    customer_id: str | None = None
    settles_case: bool = Field(default=False, description="Its decision settles its after-sales case.")
    decision: bool | None = Field(default=None, description="The platform's decision: for the customer or not.")
    clocks: list[WorkOrderClock]
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0


# How many of the latest history entries a record carries for the SLA facts. The projection runs after
# every change and coalesces bursts, so far fewer than this ever arrive between two projections.
RECORD_HISTORY_TAIL = 50


class WorkOrderRecord(Model):
    """The slim snapshot the read model is written from: no clocks' internals, only the history's tail."""

    work_order_id: str
    merchant_id: str
    category: WorkOrderCategory
    status: WorkOrderStatus
    priority: Priority
    assignee_id: str | None
    escalation_level: int
    overdue: bool
    deadline_at: datetime | None
    breached_clocks: list[str]
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    satisfaction: int | None
    case_id: str | None
    revision: int
    history_from: int = Field(default=0, ge=0, description="The index of history_tail[0] in the whole history.")
    history_tail: list[HistoryEntry] = Field(default_factory=list, description="The latest entries (SLA facts).")


def clock_view(clock: SlaClock, now: datetime) -> WorkOrderClock:
    """A clock as the API shows it at ``now``."""
    view = clock.view(now)
    due_at = view.due_at
    left = " / ".join(time_left(due_at - now)) if due_at is not None else None
    return WorkOrderClock(**view.model_dump(), left=left)


def overdue(clocks: dict[str, SlaClock]) -> bool:
    """Whether a clock still counting (running or paused) is past its budget."""
    return any(clock.breached and (clock.running or clock.paused) for clock in service_clocks(clocks))


def escalation_level(clocks: dict[str, SlaClock]) -> int:
    """The highest escalation any clock of this generation reached (0, 1 or 2)."""
    return max((int(clock.level) for clock in service_clocks(clocks)), default=0)


def nearest_deadline(clocks: dict[str, SlaClock]) -> datetime | None:
    """The nearest deadline of a running clock (the ``DeadlineAt`` search attribute)."""
    deadlines = [at for clock in service_clocks(clocks) if (at := clock.deadline_at()) is not None]
    return min(deadlines, default=None)
