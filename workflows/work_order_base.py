"""What every part of the work order workflow shares: the state it keeps, how a change is shown, the views.

:class:`WorkOrderBase` holds the attributes :class:`~workflows.work_order.WorkOrderWorkflow` sets up, the
queries it answers, and the few steps every handler takes: refuse what the status does not allow, answer a
retry, record a change and show it in the Web UI's search attributes. The clocks' steps
(:mod:`workflows.work_order_timers`) and the human steps (:mod:`workflows.work_order_handling`,
:mod:`workflows.work_order_outcome`) build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.orders import Actor
    from domain.policy import Policy
    from domain.retries import Attempt
    from domain.work_order_clocks import clock_view, escalation_level, nearest_deadline, overdue, service_clocks
    from domain.work_order_rules import allowed, body_print, repeats_attempt
    from domain.work_orders import (
        OPEN,
        RECORD_HISTORY_TAIL,
        WorkOrderAction,
        WorkOrderInput,
        WorkOrderRecord,
        WorkOrderState,
        WorkOrderStatus,
        WorkOrderView,
    )
    from workflows import search_attributes as sa
    from workflows.effects import Journal, refuse
    from workflows.sla import SlaTimers


Body = TypeVar("Body", bound=BaseModel | None)


class WorkOrderBase:
    """The work order's state and views, and the steps every handler takes."""

    _input: WorkOrderInput
    _policy: Policy
    _s: WorkOrderState
    _timers: SlaTimers
    _journal: Journal
    _changes: int
    _ended: bool
    _leaving: bool
    _asked_years: set[int]

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

    # --- what every handler does ---------------------------------------------------------------------------

    def _require(self, action: WorkOrderAction) -> None:
        status = self._s.status
        # While the run hands over to the next one, actions are still taken: the state they change is what
        # the next run starts from.
        if self._ended or not allowed(status, action):
            raise refuse("invalid_state", f"the work order is {status.value}; {action.value} is not possible now")

    def _close(self, actor: Actor, event: str, *, detail: str = "", due_at: datetime | None = None) -> None:
        """Closes the work order now; a clock's close records when it was due as ``due_at``."""
        self._s.status = WorkOrderStatus.CLOSED
        self._s.closed_at = workflow.now()
        self._journal.record(event, actor, detail=detail, due_at=due_at)
        self._changed()

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
