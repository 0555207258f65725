"""Prometheus metrics of one process (GET /metrics): updates, clicks, postbacks, the outbox,
race ticks, live boards and the scheduler lease. One registry per process (no global one),
so that test stacks and instances never mix their counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Live(Collector):
    """Values read at scrape time from the objects that hold them."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[str, Callable[[], float]]] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def collect(self) -> Iterator[Metric]:
        for name, (text, read) in self.counters.items():
            yield CounterMetricFamily(name, text, value=read())
        for name, (text, read) in self.gauges.items():
            yield GaugeMetricFamily(name, text, value=read())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "affrace_updates",
            "Telegram updates handled, by type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.update_seconds = Histogram(
            "affrace_update_seconds",
            "Time to handle one Telegram update",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.postbacks = Counter(
            "affrace_postbacks", "Advertisers' postbacks by result", ["result"], registry=r
        )
        self.sends = Counter(
            "affrace_outbox_sends",
            "Messages the paced sender delivered or gave up, by result",
            ["result"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "affrace_outbox_pending", "Messages waiting in the outbox", registry=r
        )
        self.tick_seconds = Histogram(
            "affrace_race_tick_seconds",
            "Time of one race tick (every running race)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.live = Live()
        r.register(self.live)

    def counter(self, name: str, text: str, read: Callable[[], float]) -> None:
        self.live.counters[name] = (text, read)

    def gauge(self, name: str, text: str, read: Callable[[], float]) -> None:
        self.live.gauges[name] = (text, read)
