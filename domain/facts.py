"""SLA facts: what happened to a promise, one row each, for the KPIs of a period.

A fact is derived from a workflow's own history (:class:`~domain.orders.HistoryEntry`), never from the
clock of the process that writes it: its ``at`` is the entry's time, which the workflow stamped with its
own (deterministic) time or with the time a partner reported; for an entry a deadline caused, the time it
fell due (``due_at``), not the moment the workflow got round to it. The history is append-only, so an entry's
index in it is stable across replays, retries and continue-as-new; a fact's key is
``{workflow_id}:{index}:{kind}`` (plus the clock where one entry touches several), and writing the same
fact twice adds nothing.

Which history events mean what lives here, in one table per process, so a new event name is added in one
place. Clocks here are the merchant's own (ship, review, receipt, reship, offline_refund); the customer's
(return, confirm, appeal) are not the supplier's breaches and make no clock facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from domain.cases import CaseKind, CaseView
from domain.model import Model
from domain.orders import HistoryEntry, OrderView


class Process(StrEnum):
    """Which kind of workflow a fact comes from."""

    ORDER = "order"
    AFTER_SALE = "after_sale"
    WORK_ORDER = "work_order"
    CONVERSATION = "conversation"


class FactKind(StrEnum):
    """What a fact records."""

    CLOCK_STARTED = "clock_started"
    CLOCK_STEP = "clock_step"  # a reminder delivered; ``outcome`` names the step
    CLOCK_BREACHED = "clock_breached"
    CLOCK_PAUSED = "clock_paused"
    CLOCK_RESUMED = "clock_resumed"
    CLOCK_STOPPED = "clock_stopped"
    DECISION = "decision"  # value 1 when the clock decided (nobody answered in time), 0 when a person did
    FIRST_RESPONSE = "first_response"  # value: seconds from opening to the first answer
    SHIPMENT = "shipment"  # value: seconds from payment to shipment
    TRANSFER = "transfer"
    CLOSED = "closed"  # value: seconds from opening; outcome resolved | rejected | withdrawn
    SATISFACTION = "satisfaction"  # value: the customer's score, 1–5


class Outcome(StrEnum):
    """How a case or work order ended (``closed`` facts) or what a decision was (``decision`` facts)."""

    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    APPROVED = "approved"


class Fact(Model):
    """One SLA fact, keyed so that a replayed write adds nothing."""

    key: str = Field(max_length=300)
    workflow_id: str
    seq: int = Field(ge=0, description="The index of the history entry it comes from.")
    process: Process
    merchant_id: str
    kind: FactKind
    clock: str | None = None
    at: datetime
    value: float | None = None
    outcome: str | None = None
    event: str = Field(description="The history event it was derived from.")


# Merchant clocks of after-sales cases (workflows/aftersale_timers.py MERCHANT_CLOCKS).
CASE_CLOCKS = frozenset({"review", "receipt", "reship", "offline_refund"})

# Case events that leave the status a merchant clock was running in: that clock stops.
_CASE_STOPS = frozenset(
    {
        "approved",
        "rejected",
        "auto_approved",
        "cancelled",
        "received",
        "auto_received",
        "receipt_refused",
        "replacement_shipped",
        "refund_issued",
        "dispute_upheld",
        "dispute_dismissed",
    }
)

# Case events that end a case, and how.
_CASE_ENDS = {
    "refund_issued": Outcome.RESOLVED,
    "confirmed": Outcome.RESOLVED,
    "auto_completed": Outcome.RESOLVED,
    "cancelled": Outcome.WITHDRAWN,
    "auto_cancelled": Outcome.WITHDRAWN,
    "case_closed": Outcome.REJECTED,
    "dispute_dismissed": Outcome.REJECTED,
}

# The merchant's decisions on a case: (clock, outcome, decided by the clock).
_CASE_DECISIONS = {
    "approved": ("review", Outcome.APPROVED, False),
    "rejected": ("review", Outcome.REJECTED, False),
    "auto_approved": ("review", Outcome.APPROVED, True),
    "received": ("receipt", Outcome.APPROVED, False),
    "receipt_refused": ("receipt", Outcome.REJECTED, False),
    "auto_received": ("receipt", Outcome.APPROVED, True),
}


class _Facts:
    """Collects the facts of one history, keyed by entry index."""

    def __init__(self, workflow_id: str, process: Process, merchant_id: str) -> None:
        self.workflow_id, self.process, self.merchant_id = workflow_id, process, merchant_id
        self.facts: list[Fact] = []

    def add(
        self,
        seq: int,
        entry: HistoryEntry,
        kind: FactKind,
        *,
        clock: str | None = None,
        value: float | None = None,
        outcome: str | None = None,
    ) -> None:
        suffix = f":{clock}" if clock else ""
        self.facts.append(
            Fact(
                key=f"{self.workflow_id}:{seq}:{kind.value}{suffix}",
                workflow_id=self.workflow_id,
                seq=seq,
                process=self.process,
                merchant_id=self.merchant_id,
                kind=kind,
                clock=clock,
                at=entry.due_at or entry.at,  # a deadline's step counts when it fell due, not when it was acted on
                value=value,
                outcome=outcome,
                event=entry.event,
            )
        )


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else max((later - earlier).total_seconds(), 0.0)


def _words(detail: str) -> list[str]:
    # ``review remind_24h`` or a notification key's ``review:1:remind_24h``: the clock first, the step last.
    return re.split(r"[\s:]+", detail.strip()) if detail.strip() else []


def _clock_of(detail: str) -> str:
    """The clock a ``reminder_sent`` or ``escalated`` entry names first (``review remind_24h``)."""
    words = _words(detail)
    return words[0] if words else ""


def _step_of(detail: str) -> str | None:
    """The step a ``reminder_sent`` entry names after its clock (``review remind_24h``, ``review:1:remind_24h``)."""
    steps = [word for word in _words(detail)[1:] if word.startswith(("remind", "breach", "escalate"))]
    return steps[0] if steps else None


def order_facts(workflow_id: str, view: OrderView) -> list[Fact]:
    """The facts of an order watch's history: the ship clock and the shipment."""
    out = _Facts(workflow_id, Process.ORDER, view.merchant_id)
    paid_at: datetime | None = None
    running = False
    for seq, entry in enumerate(view.history):
        event = entry.event
        if event == "order_paid":
            paid_at = entry.at
            running = True
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock="ship")
        elif event == "reminder_sent" and _clock_of(entry.detail) == "ship":
            out.add(seq, entry, FactKind.CLOCK_STEP, clock="ship", outcome=_step_of(entry.detail))
        elif event == "ship_overdue":
            out.add(seq, entry, FactKind.CLOCK_BREACHED, clock="ship")
        elif event == "shipped":
            out.add(seq, entry, FactKind.SHIPMENT, value=_seconds(entry.at, paid_at))
            if running:
                running = False
                out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="ship")
        elif event == "refunded" and running:  # everything refunded before shipment: nothing left to ship
            running = False
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="ship")
    return out.facts


