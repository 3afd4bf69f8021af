"""Order watch: the ship deadline, logistics anomalies and the after-sales window of one paid order.

``OrderWorkflow`` (id ``order-{order_id}``) lives from payment until its after-sales window has closed
and the grace period for admin extensions has passed. Human steps arrive as Updates with validators, so
an illegal action is refused synchronously and leaves no trace in history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import Notifier
    from activities.records import Records
    from domain.ladder import Step
    from domain.notifications import Audience, Notification, Template
    from domain.orders import (
        Actor,
        AnomalyReason,
        DeadlineShift,
        HistoryEntry,
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
        extended_window_end,
    )
    from workflows import search_attributes as sa
    from workflows.ladder import Clock, wait_until
    from workflows.projection import Projector

NOTIFICATION = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
    non_retryable_error_types=["permanent"],
)


def refuse(code: str, detail: str) -> ApplicationError:
    """A business refusal; the API maps ``code`` to its HTTP status."""
    return ApplicationError(detail, type=code, non_retryable=True)


@workflow.defn
class OrderWorkflow:
    """Watches one paid order from payment to the end of its after-sales window."""

    @workflow.init
    def __init__(self, input: OrderWatchInput) -> None:
        order, policy = input.order, input.policy
        self._input = input
        self._status = OrderStatus.AWAITING_SHIPMENT
        self._overdue = False
        self._ship_clock = Clock("ship", order.paid_at + policy.ship_deadline, policy.ship_reminders)
        self._shipment: Shipment | None = None
        self._shipped_at: datetime | None = None
        self._delivered_at: datetime | None = None
        self._window_ends_at: datetime | None = None
        self._last_movement_at = order.paid_at
        self._anomaly: AnomalyReason | None = None
        self._stall_raised = False
        self._late_raised = False
        self._logistics_changes = 0
        self._history: list[HistoryEntry] = []
        self._revision = 0
        self._background: list[asyncio.Task[None]] = []
        self._projector = Projector(Records.project_order, self.state, lambda: self._revision)

    @workflow.run
    async def run(self, input: OrderWatchInput) -> OrderView:
        """Runs the watch: ship clock, then logistics, then the after-sales window and its grace."""
        projecting = asyncio.create_task(self._projector.run())
        self._changed("order_paid", Actor.CUSTOMER, at=input.order.paid_at)
        await self._ship_clock.run(until=lambda: self._shipment is not None, on_step=self._on_ship_step)
        await workflow.wait_condition(lambda: self._shipment is not None)
        await self._watch_logistics()
        while True:
            await self._watch_window()
            self._changed("window_closed", Actor.SYSTEM)
            reopened = await wait_until(lambda: self._status is not OrderStatus.CLOSED, input.policy.extension_grace)
            if not reopened:
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: all(task.done() for task in self._background))
        await self._projector.flush()
        projecting.cancel()
        return self.state()

    # --- human steps -------------------------------------------------------------------------------------

    @workflow.update
    def ship(self, shipment: Shipment) -> OrderView:
        """The merchant shipped the order; ends the ship clock."""
        self._shipment = shipment
        self._shipped_at = workflow.now()
        self._status = OrderStatus.SHIPPED
        self._last_movement_at = workflow.now()
        self._changed("shipped", Actor.MERCHANT, detail=f"{shipment.carrier} {shipment.tracking_no}")
        return self.state()

    @ship.validator
    def _validate_ship(self, shipment: Shipment) -> None:
        if self._status is not OrderStatus.AWAITING_SHIPMENT:
            raise refuse("invalid_state", f"the order is {self._status.value}; it was shipped already")

    @workflow.update
    def record_logistics(self, event: LogisticsEvent) -> OrderView:
        """A carrier update: movement clears an anomaly, an exception raises one, delivery opens the window."""
        self._logistics_changes += 1
        if event.status is LogisticsStatus.EXCEPTION:
            self._raise_anomaly(AnomalyReason.EXCEPTION, event.description)
            return self.state()
        self._last_movement_at = max(self._last_movement_at, event.at)
        self._stall_raised = False
        if self._anomaly is not None:
            self._anomaly = None
            self._changed("logistics_anomaly_cleared", Actor.SYSTEM)
        if event.status is LogisticsStatus.DELIVERED:
            self._delivered_at = event.at
            self._window_ends_at = event.at + self._input.policy.window
            self._status = OrderStatus.DELIVERED
            self._changed("delivered", Actor.SYSTEM, at=event.at)
        else:
            self._changed("in_transit", Actor.SYSTEM, at=event.at, detail=event.description)
        return self.state()

    @record_logistics.validator
    def _validate_logistics(self, event: LogisticsEvent) -> None:
        if not accepts_logistics(self._status):
            raise refuse("invalid_state", f"the order is {self._status.value}; tracking updates need a shipment")

    @workflow.update
    def extend_window(self, extension: WindowExtension) -> OrderView:
        """An admin extends (or reopens) the after-sales window."""
        assert self._window_ends_at is not None
        days = timedelta(days=extension.days) if extension.days else self._input.policy.extension
        self._window_ends_at = extended_window_end(self._window_ends_at, workflow.now(), days)
        self._status = OrderStatus.DELIVERED
        self._changed("window_extended", Actor.PLATFORM, detail=f"+{days.days}d")
        return self.state()

    @extend_window.validator
    def _validate_extension(self, extension: WindowExtension) -> None:
        if not can_extend(self._status):
            raise refuse("invalid_state", f"the order is {self._status.value}; its window opens at delivery")

    @workflow.update
    def shift_deadlines(self, shift: DeadlineShift) -> OrderView:
        """The platform moves the running ship deadline (e.g. the New Year holiday)."""
        self._ship_clock.move(self._ship_clock.deadline_at + timedelta(hours=shift.hours))
        self._changed("deadline_moved", Actor.PLATFORM, detail=f"{shift.hours:+g}h: {shift.reason}")
        return self.state()

    @shift_deadlines.validator
    def _validate_shift(self, shift: DeadlineShift) -> None:
        if self._status is not OrderStatus.AWAITING_SHIPMENT or self._overdue:
            raise refuse("invalid_state", "no deadline of this order is running")

    @workflow.query
    def state(self) -> OrderView:
        """The order as it stands."""
        order = self._input.order
        shipment = self._shipment
        return OrderView(
            order_id=order.order_id,
            merchant_id=order.merchant_id,
            customer_id=order.customer_id,
            status=self._status,
            overdue=self._overdue,
            paid_at=order.paid_at,
            ship_deadline_at=self._ship_clock.deadline_at,
            deadline_at=self._deadline_at(),
            shipped_at=self._shipped_at,
            carrier=shipment.carrier if shipment else None,
            tracking_no=shipment.tracking_no if shipment else None,
            delivered_at=self._delivered_at,
            after_sales_window_ends_at=self._window_ends_at,
            logistics_anomaly=self._anomaly,
            lines=[LineState(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
            history=list(self._history),
            revision=self._revision,
        )

    # --- clocks --------------------------------------------------------------------------------------------

    async def _on_ship_step(self, step: Step) -> None:
        order = self._input.order
        if step.is_breach:
            self._overdue = True
            self._changed("ship_overdue", Actor.SYSTEM, at=step.at)
            await self._notify(
                step,
                Template.SHIP_OVERDUE,
                (Audience.MERCHANT_SUPERVISOR, Audience.PLATFORM),
                deadline_at=self._ship_clock.deadline_at,
            )
            return
        await self._notify(
            step,
            Template.SHIP_REMINDER,
            (Audience.MERCHANT,),
            deadline_at=self._ship_clock.deadline_at,
            left=_hours(self._ship_clock.deadline_at - workflow.now()),
        )
        self._record("reminder_sent", Actor.SYSTEM, detail=f"ship {step.name} to {order.merchant_id}")

    async def _watch_logistics(self) -> None:
        """Raises a stall or late-delivery anomaly once per episode until the parcel is delivered."""
        policy = self._input.policy
        while self._status is OrderStatus.SHIPPED:
            candidates = []
            if not self._stall_raised:
                candidates.append((self._last_movement_at + policy.logistics_stall, AnomalyReason.STALLED))
            promised = self._shipment.promised_delivery_at if self._shipment else None
            if promised is not None and not self._late_raised:
                candidates.append((promised, AnomalyReason.LATE_DELIVERY))
            changes = self._logistics_changes
            if not candidates:
                await workflow.wait_condition(lambda: self._logistics_changes != changes)
                continue
            due_at, reason = min(candidates)
            if await wait_until(lambda: self._logistics_changes != changes, due_at - workflow.now()):
                continue
            if reason is AnomalyReason.STALLED:
                self._stall_raised = True
            else:
                self._late_raised = True
            self._raise_anomaly(reason, "")

    async def _watch_window(self) -> None:
        """Waits until the after-sales window ends; extensions move the end while it waits."""
        while True:
            assert self._window_ends_at is not None
            ends_at = self._window_ends_at
            if not await wait_until(lambda: self._window_ends_at != ends_at, ends_at - workflow.now()):
                self._status = OrderStatus.CLOSED
                return

    def _raise_anomaly(self, reason: AnomalyReason, description: str) -> None:
        if self._anomaly is not None:
            return  # one anomaly per episode; the next normal update clears it
        self._anomaly = reason
        episode = sum(1 for entry in self._history if entry.event == "logistics_anomaly")
        self._changed("logistics_anomaly", Actor.SYSTEM, detail=f"{reason.value} {description}".strip())
        shipment = self._shipment
        # In the background: a tracking update is answered at once, even while a robot is throttled.
        self._in_background(
            self._notify(
                Step(name=f"anomaly_{episode + 1}", at=workflow.now(), offset=timedelta()),
                Template.LOGISTICS_ANOMALY,
                (Audience.MERCHANT,),
                clock="logistics",
                carrier=shipment.carrier if shipment else None,
                tracking_no=shipment.tracking_no if shipment else None,
                reason=reason.value,
            )
        )

    def _in_background(self, effect: Coroutine[Any, Any, None]) -> None:
        """Runs an effect without holding up the caller; the watch completes only after it is done."""
        self._background.append(asyncio.create_task(effect))

    # --- effects -------------------------------------------------------------------------------------------

    def _changed(self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "") -> None:
        """Records an event and refreshes the search attributes; the projector follows in the background."""
        self._record(event, actor, at=at, detail=detail)
        self._status_changed()

    def _record(self, event: str, actor: Actor, *, at: datetime | None = None, detail: str = "") -> None:
        self._revision += 1
        self._history.append(HistoryEntry(at=at or workflow.now(), event=event, actor=actor, detail=detail))

    def _status_changed(self) -> None:
        deadline = self._deadline_at()
        workflow.upsert_search_attributes(
            [
                sa.CASE_STATUS.value_set(self._status.value),
                sa.OVERDUE.value_set(self._overdue),
                sa.DEADLINE_AT.value_set(deadline) if deadline else sa.DEADLINE_AT.value_unset(),
            ]
        )

    def _deadline_at(self) -> datetime | None:
        if self._status is OrderStatus.AWAITING_SHIPMENT and not self._overdue:
            return self._ship_clock.deadline_at
        if self._status is OrderStatus.DELIVERED:
            return self._window_ends_at
        return None

    async def _notify(
        self,
        step: Step,
        template: Template,
        audiences: tuple[Audience, ...],
        *,
        clock: str = "ship",
        **params: str | int | datetime | None,
    ) -> None:
        order = self._input.order
        notification = Notification(
            key=f"{workflow.info().workflow_id}:{clock}:{step.name}",
            merchant_id=order.merchant_id,
            audiences=audiences,
            template=template,
            params={"order_id": order.order_id, **params},
            link=f"{self._input.board_url}/v1/orders/{order.order_id}" if self._input.board_url else None,
        )
        try:
            await workflow.execute_activity_method(
                Notifier.notify,
                notification,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=NOTIFICATION,
            )
        except ActivityError as failure:
            # A message that cannot be delivered must not stop the clock; it is on record instead.
            workflow.logger.warning("notification failed: %s", failure)
            self._record("notification_failed", Actor.SYSTEM, detail=notification.key)


def _hours(delta: timedelta) -> str:
    hours = max(0, round(delta.total_seconds() / 3600))
    return f"{hours}h"
