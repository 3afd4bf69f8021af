"""Work order clocks: which run, on what budget, who hears of their steps, and how they read.

Five SLA clocks (:mod:`domain.sla`) run over a work order's life and two more time the life itself
(:data:`LIFECYCLE_CLOCKS`). The workflow starts, pauses and stops them; these rules say what they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import BusinessCalendar
from domain.notifications import Recipient, RecipientKind
from domain.policy import Policy
from domain.sla import BREACH, SlaClock, StepLevel, StepSpec, fraction_steps
from domain.work_orders import Priority, WorkOrderClock


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


# --- views ----------------------------------------------------------------------------------------------------


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