def case_facts(workflow_id: str, view: CaseView) -> list[Fact]:
    """The facts of an after-sales case's history: merchant clocks, decisions, the end."""
    out = _Facts(workflow_id, Process.AFTER_SALE, view.merchant_id)
    history = view.history
    opened_at: datetime | None = None
    running: list[str] = []
    received = False

    def stop_all(seq: int, entry: HistoryEntry) -> None:
        for clock in running:
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock=clock)
        running.clear()

    def start(seq: int, entry: HistoryEntry, clock: str) -> None:
        stop_all(seq, entry)  # a case runs one merchant clock at a time
        running.append(clock)
        out.add(seq, entry, FactKind.CLOCK_STARTED, clock=clock)

    for seq, entry in enumerate(history):
        event = entry.event
        if event == "case_opened":
            opened_at = entry.at
            # Within cooling-off the case is refunded at once, recorded in the same workflow task: no review.
            cooling_off = seq + 1 < len(history) and history[seq + 1].event == "auto_refunded_cooling_off"
            if not cooling_off:
                start(seq, entry, "review")
            continue
        if event == "reminder_sent" and _clock_of(entry.detail) in CASE_CLOCKS:
            out.add(seq, entry, FactKind.CLOCK_STEP, clock=_clock_of(entry.detail), outcome=_step_of(entry.detail))
        if event == "escalated" and _clock_of(entry.detail) in CASE_CLOCKS:
            out.add(seq, entry, FactKind.CLOCK_BREACHED, clock=_clock_of(entry.detail))
        if event in ("auto_approved", "auto_received"):
            out.add(seq, entry, FactKind.CLOCK_BREACHED, clock="review" if event == "auto_approved" else "receipt")
        if event in _CASE_DECISIONS:
            clock, outcome, auto = _CASE_DECISIONS[event]
            out.add(seq, entry, FactKind.DECISION, clock=clock, value=1.0 if auto else 0.0, outcome=outcome.value)
        if event in ("received", "auto_received", "receipt_refused"):
            received = True
        if event in _CASE_STOPS:
            stop_all(seq, entry)
        if event in _CASE_ENDS:
            outcome = _CASE_ENDS[event]
            out.add(seq, entry, FactKind.CLOSED, value=_seconds(entry.at, opened_at), outcome=outcome.value)
        # The merchant's next clock, started by what just happened.
        if event == "return_delivered":
            start(seq, entry, "receipt")
        elif event == "refund_failed":
            start(seq, entry, "offline_refund")
        elif view.kind is CaseKind.EXCHANGE and (
            event in ("received", "auto_received") or (event == "dispute_upheld" and received)
        ):
            start(seq, entry, "reship")
    return out.facts


