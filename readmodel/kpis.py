"""Per-supplier KPIs over a period, computed from the SLA fact table (``sla_fact``).

Medians and p90s are computed here in Python over the fact rows of the period, so SQLite and PostgreSQL
give the same numbers to the last digit (their percentile functions differ or are missing). The rows of a
period are few columns each, read through the ``(merchant_id, at)`` or ``(kind, at)`` index.

What each figure measures (README "KPI definitions"):

- ``chat_first_reply_seconds``: ``first_response`` facts of conversations (seconds to the merchant's
  first reply);
- ``work_order_first_response_seconds``: ``first_response`` facts of work orders;
- ``ship_seconds``: ``shipment`` facts (payment → shipment);
- ``after_sales_handling_seconds``: ``closed`` facts of after-sales cases that ended resolved
  (opened → completed);
- ``breaches[clock]``: ``clock_breached`` facts in the period; ``breach_rate[clock]``: those breaches over
  the ``clock_started`` facts of the period (over a period shorter than the clock it can exceed the share
  of the clocks started that breached);
- ``auto_decided_rate``: the merchant decisions (review, receipt) the clock took because nobody answered
  in time, over all of them;
- ``satisfaction_avg``: the mean of the customers' scores;
- ``resolution_rate``: closes that resolved the customer's problem over closes resolved or rejected
  (withdrawn ones — the customer cancelled — count in neither).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Engine, case, func, select
from sqlmodel import col

from domain.facts import FactKind, Outcome, Process
from readmodel.tables import SentNotification, SlaFact

_KINDS = (
    FactKind.CLOCK_STARTED,
    FactKind.CLOCK_BREACHED,
    FactKind.DECISION,
    FactKind.FIRST_RESPONSE,
    FactKind.SHIPMENT,
    FactKind.CLOSED,
    FactKind.SATISFACTION,
)


class Distribution(BaseModel):
    """A duration's median and 90th percentile (seconds), and how many measurements they come from."""

    median: float | None = None
    p90: float | None = None
    count: int = 0


