"""The order watch's language: orders, shipments, logistics events, the after-sales window, and the state
the watch keeps (:class:`OrderWatchState`), carried whole through continue-as-new."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from domain.durations import LONGEST, format_duration
from domain.model import MAX_LINES, Flag, Instant, Model, PriceCents, Quantity
from domain.model import Text as Text  # re-exported: the models of orders, cases and merchants share it
from domain.policy import Policy
from domain.sla import SlaClock, offset_steps


def _not_dots(value: str) -> str:
    # ``.`` and ``..`` are path segments: in a URL they address the parent resource, never this one.
    if set(value) == {"."}:
        raise ValueError("an id may not be made of dots only")
    return value


Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.:-]+$"),
    AfterValidator(_not_dots),
]
"""An id from outside: 1..64 letters, digits, ``_ . : -``, not only dots (it travels in URLs and workflow ids)."""
FUTURE_TOLERANCE = timedelta(minutes=10)  # carriers' clocks drift; an event later than this is a wrong timestamp
PAID_AT_PAST = timedelta(days=365)
"""How old a paid order may be when reported: the mall reports orders as they are paid; an order paid a year
ago has no ship clock or after-sales window left to watch, and a far-past ``paid_at`` is a wrong timestamp
that would fire every breach at once."""

Mobile = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?\d{5,20}$")]


class OrderStatus(StrEnum):
    """Where an order stands. ``refunded`` is reached through after-sales cases."""

    AWAITING_SHIPMENT = "awaiting_shipment"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CLOSED = "closed"
    REFUNDED = "refunded"


class LogisticsStatus(StrEnum):
    """A carrier's tracking update, as the mall relays it."""

    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


class AnomalyReason(StrEnum):
    """Why a shipment is flagged as a logistics anomaly."""

    STALLED = "stalled"
    EXCEPTION = "exception"
    LATE_DELIVERY = "late_delivery"


class Actor(StrEnum):
    """Who caused an event in a case's history."""

    CUSTOMER = "customer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    SYSTEM = "system"
    MALL = "mall"  # the mall's own key acting for a merchant's agent (a work order's staff steps)


class Address(Model):
    """Where a parcel goes."""

    name: Text
    phone: Mobile
    address: Text


class OrderLine(Model):
    """One product line of an order."""

    line_id: Id
    sku: Id
    title: Text
    quantity: Quantity
    unit_price_cents: PriceCents
    insured: Flag = False


class PlaceOrder(Model):
    """A paid order reported by the mall: ``POST /v1/orders``."""

    order_id: Id
    merchant_id: Id
    customer_id: Id
    paid_at: Instant
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: Address

    @model_validator(mode="after")
    def _unique_lines(self) -> PlaceOrder:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within an order")
        return self


class Shipment(Model):
    """The merchant's parcel: ``POST /v1/orders/{id}/shipment``."""

    carrier: Id
    tracking_no: Id
    promised_delivery_at: Instant | None = Field(
        default=None,
        description="The carrier's promised delivery time; later without delivery is an anomaly.",
    )


class LogisticsEvent(Model):
    """A tracking update: ``POST /v1/orders/{id}/logistics-events``."""

    status: LogisticsStatus
    at: Instant
    description: str = Field(default="", max_length=500)


class CaseLine(Model):
    """How many of one order line a case is about."""

    line_id: Id
    quantity: Quantity


class WindowExtension(Model):
    """An admin's extension of one order's after-sales window."""

    days: int | None = Field(
        default=None, strict=True, ge=1, le=LONGEST.days, description="Defaults to AFTERSALES_EXTENSION."
    )


SHORTEST_SHIFT_HOURS = 0.02
"""The smallest move of a deadline, in hours, either way: at least a minute (0.02 h is 72 s); less is a typo."""


class DeadlineShift(Model):
    """Moves the running deadlines of a case by ``hours`` (negative to pull them in).

    ``hours`` has at most two decimals (0.01 h is 36 s) and moves the deadline by at least a minute either
    way: ``0`` or ``1e-300`` would record a move that moved nothing.
    """

    hours: float = Field(strict=True, allow_inf_nan=False, ge=-LONGEST.days * 24, le=LONGEST.days * 24)
    reason: Text

    @field_validator("hours")
    @classmethod
    def _whole_minutes_or_more(cls, hours: float) -> float:
        if round(hours, 2) != hours:  # exact for a JSON number written with two decimals
            raise ValueError("hours has at most two decimals (e.g. 1.5 or -0.25)")
        if abs(hours) < SHORTEST_SHIFT_HOURS:
            raise ValueError(f"hours must move the deadline by at least {SHORTEST_SHIFT_HOURS} (about a minute)")
        return hours


class HistoryEntry(Model):
    """One thing that happened to a case, and who did it."""

    at: datetime = Field(description="When it happened: for a deadline's step, when the workflow acted on it.")
    event: str
    actor: Actor
    detail: str = ""
    due_at: datetime | None = Field(
        default=None, description="For a deadline's step: when it was due; ``at`` minus this: how late it was acted on."
    )


class LineState(Model):
    """A line of an order with what after-sales has taken of it."""

    line_id: str
    quantity: int
    in_after_sales: int = 0
    refunded: int = 0


class OrderView(Model):
    """An order as the API shows it (``GET /v1/orders/{id}``)."""

    order_id: str
    merchant_id: str
    customer_id: str
    status: OrderStatus
    overdue: bool
    paid_at: datetime
    ship_deadline_at: datetime
    deadline_at: datetime | None = Field(description="The running clock's deadline, if any.")
    shipped_at: datetime | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    delivered_at: datetime | None = None
    after_sales_window_ends_at: datetime | None = None
    logistics_anomaly: AnomalyReason | None = None
    lines: list[LineState]
    open_cases: list[str] = Field(default_factory=list, description="Case ids of the order's open after-sales cases.")
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0


