"""Analysis of stored documents by the nlp service, retried with backoff until it succeeds."""

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.metrics import LATENCY_BUCKETS
from services.ingest.settings import IngestSettings
from services.ingest.store import AnalysisResult, DocumentStore, QueuedDocument

log = structlog.get_logger(__name__)

_SENTIMENT_LABELS = {
    nlp_pb2.SENTIMENT_LABEL_NEGATIVE: "NEGATIVE",
    nlp_pb2.SENTIMENT_LABEL_NEUTRAL: "NEUTRAL",
    nlp_pb2.SENTIMENT_LABEL_POSITIVE: "POSITIVE",
}


def analysis_fields(analysis: nlp_pb2.Analysis) -> dict:
    """The fields an nlp Analysis adds to a stored document."""
    s = analysis.sentiment
    return {
        "sentiment": {
            "label": _SENTIMENT_LABELS[s.label],
            "score": round(s.score, 6),
            "negative": round(s.negative, 6),
            "neutral": round(s.neutral, 6),
            "positive": round(s.positive, 6),
        }
    }


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so that replicas recovering together do not stampede."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class AnalysisMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter(
            "langnghe_ingest_analysis_batches_total",
            "Analyze calls to the nlp service, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.stored_to_analyzed = Histogram(
            "langnghe_ingest_stored_to_analyzed_seconds",
            "Delay from a document being stored to its analysis being stored.",
            buckets=(*LATENCY_BUCKETS, 60, 300, 900, 3600),
            registry=registry,
        )
        self.seconds = Counter(
            "langnghe_ingest_analysis_seconds_total",
            "Time analysis spends waiting on nlp and on storing its results.",
            ["part"],
            registry=registry,
        )
        self.documents = Gauge(
            "langnghe_ingest_documents",
            "Stored documents by analysis state, as last counted.",
            ["state"],
            registry=registry,
        )


class Analyzer:
    """Sends documents to nlp and stores what comes back; failures go back in the queue."""

    def __init__(
        self,
        *,
        store: DocumentStore,
        nlp: nlp_pb2_grpc.NlpServiceStub,
        settings: IngestSettings,
        metrics: AnalysisMetrics,
    ) -> None:
        self._store = store
        self._nlp = nlp
        self._settings = settings
        self._metrics = metrics
        self.wake = asyncio.Event()
        self._counted_at = 0.0

    async def analyze(
        self, documents: Sequence[QueuedDocument], *, deadline_s: float | None = None
    ) -> bool:
        """Analyse and store; on failure schedule each document's retry. True when stored."""
        timeout = min(deadline_s or self._settings.nlp_timeout_s, self._settings.nlp_timeout_s)
        request = nlp_pb2.AnalyzeRequest(
            texts=[nlp_pb2.TextInput(id=str(d.id), text=d.text, title=d.title) for d in documents]
        )
        started = time.perf_counter()
        try:
            response = await self._nlp.Analyze(request, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            self._metrics.batches.labels(error.code().name.lower()).inc()
            now = datetime.now(UTC)
            await self._store.retry_later(
                {
                    d.id: now
                    + timedelta(
                        seconds=retry_delay(
                            d.attempts,
                            base=self._settings.analysis_retry_base_s,
                            cap=self._settings.analysis_retry_max_s,
                        )
                    )
                    for d in documents
                },
                f"{error.code().name}: {error.details()}",
            )
            log.warning(
                "analysis failed; will retry",
                code=error.code().name,
                details=error.details(),
                documents=len(documents),
            )
            self.wake.set()
            return False
        self._metrics.batches.labels("ok").inc()
        self._metrics.seconds.labels("nlp").inc(time.perf_counter() - started)
        now = datetime.now(UTC)
        by_id = {a.id: a for a in response.analyses}
        started = time.perf_counter()
        await self._store.save_analyses(
            [AnalysisResult(d.id, analysis_fields(by_id[str(d.id)])) for d in documents],
            now=now,
        )
        self._metrics.seconds.labels("store").inc(time.perf_counter() - started)
        for d in documents:
            self._metrics.stored_to_analyzed.observe((now - d.id.generation_time).total_seconds())
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: claim what is due, analyse it, sleep till the next is due."""
        while not stop.is_set():
            try:
                await self._drain_due()
                await self._sleep_until_due(stop)
            except Exception:
                # MongoDB away, say: log, wait and carry on; a dead worker loses the queue.
                log.exception("analysis worker error")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._settings.analysis_poll_s)

    async def _drain_due(self) -> None:
        while True:
            now = datetime.now(UTC)
            batch = await self._store.claim_due(
                limit=self._settings.analysis_batch_size,
                now=now,
                claim_until=now + timedelta(seconds=self._settings.analysis_lease_s),
            )
            if not batch or not await self.analyze(batch):
                return

    async def _sleep_until_due(self, stop: asyncio.Event) -> None:
        await self._count_documents()
        next_due = await self._store.next_due_at()
        delay = self._settings.analysis_poll_s
        if next_due is not None:
            delay = min(delay, max((next_due - datetime.now(UTC)).total_seconds(), 0.0))
        self.wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _count_documents(self) -> None:
        """Refresh the documents-by-state gauge, at most once a poll interval."""
        if time.monotonic() - self._counted_at < self._settings.analysis_poll_s:
            return
        self._counted_at = time.monotonic()
        for state, count in (await self._store.count_by_state()).items():
            self._metrics.documents.labels(state).set(count)
