"""Order watch: the ship deadline, logistics anomalies and the after-sales window of one paid order.

``OrderWorkflow`` (id ``order-{order_id}``) lives from payment until its after-sales window has closed
and the grace period for admin extensions has passed. Human steps arrive as Updates with validators, so
an illegal action is refused synchronously and leaves no trace in history.

Every deadline of the order is an SLA clock (:mod:`domain.sla`), all run by one
:class:`~workflows.sla.SlaTimers`: ``ship`` (the ship deadline and its reminders), ``stall`` (no carrier
movement for a while; a new generation at each movement), ``promise`` (the carrier's promised delivery),
``window`` (the after-sales window; a reopening is a new generation) and ``grace`` (the time left for an
admin to reopen a closed window).

Everything the watch keeps lives in one :class:`~domain.orders.OrderWatchState`. A watch lives for weeks
and every tracking update grows its history: before the Temporal history passes ``max_history_events``
(or when Temporal suggests it) the workflow waits for its handlers and effects to finish and continues as
new with that state as input. Clocks, history and revision, open cases and the steps applied carry over;
the running timers are planned again from the clocks, and the cases it started keep signalling
``order-{order_id}``, which reaches the current run.

The class is assembled from its parts, one job each: the state, views and shared steps
(:mod:`workflows.order_base`), the clocks' steps and the Updates that move them (:mod:`workflows.order_timers`),
the shipment and tracking updates (:mod:`workflows.order_steps`) and the after-sales requests and their
settlements (:mod:`workflows.order_cases`). This module runs its life: payment, the clocks, continuing as new,
the end.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain.callbacks import order_data
    from domain.orders import Actor, OrderStatus, OrderView, OrderWatchInput, OrderWatchState, ship_clock
    from workflows.effects import Journal
    from workflows.order_base import LOGISTICS as LOGISTICS  # re-exported: the API names the actions retried
    from workflows.order_base import SHIPMENT as SHIPMENT
    from workflows.order_cases import OrderCases
    from workflows.order_steps import OrderSteps
    from workflows.order_timers import OrderTimers
    from workflows.sla import SlaTimers


@workflow.defn
class OrderWorkflow(OrderSteps, OrderTimers, OrderCases):
    """Watches one paid order from payment to the end of its after-sales window."""

    @workflow.init
    def __init__(self, input: OrderWatchInput) -> None:
        self._input = input
        self._s = input.state or OrderWatchState(last_movement_at=input.order.paid_at)
        self._timers = SlaTimers(self._s.clocks, self._on_step, quiet=input.policy.quiet_hours)
        if input.state is None:
            # From payment exactly (also a paid_at a little ahead of our clock): the view the API answers a new
            # order with (domain.orders.opening_view) is computed from the same clock.
            self._timers.put(ship_clock(input))
        self._journal = Journal(
            Records.project_order,
            self.state,
            callbacks=("order", workflow.info().workflow_id, lambda: order_data(self.state()))
            if input.callbacks
            else None,
        )
        # The journal appends to the state's own history, so the state is all a continued run needs; the
        # callbacks' ids (the entry's place in the history) go on where the last run stopped.
        self._journal.history = self._s.history
        self._journal.revision = self._s.revision
        if input.state is None:
            # Here, not in run(): an Update delivered with the start (a shipment right after the report) runs
            # its handler before run() begins, and the history must still open with the payment.
            self._changed("order_paid", Actor.CUSTOMER, at=input.order.paid_at)

    @workflow.run
    async def run(self, input: OrderWatchInput) -> OrderView:
        """Runs the watch: ship clock, logistics, the after-sales window and its grace, open cases."""
        self._journal.start()
        if input.state is not None:
            self._s.runs += 1
        # Every step of the watch is a clock's step or a human's Update; the watch ends once everything is
        # refunded or the grace for extensions has run out.
        await self._timers.run(
            until=lambda: self._over() or self._journal.time_to_hand_over(self._input.max_history_events)
        )
        if not self._over():
            await self._continue_as_new()
        self._s.closing = True
        # Each open case settles with its order.
        await workflow.wait_condition(
            lambda: not self._s.open_cases or self._journal.time_to_hand_over(self._input.max_history_events)
        )
        if self._s.open_cases:
            await self._continue_as_new()
        await self._journal.settle()
        return self.state()

    def _over(self) -> bool:
        return self._s.closing or self._s.status is OrderStatus.REFUNDED

    async def _continue_as_new(self) -> NoReturn:
        """Hands the whole state to a new run.

        Called once :meth:`Journal.time_to_hand_over` holds: the clocks ran on while the workflow waited for a quiet
        moment (no handler, message or callback under way), so only the projection in flight is waited for here.
        """
        await self._journal.settle(project=False)
        self._s.revision = self._journal.revision
        workflow.logger.info("continuing as new after %s events", workflow.info().get_current_history_length())
        workflow.continue_as_new(self._input.model_copy(update={"state": self._s}))