def extended_window_end(current_end: datetime, now: datetime, extension: timedelta) -> datetime:
    """Where an after-sales window ends after an extension.

    An open window grows by ``extension``; a closed one reopens for ``extension`` from now, which is what
    an admin means when they reopen the door for a customer who came back late.
    """
    return max(current_end, now) + extension


def check_paid_at(paid_at: datetime, now: datetime) -> datetime:
    """``paid_at`` if an order reported ``now`` may have been paid then.

    Not more than :data:`PAID_AT_PAST` ago, not later than now (give or take :data:`FUTURE_TOLERANCE`).

    Raises:
        ValueError: too old, or in the future.
    """
    if paid_at > now + FUTURE_TOLERANCE:
        raise ValueError("paid_at is in the future")
    if paid_at < now - PAID_AT_PAST:
        raise ValueError(f"paid_at is more than {format_duration(PAID_AT_PAST)} ago")
    return paid_at


def event_time_problem(at: datetime, *, now: datetime, not_before: datetime) -> str | None:
    """Why an event reported ``now`` cannot have happened ``at``, or None if it can.

    An event may not lie in the future (beyond :data:`FUTURE_TOLERANCE` of clock drift), nor before what
    already happened to the same parcel (``not_before``): a delivery dated 1970 would close a customer's
    after-sales window the moment it arrived.
    """
    if at > now + FUTURE_TOLERANCE:
        return "the event's time `at` is in the future"
    if at < not_before:
        return f"the event's time `at` precedes {not_before.isoformat()}, what already happened to this parcel"
    return None


def promise_problem(promised_at: datetime, *, paid_at: datetime, now: datetime) -> str | None:
    """Why a carrier's promised delivery time cannot be, or None: not before payment, not a year ahead."""
    if promised_at < paid_at:
        return "promised_delivery_at precedes the order's payment"
    if promised_at > now + LONGEST:
        return f"promised_delivery_at is more than {format_duration(LONGEST)} ahead"
    return None


def can_extend(status: OrderStatus) -> bool:
    """Extensions apply once a window exists: after delivery, and after it closed."""
    return status in (OrderStatus.DELIVERED, OrderStatus.CLOSED)


def accepts_logistics(status: OrderStatus) -> bool:
    """Tracking updates make sense between shipment and delivery."""
    return status is OrderStatus.SHIPPED


class OrderWatchState(BaseModel):
    """Everything an order watch must keep, in one serialisable object: it is the next run's input when the
    workflow continues as new, so clocks, history, open cases and the steps applied carry over whole."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus = OrderStatus.AWAITING_SHIPMENT
    overdue: bool = False
    clocks: dict[str, SlaClock] = Field(default_factory=dict, description="every deadline of the order")
    shipment: Shipment | None = Field(default=None, description="the shipment applied: its retry is answered")
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    closing: bool = Field(default=False, description="past the grace for extensions: nothing reopens the window")
    last_movement_at: datetime
    anomaly: AnomalyReason | None = None
    logistics: LogisticsEvent | None = Field(
        default=None, description="the last tracking update applied: its retry is answered"
    )
    open_cases: dict[str, list[CaseLine]] = Field(
        default_factory=dict, description="the lines each open case holds (from its request until it settles)"
    )
    cases: list[str] = Field(default_factory=list, description="every case id this order accepted or tried")
    refunded: dict[str, int] = Field(default_factory=dict, description="line id → quantity refunded for good")
    shifts: dict[str, list[str]] = Field(
        default_factory=dict, description="platform deadline shifts applied (id → clocks moved): a repeat is a no-op"
    )
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0
    runs: int = Field(default=0, description="how many times the workflow continued as new")


class OrderWatchInput(Model):
    """What an order watch starts with: the order and the policy in force for its merchant, and on a
    continued run the state of the run before."""

    order: PlaceOrder
    policy: Policy
    case_max_history_events: int = Field(default=5000, ge=20, description="handed to each case the order starts")
    board_url: str = ""
    callbacks: bool = Field(default=False, description="Call the mall back on each change (README: Callbacks).")
    max_history_events: int = Field(default=5000, ge=20)
    state: OrderWatchState | None = None


def ship_clock(input: OrderWatchInput) -> SlaClock:
    """The order's ship clock, started at payment (the workflow's first clock)."""
    policy = input.policy
    clock = SlaClock(name="ship", budget=policy.ship_deadline, steps=offset_steps(policy.ship_reminders))
    return clock.start(input.order.paid_at)


def opening_view(input: OrderWatchInput) -> OrderView:
    """The order as its watch shows it once started, before any step of its ship clock has fired.

    A pure function of the input: ``POST /v1/orders`` answers it without asking the new workflow, and
    the workflow starts from the same clock and first entry (tests compare it with the first query).
    """
    order = input.order
    deadline = ship_clock(input).last_deadline_at()
    assert deadline is not None  # a started round-the-clock clock has one
    return OrderView(
        order_id=order.order_id,
        merchant_id=order.merchant_id,
        customer_id=order.customer_id,
        status=OrderStatus.AWAITING_SHIPMENT,
        overdue=False,
        paid_at=order.paid_at,
        ship_deadline_at=deadline,
        deadline_at=deadline,
        lines=[LineState(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
        history=[HistoryEntry(at=order.paid_at, event="order_paid", actor=Actor.CUSTOMER)],
        revision=1,
    )
