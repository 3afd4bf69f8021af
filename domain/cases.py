"""After-sales cases: refund-only, return-refund and exchange, and the rules of what each status allows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.model import MAX_LINES, Flag, Model, PostageCents
from domain.orders import Actor, Address, HistoryEntry, Id, OrderLine, Text
from domain.orders import CaseLine as CaseLine  # re-exported: a case's lines, which its order's watch keeps too
from domain.policy import Policy
from domain.retries import AppliedSteps
from domain.sla import SlaClock, offset_steps


class CaseKind(StrEnum):
    """What the customer asks for."""

    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_REFUND = "return_refund"  # 退货退款
    EXCHANGE = "exchange"  # 换货


class CaseStatus(StrEnum):
    """Where a case stands (API.md). ``awaiting_offline_refund``: the payment side refused for good."""

    PENDING_REVIEW = "pending_review"
    AWAITING_RETURN = "awaiting_return"
    RETURN_IN_TRANSIT = "return_in_transit"
    AWAITING_RECEIPT = "awaiting_receipt"
    REFUNDING = "refunding"
    AWAITING_OFFLINE_REFUND = "awaiting_offline_refund"
    AWAITING_REPLACEMENT = "awaiting_replacement"
    REPLACEMENT_IN_TRANSIT = "replacement_in_transit"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DISPUTED = "disputed"


FINAL = frozenset({CaseStatus.COMPLETED, CaseStatus.CANCELLED})


class Action(StrEnum):
    """What someone can do to a case; :func:`allowed` says when."""

    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    RETURN_SHIPMENT = "return_shipment"
    PICKUP = "pickup"
    RETURN_LOGISTICS = "return_logistics"
    RECEIPT = "receipt"
    REPLACEMENT_SHIPMENT = "replacement_shipment"
    CONFIRM = "confirm"
    APPEAL = "appeal"
    OFFLINE_REFUND = "offline_refund"
    RESOLVE_DISPUTE = "resolve_dispute"


_ALLOWED: dict[CaseStatus, frozenset[Action]] = {
    CaseStatus.PENDING_REVIEW: frozenset({Action.APPROVE, Action.REJECT, Action.CANCEL}),
    CaseStatus.AWAITING_RETURN: frozenset({Action.CANCEL, Action.RETURN_SHIPMENT, Action.PICKUP}),
    CaseStatus.RETURN_IN_TRANSIT: frozenset({Action.RETURN_LOGISTICS}),
    CaseStatus.AWAITING_RECEIPT: frozenset({Action.RECEIPT}),
    CaseStatus.AWAITING_OFFLINE_REFUND: frozenset({Action.OFFLINE_REFUND}),
    CaseStatus.AWAITING_REPLACEMENT: frozenset({Action.REPLACEMENT_SHIPMENT}),
    CaseStatus.REPLACEMENT_IN_TRANSIT: frozenset({Action.CONFIRM}),
    CaseStatus.REJECTED: frozenset({Action.APPEAL}),
    CaseStatus.DISPUTED: frozenset({Action.RESOLVE_DISPUTE}),
}


def allowed(status: CaseStatus, action: Action) -> bool:
    """Whether ``action`` is allowed in ``status``.

    Cancel follows the platform's rule: refund-only until the merchant decides (only ``pending_review``
    for it), return-refund and exchange until the goods are sent back (``awaiting_return`` too).
    """
    return action in _ALLOWED.get(status, frozenset())


def may_cancel(kind: CaseKind, status: CaseStatus) -> bool:
    """The cancel rule, per kind."""
    if kind is CaseKind.REFUND_ONLY:
        return status is CaseStatus.PENDING_REVIEW
    return status in (CaseStatus.PENDING_REVIEW, CaseStatus.AWAITING_RETURN)


class AfterSaleRequest(Model):
    """``POST /v1/after-sales``: the customer's request, made on an order."""

    case_id: Id
    order_id: Id
    kind: CaseKind
    lines: list[CaseLine] = Field(min_length=1, max_length=MAX_LINES)
    reason: Text
    new_address: Address | None = Field(default=None, description="Exchange only: where the replacement goes.")

    @model_validator(mode="after")
    def _coherent(self) -> AfterSaleRequest:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within a case")
        if self.new_address is not None and self.kind is not CaseKind.EXCHANGE:
            raise ValueError("new_address is for exchanges only")
        return self


