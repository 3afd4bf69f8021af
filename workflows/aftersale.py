"""After-sales case: refund-only, return-refund or exchange, from request to money back or goods swapped.

``AfterSaleWorkflow`` (id ``aftersale-{case_id}``) is started by its order's watch as a child (parent-close
ABANDON) once the order has accepted the request. Every human step is an Update whose validator refuses
what the status does not allow, so a refused action leaves no trace. Each status with a deadline runs one
SLA clock (:mod:`domain.sla`, run by :class:`~workflows.sla.SlaTimers`); silence decides by the platform's
rules (auto-approve, auto-cancel, auto-receive, auto-complete) or escalates. When the case ends it tells
its order what was refunded and what is free to claim again.

The class is assembled from its parts, one job each: the state, views, statuses and effects
(:mod:`workflows.aftersale_base`), money (:mod:`workflows.aftersale_money`), decisions
(:mod:`workflows.aftersale_decisions`), the platform's work order (:mod:`workflows.aftersale_work_order`),
the clocks' steps (:mod:`workflows.aftersale_timers`) and the human steps (:mod:`workflows.aftersale_steps`).
This module walks the case through its statuses and tells its order at the end.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain import ids
    from domain.callbacks import case_data
    from domain.cases import AfterSaleRequest, CaseInput, CaseSettlement, CaseStatus, CaseView, ParcelShipment
    from domain.orders import Actor
    from domain.retries import Attempts
    from domain.sla import SlaClock
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
        self._opened_at = workflow.now()
        self._overdue = False
        self._auto = False
        self._ended = False
        self._clocks: dict[str, SlaClock] = {}  # every deadline of the case, one serialisable mapping
        self._timers = SlaTimers(self._clocks, self._on_clock_step, quiet=input.policy.quiet_hours)
        self._clock: str | None = None  # the clock of the current status
        self._since = self._opened_at  # when the current status began
        self._appealed = False
        self._received = False
        self._return: ParcelShipment | None = None
        self._return_postage_cents: int | None = None
        self._replacement: ParcelShipment | None = None
        self._rejection_reason: str | None = None
        self._work_order_id: str | None = None  # the platform work order this case opened last
        self._work_orders = 0  # how many work order ids the case has used
        self._work_order_open = False  # its work order still decides the case
        self._pickup_active = False
        self._pickup_id: str | None = None
        self._pickups = 0  # pickups booked so far
        self._refunded_cents = 0
        self._applied = Attempts()  # what each human step was applied with, so a retry is answered
        self._shifts: dict[str, list[str]] = {}  # platform shifts applied (id → clocks moved): a repeat is a no-op
        self._journal = Journal(
            Records.project_case,
            self.state,
            callbacks=("case", workflow.info().workflow_id, lambda: case_data(self.state()))
            if input.callbacks
            else None,
        )
        self._status = CaseStatus.PENDING_REVIEW
        self._enter(CaseStatus.PENDING_REVIEW)

    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        """Walks the case through its statuses until it is completed, cancelled, or rejected for good."""
        self._journal.start()
        self._changed("case_opened", Actor.CUSTOMER, detail=f"{input.request.kind.value}: {input.request.reason}")
        if input.cooling_off:
            self._auto = True
            self._enter(CaseStatus.REFUNDING)
            self._changed("auto_refunded_cooling_off", Actor.SYSTEM)
        while not self._ended:
            await self._step()
        await self._tell_order()
        await self._journal.settle()
        return self.state()

    # --- the life of the case -----------------------------------------------------------------------------

    async def _step(self) -> None:
        status = self._status
        if status is CaseStatus.REFUNDING:
            await self._refund()
        elif self._clock is not None or status in (CaseStatus.RETURN_IN_TRANSIT, CaseStatus.DISPUTED):
            # The status's clock fires its steps (a booked pickup pauses the return clock) until someone, or
            # the clock's own breach, moves the case on.
            await self._timers.run(until=lambda: self._status is not status or self._ended)
        else:  # completed, cancelled, or rejected for good
            self._ended = True

    async def _tell_order(self) -> None:
        """Tells the order what this case took for good (refunded) and what it gives back."""
        request = self._input.request
        refunded = self._refunded_cents > 0
        settlement = CaseSettlement(
            case_id=request.case_id,
            refunded=request.lines if refunded else [],
            released=[] if refunded else request.lines,
        )
        await tell_workflow(ids.order(request.order_id), "settle_case", settlement)
