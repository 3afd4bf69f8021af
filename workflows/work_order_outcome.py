"""How a work order ends: the customer confirms, reopens or appeals; the platform decides; its case settles.

Confirmation closes it; a reopen, within the reopen window, starts a new generation of the resolution
clock; an appeal hands it to the platform's customer service, whose decision closes it for good and tells
the after-sales case it was opened for. A case settled without it closes it as moot.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import ids
    from domain.orders import Actor
    from domain.work_order_clocks import ClockName
    from domain.work_orders import (
        OPEN,
        CaseSettled,
        Confirm,
        Decision,
        Reopen,
        WorkOrderAction,
        WorkOrderAppeal,
        WorkOrderDecided,
        WorkOrderStatus,
        WorkOrderView,
    )

    # The case's part that hears the decision; it does not import this workflow, so no import cycle.
    from workflows.aftersale_decisions import CaseDecisions
    from workflows.effects import refuse, tell_workflow
    from workflows.work_order_notices import appeal_notice
    from workflows.work_order_timers import WorkOrderTimers

_A = WorkOrderAction


class WorkOrderOutcome(WorkOrderTimers):
    """The customer's and the platform's steps after a resolution, and the case's word."""

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
        notice = appeal_notice(
            clock, self._input.request, body.reason, workflow_id=workflow.info().workflow_id, link=self._link()
        )
        self._journal.tell(notice)
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
                tell_workflow(ids.after_sale(request.case_id), CaseDecisions.work_order_decided, decided)
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

    def _require_window(self, what: str) -> None:
        # The window's clock, not the setting: a platform-wide deadline shift moves it.
        window = self._s.clocks[ClockName.REOPEN_WINDOW]
        ends_at = window.deadline_at()
        if ends_at is None or window.breached or workflow.now() > ends_at:
            raise refuse("window_closed", f"a work order can be {what} within {self._policy.wo_reopen_window}")
