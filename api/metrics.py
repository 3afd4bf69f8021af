"""Prometheus metrics of the API: HTTP traffic, and the read model's open counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from domain.facts import Process
from readmodel.kpis import fact_totals
from readmodel.queries import open_counts_by_merchant

# The methods the API knows; any other gets one label, so made-up methods cannot grow the series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_GAUGES = (
    ("aftersales_overdue_shipments", "Orders unshipped past their ship deadline", "overdue_shipments"),
    ("aftersales_logistics_anomalies", "Shipments with an open logistics anomaly", "logistics_anomalies"),
    ("aftersales_overdue_after_sales", "Open after-sales cases past their merchant deadline", "overdue_after_sales"),
)


def method_label(method: str) -> str:
    """The ``method`` label of a request: its method if the API knows it, else ``other``."""
    return method if method in METHODS else "other"


class ReadModelCollector(Collector):
    """Open overdue shipments, anomalies and overdue cases, read when Prometheus scrapes.

    Per merchant (a ``merchant_id`` label) or, when the metrics are open to anyone, the platform's totals.
    """

    def __init__(self, engine: Engine, *, per_merchant: bool) -> None:
        self._engine = engine
        self._per_merchant = per_merchant

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["merchant_id"] if self._per_merchant else []
        by_merchant = sorted(open_counts_by_merchant(self._engine).items())
        for name, documentation, count in _GAUGES:
            gauge = GaugeMetricFamily(name, documentation, labels=labels)
            if self._per_merchant:
                for merchant_id, counts in by_merchant:
                    gauge.add_metric([merchant_id], counts.get(count, 0))
            else:
                gauge.add_metric([], sum(counts.get(count, 0) for _, counts in by_merchant))
            yield gauge


class FactCollector(Collector):
    """SLA counters and duration histograms, summed from the fact table when Prometheus scrapes.

    Computed from the table rather than counted in memory: the facts are written once however often a
    projection is retried or replayed, by whichever worker ran it, so every API process answers the same
    platform-wide totals, they survive restarts, and they only grow (what a counter promises). Labels are
    fixed sets (clock names, who decided, channel kinds); merchants are in the KPIs, not in labels.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        totals = fact_totals(self._engine)
        started = CounterMetricFamily("aftersales_sla_clocks_started", "SLA clocks started", labels=["clock"])
        breaches = CounterMetricFamily("aftersales_sla_breaches", "SLA clocks past their deadline", labels=["clock"])
        for clock, count in sorted(totals.clocks_started.items()):
            started.add_metric([clock], count)
        for clock, count in sorted(totals.breaches.items()):
            breaches.add_metric([clock], count)
        decisions = CounterMetricFamily(
            "aftersales_decisions", "Merchant decisions, by who took them (merchant, or the clock)", labels=["by"]
        )
        for who in ("merchant", "clock"):
            decisions.add_metric([who], totals.decisions.get(who, 0))
        transfers = CounterMetricFamily(
            "aftersales_transfers", "Work orders and chats handed to another agent", labels=["process"]
        )
        for process in (Process.WORK_ORDER, Process.CONVERSATION):
            transfers.add_metric([process.value], totals.transfers.get(process.value, 0))
        digests = CounterMetricFamily(
            "aftersales_digest_messages", "Daily digest messages by channel and outcome", labels=["channel", "outcome"]
        )
        for (channel, outcome), count in sorted(totals.digest_messages.items()):
            digests.add_metric([channel, outcome], count)
        yield from (started, breaches, decisions, transfers, digests)
        for name, histogram in sorted(totals.durations.items()):
            family = HistogramMetricFamily(f"aftersales_{name}_seconds", f"{name.replace('_', ' ')} (seconds)")
            buckets = [(f"{bound:g}", count) for bound, count in histogram.buckets] + [("+Inf", histogram.count)]
            family.add_metric([], buckets, sum_value=histogram.sum)
            yield family


class Metrics:
    """The API's registry (one per app, so several apps can live in one test process).

    Args:
        engine: the read model.
        per_merchant: label the read model's counters by merchant (only when ``/metrics`` needs a key).
    """

    def __init__(self, engine: Engine, *, per_merchant: bool) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aftersales_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aftersales_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(ReadModelCollector(engine, per_merchant=per_merchant))
        self.registry.register(FactCollector(engine))