class SupplierKpis(BaseModel):
    """One supplier's (merchant's) KPIs over a period."""

    merchant_id: str
    chat_first_reply_seconds: Distribution = Field(default_factory=Distribution)
    work_order_first_response_seconds: Distribution = Field(default_factory=Distribution)
    ship_seconds: Distribution = Field(default_factory=Distribution)
    after_sales_handling_seconds: Distribution = Field(default_factory=Distribution)
    breaches: dict[str, int] = Field(default_factory=dict)
    breach_rate: dict[str, float] = Field(default_factory=dict)
    auto_decided_rate: float | None = None
    satisfaction_avg: float | None = None
    resolution_rate: float | None = None


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-quantile of sorted values, interpolating linearly between ranks (numpy's default).

    Raises:
        ValueError: no values.
    """
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Iterable[float]) -> Distribution:
    """Median, p90 and count of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return Distribution()
    return Distribution(median=percentile(ordered, 0.5), p90=percentile(ordered, 0.9), count=len(ordered))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class _Tally:
    """What one merchant's facts of a period add up to."""

    def __init__(self) -> None:
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.started: dict[str, int] = defaultdict(int)
        self.breached: dict[str, int] = defaultdict(int)
        self.decisions = self.auto_decisions = 0
        self.scores: list[float] = []
        self.resolved = self.unresolved = 0

    def add(self, process: str, kind: str, clock: str | None, value: float | None, outcome: str | None) -> None:
        if kind == FactKind.CLOCK_STARTED and clock:
            self.started[clock] += 1
        elif kind == FactKind.CLOCK_BREACHED and clock:
            self.breached[clock] += 1
        elif kind == FactKind.DECISION:
            self.decisions += 1
            self.auto_decisions += 1 if value else 0
        elif kind == FactKind.SATISFACTION and value is not None:
            self.scores.append(value)
        elif kind == FactKind.FIRST_RESPONSE and value is not None:
            name = "chat" if process == Process.CONVERSATION else "work_order"
            self.durations[name].append(value)
        elif kind == FactKind.SHIPMENT and value is not None:
            self.durations["ship"].append(value)
        elif kind == FactKind.CLOSED:
            if outcome == Outcome.RESOLVED:
                self.resolved += 1
                if process == Process.AFTER_SALE and value is not None:
                    self.durations["after_sales"].append(value)
            elif outcome == Outcome.REJECTED:
                self.unresolved += 1

    def kpis(self, merchant_id: str) -> SupplierKpis:
        clocks = sorted(set(self.started) | set(self.breached))
        return SupplierKpis(
            merchant_id=merchant_id,
            chat_first_reply_seconds=distribution(self.durations["chat"]),
            work_order_first_response_seconds=distribution(self.durations["work_order"]),
            ship_seconds=distribution(self.durations["ship"]),
            after_sales_handling_seconds=distribution(self.durations["after_sales"]),
            breaches={clock: self.breached[clock] for clock in clocks},
            breach_rate={clock: self.breached[clock] / self.started[clock] for clock in clocks if self.started[clock]},
            auto_decided_rate=_rate(self.auto_decisions, self.decisions),
            satisfaction_avg=sum(self.scores) / len(self.scores) if self.scores else None,
            resolution_rate=_rate(self.resolved, self.resolved + self.unresolved),
        )


def supplier_kpis(
    engine: Engine, *, since: datetime, until: datetime, merchant_id: str | None = None
) -> list[SupplierKpis]:
    """Every supplier's KPIs over ``[since, until)``, by merchant id; one merchant's if ``merchant_id``.

    A merchant asked for by id is answered even without a fact in the period (counts 0, figures null);
    without ``merchant_id`` the merchants listed are those with a fact in the period.

    Args:
        engine: the read model.
        since: start of the period (inclusive), timezone-aware.
        until: end of the period (exclusive), timezone-aware.
        merchant_id: one merchant only.
    """
    query = select(
        col(SlaFact.merchant_id),
        col(SlaFact.process),
        col(SlaFact.kind),
        col(SlaFact.clock),
        col(SlaFact.value),
        col(SlaFact.outcome),
    ).where(
        col(SlaFact.at) >= since,
        col(SlaFact.at) < until,
        col(SlaFact.kind).in_([kind.value for kind in _KINDS]),
    )
    if merchant_id is not None:
        query = query.where(col(SlaFact.merchant_id) == merchant_id)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    if merchant_id is not None:
        tallies[merchant_id] = _Tally()
    with engine.connect() as connection:
        for merchant, process, kind, clock, value, outcome in connection.execute(query):
            tallies[merchant].add(process, kind, clock, value, outcome)
    return [tallies[merchant].kpis(merchant) for merchant in sorted(tallies)]


def kpis_csv(kpis: Sequence[SupplierKpis], *, since: datetime, until: datetime) -> str:
    """The KPIs as CSV, one row per supplier; a column per clock seen in any row (empty where none)."""
    clocks = sorted({clock for row in kpis for clock in (*row.breaches, *row.breach_rate)})
    durations = (
        "chat_first_reply_seconds",
        "work_order_first_response_seconds",
        "ship_seconds",
        "after_sales_handling_seconds",
    )
    header = ["merchant_id", "from", "to"]
    header += [f"{name}_{part}" for name in durations for part in ("median", "p90", "count")]
    header += [f"breaches_{clock}" for clock in clocks] + [f"breach_rate_{clock}" for clock in clocks]
    header += ["auto_decided_rate", "satisfaction_avg", "resolution_rate"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in kpis:
        cells: list[object] = [_text(row.merchant_id), since.isoformat(), until.isoformat()]
        for name in durations:
            measured: Distribution = getattr(row, name)
            cells += [_cell(measured.median), _cell(measured.p90), measured.count]
        cells += [row.breaches.get(clock, 0) for clock in clocks]
        cells += [_cell(row.breach_rate.get(clock)) for clock in clocks]
        cells += [_cell(row.auto_decided_rate), _cell(row.satisfaction_avg), _cell(row.resolution_rate)]
        writer.writerow(cells)
    return out.getvalue()


def _text(value: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula (an id may start with "-").
    return f"'{value}" if value.startswith(("=", "+", "-", "@")) else value


def _cell(value: float | None) -> str:
    return "" if value is None else repr(round(value, 6))


# --- totals for Prometheus (read at scrape time) -------------------------------------------------------------

# Buckets of the duration histograms (seconds): a minute to a week, covering chat replies to shipments.
BUCKETS = (60.0, 180.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 2 * 86400.0, 3 * 86400.0, 7 * 86400.0)


class Histogram(BaseModel):
    """A cumulative histogram of durations: how many measured at most each bucket's bound, sum, count."""

    buckets: list[tuple[float, int]]
    sum: float
    count: int


class FactTotals(BaseModel):
    """The whole fact table summed up, for counters that only grow (the table is append-only)."""

    clocks_started: dict[str, int] = Field(default_factory=dict)
    breaches: dict[str, int] = Field(default_factory=dict)
    decisions: dict[str, int] = Field(default_factory=dict, description="by who decided: merchant | clock")
    transfers: dict[str, int] = Field(default_factory=dict, description="by process: work_order | conversation")
    durations: dict[str, Histogram] = Field(default_factory=dict)
    digest_messages: dict[tuple[str, str], int] = Field(default_factory=dict, description="(channel, outcome)")


# Duration histograms: name → (kind, process, only this outcome).
_MEASURES: dict[str, tuple[FactKind, Process | None, Outcome | None]] = {
    "work_order_first_response": (FactKind.FIRST_RESPONSE, Process.WORK_ORDER, None),
    "chat_first_reply": (FactKind.FIRST_RESPONSE, Process.CONVERSATION, None),
    "ship": (FactKind.SHIPMENT, None, None),
    "after_sales_handling": (FactKind.CLOSED, Process.AFTER_SALE, Outcome.RESOLVED),
}


def fact_totals(engine: Engine) -> FactTotals:
    """Counts and duration histograms over every fact, and the digest messages sent (``/metrics``).

    Computed by the database (a few grouped scans of the ``(kind, at)`` index), so any API process
    answers the same platform-wide totals, and they only grow.
    """
    totals = FactTotals()
    value = col(SlaFact.value)
    with engine.connect() as connection:
        by_clock = connection.execute(
            select(col(SlaFact.kind), col(SlaFact.clock), func.count())
            .where(col(SlaFact.kind).in_([FactKind.CLOCK_STARTED.value, FactKind.CLOCK_BREACHED.value]))
            .group_by(col(SlaFact.kind), col(SlaFact.clock))
        )
        for kind, clock, count in by_clock:
            target = totals.clocks_started if kind == FactKind.CLOCK_STARTED else totals.breaches
            target[clock or "unknown"] = count
        decisions = connection.execute(
            select(value, func.count()).where(col(SlaFact.kind) == FactKind.DECISION.value).group_by(value)
        )
        for auto, count in decisions:
            who = "clock" if auto else "merchant"
            totals.decisions[who] = totals.decisions.get(who, 0) + count
        transfers = connection.execute(
            select(col(SlaFact.process), func.count())
            .where(col(SlaFact.kind) == FactKind.TRANSFER.value)
            .group_by(col(SlaFact.process))
        )
        totals.transfers = {process: count for process, count in transfers}
        for name, (kind, process, outcome) in _MEASURES.items():
            query = select(
                func.count(value),
                func.coalesce(func.sum(value), 0.0),
                *(func.coalesce(func.sum(case((value <= bound, 1), else_=0)), 0) for bound in BUCKETS),
            ).where(col(SlaFact.kind) == kind.value, value.is_not(None))
            if process is not None:
                query = query.where(col(SlaFact.process) == process.value)
            if outcome is not None:
                query = query.where(col(SlaFact.outcome) == outcome.value)
            count, total, *cumulative = connection.execute(query).one()
            totals.durations[name] = Histogram(
                buckets=[(bound, int(n)) for bound, n in zip(BUCKETS, cumulative, strict=True)],
                sum=float(total),
                count=int(count),
            )
        digests = connection.execute(
            select(col(SentNotification.channel), col(SentNotification.outcome), func.count())
            .where(col(SentNotification.key).startswith("digest:"))
            .group_by(col(SentNotification.channel), col(SentNotification.outcome))
        )
        for channel, sent, count in digests:
            # ``sms:supplier_head`` → ``sms``: the label keeps to the three channel kinds.
            label = (channel.split(":", 1)[0], sent)
            totals.digest_messages[label] = totals.digest_messages.get(label, 0) + count
    return totals
