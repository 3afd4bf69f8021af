"""The parcel's steps: the merchant ships, the carrier reports where the parcel is.

Each is an Update with a validator, so an illegal step is refused synchronously and leaves no trace; the
same step again (the mall retrying a call that timed out) answers the order and changes nothing.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders import (
        FUTURE_TOLERANCE,
        Actor,
        AnomalyReason,
        LogisticsEvent,
        LogisticsStatus,
        OrderStatus,
        OrderView,
        Shipment,
        accepts_logistics,
        event_time_problem,
        promise_problem,
    )
    from domain.sla import SlaClock, offset_steps
    from workflows.effects import refuse
    from workflows.order_base import LOGISTICS, SHIPMENT, OrderBase


class OrderSteps(OrderBase):
    """The merchant's shipment and the carrier's tracking updates."""

    @workflow.update
    def ship(self, shipment: Shipment) -> OrderView:
        """The merchant shipped the order; ends the ship clock. The same shipment again answers the order."""
        if self._applied().repeats(SHIPMENT, shipment):
            return self.state()
        s = self._s
        s.shipment = shipment
        s.shipped_at = workflow.now()
        s.status = OrderStatus.SHIPPED
        s.last_movement_at = workflow.now()
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
        if self._applied().repeats(SHIPMENT, shipment):
            return  # a retry of the shipment on record
        if self._s.status is not OrderStatus.AWAITING_SHIPMENT:
            raise refuse("invalid_state", f"the order is {self._s.status.value}; there is nothing to ship")
        promised = shipment.promised_delivery_at
        if promised and (problem := promise_problem(promised, paid_at=self._input.order.paid_at, now=workflow.now())):
            raise refuse("validation_error", problem)

    @workflow.update
    def record_logistics(self, event: LogisticsEvent) -> OrderView:
        """A carrier update: movement clears an anomaly, an exception raises one, delivery opens the window.

        The last update again (a retry) answers the order and changes nothing.
        """
        if self._applied().repeats(LOGISTICS, event):
            return self.state()
        s = self._s
        s.logistics = event
        if event.status is LogisticsStatus.EXCEPTION:
            self._raise_anomaly(AnomalyReason.EXCEPTION, event.description)
            return self.state()
        s.last_movement_at = max(s.last_movement_at, event.at)
        if s.anomaly is not None:
            s.anomaly = None
            self._changed("logistics_anomaly_cleared", Actor.SYSTEM)
        if event.status is LogisticsStatus.DELIVERED:
            s.delivered_at = event.at
            for watch in ("stall", "promise"):
                if watch in self._timers:
                    self._timers.stop(watch)
            # From the delivery as the carrier reported it (SlaTimers.start would clamp a time a little ahead).
            window = SlaClock(name="window", budget=self._input.policy.window, steps=offset_steps(()))
            self._timers.put(window.start(event.at))
            s.status = OrderStatus.DELIVERED
            self._changed("delivered", Actor.SYSTEM, at=event.at)
        else:
            # A new stall episode counts from the last movement (an update may arrive late) and may alert again.
            self._timers.restart("stall", at=s.last_movement_at)
            self._changed("in_transit", Actor.SYSTEM, at=event.at, detail=event.description)
        return self.state()

    @record_logistics.validator
    def _validate_logistics(self, event: LogisticsEvent) -> None:
        if self._applied().repeats(LOGISTICS, event):
            return
        if not accepts_logistics(self._s.status):
            raise refuse("invalid_state", f"the order is {self._s.status.value}; tracking updates need a shipment")
        # Not before payment, nor before the parcel's last movement (our clock or the carrier's, give or take drift).
        floor = max(self._input.order.paid_at, self._s.last_movement_at - FUTURE_TOLERANCE)
        if problem := event_time_problem(event.at, now=workflow.now(), not_before=floor):
            raise refuse("validation_error", problem)
