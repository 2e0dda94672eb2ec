"""The hook each fetch reports its outcome to, and the Prometheus metrics that implement it."""

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.metrics import LATENCY_BUCKETS
from services.ingest.fetch.errors import Outcome


class FetchObserver(Protocol):
    def fetch_finished(self, outcome: Outcome, duration_s: float, body_bytes: int) -> None:
        """Called once per ``Fetcher.fetch``; ``duration_s`` includes waits and retries."""
        ...


class FetchMetrics:
    """Fetches by outcome, their duration and the bytes they brought, in a service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._fetches = Counter(
            "langnghe_ingest_fetches_total",
            "Fetches of source URLs, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self._seconds = Histogram(
            "langnghe_ingest_fetch_duration_seconds",
            "Time a fetch took, politeness waits, robots.txt and retries included.",
            buckets=(*LATENCY_BUCKETS, 60, 120),
            registry=registry,
        )
        self._bytes = Counter(
            "langnghe_ingest_fetched_bytes",
            "Response body bytes fetched, after content decoding.",
            registry=registry,
        )
        # Every outcome exported from the start, so that rates over them never miss a series.
        for outcome in Outcome:
            self._fetches.labels(outcome.value)

    def fetch_finished(self, outcome: Outcome, duration_s: float, body_bytes: int) -> None:
        self._fetches.labels(outcome.value).inc()
        self._seconds.observe(duration_s)
        self._bytes.inc(body_bytes)
