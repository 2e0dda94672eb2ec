"""The IngestService gRPC servicer: validate, store once, analyse now or queue for retry."""

from datetime import UTC, datetime, timedelta

import grpc
from prometheus_client import CollectorRegistry, Counter

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.common.documents import validate_submission
from services.common.errors import abort_invalid
from services.common.validation import InvalidInputError
from services.ingest.analysis import Analyzer
from services.ingest.settings import IngestSettings
from services.ingest.store import ANALYZED, DocumentStore, QueuedDocument

_STATES = {
    "pending": ingest_pb2.ANALYSIS_STATE_PENDING,
    ANALYZED: ingest_pb2.ANALYSIS_STATE_ANALYZED,
}
# Time kept back from the caller's deadline to store the analysis and answer.
_ANSWER_MARGIN_S = 0.25


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        *,
        store: DocumentStore,
        analyzer: Analyzer,
        settings: IngestSettings,
        registry: CollectorRegistry,
    ) -> None:
        self._store = store
        self._analyzer = analyzer
        self._settings = settings
        self._submitted = Counter(
            "langnghe_ingest_documents_submitted_total",
            "Documents submitted, by outcome: created, duplicate or invalid.",
            ["outcome"],
            registry=registry,
        )

    async def SubmitDocument(
        self, request: ingest_pb2.SubmitDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.SubmitDocumentResponse:
        try:
            draft = validate_submission(
                text=request.text,
                title=request.title,
                url=request.url,
                published_at=(
                    request.published_at.ToDatetime(tzinfo=UTC)
                    if request.HasField("published_at")
                    else None
                ),
            )
        except InvalidInputError as error:
            self._submitted.labels("invalid").inc()
            await abort_invalid(context, error)
        now = datetime.now(UTC)
        stored = await self._store.add(
            draft,
            now=now,
            claim_until=now + timedelta(seconds=self._settings.analysis_lease_s),
        )
        self._submitted.labels("created" if stored.created else "duplicate").inc()
        state = stored.analysis_state
        if stored.created:
            remaining = context.time_remaining()
            budget = None if remaining is None else remaining - _ANSWER_MARGIN_S
            if budget is None or budget > 0:
                queued = QueuedDocument(stored.id, draft.text, draft.title, attempts=1)
                if await self._analyzer.analyze([queued], deadline_s=budget):
                    state = ANALYZED
            else:
                self._analyzer.wake.set()
        return ingest_pb2.SubmitDocumentResponse(
            document_id=str(stored.id), created=stored.created, analysis_state=_STATES[state]
        )