CHAT_CLOCK, CHAT_BACKUP_CLOCK = "chat_reply", "chat_backup_reply"
_FIRST_REPLY = re.compile(r"first reply after (\d+)s")


def conversation_facts(watch_id: str, merchant_id: str, history: list[HistoryEntry], offset: int = 0) -> list[Fact]:
    """The facts of a chat reply watch: each wait's clock, its breaches and transfers, the first reply.

    Args:
        watch_id: the conversation's read-model key (a conversation id written to again later is another).
        merchant_id: the merchant.
        history: the entries the watch still keeps; ``offset`` is how many older ones it let go, so an entry's
            index (and so its fact's key) stays the same.
    """
    out = _Facts(watch_id, Process.CONVERSATION, merchant_id)
    for index, entry in enumerate(history):
        seq, event = offset + index, entry.event
        if event == "customer_waiting":
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock=CHAT_CLOCK)
        elif event == "transferred":  # the agent's clock breached; the backup's own starts
            out.add(seq, entry, FactKind.CLOCK_BREACHED, clock=CHAT_CLOCK)
            out.add(seq, entry, FactKind.TRANSFER, clock=CHAT_CLOCK)
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock=CHAT_BACKUP_CLOCK)
        elif event == "supervisor_told":
            out.add(seq, entry, FactKind.CLOCK_BREACHED, clock=CHAT_BACKUP_CLOCK)
        elif event == "replied":
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock=CHAT_CLOCK)
            if found := _FIRST_REPLY.search(entry.detail):
                out.add(seq, entry, FactKind.FIRST_RESPONSE, value=float(found.group(1)))
    return out.facts


# --- work orders ---------------------------------------------------------------------------------------------

# The work order's clocks that are the merchant's; ``appeal`` is the platform's customer service's own.
WORK_ORDER_CLOCKS = ("assignment", "accept", "first_response", "resolution")
_PAUSED_WHILE_WAITING = ("first_response", "resolution")

