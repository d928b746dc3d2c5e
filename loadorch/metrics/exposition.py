"""The /metrics endpoint's WSGI app: the run's families through prometheus-client (text or OpenMetrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from loadorch.metrics.families import COUNTER, GAUGE, Family


def to_client(fam: Family) -> Metric:
    metric: Metric
    if fam.kind == COUNTER:
        metric = CounterMetricFamily(fam.name, fam.help, labels=fam.labels)
        for values, v in fam.samples:
            metric.add_metric(list(values), v)
    elif fam.kind == GAUGE:
        metric = GaugeMetricFamily(fam.name, fam.help, labels=fam.labels)
        for values, v in fam.samples:
            metric.add_metric(list(values), v)
    else:
        metric = HistogramMetricFamily(fam.name, fam.help, labels=fam.labels)
        for values, cum, total in fam.buckets:
            metric.add_metric(list(values), cum, total)
    return metric


class FamiliesCollector(Collector):
    """Collects whatever `source` returns at scrape time."""

    def __init__(self, source: Callable[[], Sequence[Family]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        for fam in self.source():
            yield to_client(fam)


def metrics_app(source: Callable[[], Sequence[Family]]) -> Callable[..., Any]:
    """A WSGI app serving the families on every path (prometheus-client negotiates the format)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FamiliesCollector(source))
    return make_wsgi_app(registry)
