"""Order watch: the ship deadline, logistics anomalies and the after-sales window of one paid order.

``OrderWorkflow`` (id ``order-{order_id}``) lives from payment until its after-sales window has closed
and the grace period for admin extensions has passed. Human steps arrive as Updates with validators, so
an illegal action is refused synchronously and leaves no trace in history.

Every deadline of the order is an SLA clock (:mod:`domain.sla`), all run by one
:class:`~workflows.sla.SlaTimers`: ``ship`` (the ship deadline and its reminders), ``stall`` (no carrier
movement for a while; a new generation at each movement), ``promise`` (the carrier's promised delivery),
``window`` (the after-sales window; a reopening is a new generation) and ``grace`` (the time left for an
admin to reopen a closed window).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain import ids
    from domain.action_links import ship_links
    from domain.callbacks import order_data
    from domain.cases import (
        AfterSaleRequest,
        CaseInput,
        CaseKind,
        CaseLine,
        CaseSettlement,
        CaseStatus,
        in_cooling_off,
        is_whole_order,
        quantity_left,
    )
    from domain.deadline_shifts import SHIFT_DEADLINES, PlatformShift, ShiftApplied
    from domain.durations import horizon_problem, shifted_deadline_problem, time_left
    from domain.notifications import Audience, Notification, Template
    from domain.orders import (
        FUTURE_TOLERANCE,
        Actor,
        AnomalyReason,
        DeadlineShift,
        LineState,
        LogisticsEvent,
        LogisticsStatus,
        OrderStatus,
        OrderView,
        OrderWatchInput,
        Shipment,
        WindowExtension,
        accepts_logistics,
        can_extend,
        event_time_problem,
        extended_window_end,
        promise_problem,
        ship_clock,
    )
    from domain.retries import Attempt, Attempts
    from domain.sla import PlannedStep, SlaClock, offset_steps
    from workflows import search_attributes as sa
    from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow, request_digest
    from workflows.effects import Journal, notification_key, refuse
    from workflows.shifts import apply_shift, check_shift, shift_detail
    from workflows.sla import SlaTimers
    from workflows.sla import notification_key as step_notification_key


SHIPMENT, LOGISTICS = "shipment", "logistics"  # the order's actions a retry can repeat (see Attempts)


@workflow.defn
class OrderWorkflow:
    """Watches one paid order from payment to the end of its after-sales window."""

    @workflow.init
    def __init__(self, input: OrderWatchInput) -> None:
        order = input.order
        self._input = input
        self._status = OrderStatus.AWAITING_SHIPMENT
        self._overdue = False
        self._clocks: dict[str, SlaClock] = {}  # every deadline of the order, one serialisable mapping
        self._timers = SlaTimers(self._clocks, self._on_step, quiet=input.policy.quiet_hours)
        # From payment exactly (also a paid_at a little ahead of our clock): the view the API answers a new
        # order with (domain.orders.opening_view) is computed from the same clock.
        self._timers.put(ship_clock(input))
        self._shipment: Shipment | None = None
        self._shipped_at: datetime | None = None
        self._delivered_at: datetime | None = None
        self._closing = False  # past the grace for extensions: nothing reopens the window any more
        self._last_movement_at = order.paid_at
        self._anomaly: AnomalyReason | None = None
        self._open_cases: dict[str, list[CaseLine]] = {}
        self._cases: set[str] = set()
        self._refunded: dict[str, int] = {}
        self._applied = Attempts()  # the shipment and the last tracking update, so a retry is answered
        self._shifts: dict[str, list[str]] = {}  # platform shifts applied (id → clocks moved): a repeat is a no-op
        self._journal = Journal(
            Records.project_order,
            self.state,
            callbacks=("order", workflow.info().workflow_id, lambda: order_data(self.state()))
            if input.callbacks
            else None,
        )

    @workflow.run
    async def run(self, input: OrderWatchInput) -> OrderView:
        """Runs the watch: ship clock, logistics, the after-sales window and its grace, open cases."""
        self._journal.start()
        self._changed("order_paid", Actor.CUSTOMER, at=input.order.paid_at)
        # Every step of the watch is a clock's step or a human's Update; the watch ends once everything is
        # refunded or the grace for extensions has run out.
        await self._timers.run(until=lambda: self._closing or self._status is OrderStatus.REFUNDED)
        self._closing = True
        await workflow.wait_condition(lambda: not self._open_cases)  # each open case settles with its order
        await self._journal.settle()
        return self.state()

    # --- human steps -------------------------------------------------------------------------------------

    @workflow.update
    def ship(self, shipment: Shipment) -> OrderView:
        """The merchant shipped the order; ends the ship clock. The same shipment again answers the order."""
        if self._applied.repeats(SHIPMENT, shipment):
            return self.state()
        self._applied.record(SHIPMENT, shipment)
        self._shipment = shipment
        self._shipped_at = workflow.now()
        self._status = OrderStatus.SHIPPED
        self._last_movement_at = workflow.now()
        self._timers.stop("ship")
        policy = self._input.policy
        self._timers.start(SlaClock(name="stall", budget=policy.logistics_stall, steps=offset_steps(())))
        self._changed("shipped", Actor.MERCHANT, detail=f"{shipment.carrier} {shipment.tracking_no}")
        promised = shipment.promised_delivery_at
        if promised is not None and promised > workflow.now():
            self._timers.start(SlaClock(name="promise", budget=promised - workflow.now(), steps=offset_steps(())))
        elif promised is not None:
            self._raise_anomaly(AnomalyReason.LATE_DELIVERY, "")  # promised for a time already past
        return self.state()

    @ship.validator
    def _validate_ship(self, shipment: Shipment) -> None:
        if self._applied.repeats(SHIPMENT, shipment):
            return  # a retry of the shipment on record
        if self._status is not OrderStatus.AWAITING_SHIPMENT:
            raise refuse("invalid_state", f"the order is {self._status.value}; there is nothing to ship")
        promised = shipment.promised_delivery_at
        if promised and (problem := promise_problem(promised, paid_at=self._input.order.paid_at, now=workflow.now())):
            raise refuse("validation_error", problem)

    @workflow.update
    def record_logistics(self, event: LogisticsEvent) -> OrderView:
        """A carrier update: movement clears an anomaly, an exception raises one, delivery opens the window.

        The last update again (a retry) answers the order and changes nothing.
        """
        if self._applied.repeats(LOGISTICS, event):
            return self.state()
        self._applied.record(LOGISTICS, event)
        if event.status is LogisticsStatus.EXCEPTION:
            self._raise_anomaly(AnomalyReason.EXCEPTION, event.description)
            return self.state()
        self._last_movement_at = max(self._last_movement_at, event.at)
        if self._anomaly is not None:
            self._anomaly = None
            self._changed("logistics_anomaly_cleared", Actor.SYSTEM)
        if event.status is LogisticsStatus.DELIVERED:
            self._delivered_at = event.at
            for watch in ("stall", "promise"):
                if watch in self._timers:
                    self._timers.stop(watch)
            # From the delivery as the carrier reported it (SlaTimers.start would clamp a time a little ahead).
            window = SlaClock(name="window", budget=self._input.policy.window, steps=offset_steps(()))
            self._timers.put(window.start(event.at))
            self._status = OrderStatus.DELIVERED
            self._changed("delivered", Actor.SYSTEM, at=event.at)
        else:
            # A new stall episode counts from the last movement (an update may arrive late) and may alert again.
            self._timers.restart("stall", at=self._last_movement_at)
            self._changed("in_transit", Actor.SYSTEM, at=event.at, detail=event.description)
        return self.state()

    @record_logistics.validator
    def _validate_logistics(self, event: LogisticsEvent) -> None:
        if self._applied.repeats(LOGISTICS, event):
            return
        if not accepts_logistics(self._status):
            raise refuse("invalid_state", f"the order is {self._status.value}; tracking updates need a shipment")
        # Not before payment, nor before the parcel's last movement (our clock or the carrier's, give or take drift).
        floor = max(self._input.order.paid_at, self._last_movement_at - FUTURE_TOLERANCE)
        if problem := event_time_problem(event.at, now=workflow.now(), not_before=floor):
            raise refuse("validation_error", problem)

    @workflow.update
    def extend_window(self, extension: WindowExtension) -> OrderView:
        """An admin extends (or reopens) the after-sales window."""
        ends_at = self._window_ends_at()
        assert ends_at is not None
        days = timedelta(days=extension.days) if extension.days else self._input.policy.extension
        new_end = extended_window_end(ends_at, workflow.now(), days)
        if self._timers["window"].breached:  # closed: the window reopens from now, its next generation
            self._timers.restart("window")
            self._timers.set_budget("window", new_end - workflow.now())
            self._timers.stop("grace")
        else:
            self._timers.shift("window", new_end - ends_at)
        self._status = OrderStatus.DELIVERED
        self._changed("window_extended", Actor.PLATFORM, detail=f"+{days.days}d")
        return self.state()

    @extend_window.validator
    def _validate_extension(self, extension: WindowExtension) -> None:
        if self._closing or not can_extend(self._status):
            raise refuse("invalid_state", f"the order is {self._status.value}; its window cannot be extended now")
        ends_at = self._window_ends_at()
        assert ends_at is not None
        days = timedelta(days=extension.days) if extension.days else self._input.policy.extension
        end = extended_window_end(ends_at, workflow.now(), days)
        if problem := horizon_problem(end, workflow.now(), "the window's end"):
            raise refuse("validation_error", problem)

    @workflow.update
    def shift_deadlines(self, shift: DeadlineShift) -> OrderView:
        """The platform moves the running ship deadline (e.g. the New Year holiday)."""
        self._timers.shift("ship", timedelta(hours=shift.hours))
        self._changed("deadline_moved", Actor.PLATFORM, detail=f"{shift.hours:+g}h: {shift.reason}")
        return self.state()

    @shift_deadlines.validator
    def _validate_shift(self, shift: DeadlineShift) -> None:
        if self._status is not OrderStatus.AWAITING_SHIPMENT or self._overdue:
            raise refuse("invalid_state", "no deadline of this order is running")
        moved = self._ship_deadline_at() + timedelta(hours=shift.hours)
        if problem := shifted_deadline_problem(moved, workflow.now(), "the ship deadline"):
            raise refuse("validation_error", problem)

    @workflow.update(name=SHIFT_DEADLINES)
    def apply_deadline_shift(self, shift: PlatformShift) -> ShiftApplied:
        """A platform-wide shift (a holiday) moves the order's running merchant deadline, once per shift id."""
        answer = apply_shift(self._timers, shift, self._shifts)
        if answer.clocks and not answer.repeat:
            self._changed("deadline_moved", Actor.PLATFORM, detail=shift_detail(shift, answer))
        return answer

    @apply_deadline_shift.validator
    def _validate_platform_shift(self, shift: PlatformShift) -> None:
        check_shift(self._timers, shift, self._shifts)

    # --- after-sales requests ------------------------------------------------------------------------------

    @workflow.update
    async def request_after_sale(self, request: AfterSaleRequest) -> str:
        """Accepts an after-sales request: reserves its quantities and starts its case; answers the case's id.

        Within the cooling-off period a whole-order request is refunded at once, with no merchant review.
        """
        order = self._input.order
        bought = {line.line_id: line.quantity for line in order.lines}
        cooling_off = (
            request.kind is CaseKind.REFUND_ONLY
            and not self._open_cases
            and not self._refunded
            and is_whole_order(request.lines, bought)
            and in_cooling_off(
                order.paid_at, workflow.now(), self._input.policy.cooling_off, self._shipment is not None
            )
        )
        self._cases.add(request.case_id)
        self._open_cases[request.case_id] = list(request.lines)  # held while the case starts
        try:
            await workflow.start_child_workflow(
                AfterSaleWorkflow.run,
                CaseInput(
                    request=request,
                    merchant_id=order.merchant_id,
                    customer_id=order.customer_id,
                    order_lines=order.lines,
                    shipping_address=order.shipping_address,
                    policy=self._input.policy,
                    cooling_off=cooling_off,
                    board_url=self._input.board_url,
                    callbacks=self._input.callbacks,
                    max_history_events=self._input.case_max_history_events,
                ),
                id=ids.after_sale(request.case_id),
                # A case id names one case forever: refused while any case of any order holds it, open
                # or closed (within the namespace's retention; the API checks the read model beyond it).
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                memo={REQUEST_MEMO: request_digest(request)},
                search_attributes=sa.initial_case_attributes(
                    merchant_id=order.merchant_id,
                    order_id=order.order_id,
                    kind=request.kind.value,
                    status=CaseStatus.REFUNDING if cooling_off else CaseStatus.PENDING_REVIEW,
                ),
                static_summary=f"{request.kind.value} {request.case_id} of order {order.order_id}",
            )
        except WorkflowAlreadyStartedError:
            # Another order's case: refused, and this order's history shows nothing of it. The id stays
            # in ``_cases``, so the same request again is refused by the validator at once.
            self._open_cases.pop(request.case_id, None)
            raise refuse("duplicate", f"case {request.case_id} exists already") from None
        self._changed("after_sale_requested", Actor.CUSTOMER, detail=f"{request.case_id} {request.kind.value}")
        return ids.after_sale(request.case_id)

    @request_after_sale.validator
    def _validate_request(self, request: AfterSaleRequest) -> None:
        if request.case_id in self._cases:
            raise refuse("duplicate", f"case {request.case_id} exists already on order {request.order_id}")
        if self._closing or self._status is OrderStatus.CLOSED or self._window_over():
            raise refuse("window_closed", "the after-sales window of this order is closed")
        if request.kind is not CaseKind.REFUND_ONLY and self._shipment is None:
            raise refuse("invalid_state", "nothing was shipped yet: only a refund can be asked for")
        bought = {line.line_id: line.quantity for line in self._input.order.lines}
        claimed = self._claimed()
        for line in request.lines:
            if line.line_id not in bought:
                raise refuse("validation_error", f"the order has no line {line.line_id}")
            left = quantity_left(
                bought[line.line_id], claimed.get(line.line_id, 0), self._refunded.get(line.line_id, 0)
            )
            if line.quantity > left:
                raise refuse("quantity_exceeds", f"line {line.line_id}: {line.quantity} asked, {left} left")

    @workflow.signal
    def settle_case(self, settlement: CaseSettlement) -> None:
        """A case ended: its refunded quantities are gone for good, the others can be claimed again."""
        if self._open_cases.pop(settlement.case_id, None) is None:
            return  # told twice
        for line in settlement.refunded:
            self._refunded[line.line_id] = self._refunded.get(line.line_id, 0) + line.quantity
        refunded = sum(line.quantity for line in settlement.refunded)
        self._changed("after_sale_settled", Actor.SYSTEM, detail=f"{settlement.case_id}: {refunded} refunded")
        if self._all_refunded():
            self._status = OrderStatus.REFUNDED
            self._changed("refunded", Actor.SYSTEM)

    @workflow.query
    def already_applied(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` is a retry of an action this order applied (asked also once it has ended)."""
        return self._applied.repeats_attempt(attempt)

    @workflow.query
    def state(self) -> OrderView:
        """The order as it stands."""
        order = self._input.order
        shipment = self._shipment
        claimed = self._claimed()
        return OrderView(
            order_id=order.order_id,
            merchant_id=order.merchant_id,
            customer_id=order.customer_id,
            status=self._status,
            overdue=self._overdue,
            paid_at=order.paid_at,
            ship_deadline_at=self._ship_deadline_at(),
            deadline_at=self._deadline_at(),
            shipped_at=self._shipped_at,
            carrier=shipment.carrier if shipment else None,
            tracking_no=shipment.tracking_no if shipment else None,
            delivered_at=self._delivered_at,
            after_sales_window_ends_at=self._window_ends_at(),
            logistics_anomaly=self._anomaly,
            lines=[
                LineState(
                    line_id=line.line_id,
                    quantity=line.quantity,
                    in_after_sales=claimed.get(line.line_id, 0),
                    refunded=self._refunded.get(line.line_id, 0),
                )
                for line in order.lines
            ],
            open_cases=sorted(self._open_cases),
            history=list(self._journal.history),
            revision=self._journal.revision,
        )

    # --- clocks --------------------------------------------------------------------------------------------

    async def _on_step(self, planned: PlannedStep) -> None:
        on_step = {
            "ship": self._on_ship_step,
            "stall": self._on_stall,
            "promise": self._on_promise_missed,
            "window": self._on_window_end,
            "grace": self._on_grace_over,
        }
        await on_step[planned.clock](planned)

    async def _on_ship_step(self, step: PlannedStep) -> None:
        order = self._input.order
        if step.step.is_breach:
            self._overdue = True
            self._changed("ship_overdue", Actor.SYSTEM, due_at=step.at)
            self._tell(step, Template.SHIP_OVERDUE, (Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM))
            return
        # In the background: the next step's timer is armed at once, even while a robot is throttled.
        self._tell(
            step,
            Template.SHIP_REMINDER,
            (Audience.MERCHANT,),
            sent="reminder_sent",
            detail=f"ship {step.step.name} to {order.merchant_id}",
            left=time_left(self._ship_deadline_at() - workflow.now()),
        )

    async def _on_stall(self, step: PlannedStep) -> None:
        """No movement for the stall period: one anomaly per episode (the next movement starts another)."""
        self._raise_anomaly(AnomalyReason.STALLED, "")

    async def _on_promise_missed(self, step: PlannedStep) -> None:
        self._raise_anomaly(AnomalyReason.LATE_DELIVERY, "")

    async def _on_window_end(self, step: PlannedStep) -> None:
        """The after-sales window closed; an admin may still reopen it within the grace."""
        self._status = OrderStatus.CLOSED
        self._changed("window_closed", Actor.SYSTEM)
        grace = SlaClock(name="grace", budget=self._input.policy.extension_grace, steps=offset_steps(()))
        if "grace" in self._timers:
            self._timers.restart("grace")  # closed again after a reopening: a fresh grace
        else:
            self._timers.start(grace)

    async def _on_grace_over(self, step: PlannedStep) -> None:
        self._closing = True

    def _raise_anomaly(self, reason: AnomalyReason, description: str) -> None:
        if self._anomaly is not None:
            return  # one anomaly per episode; the next normal update clears it
        self._anomaly = reason
        episode = sum(1 for entry in self._journal.history if entry.event == "logistics_anomaly")
        self._changed("logistics_anomaly", Actor.SYSTEM, detail=f"{reason.value} {description}".strip())
        shipment = self._shipment
        # In the background: a tracking update is answered at once, even while a robot is throttled.
        self._tell(
            notification_key("logistics", f"anomaly_{episode + 1}"),
            Template.LOGISTICS_ANOMALY,
            (Audience.MERCHANT,),
            carrier=shipment.carrier if shipment else None,
            tracking_no=shipment.tracking_no if shipment else None,
            reason=reason.value,
        )

    # --- effects -------------------------------------------------------------------------------------------

    def _claimed(self) -> dict[str, int]:
        claimed: dict[str, int] = {}
        for lines in self._open_cases.values():
            for line in lines:
                claimed[line.line_id] = claimed.get(line.line_id, 0) + line.quantity
        return claimed

    def _all_refunded(self) -> bool:
        return all(self._refunded.get(line.line_id, 0) >= line.quantity for line in self._input.order.lines)

    def _window_over(self) -> bool:
        ends_at = self._window_ends_at()
        return ends_at is not None and workflow.now() >= ends_at

    def _ship_deadline_at(self) -> datetime:
        deadline = self._clocks["ship"].last_deadline_at()
        assert deadline is not None  # started at payment, never paused
        return deadline

    def _window_ends_at(self) -> datetime | None:
        return self._clocks["window"].last_deadline_at() if "window" in self._clocks else None

    def _changed(
        self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "", due_at: datetime | None = None
    ) -> None:
        """Records an event and refreshes the search attributes; the projection follows in the background."""
        self._journal.record(event, actor, at=at, detail=detail, due_at=due_at)
        workflow.upsert_search_attributes(sa.current(self._status.value, self._overdue, self._deadline_at()))

    def _deadline_at(self) -> datetime | None:
        if self._status is OrderStatus.AWAITING_SHIPMENT and not self._overdue:
            return self._ship_deadline_at()
        if self._status is OrderStatus.DELIVERED:
            return self._window_ends_at()
        return None

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
