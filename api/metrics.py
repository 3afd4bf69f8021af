"""Prometheus metrics of the API: HTTP traffic, and the read model's open counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

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
