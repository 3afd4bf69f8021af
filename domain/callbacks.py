"""Callbacks to the mall: which history events become signed events, and what each event says.

Every state change of an order, case, pickup and work order passes through its workflow's journal as a
history event; :data:`TYPES` maps the events worth telling the mall to a callback type ``{kind}.{what}``.
Events that are not in the table (reminders sent, a notification or a callback that failed, a customer's
chat message, a pickup's internal booking steps) stay in the history only. README: Callbacks.

An event's ``data`` carries ids, statuses, deadlines and amounts, never a customer's name, phone, address
or free text (reasons, titles, resolutions), so nothing personal leaves the platform in a callback.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.cases import CaseView
from domain.model import Model
from domain.orders import OrderView
from domain.pickups import PickupView
from domain.work_orders import WorkOrderView

TYPES: dict[str, dict[str, str]] = {
    "order": {
        "order_paid": "order.paid",
        "shipped": "order.shipped",
        "in_transit": "order.in_transit",
        "delivered": "order.delivered",
        "ship_overdue": "order.overdue",  # the ship deadline's breach
        "logistics_anomaly": "order.logistics_anomaly",
        "logistics_anomaly_cleared": "order.logistics_anomaly_cleared",
        "deadline_moved": "order.deadline_moved",
        "window_extended": "order.window_extended",
        "window_closed": "order.window_closed",
        "after_sale_requested": "order.after_sale_requested",
        "after_sale_refused": "order.after_sale_refused",  # its case id was taken as the case started
        "after_sale_settled": "order.after_sale_settled",
        "refunded": "order.refunded",
    },
    "case": {
        "case_opened": "case.opened",
        "auto_refunded_cooling_off": "case.auto_approved",  # cooling-off: refunded with no review
        "approved": "case.approved",
        "auto_approved": "case.auto_approved",
        "rejected": "case.rejected",
        "cancelled": "case.cancelled",
        "auto_cancelled": "case.auto_cancelled",
        "escalated": "case.overdue",  # a case's deadline passed with nobody acting: its breach
        "pickup_requested": "case.pickup_requested",
        "pickup_scheduled": "case.pickup_scheduled",
        "return_shipped": "case.return_shipped",
        "return_in_transit": "case.return_in_transit",
        "return_delivered": "case.return_delivered",
        "return_exception": "case.return_exception",
        "received": "case.received",
        "auto_received": "case.auto_received",
        "receipt_refused": "case.receipt_refused",
        "replacement_shipped": "case.replacement_shipped",
        "confirmed": "case.confirmed",
        "auto_completed": "case.auto_completed",
        "appealed": "case.appealed",
        "dispute_upheld": "case.dispute_upheld",
        "dispute_dismissed": "case.dispute_dismissed",
        "refund_issued": "case.refunded",
        "refund_failed": "case.refund_failed",
        "insurance_claimed": "case.insurance_claimed",
        "insurance_claim_failed": "case.insurance_claim_failed",
        "deadline_moved": "case.deadline_moved",
        "case_closed": "case.closed",
    },
    "pickup": {
        "awaiting_payment": "pickup.awaiting_payment",
        "paid": "pickup.paid",
        "scheduled": "pickup.scheduled",
        "picked_up": "pickup.picked_up",
        "rebooking": "pickup.rebooking",  # the courier missed the slot once
        "failed": "pickup.failed",
        "booking_refused": "pickup.failed",
        "cancelled": "pickup.cancelled",
        "booking_dropped": "pickup.cancelled",  # the postage was not paid in time
    },
    "work_order": {
        "opened": "work_order.opened",
        "assigned": "work_order.assigned",
        "accepted": "work_order.accepted",
        "replied": "work_order.replied",
        "transferred": "work_order.transferred",
        "waiting_customer": "work_order.waiting_customer",
        "customer_replied": "work_order.customer_replied",
        "priority_changed": "work_order.priority_changed",
        "escalated": "work_order.breached",  # a clock's breach (level 1) or twice its budget (level 2)
        "resolved": "work_order.resolved",
        "confirmed": "work_order.closed",  # the customer confirmed the resolution
        "auto_closed": "work_order.closed",
        "reopened": "work_order.reopened",
        "appealed": "work_order.appealed",
        "appeal_upheld": "work_order.appeal_decided",
        "appeal_dismissed": "work_order.appeal_decided",
        "deadline_moved": "work_order.deadline_moved",
        "calendar_changed": "work_order.calendar_changed",  # the merchant's business calendar re-timed its clocks
    },
}
"""History event → callback type, per kind of workflow. An event not listed is not called back."""

KINDS = tuple(TYPES)


def callback_type(kind: str, event: str) -> str | None:
    """The callback type of a history ``event`` of a ``kind`` workflow, or None when the mall is not told."""
    return TYPES[kind].get(event)


class CallbackEvent(Model):
    """One event for the mall: the body of a Standard Webhooks request, ``{id, type, occurred_at, data}``.

    ``id`` is ``{stream}:{n}``: the workflow (and, for a pickup, its run number) and the n-th entry of its
    history. A retried delivery sends the same id, so the receiver deduplicates on it (``webhook-id``).
    """

    id: str = Field(min_length=1, max_length=300)
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The exact JSON text that is signed and sent (UTF-8, compact, keys in a fixed order)."""
        return self.model_dump_json()


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def order_data(view: OrderView) -> dict[str, Any]:
    """What an order's events say: ids, status, deadlines and refunds (no customer details)."""
    return {
        "order_id": view.order_id,
        "merchant_id": view.merchant_id,
        "status": view.status.value,
        "overdue": view.overdue,
        "deadline_at": _when(view.deadline_at),
        "ship_deadline_at": _when(view.ship_deadline_at),
        "carrier": view.carrier,
        "tracking_no": view.tracking_no,
        "after_sales_window_ends_at": _when(view.after_sales_window_ends_at),
        "logistics_anomaly": view.logistics_anomaly.value if view.logistics_anomaly else None,
        "open_cases": list(view.open_cases),
        "lines": [line.model_dump(mode="json") for line in view.lines],
    }


