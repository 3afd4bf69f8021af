"""Prometheus metrics of the API: HTTP traffic, and the read model's open counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from readmodel.queries import open_counts_by_merchant


class ReadModelCollector(Collector):
    """Open overdue shipments, anomalies and overdue cases per merchant, read when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        overdue = GaugeMetricFamily(
            "aftersales_overdue_shipments", "Orders unshipped past their ship deadline", labels=["merchant_id"]
        )
        anomalies = GaugeMetricFamily(
            "aftersales_logistics_anomalies", "Shipments with an open logistics anomaly", labels=["merchant_id"]
        )
        cases = GaugeMetricFamily(
            "aftersales_overdue_after_sales",
            "Open after-sales cases past their merchant deadline",
            labels=["merchant_id"],
        )
        for merchant_id, counts in sorted(open_counts_by_merchant(self._engine).items()):
            overdue.add_metric([merchant_id], counts.get("overdue_shipments", 0))
            anomalies.add_metric([merchant_id], counts.get("logistics_anomalies", 0))
            cases.add_metric([merchant_id], counts.get("overdue_after_sales", 0))
        yield overdue
        yield anomalies
        yield cases


class Metrics:
    """The API's registry (one per app, so several apps can live in one test process)."""

    def __init__(self, engine: Engine) -> None:
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
        self.registry.register(ReadModelCollector(engine))
