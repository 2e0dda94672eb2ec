"""Documents in MongoDB: stored once by content, then queued for analysis under leases."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.documents import DocumentDraft
from services.common.mongo import DOCUMENTS
from services.common.text import search_terms

PENDING = "pending"
ANALYZED = "analyzed"


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: ObjectId
    created: bool
    analysis_state: str


@dataclass(frozen=True, slots=True)
class QueuedDocument:
    """A document claimed for analysis, with how many attempts it has had so far."""

    id: ObjectId
    text: str
    title: str
    attempts: int


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    id: ObjectId
    fields: dict[str, Any]


class DocumentStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._documents = db[DOCUMENTS]

    async def add(
        self, draft: DocumentDraft, *, now: datetime, claim_until: datetime
    ) -> StoredDocument:
        """Insert the draft, or return the document that already has its text.

        A new document is born claimed by its submitter until ``claim_until``: if the submitter
        dies before analysing it, the claim lapses and the worker takes it over.
        """
        record = {
            "content_hash": draft.content_hash,
            "text": draft.text,
            "title": draft.title,
            "url": draft.url,
            "published_at": draft.published_at,
            "created_at": now,
            "search_terms": search_terms(draft.title, draft.text),
            "analysis_state": PENDING,
            "analysis_due_at": claim_until,
            "analysis_attempts": 1,
        }
        try:
            result = await self._documents.insert_one(record)
        except DuplicateKeyError:
            existing = await self._documents.find_one(
                {"content_hash": draft.content_hash}, {"analysis_state": 1}
            )
            if existing is None:  # erased between the two calls; the caller may submit again
                raise
            return StoredDocument(existing["_id"], False, existing["analysis_state"])
        return StoredDocument(result.inserted_id, True, PENDING)

    async def claim_due(
        self, *, limit: int, now: datetime, claim_until: datetime
    ) -> list[QueuedDocument]:
        """Atomically take up to ``limit`` due documents; no two claimers ever get the same one."""
        claimed: list[QueuedDocument] = []
        for _ in range(limit):
            record = await self._documents.find_one_and_update(
                {"analysis_state": PENDING, "analysis_due_at": {"$lte": now}},
                {"$set": {"analysis_due_at": claim_until}, "$inc": {"analysis_attempts": 1}},
                sort=[("analysis_due_at", 1)],
                projection={"text": 1, "title": 1, "analysis_attempts": 1},
                return_document=ReturnDocument.AFTER,
            )
            if record is None:
                break
            claimed.append(
                QueuedDocument(
                    record["_id"],
                    record["text"],
                    record.get("title", ""),
                    record["analysis_attempts"],
                )
            )
        return claimed

    async def save_analyses(self, results: list[AnalysisResult], *, now: datetime) -> None:
        if not results:
            return
        await self._documents.bulk_write(
            [
                UpdateOne(
                    {"_id": r.id, "analysis_state": PENDING},
                    {
                        "$set": {**r.fields, "analysis_state": ANALYZED, "analyzed_at": now},
                        "$unset": {"analysis_due_at": "", "analysis_error": ""},
                    },
                )
                for r in results
            ],
            ordered=False,
        )

    async def retry_later(self, due: dict[ObjectId, datetime], error: str) -> None:
        """Put claimed documents back in the queue, each due again at its own time."""
        if not due:
            return
        await self._documents.bulk_write(
            [
                UpdateOne(
                    {"_id": doc_id, "analysis_state": PENDING},
                    {"$set": {"analysis_due_at": at, "analysis_error": error[:500]}},
                )
                for doc_id, at in due.items()
            ],
            ordered=False,
        )

    async def next_due_at(self) -> datetime | None:
        record = await self._documents.find_one(
            {"analysis_state": PENDING}, {"analysis_due_at": 1}, sort=[("analysis_due_at", 1)]
        )
        return record["analysis_due_at"] if record else None

    async def count_by_state(self) -> dict[str, int]:
        return {
            state: await self._documents.count_documents({"analysis_state": state})
            for state in (PENDING, ANALYZED)
        }
