"""The merchant's agents at work on a work order: assign, accept, reply, transfer, wait, reprioritise, resolve.

Each step is an Update whose validator refuses what the status does not allow
(:func:`~domain.work_order_rules.allowed`), so a refusal leaves no event; a refused step that repeats the body
it was last applied with is a retry, answered with the work order as it stands.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders import Actor
    from domain.work_order_clocks import ClockName, resolution_budget
    from domain.work_orders import (
        Accept,
        Acting,
        Assign,
        ChangePriority,
        Reply,
        ReplyBy,
        Resolve,
        Transfer,
        WorkOrderAction,
        WorkOrderStatus,
        WorkOrderView,
    )
    from workflows.effects import refuse
    from workflows.work_order_timers import WorkOrderTimers

_PAUSED_WHILE_WAITING = (ClockName.FIRST_RESPONSE.value, ClockName.RESOLUTION.value)
_A = WorkOrderAction


def _actor(acting: Acting | None) -> Actor:
    return acting.actor if acting is not None and acting.actor is not None else Actor.MERCHANT


class WorkOrderHandling(WorkOrderTimers):
    """The agents' steps, from assignment to resolution."""

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

    def _assign(self, assignee_id: str, assigned_by: str | None, actor: Actor) -> None:
        s = self._s
        s.assignee_id, s.assigned_by = assignee_id, assigned_by
        s.status = WorkOrderStatus.ASSIGNED
        self._timers.stop(ClockName.ASSIGNMENT)
        self._timers.start(s.clocks[ClockName.ACCEPT])
        self._journal.record("assigned", actor, detail=assignee_id)
