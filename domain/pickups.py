"""Door-to-door pickup (上门取件) of a return: booking, postage, the courier's visit."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.model import Instant, Model, PostageCents
from domain.orders import Address, HistoryEntry
from domain.policy import Policy
from domain.retries import AppliedSteps
from domain.sla import SlaClock

BOOKING_AHEAD = timedelta(days=30)
"""How far ahead a courier can be booked; couriers plan days, not months."""


class PickupStatus(StrEnum):
    """Where a pickup stands (API.md)."""

    BOOKING = "booking"
    AWAITING_PAYMENT = "awaiting_payment"
    SCHEDULED = "scheduled"
    PICKED_UP = "picked_up"
    CANCELLED = "cancelled"
    FAILED = "failed"


ENDED = frozenset({PickupStatus.PICKED_UP, PickupStatus.CANCELLED, PickupStatus.FAILED})


class CourierStatus(StrEnum):
    """What the courier reports about the visit."""

    PICKED_UP = "picked_up"
    MISSED = "missed"


class PickupRequest(Model):
    """``POST /v1/after-sales/{case_id}/pickup``: where and when the courier should come."""

    address: Address
    slot_start: Instant
    slot_end: Instant

    @model_validator(mode="after")
    def _slot(self) -> PickupRequest:
        if self.slot_end <= self.slot_start:
            raise ValueError("slot_end must be after slot_start")
        if self.slot_end - self.slot_start > timedelta(days=1):
            raise ValueError("a pickup slot is at most one day long")
        return self


def slot_problem(request: PickupRequest, now: datetime) -> str | None:
    """Why a pickup cannot be booked ``now`` for ``request``'s slot, or None: over already, or too far ahead."""
    if request.slot_end <= now:
        return "the pickup slot is over already"
    if request.slot_start > now + BOOKING_AHEAD:
        return f"a pickup is booked at most {BOOKING_AHEAD.days} days ahead"
    return None


class PickupPayment(Model):
    """``POST /v1/pickups/{case_id}/payment``: the customer paid the return postage."""

    paid_cents: PostageCents


class CourierEvent(Model):
    """``POST /v1/pickups/{case_id}/courier-events``."""

    status: CourierStatus
    at: Instant


class Booking(Model):
    """What the logistics side is asked to book (its ``booking_id`` is the idempotency key)."""

    booking_id: str
    case_id: str
    order_id: str
    address: Address
    slot_start: datetime
    slot_end: datetime


class BookingConfirmation(Model):
    """The logistics side's answer: the waybill and the postage to pay."""

    waybill_no: str
    carrier: str = "SF"
    fee_cents: int = 0


class BookingCancellation(Model):
    """A booking dropped."""

    booking_id: str
    case_id: str
    reason: str


class ClaimReceipt(Model):
    """The insurer's answer to a postage claim."""

    claim_id: str
    status: str
    paid_cents: int = 0


class PickupInput(Model):
    """What a pickup starts with."""

    case_id: str
    order_id: str
    merchant_id: str
    request: PickupRequest
    policy: Policy
    number: int = Field(default=1, description="The case's n-th pickup (one is dropped, another booked).")
    callbacks: bool = Field(default=False, description="Call the mall back on each change (README: Callbacks).")


class PickupState(BaseModel):
    """Everything a pickup keeps, in one serialisable object (its clocks ``payment`` and ``slot`` included).

    A pickup lives a day or two (the postage, the slot, one rebooking), far from a long history: it does not
    continue as new, but keeps its state as the workflows that do."""

    model_config = ConfigDict(extra="forbid")

    status: PickupStatus = PickupStatus.BOOKING
    slot_start: datetime = Field(description="the current booking's slot (a rebooking is the next day's)")
    slot_end: datetime
    attempts: int = Field(default=0, description="bookings made: the first and at most one rebooking")
    booking: str = Field(default="", description="the current attempt's booking id")
    confirmation: BookingConfirmation | None = None
    paid: bool = False
    courier: CourierEvent | None = Field(default=None, description="the courier's report on the current booking")
    cancel_reason: str | None = Field(default=None, description="why the case dropped the pickup, once it did")
    clocks: dict[str, SlaClock] = Field(default_factory=dict, description="every deadline of the pickup")
    applied: AppliedSteps = Field(default_factory=AppliedSteps, description="so that a retry is answered")
    shifts: dict[str, list[str]] = Field(
        default_factory=dict, description="platform deadline shifts applied (id → clocks moved): a repeat is a no-op"
    )
    history: list[HistoryEntry] = Field(default_factory=list)


class PickupNotice(Model):
    """What a pickup tells its case: the waybill once scheduled, then picked up or given up."""

    status: PickupStatus
    carrier: str | None = None
    waybill_no: str | None = None
    fee_cents: int = 0


class PickupView(Model):
    """A pickup as the API shows it (``GET /v1/pickups/{case_id}``)."""

    case_id: str
    order_id: str
    merchant_id: str
    status: PickupStatus
    carrier: str | None = None
    waybill_no: str | None = None
    fee_cents: int = 0
    paid: bool = False
    slot_start: datetime
    slot_end: datetime
    deadline_at: datetime | None = None
    attempts: int = 0
    history: list[HistoryEntry] = Field(default_factory=list)
