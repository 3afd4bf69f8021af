"""What every part of the after-sales workflow shares: the case's state, its views, statuses and effects.

:class:`CaseBase` holds the attributes :class:`~workflows.aftersale.AfterSaleWorkflow` sets up, the queries
it answers, how the case enters a status (and starts that status's clock), which action a status allows,
and how a change is recorded, shown in the Web UI's search attributes and told. The other parts build on it:
money (:mod:`workflows.aftersale_money`), decisions (:mod:`workflows.aftersale_decisions`), the platform's
work order (:mod:`workflows.aftersale_work_order`), the clocks' steps (:mod:`workflows.aftersale_timers`)
and the human steps (:mod:`workflows.aftersale_steps`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from domain.cases import (
        Action,
        Appeal,
        CaseInput,
        CaseKind,
        CaseState,
        CaseStatus,
        CaseView,
        DisputeDecision,
        OfflineRefund,
        ParcelShipment,
        Receipt,
        Rejection,
        allowed,
        refund_cents,
    )
    from domain.durations import time_left
    from domain.notifications import ActionLink, Audience, Notification, Template
    from domain.orders import Actor, Address, LogisticsEvent
    from domain.pickups import PickupRequest
    from domain.retries import Attempt
    from domain.sla import SlaClock, offset_steps
    from workflows import search_attributes as sa
    from workflows.effects import Journal, refuse
    from workflows.sla import SlaTimers


# The body each of the case's actions takes, to read an attempt from the API as the applied one (none: no body).
BODIES: dict[str, type[BaseModel]] = {
    Action.REJECT: Rejection,
    Action.RETURN_SHIPMENT: ParcelShipment,
    Action.PICKUP: PickupRequest,
    Action.RETURN_LOGISTICS: LogisticsEvent,
    Action.RECEIPT: Receipt,
    Action.REPLACEMENT_SHIPMENT: ParcelShipment,
    Action.APPEAL: Appeal,
    Action.RESOLVE_DISPUTE: DisputeDecision,
    Action.OFFLINE_REFUND: OfflineRefund,
}


class CaseBase:
    """The case's state and views, its statuses, and the effects every part records."""

    _input: CaseInput
    _s: CaseState
    _timers: SlaTimers
    _journal: Journal

    # --- views ---------------------------------------------------------------------------------------------

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of an action this case applied (asked also once it has ended)."""
        return self._s.applied.repeats_attempt(attempt, BODIES)

    @workflow.query
    def runs(self) -> int:
        """How many times this case continued as new."""
        return self._s.runs

    @workflow.query
    def state(self) -> CaseView:
        """The case as it stands."""
        request = self._input.request
        return CaseView(
            case_id=request.case_id,
            order_id=request.order_id,
            merchant_id=self._input.merchant_id,
            customer_id=self._input.customer_id,
            kind=request.kind,
            status=self._s.status,
            reason=request.reason,
            lines=request.lines,
            refund_cents=self._amount(),
            refunded_cents=self._s.refunded_cents,
            deadline_at=self._deadline_at(),
            overdue=self._s.overdue,
            auto_decided=self._s.auto,
            return_carrier=self._s.return_shipment.carrier if self._s.return_shipment else None,
            return_tracking_no=self._s.return_shipment.tracking_no if self._s.return_shipment else None,
            replacement_carrier=self._s.replacement.carrier if self._s.replacement else None,
            replacement_tracking_no=self._s.replacement.tracking_no if self._s.replacement else None,
            replacement_address=self._replacement_address() if request.kind is CaseKind.EXCHANGE else None,
            # The id ``/v1/pickups/{pickup_id}`` takes: the case's own (a pickup belongs to one case), not the
            # pickup workflow's id, which stays internal.
            pickup_id=request.case_id if self._s.pickup_id else None,
            work_order_id=self._s.work_order_id,
            rejection_reason=self._s.rejection_reason,
            history=list(self._journal.history),
            revision=self._journal.revision,
            opened_at=self._s.opened_at,
        )

    # --- statuses ------------------------------------------------------------------------------------------

    def _require(self, action: Action, body: BaseModel | None = None) -> bool:
        """Refuses ``action`` unless the status allows it; True if it is a retry of what was applied.

        A retry (the same action with the same body, or the same decision taken by the system) is
        accepted in any status: its handler answers the case as it stands and records nothing.
        """
        if self._s.applied.repeats(action, body):
            return True
        if self._s.ended or not allowed(self._s.status, action):
            raise refuse("invalid_state", f"the case is {self._s.status.value}; {action.value} is not possible now")
        return False

    def _cancel_rule(self) -> str:
        if self._input.request.kind is CaseKind.REFUND_ONLY:
            return f"the case is {self._s.status.value}; a refund-only case can be cancelled until the merchant decides"
        return f"the case is {self._s.status.value}; a return can be cancelled until the goods are sent back"

    def _enter(self, status: CaseStatus, *, since: datetime | None = None) -> None:
        """Moves to ``status`` and starts its clock at once, so the answer shows the new deadline.

        Args:
            status: the new status.
            since: when it began, if not now (a parcel delivered before the carrier told us).
        """
        self._s.status = status
        self._s.since = min(since, workflow.now()) if since else workflow.now()
        if self._s.clock is not None:
            self._timers.stop(self._s.clock)  # the last status's deadline no longer runs
        plan = self._plan(status)
        if plan is None:
            self._s.clock = None
            return
        name, length, reminders = plan
        # A late start (the parcel was delivered before the carrier told us) fires only the latest due step.
        # No status with a clock is entered twice, so the clock of that name is always a fresh one.
        self._timers.start(SlaClock(name=name, budget=length, steps=offset_steps(reminders)), at=self._s.since)
        self._s.clock = name

    def _plan(self, status: CaseStatus) -> tuple[str, timedelta, tuple[timedelta, ...]] | None:
        """The clock a status runs: its name, its length, its reminders."""
        policy = self._input.policy
        plans = {
            CaseStatus.PENDING_REVIEW: ("review", policy.review_deadline, policy.review_reminders),
            CaseStatus.AWAITING_RETURN: ("return", policy.return_ship_deadline, ()),
            CaseStatus.AWAITING_RECEIPT: ("receipt", policy.receipt_deadline, policy.review_reminders),
            CaseStatus.AWAITING_OFFLINE_REFUND: (
                "offline_refund",
                policy.offline_refund_deadline,
                policy.review_reminders,
            ),
            CaseStatus.AWAITING_REPLACEMENT: ("reship", policy.reship_deadline, policy.ship_reminders),
            CaseStatus.REPLACEMENT_IN_TRANSIT: ("confirm", policy.exchange_confirm_deadline, ()),
        }
        if status is CaseStatus.REJECTED and not self._s.appealed:
            return "appeal", policy.appeal_window, ()
        return plans.get(status)

    # --- effects -------------------------------------------------------------------------------------------

    def _tell(
        self,
        key: str,
        template: Template,
        audiences: tuple[Audience, ...],
        task: str = "",
        task_en: str = "",
        *,
        sent: str | None = None,
        detail: str = "",
        deadline_at: datetime | None = None,
        actions: tuple[ActionLink, ...] = (),
        **params: str,
    ) -> None:
        request = self._input.request
        deadline = deadline_at or self._clock_deadline()
        notification = Notification(
            key=key,
            merchant_id=self._input.merchant_id,
            audiences=audiences,
            template=template,
            params={
                "case_id": request.case_id,
                "order_id": request.order_id,
                "task": task,
                "task_en": task_en,
                "left": time_left(deadline - workflow.now()) if deadline else "",
                **params,
            },
            deadline_at=deadline,
            link=f"{self._input.board_url}/v1/after-sales/{request.case_id}" if self._input.board_url else None,
            actions=actions,
        )
        self._journal.tell(notification, sent=sent, detail=detail)

    def _changed(
        self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "", due_at: datetime | None = None
    ) -> None:
        self._journal.record(event, actor, at=at, detail=detail, due_at=due_at)
        self._status_changed()

    def _status_changed(self) -> None:
        sa.upsert(sa.current(self._s.status.value, self._s.overdue, self._deadline_at()))

    def _deadline_at(self) -> datetime | None:
        if self._s.ended or self._s.status in (CaseStatus.COMPLETED, CaseStatus.CANCELLED):
            return None
        return self._clock_deadline()

    def _clock_deadline(self) -> datetime | None:
        """The current status's deadline; the return clock, paused while a pickup is booked, shows the
        deadline that runs on if the pickup is dropped."""
        if self._s.clock is None:
            return None
        clock = self._s.clocks[self._s.clock]
        if clock.paused:
            clock = clock.resume(workflow.now(), keep_deadline=True)
        return clock.last_deadline_at()

    def _replacement_address(self) -> Address:
        return self._input.request.new_address or self._input.shipping_address

    def _amount(self) -> int:
        return refund_cents(self._input.request.lines, self._input.order_lines)