class Rejection(Model):
    """The merchant refuses the request; the customer may appeal."""

    reason: Text


class Appeal(Model):
    """The customer contests a rejection or a refused receipt."""

    reason: Text


class ParcelShipment(Model):
    """A parcel handed to a carrier: the customer's return or the merchant's replacement."""

    carrier: Id
    tracking_no: Id
    postage_cents: PostageCents | None = Field(default=None, description="Return postage paid.")


class Receipt(Model):
    """The merchant's answer once the return has arrived."""

    accepted: Flag
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _refusal_has_reason(self) -> Receipt:
        if not self.accepted and not (self.reason or "").strip():
            raise ValueError("a refused receipt needs a reason")
        return self


class OfflineRefund(Model):
    """The merchant refunded outside the payment system (bank transfer …)."""

    reference: Text


class DisputeDecision(Model):
    """The platform's decision on a disputed case: refund (``approve``) or uphold the merchant."""

    approve: Flag
    reason: Text


class RefundLine(Model):
    """A line of a refund."""

    line_id: str
    quantity: int
    unit_price_cents: int


class Refund(Model):
    """What the payment side is asked: one refund, keyed so a retry never pays twice."""

    refund_id: str
    order_id: str
    case_id: str
    merchant_id: str
    amount_cents: int
    currency: str = "CNY"
    reason: str
    lines: list[RefundLine]


class RefundReceipt(Model):
    """The payment side's answer to a refund."""

    refund_id: str
    status: str
    provider_ref: str = ""


class InsuranceClaim(Model):
    """A shipping-insurance (运费险) claim for a return's postage, once per case."""

    claim_id: str
    order_id: str
    case_id: str
    line_ids: list[str]
    postage_cents: int


class CaseSettlement(Model):
    """What a case tells its order when it ends: quantities refunded, and quantities given back."""

    case_id: str
    refunded: list[CaseLine] = Field(default_factory=list)
    released: list[CaseLine] = Field(default_factory=list)


class CaseState(BaseModel):
    """Everything a case must keep, in one serialisable object: it is the next run's input when the workflow
    continues as new, so its clocks (deadlines and consumed time), history and the steps applied carry over."""

    model_config = ConfigDict(extra="forbid")

    status: CaseStatus = CaseStatus.PENDING_REVIEW
    opened_at: datetime
    since: datetime = Field(description="when the current status began")
    clocks: dict[str, SlaClock] = Field(default_factory=dict, description="every deadline of the case")
    clock: str | None = Field(default=None, description="the clock of the current status")
    overdue: bool = False
    auto: bool = Field(default=False, description="decided by the platform's rules, not by a person")
    ended: bool = False
    appealed: bool = False
    received: bool = Field(default=False, description="the goods are back (accepted or refused)")
    return_shipment: ParcelShipment | None = None
    return_postage_cents: int | None = None
    replacement: ParcelShipment | None = None
    rejection_reason: str | None = None
    work_order_id: str | None = Field(default=None, description="the platform work order this case opened last")
    work_orders: int = Field(default=0, description="how many work order ids the case has used")
    work_order_open: bool = Field(default=False, description="its work order still decides the case")
    pickup_active: bool = False
    pickup_id: str | None = None
    pickups: int = Field(default=0, description="pickups booked so far")
    refunded_cents: int = 0
    applied: AppliedSteps = Field(default_factory=AppliedSteps, description="so that a retry is answered")
    shifts: dict[str, list[str]] = Field(
        default_factory=dict, description="platform deadline shifts applied (id → clocks moved): a repeat is a no-op"
    )
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0
    runs: int = Field(default=0, description="how many times the workflow continued as new")


class CaseInput(Model):
    """What an after-sales case starts with: the request, the order's lines it needs, the policy, and on a
    continued run the state of the run before."""

    request: AfterSaleRequest
    merchant_id: str
    customer_id: str
    order_lines: list[OrderLine]
    shipping_address: Address
    policy: Policy
    cooling_off: bool = Field(default=False, description="Refund at once, with no merchant review.")
    opened_at: datetime | None = Field(
        default=None,
        description="When the order accepted the request: the case's opening and its review clock count from it "
        "(None: from the case's first task).",
    )
    board_url: str = ""
    callbacks: bool = Field(default=False, description="Call the mall back on each change (README: Callbacks).")
    max_history_events: int = Field(default=5000, ge=20)
    state: CaseState | None = None


