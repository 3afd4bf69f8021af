"""After-sales case: refund-only, return-refund or exchange, from request to money back or goods swapped.

``AfterSaleWorkflow`` (id ``aftersale-{case_id}``) is started by its order's watch as a child (parent-close
ABANDON) once the order has accepted the request. Every human step is an Update whose validator refuses
what the status does not allow, so a refused action leaves no trace. Each status with a deadline runs one
SLA clock (:mod:`domain.sla`, run by :class:`~workflows.sla.SlaTimers`); silence decides by the platform's
rules (auto-approve, auto-cancel, auto-receive, auto-complete) or escalates. When the case ends it tells
its order what was refunded and what is free to claim again.

Everything the case keeps lives in one :class:`~domain.cases.CaseState`. A case lives weeks (return 7 d,
receipt 10 d, confirmation 10 d, appeals): before its Temporal history grows past ``max_history_events`` (or
when Temporal suggests it) it waits for its handlers and effects to settle and continues as new with that
state as input, under the same id, so its order, pickup and work order still reach it by signal; the
clocks go over unchanged and the new run's timers wait for the same deadlines.

The class is assembled from its parts, one job each: the state, views, statuses and effects
(:mod:`workflows.aftersale_base`), money (:mod:`workflows.aftersale_money`), decisions
(:mod:`workflows.aftersale_decisions`), the platform's work order (:mod:`workflows.aftersale_work_order`),
the clocks' steps (:mod:`workflows.aftersale_timers`) and the human steps (:mod:`workflows.aftersale_steps`).
This module walks the case through its statuses, continues as new on the way, and tells its order at the end.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain import ids
    from domain.callbacks import case_data
    from domain.cases import AfterSaleRequest, CaseInput, CaseSettlement, CaseStatus, CaseView, opening_state
    from domain.orders import Actor
    from workflows.aftersale_steps import CaseSteps
    from workflows.effects import Journal, tell_workflow
    from workflows.sla import SlaTimers

REQUEST_MEMO = "request"  # the memo holding the digest of the request a case was opened with


def request_digest(request: AfterSaleRequest) -> str:
    """What the case's memo keeps of its request: enough to know the same request again (same request →
    same case), without the customer's address or words, which the Web UI lists with every memo."""
    return ids.fingerprint(request)


@workflow.defn
class AfterSaleWorkflow(CaseSteps):
    """One after-sales case, from the customer's request to its end."""

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._input = input
        # Opened when its order accepted the request: the order answered the request with the view this
        # state and the first task's entries make (domain.cases.opening_view), before this workflow started.
        self._opened_at = input.opened_at or workflow.now()
        self._s = input.state or opening_state(input, self._opened_at)
        self._timers = SlaTimers(self._s.clocks, self._on_clock_step, quiet=input.policy.quiet_hours)
        self._journal = Journal(
            Records.project_case,
            self.state,
            callbacks=("case", workflow.info().workflow_id, lambda: case_data(self.state()))
            if input.callbacks
            else None,
        )
        # The journal appends to the state's own history, so the state is all a continued run needs.
        self._journal.history = self._s.history
        self._journal.revision = self._s.revision
        if input.state is None:
            # Here, not in run(): an Update delivered with the start (an approval sent right after the 201) runs
            # its handler before run() begins, and the history must still open with the request.
            request = input.request
            self._changed(
                "case_opened", Actor.CUSTOMER, at=self._opened_at, detail=f"{request.kind.value}: {request.reason}"
            )
            if input.cooling_off:
                self._s.auto = True
                self._enter(CaseStatus.REFUNDING, since=self._opened_at)
                self._changed("auto_refunded_cooling_off", Actor.SYSTEM, at=self._opened_at)

    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        """Walks the case through its statuses until it is completed, cancelled, or rejected for good;
        continues as new on the way."""
        self._journal.start()
        if input.state is not None:
            self._s.runs += 1
        while not self._s.ended:
            if self._journal.time_to_hand_over(self._input.max_history_events):
                await self._continue_as_new()
            await self._step()
        await self._tell_order()
        await self._journal.settle()
        return self.state()

    # --- the life of the case -----------------------------------------------------------------------------

    async def _step(self) -> None:
        status = self._s.status
        if status is CaseStatus.REFUNDING:
            await self._refund()
        elif self._s.clock is not None or status in (CaseStatus.RETURN_IN_TRANSIT, CaseStatus.DISPUTED):
            # The status's clock fires its steps (a booked pickup pauses the return clock) until someone, or
            # the clock's own breach, moves the case on, or it is time to hand over to a new run.
            await self._timers.run(
                until=lambda: (
                    self._s.status is not status
                    or self._s.ended
                    or self._journal.time_to_hand_over(self._input.max_history_events)
                )
            )
        else:  # completed, cancelled, or rejected for good
            self._s.ended = True

    async def _continue_as_new(self) -> None:
        """Hands the whole state to a new run.

        Called once :meth:`Journal.time_to_hand_over` holds: the clocks ran on while the case waited for a quiet
        moment (no handler, message or callback under way), so only the projection in flight is waited for. The
        clocks go over unchanged (deadlines, consumed time, steps fired), so the new run's timers wait
        for the same deadlines; the history goes too, so callbacks' ids and the read model's revision go on.
        Its pickup and work order (children, parent-close ABANDON) live on and still reach it by its id.
        """
        await self._journal.settle(project=False)
        self._s.revision = self._journal.revision
        workflow.logger.info("continuing as new after %s events", workflow.info().get_current_history_length())
        workflow.continue_as_new(self._input.model_copy(update={"state": self._s}))

    async def _tell_order(self) -> None:
        """Tells the order what this case took for good (refunded) and what it gives back."""
        request = self._input.request
        refunded = self._s.refunded_cents > 0
        settlement = CaseSettlement(
            case_id=request.case_id,
            refunded=request.lines if refunded else [],
            released=[] if refunded else request.lines,
        )
        await tell_workflow(ids.order(request.order_id), "settle_case", settlement)
