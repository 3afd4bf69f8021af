"""Per-supplier KPIs from crafted facts: medians, p90s and rates, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from domain.facts import Fact, FactKind, Process
from readmodel.db import session_scope
from readmodel.kpis import Distribution, fact_totals, kpis_csv, percentile, supplier_kpis
from readmodel.tables import SentNotification
from tests.factories import record_facts

DAY = datetime(2026, 4, 1, tzinfo=UTC)
_seq = itertools.count()


def fact(
    merchant_id: str,
    process: Process,
    kind: FactKind,
    *,
    clock: str | None = None,
    value: float | None = None,
    outcome: str | None = None,
    at: datetime = DAY + timedelta(hours=10),
) -> Fact:
    seq = next(_seq)
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    return Fact(
        key=f"{workflow_id}:{seq}:{kind.value}",
        workflow_id=workflow_id,
        seq=seq,
        process=process,
        merchant_id=merchant_id,
        kind=kind,
        clock=clock,
        at=at,
        value=value,
        outcome=outcome,
        event="crafted",
    )


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(n) for n in range(1, 11)], 0.9) == pytest.approx(9.1)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_kpis_of_a_supplier_over_a_period(any_engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    ships = [3600.0 * hours for hours in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    facts = [fact(merchant, Process.ORDER, FactKind.SHIPMENT, value=seconds) for seconds in ships]
    facts += [fact(merchant, Process.ORDER, FactKind.CLOCK_STARTED, clock="ship") for _ in range(10)]
    facts += [fact(merchant, Process.ORDER, FactKind.CLOCK_BREACHED, clock="ship") for _ in range(3)]
    facts += [fact(merchant, Process.AFTER_SALE, FactKind.CLOCK_STARTED, clock="review") for _ in range(4)]
    facts += [fact(merchant, Process.AFTER_SALE, FactKind.CLOCK_BREACHED, clock="review")]
    facts += [
        fact(merchant, Process.AFTER_SALE, FactKind.DECISION, clock="review", value=auto, outcome="approved")
        for auto in (1.0, 0.0, 0.0, 0.0)
    ]
    facts += [
        fact(merchant, Process.AFTER_SALE, FactKind.CLOSED, value=value, outcome=outcome)
        for value, outcome in ((100.0, "resolved"), (300.0, "resolved"), (50.0, "rejected"), (10.0, "withdrawn"))
    ]
    facts += [fact(merchant, Process.WORK_ORDER, FactKind.FIRST_RESPONSE, value=v) for v in (60.0, 120.0, 600.0)]
    facts += [fact(merchant, Process.WORK_ORDER, FactKind.CLOSED, outcome="resolved", value=7200.0)]
    facts += [fact(merchant, Process.WORK_ORDER, FactKind.SATISFACTION, value=v) for v in (5.0, 4.0, 2.0)]
    facts += [fact(merchant, Process.CONVERSATION, FactKind.FIRST_RESPONSE, value=v) for v in (30.0, 90.0)]
    # Outside the period, or another merchant's: not counted.
    facts += [fact(merchant, Process.ORDER, FactKind.SHIPMENT, value=1.0, at=DAY - timedelta(seconds=1))]
    facts += [fact(merchant, Process.ORDER, FactKind.SHIPMENT, value=1.0, at=DAY + timedelta(days=1))]
    facts += [fact(f"m-{uuid.uuid4().hex[:6]}", Process.ORDER, FactKind.SHIPMENT, value=1.0)]
    assert record_facts(any_engine, facts) == len(facts)

    [kpis] = supplier_kpis(any_engine, since=DAY, until=DAY + timedelta(days=1), merchant_id=merchant)

    assert kpis.merchant_id == merchant
    assert kpis.ship_seconds == Distribution(median=55 * 3600.0, p90=91 * 3600.0, count=10)
    assert kpis.after_sales_handling_seconds == Distribution(median=200.0, p90=280.0, count=2)
    assert kpis.work_order_first_response_seconds == Distribution(median=120.0, p90=504.0, count=3)
    assert kpis.chat_first_reply_seconds == Distribution(median=60.0, p90=84.0, count=2)
    assert kpis.breaches == {"review": 1, "ship": 3}
    assert kpis.breach_rate == {"review": 0.25, "ship": 0.3}
    assert kpis.auto_decided_rate == 0.25
    assert kpis.satisfaction_avg == pytest.approx(11 / 3)
    assert kpis.resolution_rate == 0.75  # 3 resolved, 1 rejected; the withdrawn case counts in neither


def test_every_supplier_with_facts_is_listed_and_an_unknown_one_reads_empty(any_engine: Engine) -> None:
    since = DAY + timedelta(days=30)
    first, second = sorted(f"m-{uuid.uuid4().hex[:6]}" for _ in range(2))
    record_facts(
        any_engine,
        [
            fact(first, Process.ORDER, FactKind.SHIPMENT, value=10.0, at=since),
            fact(second, Process.ORDER, FactKind.SHIPMENT, value=20.0, at=since + timedelta(hours=1)),
        ],
    )
    listed = supplier_kpis(any_engine, since=since, until=since + timedelta(days=1))
    assert [row.merchant_id for row in listed] == [first, second]
    assert [row.ship_seconds.median for row in listed] == [10.0, 20.0]

    [empty] = supplier_kpis(any_engine, since=since, until=since + timedelta(days=1), merchant_id="m-nobody")
    assert (empty.ship_seconds, empty.breaches, empty.resolution_rate) == (Distribution(), {}, None)


def test_the_csv_has_one_row_per_supplier_and_a_column_per_clock(any_engine: Engine) -> None:
    since = DAY + timedelta(days=60)
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    record_facts(
        any_engine,
        [
            fact(merchant, Process.ORDER, FactKind.CLOCK_STARTED, clock="ship", at=since),
            fact(merchant, Process.ORDER, FactKind.CLOCK_BREACHED, clock="ship", at=since),
            fact(merchant, Process.ORDER, FactKind.SHIPMENT, value=7200.0, at=since),
        ],
    )
    until = since + timedelta(days=1)
    rows = list(
        csv.DictReader(
            io.StringIO(kpis_csv(supplier_kpis(any_engine, since=since, until=until), since=since, until=until))
        )
    )
    assert len(rows) == 1
    assert rows[0]["merchant_id"] == merchant
    assert (rows[0]["ship_seconds_median"], rows[0]["ship_seconds_count"]) == ("7200.0", "1")
    assert (rows[0]["breaches_ship"], rows[0]["breach_rate_ship"]) == ("1", "1.0")
    assert rows[0]["satisfaction_avg"] == ""


def test_a_merchant_id_a_spreadsheet_would_run_as_a_formula_is_quoted(any_engine: Engine) -> None:
    since = DAY + timedelta(days=90)
    merchant = f"-{uuid.uuid4().hex[:6]}"
    record_facts(any_engine, [fact(merchant, Process.ORDER, FactKind.SHIPMENT, value=1.0, at=since)])
    until = since + timedelta(days=1)
    exported = kpis_csv(
        supplier_kpis(any_engine, since=since, until=until, merchant_id=merchant), since=since, until=until
    )
    assert next(csv.DictReader(io.StringIO(exported)))["merchant_id"] == f"'{merchant}"


def test_totals_for_prometheus_grow_by_what_was_added(any_engine: Engine) -> None:
    before = fact_totals(any_engine)
    merchant = f"m-{uuid.uuid4().hex[:6]}"
    record_facts(
        any_engine,
        [
            fact(merchant, Process.ORDER, FactKind.CLOCK_STARTED, clock="ship"),
            fact(merchant, Process.ORDER, FactKind.CLOCK_BREACHED, clock="ship"),
            fact(merchant, Process.AFTER_SALE, FactKind.DECISION, clock="review", value=1.0, outcome="approved"),
            fact(merchant, Process.WORK_ORDER, FactKind.FIRST_RESPONSE, value=100.0),
            fact(merchant, Process.WORK_ORDER, FactKind.FIRST_RESPONSE, value=5000.0),
            fact(merchant, Process.WORK_ORDER, FactKind.TRANSFER),
        ],
    )
    after = fact_totals(any_engine)

    assert after.breaches["ship"] - before.breaches.get("ship", 0) == 1
    assert after.clocks_started["ship"] - before.clocks_started.get("ship", 0) == 1
    assert after.decisions["clock"] - before.decisions.get("clock", 0) == 1
    assert after.transfers["work_order"] - before.transfers.get("work_order", 0) == 1
    old, new = before.durations["work_order_first_response"], after.durations["work_order_first_response"]
    assert new.count - old.count == 2
    assert new.sum - old.sum == pytest.approx(5100.0)
    grown = {bound: n - dict(old.buckets)[bound] for bound, n in new.buckets}
    assert (grown[60.0], grown[180.0], grown[3600.0], grown[4 * 3600.0]) == (0, 1, 1, 2)


def test_digest_messages_are_counted_by_channel_kind_and_outcome(any_engine: Engine) -> None:
    before = fact_totals(any_engine).digest_messages
    day = uuid.uuid4().hex[:8]
    with session_scope(any_engine) as session:
        for key, channel, outcome in (
            (f"digest:{day}:m-1:sms:supplier_head", "sms:supplier_head", "sent"),
            (f"digest:{day}:m-2:sms:supplier_head", "sms:supplier_head", "failed"),
            (f"digest:{day}:platform:dingtalk:platform", "dingtalk:platform", "sent"),
            (f"order-O1:ship:1:breach:{day}:dingtalk:merchant", "dingtalk:merchant", "sent"),  # not a digest
        ):
            session.add(SentNotification(key=key, merchant_id="m-1", channel=channel, outcome=outcome, at=DAY))
    after = fact_totals(any_engine).digest_messages

    grown = {label: after[label] - before.get(label, 0) for label in after}
    assert grown == {("sms", "sent"): 1, ("sms", "failed"): 1, ("dingtalk", "sent"): 1} | {
        label: 0 for label in after if label not in {("sms", "sent"), ("sms", "failed"), ("dingtalk", "sent")}
    }
