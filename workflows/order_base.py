"""What every part of the order watch shares: the state it keeps, its views, how a change is shown and told.

:class:`OrderBase` holds the attributes :class:`~workflows.order.OrderWorkflow` sets up (everything that must
survive lives in one :class:`~domain.orders.OrderWatchState`), the queries it answers, and the steps every
handler takes: answer a retry, record a change and show it in the Web UI's search attributes, raise a
logistics anomaly, send a message in the background. The clocks' steps (:mod:`workflows.order_timers`), the
merchant's and carrier's steps (:mod:`workflows.order_steps`) and the after-sales requests
(:mod:`workflows.order_cases`) build on it.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.action_links import ship_links
    from domain.notifications import Audience, Notification, Template
    from domain.orders import (
        Actor,
        AnomalyReason,
        LineState,
        LogisticsEvent,
        OrderStatus,
        OrderView,
        OrderWatchInput,
        OrderWatchState,
        Shipment,
    )
    from domain.retries import AppliedSteps, Attempt
    from domain.sla import PlannedStep
    from workflows import search_attributes as sa
    from workflows.effects import Journal, notification_key
    from workflows.sla import SlaTimers
    from workflows.sla import notification_key as step_notification_key


SHIPMENT, LOGISTICS = "shipment", "logistics"  # the order's actions a retry can repeat (see AppliedSteps)


class OrderBase:
    """The order watch's state and views, and the steps every handler takes."""

    _input: OrderWatchInput
    _s: OrderWatchState
    _timers: SlaTimers
    _journal: Journal

    # --- views ---------------------------------------------------------------------------------------------

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of an action this order applied (asked also once it has ended)."""
        return self._applied().repeats_attempt(attempt, {SHIPMENT: Shipment, LOGISTICS: LogisticsEvent})

    @workflow.query
    def runs(self) -> int:
        """How many times this order watch continued as new."""
        return self._s.runs

    @workflow.query
    def state(self) -> OrderView:
        """The order as it stands."""
        s, order = self._s, self._input.order
        shipment = s.shipment
        claimed = self._claimed()
        return OrderView(
            order_id=order.order_id,
            merchant_id=order.merchant_id,
            customer_id=order.customer_id,
            status=s.status,
            overdue=s.overdue,
            paid_at=order.paid_at,
            ship_deadline_at=self._ship_deadline_at(),
            deadline_at=self._deadline_at(),
            shipped_at=s.shipped_at,
            carrier=shipment.carrier if shipment else None,
            tracking_no=shipment.tracking_no if shipment else None,
            delivered_at=s.delivered_at,
            after_sales_window_ends_at=self._window_ends_at(),
            logistics_anomaly=s.anomaly,
            lines=[
                LineState(
                    line_id=line.line_id,
                    quantity=line.quantity,
                    in_after_sales=claimed.get(line.line_id, 0),
                    refunded=s.refunded.get(line.line_id, 0),
                )
                for line in order.lines
            ],
            open_cases=sorted(s.open_cases),
            history=list(self._journal.history),
            revision=self._journal.revision,
        )

    # --- what every handler reads --------------------------------------------------------------------------

    def _applied(self) -> AppliedSteps:
        """The shipment and the last tracking update applied, each a retry of which is answered."""
        applied = AppliedSteps()
        if self._s.shipment is not None:
            applied.record(SHIPMENT, self._s.shipment)
        if self._s.logistics is not None:
            applied.record(LOGISTICS, self._s.logistics)
        return applied

    def _claimed(self) -> dict[str, int]:
        claimed: dict[str, int] = {}
        for lines in self._s.open_cases.values():
            for line in lines:
                claimed[line.line_id] = claimed.get(line.line_id, 0) + line.quantity
        return claimed

    def _all_refunded(self) -> bool:
        return all(self._s.refunded.get(line.line_id, 0) >= line.quantity for line in self._input.order.lines)

    def _window_over(self) -> bool:
        ends_at = self._window_ends_at()
        return ends_at is not None and workflow.now() >= ends_at

    def _ship_deadline_at(self) -> datetime:
        deadline = self._s.clocks["ship"].last_deadline_at()
        assert deadline is not None  # started at payment, never paused
        return deadline

    def _window_ends_at(self) -> datetime | None:
        clocks = self._s.clocks
        return clocks["window"].last_deadline_at() if "window" in clocks else None

    def _deadline_at(self) -> datetime | None:
        status = self._s.status
        if status is OrderStatus.AWAITING_SHIPMENT and not self._s.overdue:
            return self._ship_deadline_at()
        if status is OrderStatus.DELIVERED:
            return self._window_ends_at()
        return None

    # --- what every handler does ---------------------------------------------------------------------------

    def _changed(
        self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "", due_at: datetime | None = None
    ) -> None:
        """Records an event and refreshes the search attributes; the projection follows in the background."""
        self._journal.record(event, actor, at=at, detail=detail, due_at=due_at)
        sa.upsert(sa.current(self._s.status.value, self._s.overdue, self._deadline_at()))

    def _raise_anomaly(self, reason: AnomalyReason, description: str) -> None:
        if self._s.anomaly is not None:
            return  # one anomaly per episode; the next normal update clears it
        self._s.anomaly = reason
        episode = sum(1 for entry in self._journal.history if entry.event == "logistics_anomaly")
        self._changed("logistics_anomaly", Actor.SYSTEM, detail=f"{reason.value} {description}".strip())
        shipment = self._s.shipment
        # In the background: a tracking update is answered at once, even while a robot is throttled.
        self._tell(
            notification_key("logistics", f"anomaly_{episode + 1}"),
            Template.LOGISTICS_ANOMALY,
            (Audience.MERCHANT,),
            carrier=shipment.carrier if shipment else None,
            tracking_no=shipment.tracking_no if shipment else None,
            reason=reason.value,
        )

    def _tell(
        self,
        step: PlannedStep | str,
        template: Template,
        audiences: tuple[Audience, ...],
        *,
        sent: str | None = None,
        detail: str = "",
        **params: str | None,
    ) -> None:
        """Tells of a ship clock's ``step``, or under ``step`` as a whole key (a logistics anomaly)."""
        order = self._input.order
        ship = isinstance(step, PlannedStep)
        notification = Notification(
            key=step_notification_key(step) if isinstance(step, PlannedStep) else step,
            merchant_id=order.merchant_id,
            audiences=audiences,
            template=template,
            params={"order_id": order.order_id, **params},
            deadline_at=self._ship_deadline_at() if ship else None,
            link=f"{self._input.board_url}/v1/orders/{order.order_id}" if self._input.board_url else None,
            actions=ship_links(workflow.info().workflow_id, order.merchant_id)
            if template is Template.SHIP_REMINDER
            else (),
        )
        self._journal.tell(notification, sent=sent, detail=detail)