_WORK_ORDER_ENDS = {
    "confirmed": Outcome.RESOLVED,
    "auto_closed": Outcome.RESOLVED,
    "appeal_dismissed": Outcome.RESOLVED,  # the platform upheld the merchant's resolution
    "appeal_upheld": Outcome.REJECTED,  # the platform found for the customer: the resolution did not hold
}
_SATISFACTION = re.compile(r"satisfaction (\d+)")


def work_order_facts(
    workflow_id: str,
    merchant_id: str,
    history: Sequence[HistoryEntry],
    *,
    first_index: int = 0,
    opened_at: datetime,
    first_response_at: datetime | None,
) -> list[Fact]:
    """The facts of a work order's history, or of its latest part.

    A work order projects a slim record with only the tail of its history (it may run long and continue as
    new), so each entry is read on its own, with the few typed fields every fact needs: when it was opened
    and when it was first answered (a reply or a resolution, whichever came first).

    Args:
        workflow_id: the work order's workflow.
        merchant_id: its merchant.
        history: the entries from ``first_index`` on.
        first_index: the index of ``history[0]`` in the whole history (keys stay the same whatever the tail).
        opened_at: when the work order was opened.
        first_response_at: when it was first answered, if it was.
    """
    out = _Facts(workflow_id, Process.WORK_ORDER, merchant_id)
    answered = False
    for offset, entry in enumerate(history):
        seq, event = first_index + offset, entry.event
        if event == "opened":
            for clock in ("first_response", "resolution"):
                out.add(seq, entry, FactKind.CLOCK_STARTED, clock=clock)
            # Opened with an assignee, it is assigned in the same workflow task: no assignment clock runs.
            assigned = offset + 1 < len(history) and history[offset + 1].event == "assigned"
            if not assigned:
                out.add(seq, entry, FactKind.CLOCK_STARTED, clock="assignment")
        elif event == "assigned":
            if offset == 0 or history[offset - 1].event != "opened":
                out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="assignment")
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock="accept")
        elif event == "accepted":
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="accept")
        elif event == "transferred":
            out.add(seq, entry, FactKind.TRANSFER)
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock="accept")  # a new generation, for the new agent
        elif event in ("waiting_customer", "customer_replied"):
            kind = FactKind.CLOCK_PAUSED if event == "waiting_customer" else FactKind.CLOCK_RESUMED
            for clock in _PAUSED_WHILE_WAITING:
                if clock == "first_response" and first_response_at is not None and entry.at >= first_response_at:
                    continue  # answered already: that clock has stopped for good
                out.add(seq, entry, kind, clock=clock)
        elif event == "reopened":
            out.add(seq, entry, FactKind.CLOCK_STARTED, clock="resolution")  # a new generation
        elif event in ("reminder", "escalated") and _clock_of(entry.detail) in WORK_ORDER_CLOCKS:
            clock, step = _clock_of(entry.detail), _step_of(entry.detail)
            kind = FactKind.CLOCK_BREACHED if step == "breach" else FactKind.CLOCK_STEP
            out.add(seq, entry, kind, clock=clock, outcome=None if kind is FactKind.CLOCK_BREACHED else step)
        if event in ("replied", "resolved") and not answered and entry.at == first_response_at:
            # The first answer is the first reply or resolution at the instant the work order recorded.
            answered = True
            out.add(seq, entry, FactKind.FIRST_RESPONSE, value=_seconds(entry.at, opened_at))
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="first_response")
        if event == "resolved":
            out.add(seq, entry, FactKind.CLOCK_STOPPED, clock="resolution")
        if event in _WORK_ORDER_ENDS:
            outcome = _WORK_ORDER_ENDS[event]
            out.add(seq, entry, FactKind.CLOSED, value=_seconds(entry.at, opened_at), outcome=outcome.value)
        if event == "confirmed" and (score := _SATISFACTION.search(entry.detail)):
            out.add(seq, entry, FactKind.SATISFACTION, value=float(score.group(1)))
    return out.facts
