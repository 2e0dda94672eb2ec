"""Analysis of stored documents by the nlp service, retried with backoff until it succeeds."""

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.embedding import encode_embedding
from services.common.metrics import LATENCY_BUCKETS
from services.common.text import folded_phrase
from services.ingest.events import AnalyzedEvent, DocumentEventHub
from services.ingest.settings import IngestSettings
from services.ingest.store import AnalysisResult, DocumentStore, QueuedDocument

log = structlog.get_logger(__name__)

_SENTIMENT_LABELS = {
    nlp_pb2.SENTIMENT_LABEL_NEGATIVE: "NEGATIVE",
    nlp_pb2.SENTIMENT_LABEL_NEUTRAL: "NEUTRAL",
    nlp_pb2.SENTIMENT_LABEL_POSITIVE: "POSITIVE",
}
_TEXT_FIELDS = {nlp_pb2.TEXT_FIELD_TEXT: "text", nlp_pb2.TEXT_FIELD_TITLE: "title"}


def analysis_fields(analysis: nlp_pb2.Analysis) -> dict[str, Any]:
    """The fields an nlp Analysis adds to a stored document (docs/storage.md describes them).

    A message nlp left unset (sentiment of a non-Vietnamese text, say) is left out, so that it
    stays absent in MongoDB; lists are always written, empty when nlp found nothing.
    """
    fields: dict[str, Any] = {}
    if analysis.HasField("language") and analysis.language.code:
        fields["language"] = {
            "code": analysis.language.code,
            "confidence": _round(analysis.language.confidence),
        }
    if analysis.HasField("sentiment") and analysis.sentiment.label in _SENTIMENT_LABELS:
        s = analysis.sentiment
        fields["sentiment"] = {
            "label": _SENTIMENT_LABELS[s.label],
            "score": _round(s.score),
            "negative": _round(s.negative),
            "neutral": _round(s.neutral),
            "positive": _round(s.positive),
        }
    for name in ("toxicity", "emotion", "topic"):
        if analysis.HasField(name) and getattr(analysis, name).label:
            fields[name] = _classification(getattr(analysis, name))

    sectors = sorted(analysis.sectors, key=lambda s: -s.probability)
    fields["sectors"] = [{"id": s.label, "score": _round(s.probability)} for s in sectors]
    fields["sector_ids"] = list(dict.fromkeys(s.label for s in sectors))

    entities = [_entity(e) for e in analysis.entities if e.type in _ENTITY_TYPES and e.text]
    fields["entities"] = entities
    fields["entity_keys"] = list(dict.fromkeys(f"{e['type'].lower()}:{e['key']}" for e in entities))

    localities = [_locality(place) for place in analysis.localities if place.code]
    fields["localities"] = localities
    fields["locality_codes"] = list(
        dict.fromkeys(
            code for place in localities for code in (place["code"], *place["current_codes"])
        )
    )

    keywords = [
        {"phrase": k.phrase, "key": folded_phrase(k.phrase), "score": _round(k.score)}
        for k in analysis.keywords
        if folded_phrase(k.phrase)
    ]
    fields["keywords"] = keywords
    fields["keyword_keys"] = list(dict.fromkeys(k["key"] for k in keywords))

    if analysis.embedding:
        fields["embedding"] = encode_embedding(analysis.embedding)
    if analysis.models_version:
        fields["models_version"] = analysis.models_version
    return fields


def _round(value: float) -> float:
    # float32 from protobuf: six decimals keep its precision without the noise digits.
    return round(value, 6)


def _classification(c: nlp_pb2.Classification) -> dict[str, Any]:
    return {
        "label": c.label.upper(),
        "score": _round(c.score),
        "probabilities": {p.label.lower(): _round(p.probability) for p in c.probabilities},
    }


_ENTITY_TYPES = {
    nlp_pb2.ENTITY_TYPE_PER: "PER",
    nlp_pb2.ENTITY_TYPE_ORG: "ORG",
    nlp_pb2.ENTITY_TYPE_LOC: "LOC",
    nlp_pb2.ENTITY_TYPE_MISC: "MISC",
}
_LEVELS = {
    nlp_pb2.LOCALITY_LEVEL_CITY: "CITY",
    nlp_pb2.LOCALITY_LEVEL_DISTRICT: "DISTRICT",
    nlp_pb2.LOCALITY_LEVEL_COMMUNE: "COMMUNE",
}
_STRUCTURES = {
    nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025: "BEFORE_2025",
    nlp_pb2.ADMIN_STRUCTURE_SINCE_2025: "SINCE_2025",
}


def _span(span: nlp_pb2.Span) -> dict[str, Any]:
    return {"field": _TEXT_FIELDS.get(span.field, "text"), "start": span.start, "end": span.end}


def _entity(e: nlp_pb2.Entity) -> dict[str, Any]:
    return {
        "type": _ENTITY_TYPES[e.type],
        "text": e.text,
        "key": folded_phrase(e.text),
        **_span(e.span),
        "score": _round(e.score),
    }


def _locality(place: nlp_pb2.Locality) -> dict[str, Any]:
    return {
        "code": place.code,
        "name": place.name,
        "level": _LEVELS.get(place.level),
        "structure": _STRUCTURES.get(place.structure),
        "current_codes": list(dict.fromkeys(c for c in place.current_codes if c)),
        **_span(place.span),
        "mention": place.mention,
        "score": _round(place.score),
    }


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so that replicas recovering together do not stampede."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class AnalysisMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter(
            "langnghe_ingest_analysis_batches_total",
            "Analyze calls to the nlp service, by outcome (split: past its deadline, retried as "
            "two halves).",
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
        events: DocumentEventHub | None = None,
    ) -> None:
        self._store = store
        self._events = events
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
            if (
                error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                and deadline_s is None
                and len(documents) > 1
            ):
                # A batch too big for the deadline on a busy nlp: its halves fit where the whole
                # did not, and waiting for the retry delay would only grow the queue.
                self._metrics.batches.labels("split").inc()
                half = len(documents) // 2
                first = await self.analyze(documents[:half])
                second = await self.analyze(documents[half:])
                return first and second
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
        results = [AnalysisResult(d.id, analysis_fields(by_id[str(d.id)])) for d in documents]
        started = time.perf_counter()
        await self._store.save_analyses(results, now=now)
        self._metrics.seconds.labels("store").inc(time.perf_counter() - started)
        for d in documents:
            self._metrics.stored_to_analyzed.observe((now - d.id.generation_time).total_seconds())
        await self._publish(results, now)
        return True

    async def _publish(self, results: list[AnalysisResult], now: datetime) -> None:
        """Tell the WatchDocuments subscribers, if there are any, what was just analysed."""
        if self._events is None or not self._events.has_subscribers:
            return
        try:
            origins = await self._store.origins([r.id for r in results])
        except Exception:
            # The analyses are stored; live subscribers catch up by querying.
            log.exception("cannot read what to tell WatchDocuments subscribers")
            return
        self._events.publish(
            [
                AnalyzedEvent(
                    document_id=str(r.id),
                    source_kind=origins[r.id].get("source_kind", "manual"),
                    source_id=str(origins[r.id].get("source_id") or ""),
                    outlet=origins[r.id].get("outlet", ""),
                    sentiment_label=(r.fields.get("sentiment") or {}).get("label", ""),
                    analyzed_at=now,
                    timeline_at=origins[r.id].get("timeline_at"),
                )
                for r in results
                if r.id in origins  # erased in the meantime
            ]
        )

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
