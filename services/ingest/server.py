"""The IngestService gRPC servicer: documents in (one or pushed batches), sources, erasure.

Handlers raise domain errors (InvalidInputError, NotFoundError); the DomainErrorInterceptor
turns them into INVALID_ARGUMENT with field violations, and NOT_FOUND.
"""

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry, Counter

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.common.documents import DocumentDraft, validate_submission
from services.common.validation import FieldViolation, InvalidInputError, NotFoundError
from services.ingest import messages
from services.ingest.analysis import Analyzer
from services.ingest.events import AnalyzedEvent, DocumentEventHub, HubClosed, SubscriberTooSlow
from services.ingest.settings import IngestSettings
from services.ingest.sources import SourceRegistry, source_id
from services.ingest.store import (
    ANALYZED,
    DocumentStore,
    Erasure,
    Origin,
    QueuedDocument,
    StoredDocument,
)

MAX_BATCH = 500
MAX_PAGE_SIZE = 500
DEFAULT_HEARTBEAT_S = 15
MAX_HEARTBEAT_S = 300
# Time kept back from the caller's deadline to store the analysis and answer.
_ANSWER_MARGIN_S = 0.25


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        *,
        store: DocumentStore,
        sources: SourceRegistry,
        analyzer: Analyzer,
        settings: IngestSettings,
        registry: CollectorRegistry,
        events: DocumentEventHub,
    ) -> None:
        self._store = store
        self._events = events
        self._replica = socket.gethostname()
        self._sources = sources
        self._analyzer = analyzer
        self._settings = settings
        self._submitted = Counter(
            "langnghe_ingest_documents_submitted_total",
            "Documents submitted through the API, by outcome: created, duplicate or invalid.",
            ["outcome"],
            registry=registry,
        )

    # Documents

    async def SubmitDocument(
        self, request: ingest_pb2.SubmitDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.SubmitDocumentResponse:
        origin = await self._origin(request)
        draft = self._validate(request)
        (response,) = await self._store_and_analyze([(draft, origin)], context)
        return response

    async def SubmitDocuments(
        self, request: ingest_pb2.SubmitDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.SubmitDocumentsResponse:
        if len(request.documents) > MAX_BATCH:
            raise InvalidInputError(
                [FieldViolation("documents", "TOO_LONG", f"at most {MAX_BATCH} documents a call")]
            )
        results: list[ingest_pb2.SubmitDocumentResult | None] = []
        valid: list[tuple[DocumentDraft, Origin]] = []
        for item in request.documents:
            try:
                valid.append((self._validate(item), await self._origin(item)))
                results.append(None)
            except InvalidInputError as error:
                results.append(
                    ingest_pb2.SubmitDocumentResult(
                        invalid=ingest_pb2.FieldViolations(
                            violations=messages.violations_message(error.violations)
                        )
                    )
                )
        stored = iter(await self._store_and_analyze(valid, context))
        return ingest_pb2.SubmitDocumentsResponse(
            results=[r or ingest_pb2.SubmitDocumentResult(stored=next(stored)) for r in results]
        )

    def _validate(self, request: ingest_pb2.SubmitDocumentRequest) -> DocumentDraft:
        try:
            return validate_submission(
                text=request.text,
                title=request.title,
                url=request.url,
                published_at=messages.datetime_of(
                    request.published_at, request.HasField("published_at")
                ),
            )
        except InvalidInputError:
            self._submitted.labels("invalid").inc()
            raise

    async def _origin(self, request: ingest_pb2.SubmitDocumentRequest) -> Origin:
        if not request.source_id:
            feedback = None
            if request.HasField("feedback"):
                feedback = {
                    "channel": request.feedback.channel,
                    "ward_code": request.feedback.ward_code,
                    "citizen_keys": list(request.feedback.citizen_keys),
                }
            return Origin(
                source_kind="feedback" if feedback is not None else "manual",
                external_id=request.external_id or None,
                author_handle=request.author_handle.strip(),
                submitter_unit=request.submitter_unit.strip(),
                feedback=feedback,
            )
        try:
            source = await self._sources.get(request.source_id)
        except (InvalidInputError, NotFoundError) as error:
            raise InvalidInputError(
                [FieldViolation("source_id", "INVALID", f"no source with id {request.source_id!r}")]
            ) from error
        return Origin(
            source_id=source["_id"],
            source_kind=source["kind"],
            channel=source["channel"],
            outlet=source["outlet"],
            external_id=request.external_id or None,
            author_handle=request.author_handle.strip(),
        )

    async def _store_and_analyze(
        self, items: list[tuple[DocumentDraft, Origin]], context: grpc.aio.ServicerContext
    ) -> list[ingest_pb2.SubmitDocumentResponse]:
        """Store each; analyse the new ones in one nlp call within the caller's deadline."""
        now = datetime.now(UTC)
        claim_until = now + timedelta(seconds=self._settings.analysis_lease_s)
        stored: list[StoredDocument] = []
        for draft, origin in items:
            result = await self._store.add(draft, now=now, claim_until=claim_until, origin=origin)
            self._submitted.labels("created" if result.created else "duplicate").inc()
            stored.append(result)
        new = [
            QueuedDocument(s.id, draft.text, draft.title, attempts=1)
            for s, (draft, _) in zip(stored, items, strict=True)
            if s.created
        ]
        analyzed = False
        if new:
            remaining = context.time_remaining()
            budget = None if remaining is None else remaining - _ANSWER_MARGIN_S
            if budget is None or budget > 0:
                analyzed = await self._analyzer.analyze(new, deadline_s=budget)
            else:
                self._analyzer.wake.set()
        return [
            ingest_pb2.SubmitDocumentResponse(
                document_id=str(s.id),
                created=s.created,
                analysis_state=messages.analysis_state(
                    ANALYZED if s.created and analyzed else s.analysis_state
                ),
            )
            for s in stored
        ]

    async def EraseDocuments(
        self, request: ingest_pb2.EraseDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.EraseDocumentsResponse:
        selector = request.WhichOneof("selector")
        violations = []
        if selector is None or not getattr(request, selector).strip():
            violations.append(
                FieldViolation(
                    "selector", "REQUIRED", "give one of url, external_id or author_handle"
                )
            )
        if not request.requested_by.strip():
            violations.append(
                FieldViolation("requested_by", "REQUIRED", "say who asked for the erasure")
            )
        if violations:
            raise InvalidInputError(violations)
        erasure = Erasure(
            requested_by=request.requested_by.strip(),
            reason=request.reason.strip(),
            source_id=source_id(request.source_id) if request.source_id else None,
            **{selector: getattr(request, selector).strip()},
        )
        erased, audit_id = await self._store.erase(erasure, now=datetime.now(UTC))
        return ingest_pb2.EraseDocumentsResponse(erased=erased, audit_id=str(audit_id))

    async def WatchDocuments(
        self, request: ingest_pb2.WatchDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.DocumentEvent]:
        interval = request.heartbeat_interval_s or DEFAULT_HEARTBEAT_S
        if not 1 <= interval <= MAX_HEARTBEAT_S:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"heartbeat_interval_s must be 1 to {MAX_HEARTBEAT_S}",
            )
        if self._events.closed:
            # Shutting down: UNAVAILABLE, so that clients back off instead of coming straight back.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "this ingest replica is stopping")
        async with self._events.subscribe() as subscription:
            # A first heartbeat at once: the client knows the stream is live before any event.
            yield self._heartbeat()
            while True:
                try:
                    event = await subscription.next(interval)
                except HubClosed:
                    return
                except SubscriberTooSlow:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "this subscriber fell too far behind and missed events; "
                        "reconnect and catch up by querying",
                    )
                yield self._heartbeat() if event is None else _event_message(event)

    def _heartbeat(self) -> ingest_pb2.DocumentEvent:
        at = Timestamp()
        at.GetCurrentTime()
        return ingest_pb2.DocumentEvent(
            heartbeat=ingest_pb2.Heartbeat(at=at, replica=self._replica)
        )

    # Sources

    async def AddSource(
        self, request: ingest_pb2.AddSourceRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Source:
        record = await self._sources.add(
            messages.spec_from_message(request.source), now=datetime.now(UTC)
        )
        return messages.source_message(record)

    async def UpdateSource(
        self, request: ingest_pb2.UpdateSourceRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Source:
        record = await self._sources.update(
            request.id,
            messages.spec_from_message(request.source),
            list(request.update_mask.paths),
            now=datetime.now(UTC),
        )
        return messages.source_message(record)

    async def SetSourceEnabled(
        self, request: ingest_pb2.SetSourceEnabledRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Source:
        record = await self._sources.set_enabled(
            request.id, request.enabled, request.reason.strip(), now=datetime.now(UTC)
        )
        return messages.source_message(record)

    async def GetSource(
        self, request: ingest_pb2.GetSourceRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.Source:
        return messages.source_message(await self._sources.get(request.id))

    async def ListSources(
        self, request: ingest_pb2.ListSourcesRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListSourcesResponse:
        page_size = request.page_size or 100
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInputError(
                [FieldViolation("page_size", "INVALID", f"page_size must be 1 to {MAX_PAGE_SIZE}")]
            )
        listing = await self._sources.list_sources(
            messages.filter_from_message(request),
            page_size=page_size,
            page_token=request.page_token,
        )
        return ingest_pb2.ListSourcesResponse(
            sources=[messages.source_message(r) for r in listing.records],
            next_page_token=listing.next_page_token,
            total_count=listing.total_count,
        )

    async def ImportSources(
        self, request: ingest_pb2.ImportSourcesRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ImportSourcesResponse:
        created, updated, errors = await self._sources.import_many(
            [messages.spec_from_message(s) for s in request.sources], now=datetime.now(UTC)
        )
        return ingest_pb2.ImportSourcesResponse(
            created=created,
            updated=updated,
            errors=[
                ingest_pb2.ImportError(
                    index=index, violations=messages.violations_message(violations)
                )
                for index, violations in errors
            ],
        )

    async def SourceHealthReport(
        self, request: ingest_pb2.SourceHealthReportRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.SourceHealthReportResponse:
        counts = await self._sources.health_counts()
        attention = await self._sources.needing_attention()
        return ingest_pb2.SourceHealthReportResponse(
            healthy=counts["healthy"],
            failing=counts["failing"],
            disabled=counts["disabled"],
            new=counts["new"],
            attention=[messages.source_message(r) for r in attention],
        )


def _event_message(event: AnalyzedEvent) -> ingest_pb2.DocumentEvent:
    analyzed = ingest_pb2.DocumentAnalyzed(
        document_id=event.document_id,
        source_kind=event.source_kind,
        source_id=event.source_id,
        outlet=event.outlet,
        sentiment_label=event.sentiment_label,
    )
    analyzed.analyzed_at.FromDatetime(event.analyzed_at)
    if event.timeline_at is not None:
        analyzed.timeline_at.FromDatetime(event.timeline_at)
    return ingest_pb2.DocumentEvent(analyzed=analyzed)