def case_data(view: CaseView) -> dict[str, Any]:
    """What a case's events say: ids, status, deadline and amounts (no address, no reasons)."""
    return {
        "case_id": view.case_id,
        "order_id": view.order_id,
        "merchant_id": view.merchant_id,
        "kind": view.kind.value,
        "status": view.status.value,
        "overdue": view.overdue,
        "deadline_at": _when(view.deadline_at),
        "refund_cents": view.refund_cents,
        "refunded_cents": view.refunded_cents,
        "auto_decided": view.auto_decided,
        "lines": [line.model_dump(mode="json") for line in view.lines],
    }


def pickup_data(view: PickupView) -> dict[str, Any]:
    """What a pickup's events say: ids, status, the slot, the fee."""
    return {
        "case_id": view.case_id,
        "order_id": view.order_id,
        "merchant_id": view.merchant_id,
        "status": view.status.value,
        "carrier": view.carrier,
        "waybill_no": view.waybill_no,
        "fee_cents": view.fee_cents,
        "paid": view.paid,
        "slot_start": _when(view.slot_start),
        "slot_end": _when(view.slot_end),
        "deadline_at": _when(view.deadline_at),
    }


def work_order_data(view: WorkOrderView) -> dict[str, Any]:
    """What a work order's events say: ids, status, priority, deadline, escalation (no title, no texts)."""
    return {
        "work_order_id": view.work_order_id,
        "merchant_id": view.merchant_id,
        "order_id": view.order_id,
        "case_id": view.case_id,
        "category": view.category.value,
        "status": view.status.value,
        "priority": view.priority.value,
        "assignee_id": view.assignee_id,
        "escalation_level": view.escalation_level,
        "overdue": view.overdue,
        "deadline_at": _when(view.deadline_at),
    }
