"""The work order's messages: a step of one of its SLA clocks, and an appeal handed to the platform.

What each message says (task, time left and budget in both languages), to whom
(:func:`~domain.work_order_clocks.recipients`) and with which action links; the workflow decides when, and
tells them through its journal.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.action_links import work_order_links
    from domain.notifications import Notification, Template
    from domain.sla import PlannedStep, SlaClock, StepLevel
    from domain.work_order_clocks import TASKS, ClockName, recipients, spell, time_left
    from domain.work_orders import OpenWorkOrder, WorkOrderState


def step_notice(
    planned: PlannedStep,
    state: WorkOrderState,
    request: OpenWorkOrder,
    *,
    workflow_id: str,
    now: datetime,
    link: str | None,
) -> Notification:
    """The message of a step of an SLA clock; its key carries the clock's generation."""
    clock = state.clocks[planned.clock]
    level = planned.step.level
    name = ClockName(planned.clock)
    if name is ClockName.ASSIGNMENT:
        template = Template.WORK_ORDER_UNASSIGNED
    elif name is ClockName.ACCEPT:
        template = Template.WORK_ORDER_NOT_ACCEPTED
    else:
        template = Template.WORK_ORDER_REMINDER if level is StepLevel.REMIND else Template.WORK_ORDER_ESCALATED
    deadline_at = clock.deadline_at()
    left, left_en = time_left(deadline_at - now) if deadline_at else ("", "")
    budget, budget_en = spell(clock.budget, days=clock.calendar.round_the_clock)
    task, task_en = TASKS[name]
    told = recipients(name, level, assignee_id=state.assignee_id, assigned_by=state.assigned_by)
    return Notification(
        key=f"{workflow_id}:{planned.key}",
        merchant_id=request.merchant_id,
        recipients=told,
        template=template,
        params={
            "work_order_id": request.work_order_id,
            "merchant_id": request.merchant_id,
            "title": request.title,
            "task": task,
            "task_en": task_en,
            "left": left,
            "left_en": left_en,
            "budget": budget,
            "budget_en": budget_en,
            "level": int(level),
            "assignee": state.assignee_id or "-",
        },
        deadline_at=deadline_at,
        link=link,
        actions=work_order_links(
            name.value,
            reminds=level is StepLevel.REMIND,
            workflow_id=workflow_id,
            assignee_id=state.assignee_id,
            recipients=told,
        ),
    )


def appeal_notice(
    clock: SlaClock, request: OpenWorkOrder, reason: str, *, workflow_id: str, link: str | None
) -> Notification:
    """The message that hands an appealed work order to the platform's customer service, on its own clock."""
    return Notification(
        key=f"{workflow_id}:appeal:{clock.generation}:opened",
        merchant_id=request.merchant_id,
        recipients=recipients(ClockName.APPEAL, StepLevel.REMIND, assignee_id=None, assigned_by=None),
        template=Template.WORK_ORDER_APPEALED,
        params={"work_order_id": request.work_order_id, "title": request.title, "reason": reason},
        deadline_at=clock.deadline_at(),
        link=link,
    )
