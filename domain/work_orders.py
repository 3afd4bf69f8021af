"""Work orders (工单): the customer-service tickets of the mall, their statuses, actions, bodies and views.

A work order is opened by the mall (or the platform), assigned to one of the merchant's agents, accepted,
answered, resolved and confirmed by the customer, or appealed to the platform's customer service. This
module holds what a work order is and says: its statuses and actions, the API's bodies, the state the
workflow keeps and the views it answers. Which action is allowed in which status is
:mod:`domain.work_order_rules`; its clocks, who hears of their steps and how they read are
:mod:`domain.work_order_clocks`. The workflow only sequences them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar
from domain.model import Flag, LongText, Model
from domain.orders import Actor, HistoryEntry, Id, Text
from domain.policy import Policy
from domain.sla import ClockView, SlaClock


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
        description=(
            "each human step's last body (by :func:`~domain.work_order_rules.body_print`), so that a retry of it"
            " is answered"
        ),
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
