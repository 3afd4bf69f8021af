"""Work order (工单): from the customer's problem to its resolution, on five SLA clocks.

``WorkOrderWorkflow`` (id ``workorder-{work_order_id}``) runs the clocks ``assignment``, ``accept``,
``first_response``, ``resolution`` and ``appeal`` (:mod:`domain.sla`, timed by :class:`~workflows.sla.SlaTimers`),
each with its escalation ladder; who hears of a step is :func:`domain.work_order_clocks.recipients`. Two more
clocks time its life, not anyone's service: ``auto_close`` (a resolved work order closes itself) and
``reopen_window`` (how long a resolution can be reopened or appealed); no second timer mechanism exists,
so a deadline shift or a continue-as-new treats them like the others. Every action
is an Update whose validator refuses what the status does not allow, so a refusal leaves no trace.

Everything the work order keeps lives in one :class:`~domain.work_orders.WorkOrderState`. Before its
Temporal history grows past ``max_history_events`` (or when Temporal suggests it) the workflow waits for
its handlers and effects to finish and continues as new with that state as input: clocks, consumed time,
generations and history carry over, and the running timers are planned again from them.

The class is assembled from its parts, one job each: the state, views and shared steps
(:mod:`workflows.work_order_base`), the clocks' steps and the Updates that move them
(:mod:`workflows.work_order_timers`), the agents' steps (:mod:`workflows.work_order_handling`), the
customer's and the platform's steps that end it (:mod:`workflows.work_order_outcome`) and its messages
(:mod:`workflows.work_order_notices`). This module runs its life: opening, waiting, continuing as new.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain.callbacks import work_order_data
    from domain.orders import Actor
    from domain.work_order_clocks import ClockName, initial_clocks
    from domain.work_orders import WorkOrderInput, WorkOrderState, WorkOrderStatus, WorkOrderView
    from workflows.effects import Journal
    from workflows.sla import SlaTimers
    from workflows.work_order_handling import WorkOrderHandling
    from workflows.work_order_outcome import WorkOrderOutcome


@workflow.defn
class WorkOrderWorkflow(WorkOrderHandling, WorkOrderOutcome):
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
            if self._journal.time_to_hand_over(self._input.max_history_events):
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
        await workflow.wait_condition(
            lambda: self._changes != changes or self._journal.time_to_hand_over(self._input.max_history_events)
        )

    def _final(self) -> bool:
        """Whether a closed work order is closed for good: the platform decided, or the reopen window is over."""
        s = self._s
        return s.decision is not None or s.last_resolved_at is None or s.clocks[ClockName.REOPEN_WINDOW].breached

    async def _continue_as_new(self) -> None:
        """Hands the whole state to a new run once every handler, message and projection is done."""
        self._leaving = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._journal.settle()
        self._s.revision = self._journal.revision
        workflow.logger.info("continuing as new after %s events", workflow.info().get_current_history_length())
        workflow.continue_as_new(self._input.model_copy(update={"state": self._s}))