class CaseView(Model):
    """A case as the API shows it (``GET /v1/after-sales/{case_id}``)."""

    case_id: str
    order_id: str
    merchant_id: str
    customer_id: str
    kind: CaseKind
    status: CaseStatus
    reason: str
    lines: list[CaseLine]
    refund_cents: int
    refunded_cents: int = 0
    deadline_at: datetime | None = Field(description="The running clock's deadline, if any.")
    overdue: bool = False
    auto_decided: bool = False
    return_carrier: str | None = None
    return_tracking_no: str | None = None
    replacement_carrier: str | None = None
    replacement_tracking_no: str | None = None
    replacement_address: Address | None = None
    pickup_id: str | None = None
    work_order_id: str | None = Field(
        default=None, description="The platform work order a dispute (or a lapsed review) opened, linked both ways."
    )
    rejection_reason: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0
    opened_at: datetime


def refund_cents(lines: Iterable[CaseLine], order_lines: Iterable[OrderLine]) -> int:
    """The refund of a case: unit price × quantity of every line, in integer cents."""
    prices = {line.line_id: line.unit_price_cents for line in order_lines}
    return sum(prices[line.line_id] * line.quantity for line in lines)


def quantity_left(bought: int, in_open_cases: int, refunded: int) -> int:
    """What a customer can still claim of a line."""
    return bought - in_open_cases - refunded


def is_whole_order(lines: Iterable[CaseLine], bought: Mapping[str, int]) -> bool:
    """Whether a request covers every line of the order in full (what cooling-off refunds at once)."""
    asked = {line.line_id: line.quantity for line in lines}
    return asked == dict(bought)


def in_cooling_off(paid_at: datetime, now: datetime, cooling_off: timedelta, shipped: bool) -> bool:
    """Within the cooling-off period: shortly after payment, before shipment."""
    return not shipped and now - paid_at <= cooling_off


def review_clock(policy: Policy, opened_at: datetime) -> SlaClock:
    """The merchant's review clock of a new case, started when the order accepted the request."""
    clock = SlaClock(name="review", budget=policy.review_deadline, steps=offset_steps(policy.review_reminders))
    return clock.start(opened_at)


def opening_state(input: CaseInput, opened_at: datetime) -> CaseState:
    """A new case before its first event: pending review, its review clock running from ``opened_at``.

    A cooling-off case leaves review in its first task (:func:`opening_view` shows where it then stands).
    """
    return CaseState(
        opened_at=opened_at, since=opened_at, clocks={"review": review_clock(input.policy, opened_at)}, clock="review"
    )


def opening_view(input: CaseInput) -> CaseView:
    """The case as its workflow shows it once its first task ran: opened, and refunding at once in cooling-off.

    A pure function of the input, which the order's watch answers an accepted request with before the case's
    workflow has started (``POST /v1/after-sales`` then needs no query): the workflow opens from the same
    state and records the same entries at ``opened_at`` (tests compare this with the first query of each
    kind). The refund of a cooling-off case is under way then, not done.
    """
    request, opened_at = input.request, input.opened_at
    if opened_at is None:
        raise ValueError("a case's opening view needs the time its order accepted it (opened_at)")
    history = [
        HistoryEntry(
            at=opened_at, event="case_opened", actor=Actor.CUSTOMER, detail=f"{request.kind.value}: {request.reason}"
        )
    ]
    if input.cooling_off:
        history.append(HistoryEntry(at=opened_at, event="auto_refunded_cooling_off", actor=Actor.SYSTEM))
    exchange = request.kind is CaseKind.EXCHANGE
    return CaseView(
        case_id=request.case_id,
        order_id=request.order_id,
        merchant_id=input.merchant_id,
        customer_id=input.customer_id,
        kind=request.kind,
        status=CaseStatus.REFUNDING if input.cooling_off else CaseStatus.PENDING_REVIEW,
        reason=request.reason,
        lines=request.lines,
        refund_cents=refund_cents(request.lines, input.order_lines),
        deadline_at=None if input.cooling_off else review_clock(input.policy, opened_at).last_deadline_at(),
        auto_decided=input.cooling_off,
        replacement_address=(request.new_address or input.shipping_address) if exchange else None,
        history=history,
        revision=len(history),
        opened_at=opened_at,
    )
