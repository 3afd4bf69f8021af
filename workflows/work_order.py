"""Work order (工单): from the customer's problem to its resolution, on five SLA clocks.

``WorkOrderWorkflow`` (id ``workorder-{work_order_id}``) runs the clocks ``assignment``, ``accept``,
``first_response``, ``resolution`` and ``appeal`` (:mod:`domain.sla`, timed by :class:`~workflows.sla.SlaTimers`),
each with its escalation ladder; who hears of a step is :func:`domain.work_orders.recipients`. Two more
clocks time its life, not anyone's service: ``auto_close`` (a resolved work order closes itself) and
``reopen_window`` (how long a resolution can be reopened or appealed); no second timer mechanism exists,
so a deadline shift or a continue-as-new treats them like the others. Every action
is an Update whose validator refuses what the status does not allow, so a refusal leaves no trace.

Everything the work order keeps lives in one :class:`~domain.work_orders.WorkOrderState`. Before its
Temporal history grows past ``max_history_events`` (or when Temporal suggests it) the workflow waits for
its handlers and effects to finish and continues as new with that state as input: clocks, consumed time,
generations and history carry over, and the running timers are planned again from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendars import Calendars
    from activities.records import Records
    from domain import ids
    from domain.action_links import work_order_links
    from domain.calendar_change import (
        SET_CALENDAR,
        CalendarApplied,
        CalendarOutcome,
        CalendarUpdate,
        HolidayRequest,
        fingerprint,
        outcome,
        years_uncovered,
    )
    from domain.callbacks import work_order_data
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.notifications import Notification, Template
    from domain.orders import Actor
    from domain.retries import Attempt
    from domain.sla import ClockStatus, PlannedStep, StepLevel
    from domain.work_orders import (
        OPEN,
        RECORD_HISTORY_TAIL,
        TASKS,
        Accept,
        Acting,
        Assign,
        CaseSettled,
        ChangePriority,
        ClockName,
        Confirm,
        Decision,
        Reopen,
        Reply,
        ReplyBy,
        Resolve,
        Transfer,
        WorkOrderAction,
        WorkOrderAppeal,
        WorkOrderDecided,
        WorkOrderInput,
        WorkOrderRecord,
        WorkOrderState,
        WorkOrderStatus,
        WorkOrderView,
        allowed,
        body_print,
        clock_view,
        escalation_level,
        initial_clocks,
        nearest_deadline,
        overdue,
        recipients,
        repeats_attempt,
        resolution_budget,
        service_clocks,
        spell,
        time_left,
    )
    from workflows import aftersale as cases  # a module, not its class: the case starts work orders in turn
    from workflows import search_attributes as sa
    from workflows.effects import Journal, refuse, tell_workflow
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.sla import SlaTimers

_PAUSED_WHILE_WAITING = (ClockName.FIRST_RESPONSE.value, ClockName.RESOLUTION.value)
_A = WorkOrderAction


def _actor(acting: Acting | None) -> Actor:
    return acting.actor if acting is not None and acting.actor is not None else Actor.MERCHANT


Body = TypeVar("Body", bound=BaseModel | None)
# Asking for a year's holidays is worth a few tries, not a work order stuck waiting on it.
_HOLIDAYS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=5)


@workflow.defn
class WorkOrderWorkflow:
    """One work order, from its opening until it is closed and can no longer be reopened."""

    @workflow.init
    def __init__(self, input: WorkOrderInput) -> None:
        self._input = input
        self._policy = input.policy
        self._s = input.state or WorkOrderState(
            priority=input.request.priority,
            clocks=initial_clocks(input.policy, input.request.priority, input.calendar),
            opened_at=workflow.now(),
        )
        self._timers = SlaTimers(self._s.clocks, self._on_step, quiet=input.policy.quiet_hours)
        self._journal = Journal(
            Records.project_work_order,
            self.record,
            callbacks=("work_order", workflow.info().workflow_id, lambda: work_order_data(self.state()))
            if input.callbacks
            else None,
        )
        # The journal appends to the state's own history, so the state is all a continued run needs.
        self._journal.history = self._s.history
        self._journal.revision = self._s.revision
        self._changes = 0
        self._ended = False
        self._leaving = False
        self._asked_years: set[int] = set()
        if input.state is None:
            # Here, not in run(): an Update may arrive with the first task and must find the clocks started.
            self._open()

    @workflow.run
    async def run(self, input: WorkOrderInput) -> WorkOrderView:
        """Runs the clocks and waits for people until the work order is over; continues as new on the way."""
        self._journal.start()
        if input.state is not None:
            self._s.runs += 1
        self._changed()
        timers = asyncio.create_task(self._timers.run(until=lambda: self._ended or self._leaving))
        while not self._ended:
            if self._history_is_long():
                await self._continue_as_new()
            await self._cover_holidays()
            await self._wait()
        await timers
        await self._journal.settle()
        return self.state()

    # --- the life of the work order ------------------------------------------------------------------------

    def _open(self) -> None:
        request = self._input.request
        self._journal.record("opened", Actor.CUSTOMER, detail=f"{request.category.value}: {request.title}")
        self._timers.start(self._s.clocks[ClockName.FIRST_RESPONSE])
        self._timers.start(self._s.clocks[ClockName.RESOLUTION])
        if request.assignee_id:
            self._assign(request.assignee_id, None, Actor.PLATFORM)
        else:
            self._timers.start(self._s.clocks[ClockName.ASSIGNMENT])

    async def _wait(self) -> None:
        """Waits for the next change; a closed work order ends once nothing can reopen it any more.

        The auto-close and the reopen window are clocks (``auto_close``, ``reopen_window``) whose ends the
        runner fires in :meth:`_on_step`; here the loop only notices that the work order is over.
        """
        if self._s.status is WorkOrderStatus.CLOSED and self._final():
            self._ended = True
            return
        changes = self._changes
        await workflow.wait_condition(lambda: self._changes != changes or self._history_is_long())

    def _final(self) -> bool:
        """Whether a closed work order is closed for good: the platform decided, or the reopen window is over."""
        s = self._s
        return s.decision is not None or s.last_resolved_at is None or s.clocks[ClockName.REOPEN_WINDOW].breached

    async def _cover_holidays(self) -> None:
        """Asks once per run for the holidays of a year that now or a running clock's deadline reaches and
        the calendar lacks (a work order that lives on past next year); the answer is recorded data."""
        if self._input.calendar.holidays_source is None:
            return  # round the clock, or working hours without holidays: nothing to ask for
        deadlines = [at for clock in service_clocks(self._s.clocks) if (at := clock.deadline_at()) is not None]
        missing = years_uncovered(self._input.calendar, [workflow.now(), *deadlines]) - self._asked_years
        if not missing:
            return
        self._asked_years |= missing
        request = HolidayRequest(merchant_id=self._input.request.merchant_id, years=tuple(sorted(missing)))
        try:
            update = await workflow.execute_activity_method(
                Calendars.merchant_calendar,
                request,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_HOLIDAYS_RETRY,
                summary=f"holidays {', '.join(map(str, request.years))}",
            )
        except ActivityError:
            workflow.logger.warning("holidays of %s not resolved; the clocks count those years without", missing)
            return
        years = ", ".join(map(str, update.calendar.holiday_years)) or "none"
        self._apply_calendar(update, "holidays_resolved", Actor.SYSTEM, f"{update.fingerprint} (holidays {years})")

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._input.max_history_events
        )

    async def _continue_as_new(self) -> None:
        """Hands the whole state to a new run once every handler, message and projection is done."""
        self._leaving = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._journal.settle()
        self._s.revision = self._journal.revision
        workflow.logger.info("continuing as new after %s events", workflow.info().get_current_history_length())
        workflow.continue_as_new(self._input.model_copy(update={"state": self._s}))

    # --- the clocks' steps ---------------------------------------------------------------------------------

    async def _on_step(self, planned: PlannedStep) -> None:
        """Records the step and tells its recipients; the key carries the clock's generation.

        The lifecycle clocks tell nobody: the auto-close closes a resolved work order, and the end of the
        reopen window ends a closed one.
        """
        s, clock = self._s, self._s.clocks[planned.clock]
        if planned.clock == ClockName.AUTO_CLOSE:
            self._close(Actor.SYSTEM, "auto_closed", at=planned.at)
            return
        if planned.clock == ClockName.REOPEN_WINDOW:
            self._changed()  # wakes the loop: a closed work order ends now; a resolved one when it closes
            return
        level = planned.step.level
        name = ClockName(planned.clock)
        self._journal.record(
            "reminder" if level is StepLevel.REMIND else "escalated",
            Actor.SYSTEM,
            due_at=planned.at,
            detail=f"{name.value} {planned.step.name} (generation {planned.generation}, level {int(level)})",
        )
        if name is ClockName.ASSIGNMENT:
            template = Template.WORK_ORDER_UNASSIGNED
        elif name is ClockName.ACCEPT:
            template = Template.WORK_ORDER_NOT_ACCEPTED
        else:
            template = Template.WORK_ORDER_REMINDER if level is StepLevel.REMIND else Template.WORK_ORDER_ESCALATED
        deadline_at = clock.deadline_at()
        left, left_en = time_left(deadline_at - workflow.now()) if deadline_at else ("", "")
        budget, budget_en = spell(clock.budget, days=clock.calendar.round_the_clock)
        task, task_en = TASKS[name]
        request = self._input.request
        told = recipients(name, level, assignee_id=s.assignee_id, assigned_by=s.assigned_by)
        workflow_id = workflow.info().workflow_id
        notification = Notification(
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
                "assignee": s.assignee_id or "-",
            },
            deadline_at=deadline_at,
            link=self._link(),
            actions=work_order_links(
                name.value,
                reminds=level is StepLevel.REMIND,
                workflow_id=workflow_id,
                assignee_id=s.assignee_id,
                recipients=told,
            ),
        )
        self._journal.tell(notification, detail=planned.key)
        self._changed()

    # --- actions -------------------------------------------------------------------------------------------

    # A staff step's body carries the caller's ``actor``, set by the API from the key that called (the mall, a
    # merchant's agent, the platform), never by the client; without one (a story, an old history) the merchant.
    # A refused action that repeats the body it was last applied with is a retry: answered with the work order
    # as it stands, no new event (:meth:`_retry`).

    @workflow.update
    def assign(self, body: Assign) -> WorkOrderView:
        """Gives the work order to an agent, who must accept it within ``AFTERSALES_WO_ACCEPT``."""
        if self._retry(_A.ASSIGN, body, self._check_assign):
            return self.state()
        self._assign(body.assignee_id, body.assigned_by, _actor(body))
        return self._acted(_A.ASSIGN, body)

    @assign.validator
    def _validate_assign(self, body: Assign) -> None:
        self._retry(_A.ASSIGN, body, self._check_assign)

    def _check_assign(self, body: Assign) -> None:
        self._require(_A.ASSIGN)

    @workflow.update
    def accept(self, body: Accept) -> WorkOrderView:
        """The assignee takes the work order on."""
        if self._retry(_A.ACCEPT, body, self._check_accept):
            return self.state()
        self._s.status = WorkOrderStatus.IN_PROGRESS
        self._s.accepted_at = workflow.now()
        self._timers.stop(ClockName.ACCEPT)
        self._journal.record("accepted", _actor(body), detail=body.assignee_id)
        return self._acted(_A.ACCEPT, body)

    @accept.validator
    def _validate_accept(self, body: Accept) -> None:
        self._retry(_A.ACCEPT, body, self._check_accept)

    def _check_accept(self, body: Accept) -> None:
        self._require(_A.ACCEPT)
        if body.assignee_id != self._s.assignee_id:
            raise refuse(
                "invalid_state", f"the work order is assigned to {self._s.assignee_id}, not {body.assignee_id}"
            )

    @workflow.update
    def reply(self, body: Reply) -> WorkOrderView:
        """A message; the assignee's first one is the first response and stops its clock.

        Every reply is a new message, so a reply is never taken for a retry.
        """
        s = self._s
        if body.by is ReplyBy.CUSTOMER:
            self._journal.record("customer_message", Actor.CUSTOMER)
        else:
            self._journal.record("replied", _actor(body), detail=s.assignee_id or "")
            self._first_response()
        return self._acted()

    @reply.validator
    def _validate_reply(self, body: Reply) -> None:
        self._require(_A.REPLY)
        if body.by is ReplyBy.ASSIGNEE and self._s.assignee_id is None:
            raise refuse("invalid_state", "the work order is unassigned; nobody can reply as its assignee")

    @workflow.update
    def transfer(self, body: Transfer) -> WorkOrderView:
        """Hands the work order to another agent: a new generation of the accept clock, reminders to them."""
        if self._retry(_A.TRANSFER, body, self._check_transfer):
            return self.state()
        s = self._s
        previous = s.assignee_id
        s.assignee_id, s.assigned_by = body.assignee_id, previous
        s.status = WorkOrderStatus.ASSIGNED
        s.accepted_at = None
        self._timers.restart(ClockName.ACCEPT)
        self._journal.record("transferred", _actor(body), detail=f"{previous} → {body.assignee_id}: {body.reason}")
        return self._acted(_A.TRANSFER, body)

    @transfer.validator
    def _validate_transfer(self, body: Transfer) -> None:
        self._retry(_A.TRANSFER, body, self._check_transfer)

    def _check_transfer(self, body: Transfer) -> None:
        self._require(_A.TRANSFER)
        if body.assignee_id == self._s.assignee_id:
            raise refuse("invalid_state", f"the work order is assigned to {body.assignee_id} already")

    @workflow.update
    def wait_customer(self, acting: Acting | None = None) -> WorkOrderView:
        """Waiting on the customer: the first-response and resolution clocks pause."""
        if self._retry(_A.WAIT_CUSTOMER, None, self._check_wait_customer):
            return self.state()
        self._s.status = WorkOrderStatus.WAITING_CUSTOMER
        for name in _PAUSED_WHILE_WAITING:
            self._timers.pause(name)
        self._journal.record("waiting_customer", _actor(acting))
        return self._acted(_A.WAIT_CUSTOMER)

    @wait_customer.validator
    def _validate_wait_customer(self, acting: Acting | None = None) -> None:
        self._retry(_A.WAIT_CUSTOMER, None, self._check_wait_customer)

    def _check_wait_customer(self, body: None) -> None:
        self._require(_A.WAIT_CUSTOMER)

    @workflow.update
    def customer_replied(self) -> WorkOrderView:
        """The customer answered: the paused clocks resume with the time they had consumed."""
        if self._retry(_A.CUSTOMER_REPLIED, None, self._check_customer_replied):
            return self.state()
        self._s.status = WorkOrderStatus.IN_PROGRESS
        for name in _PAUSED_WHILE_WAITING:
            self._timers.resume(name)
        self._journal.record("customer_replied", Actor.CUSTOMER)
        return self._acted(_A.CUSTOMER_REPLIED)

    @customer_replied.validator
    def _validate_customer_replied(self) -> None:
        self._retry(_A.CUSTOMER_REPLIED, None, self._check_customer_replied)

    def _check_customer_replied(self, body: None) -> None:
        self._require(_A.CUSTOMER_REPLIED)

    @workflow.update
    def change_priority(self, body: ChangePriority) -> WorkOrderView:
        """A new priority: the resolution clock takes its budget and keeps the time consumed."""
        if self._retry(_A.PRIORITY, body, self._check_priority):
            return self.state()
        previous = self._s.priority
        self._s.priority = body.priority
        self._timers.set_budget(ClockName.RESOLUTION, resolution_budget(self._policy, body.priority))
        self._journal.record("priority_changed", _actor(body), detail=f"{previous.value} → {body.priority.value}")
        return self._acted(_A.PRIORITY, body)

    @change_priority.validator
    def _validate_priority(self, body: ChangePriority) -> None:
        self._retry(_A.PRIORITY, body, self._check_priority)

    def _check_priority(self, body: ChangePriority) -> None:
        self._require(_A.PRIORITY)
        if body.priority is self._s.priority:
            raise refuse("invalid_state", f"the work order is {body.priority.value} already")

    @workflow.update
    def resolve(self, body: Resolve) -> WorkOrderView:
        """The assignee's resolution; the customer confirms it, or it closes itself after ``WO_AUTO_CLOSE``."""
        if self._retry(_A.RESOLVE, body, self._check_resolve):
            return self.state()
        s, now = self._s, workflow.now()
        self._first_response()
        for name in _PAUSED_WHILE_WAITING:
            self._timers.stop(name)
        s.status = WorkOrderStatus.RESOLVED
        s.resolved_at = s.last_resolved_at = now
        s.resolution = body.resolution
        for name in (ClockName.AUTO_CLOSE, ClockName.REOPEN_WINDOW):
            self._start_again(name)
        self._journal.record("resolved", _actor(body), detail=body.resolution)
        return self._acted(_A.RESOLVE, body)

    @resolve.validator
    def _validate_resolve(self, body: Resolve) -> None:
        self._retry(_A.RESOLVE, body, self._check_resolve)

    def _check_resolve(self, body: Resolve) -> None:
        self._require(_A.RESOLVE)
        if self._input.settles_case:
            # A resolution the case cannot act on would leave it disputed for ever: only a decision settles it.
            raise refuse("invalid_state", "this work order settles an after-sales case: the platform decides it")

    @workflow.update
    def confirm(self, body: Confirm) -> WorkOrderView:
        """The customer confirms the resolution with a satisfaction score (1–5)."""
        if self._retry(_A.CONFIRM, body, self._check_confirm):
            return self.state()
        self._s.satisfaction = body.satisfaction
        self._timers.stop(ClockName.AUTO_CLOSE)
        self._close(Actor.CUSTOMER, "confirmed", detail=f"satisfaction {body.satisfaction}")
        return self._acted(_A.CONFIRM, body)

    @confirm.validator
    def _validate_confirm(self, body: Confirm) -> None:
        self._retry(_A.CONFIRM, body, self._check_confirm)

    def _check_confirm(self, body: Confirm) -> None:
        self._require(_A.CONFIRM)

    @workflow.update
    def reopen(self, body: Reopen) -> WorkOrderView:
        """The customer reopens within ``WO_REOPEN_WINDOW``: a new generation of the resolution clock."""
        if self._retry(_A.REOPEN, body, self._check_reopen):
            return self.state()
        s = self._s
        s.status = WorkOrderStatus.IN_PROGRESS
        s.resolved_at = s.closed_at = s.satisfaction = s.resolution = None
        self._timers.stop(ClockName.AUTO_CLOSE)
        self._timers.stop(ClockName.REOPEN_WINDOW)  # the next resolution opens a new window
        self._timers.restart(ClockName.RESOLUTION)
        self._journal.record("reopened", Actor.CUSTOMER, detail=body.reason)
        return self._acted(_A.REOPEN, body)

    @reopen.validator
    def _validate_reopen(self, body: Reopen) -> None:
        self._retry(_A.REOPEN, body, self._check_reopen)

    def _check_reopen(self, body: Reopen) -> None:
        self._require(_A.REOPEN)
        self._require_window("reopened")

    @workflow.update
    def appeal(self, body: WorkOrderAppeal) -> WorkOrderView:
        """The customer appeals: platform customer service takes over, on its own clock."""
        if self._retry(_A.APPEAL, body, self._check_appeal):
            return self.state()
        s = self._s
        s.appealed = True
        s.status = WorkOrderStatus.APPEALED
        # The platform decides now: nothing closes itself, and the decision closes the work order for good.
        self._timers.stop(ClockName.AUTO_CLOSE)
        self._timers.stop(ClockName.REOPEN_WINDOW)
        clock = self._timers.start(s.clocks[ClockName.APPEAL])
        self._journal.record("appealed", Actor.CUSTOMER, detail=body.reason)
        request = self._input.request
        self._journal.tell(
            Notification(
                key=f"{workflow.info().workflow_id}:appeal:{clock.generation}:opened",
                merchant_id=request.merchant_id,
                recipients=recipients(ClockName.APPEAL, StepLevel.REMIND, assignee_id=None, assigned_by=None),
                template=Template.WORK_ORDER_APPEALED,
                params={"work_order_id": request.work_order_id, "title": request.title, "reason": body.reason},
                deadline_at=clock.deadline_at(),
                link=self._link(),
            )
        )
        return self._acted(_A.APPEAL, body)

    @appeal.validator
    def _validate_appeal(self, body: WorkOrderAppeal) -> None:
        self._retry(_A.APPEAL, body, self._check_appeal)

    def _check_appeal(self, body: WorkOrderAppeal) -> None:
        self._require(_A.APPEAL)
        if self._s.appealed:
            raise refuse("invalid_state", "this work order was appealed already")
        self._require_window("appealed")

    @workflow.update
    def decide(self, body: Decision) -> WorkOrderView:
        """Platform customer service decides: an appeal, or the after-sales case this work order was opened
        for (``settles_case``, in any open status); a linked case is told and settles."""
        if self._retry(_A.DECIDE, body, self._check_decide):
            return self.state()
        s = self._s
        appealed = s.status is WorkOrderStatus.APPEALED
        self._stop_service_clocks()
        s.decision = body.approve
        if appealed:
            event = "appeal_upheld" if body.approve else "appeal_dismissed"
        else:
            # The decision is the answer the case waited for: it counts as the work order's resolution.
            s.resolved_at, s.resolution = workflow.now(), body.reason
            event = "decided"
        for_whom = "for the customer" if body.approve else "for the merchant"
        self._close(Actor.PLATFORM, event, detail=body.reason if appealed else f"{for_whom}: {body.reason}")
        request = self._input.request
        if request.case_id:
            decided = WorkOrderDecided(
                work_order_id=request.work_order_id, case_id=request.case_id, approve=body.approve, reason=body.reason
            )
            self._journal.in_background(
                tell_workflow(ids.after_sale(request.case_id), cases.AfterSaleWorkflow.work_order_decided, decided)
            )
        return self._acted(_A.DECIDE, body)

    @decide.validator
    def _validate_decide(self, body: Decision) -> None:
        self._retry(_A.DECIDE, body, self._check_decide)

    def _check_decide(self, body: Decision) -> None:
        if self._input.settles_case and self._s.status in OPEN and not self._ended:
            return
        self._require(_A.DECIDE)

    @workflow.signal
    def case_settled(self, settled: CaseSettled) -> None:
        """The case this work order was opened for was settled without it: the work order closes, as moot."""
        if not self._input.settles_case or self._s.status not in OPEN or self._ended:
            return  # decided already (whichever came first won), or not a work order of the case
        self._stop_service_clocks()
        self._close(settled.actor, "case_settled", detail=f"{settled.status}: {settled.reason}".rstrip(": "))

    @workflow.update(name=SET_CALENDAR)
    def set_calendar(self, body: CalendarUpdate) -> CalendarApplied:
        """The merchant's calendar changed: every clock counts on it from now, keeping the time it consumed.

        Idempotent: the calendar it runs on already answers ``unchanged``, an older change ``stale``.
        """
        return self._apply_calendar(body, "calendar_changed", Actor.PLATFORM, body.fingerprint)

    @set_calendar.validator
    def _validate_set_calendar(self, body: CalendarUpdate) -> None:
        if self._ended:
            raise refuse("invalid_state", "the work order is over; its clocks have stopped")
        if fingerprint(body.calendar) != body.fingerprint:
            raise refuse("validation_error", "the calendar does not match its fingerprint")

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the running clocks, once per shift id (kept across runs)."""
        answer = apply_shift(self._timers, shift, self._s.shifts)
        if not answer.clocks or answer.repeat:
            return answer
        self._journal.record("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        self._acted()
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        if self._ended and shift.shift_id not in self._s.shifts:
            raise refuse("invalid_state", "the work order is over; its clocks have stopped")
        check_shift(self._timers, shift, self._s.shifts)

    # --- views ---------------------------------------------------------------------------------------------

    @workflow.query
    def state(self) -> WorkOrderView:
        """The work order as it stands, with every clock."""
        s, request, now = self._s, self._input.request, workflow.now()
        return WorkOrderView(
            work_order_id=request.work_order_id,
            merchant_id=request.merchant_id,
            category=request.category,
            status=s.status,
            priority=s.priority,
            title=request.title,
            assignee_id=s.assignee_id,
            escalation_level=escalation_level(s.clocks),
            overdue=self._overdue(),
            deadline_at=self._deadline_at(),
            opened_at=s.opened_at,
            accepted_at=s.accepted_at,
            first_response_at=s.first_response_at,
            resolved_at=s.resolved_at,
            closed_at=s.closed_at,
            resolution=s.resolution,
            satisfaction=s.satisfaction,
            order_id=request.order_id,
            case_id=request.case_id,
            customer_id=request.customer_id,
            settles_case=self._input.settles_case,
            decision=s.decision,
            clocks=[clock_view(clock, now) for clock in s.clocks.values()],
            history=list(s.history),
            revision=self._journal.revision,
        )

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of the action last applied (asked also once the work order ended)."""
        return repeats_attempt(self._s.applied, attempt)

    @workflow.query
    def runs(self) -> int:
        """How many times this work order continued as new."""
        return self._s.runs

    def record(self) -> WorkOrderRecord:
        """The slim snapshot the read model is written from (only the history's tail, for the SLA facts)."""
        s, request = self._s, self._input.request
        tail_from = max(len(s.history) - RECORD_HISTORY_TAIL, 0)
        return WorkOrderRecord(
            work_order_id=request.work_order_id,
            merchant_id=request.merchant_id,
            category=request.category,
            status=s.status,
            priority=s.priority,
            assignee_id=s.assignee_id,
            escalation_level=escalation_level(s.clocks),
            overdue=self._overdue(),
            deadline_at=self._deadline_at(),
            breached_clocks=[clock.name for clock in service_clocks(s.clocks) if clock.breached],
            opened_at=s.opened_at,
            first_response_at=s.first_response_at,
            resolved_at=s.resolved_at,
            satisfaction=s.satisfaction,
            case_id=request.case_id,
            revision=self._journal.revision,
            history_from=tail_from,
            history_tail=s.history[tail_from:],
        )

    # --- helpers -------------------------------------------------------------------------------------------

    def _require(self, action: WorkOrderAction) -> None:
        status = self._s.status
        # While the run hands over to the next one, actions are still taken: the state they change is what
        # the next run starts from.
        if self._ended or not allowed(status, action):
            raise refuse("invalid_state", f"the work order is {status.value}; {action.value} is not possible now")

    def _require_window(self, what: str) -> None:
        # The window's clock, not the setting: a platform-wide deadline shift moves it.
        window = self._s.clocks[ClockName.REOPEN_WINDOW]
        ends_at = window.deadline_at()
        if ends_at is None or window.breached or workflow.now() > ends_at:
            raise refuse("window_closed", f"a work order can be {what} within {self._policy.wo_reopen_window}")

    def _assign(self, assignee_id: str, assigned_by: str | None, actor: Actor) -> None:
        s = self._s
        s.assignee_id, s.assigned_by = assignee_id, assigned_by
        s.status = WorkOrderStatus.ASSIGNED
        self._timers.stop(ClockName.ASSIGNMENT)
        self._timers.start(s.clocks[ClockName.ACCEPT])
        self._journal.record("assigned", actor, detail=assignee_id)

    def _start_again(self, name: ClockName) -> None:
        """Starts ``name``, or a new generation of it if it ran before (a resolution after a reopen)."""
        if self._s.clocks[name].status is ClockStatus.IDLE:
            self._timers.start(self._s.clocks[name])
        else:
            self._timers.restart(name)

    def _stop_service_clocks(self) -> None:
        """Stops every SLA clock still counting: the work order has its answer."""
        for clock in service_clocks(self._s.clocks):
            if clock.running or clock.paused:
                self._timers.stop(clock.name)

    def _first_response(self) -> None:
        if self._s.first_response_at is None:
            self._s.first_response_at = workflow.now()
            self._timers.stop(ClockName.FIRST_RESPONSE)

    def _close(self, actor: Actor, event: str, *, at: datetime | None = None, detail: str = "") -> None:
        self._s.status = WorkOrderStatus.CLOSED
        self._s.closed_at = at or workflow.now()
        self._journal.record(event, actor, at=at, detail=detail)
        self._changed()

    def _apply_calendar(self, update: CalendarUpdate, event: str, actor: Actor, detail: str) -> CalendarApplied:
        current = fingerprint(self._input.calendar)
        result = outcome(update, current=current, current_revision=self._input.calendar_revision)
        if result is CalendarOutcome.STALE:
            return CalendarApplied(outcome=result, fingerprint=current)
        # Kept in the input, which continue-as-new carries, so the next run knows the calendar and revision.
        self._input = self._input.model_copy(update={"calendar": update.calendar, "calendar_revision": update.revision})
        if result is CalendarOutcome.CHANGED:
            # The SLA clocks only: the auto-close and the reopen window count the customer's days, round the clock.
            self._timers.set_calendar(update.calendar, [clock.name for clock in service_clocks(self._s.clocks)])
            self._journal.record(event, actor, detail=detail)
            self._changed()
        return CalendarApplied(outcome=result, fingerprint=update.fingerprint)

    def _retry(self, action: WorkOrderAction, body: Body, check: Callable[[Body], None]) -> bool:
        """Whether ``action`` with ``body`` is a retry of the one applied last: ``check`` refuses it, and it
        repeats the body ``action`` was last applied with. Any other refusal is raised.

        Validator and handler both ask, on the same state, so they agree.
        """
        try:
            check(body)
        except ApplicationError:
            if self._s.applied.get(action.value) == body_print(body):
                return True
            raise
        return False

    def _acted(self, action: WorkOrderAction | None = None, body: BaseModel | None = None) -> WorkOrderView:
        if action is not None:
            self._s.applied[action.value] = body_print(body)
        self._changed()
        return self.state()

    def _changed(self) -> None:
        """Wakes the main loop and shows the work order's status, deadline and overdue flag in the Web UI."""
        self._changes += 1
        s = self._s
        sa.upsert(
            sa.work_order_current(
                s.status.value,
                self._overdue(),
                self._deadline_at(),
                priority=s.priority.value,
                assignee_id=s.assignee_id,
            )
        )

    def _overdue(self) -> bool:
        return self._s.status in OPEN and overdue(self._s.clocks)

    def _deadline_at(self) -> datetime | None:
        return nearest_deadline(self._s.clocks) if self._s.status in OPEN else None

    def _link(self) -> str | None:
        board = self._input.board_url
        return f"{board}/v1/work-orders/{self._input.request.work_order_id}" if board else None
