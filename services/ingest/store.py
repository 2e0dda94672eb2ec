"""Documents in MongoDB: stored once (by text, sender's id or URL), then analysed under leases."""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.documents import DocumentDraft
from services.common.mongo import DOCUMENTS, ERASURES
from services.common.text import search_keys

# MongoDB's error code for a unique index violation.
DUPLICATE_KEY = 11000
PENDING = "pending"
# Documents per insert command. The embedded MongoDB runs one command at a time, each insert
# costing time in proportion to what is stored: a bounded batch keeps it answering others.
INSERT_BATCH = 16
ANALYZED = "analyzed"


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: ObjectId
    created: bool
    analysis_state: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a document came from. A manual submission through the API has the defaults."""

    source_id: ObjectId | None = None
    # press, website, social or push for registered sources; "manual" for the API.
    source_kind: str = "manual"
    channel: str = "api"
    outlet: str = ""
    # The sender's own id; makes re-sending idempotent.
    external_id: str | None = None
    # Canonical URL of a collected page; makes re-fetching idempotent.
    url_key: str | None = None
    author: str = ""
    author_handle: str = ""
    # The gateway's calling unit, for documents pushed without a registered source: external ids
    # are that unit's own, so they are unique per unit.
    submitter_unit: str = ""
    # A citizen's feedback: {channel, ward_code, citizen_keys}, stored as the document's
    # ``feedback`` field.
    feedback: Mapping[str, Any] | None = None

    def keys(self, content_hash: str) -> dict[str, str]:
        """The unique keys a new document claims (see DOCUMENT_INDEXES)."""
        keys = {}
        if self.external_id:
            keys["ext_key"] = f"{self.id_scope}:{self.external_id}"
        else:
            keys["text_key"] = content_hash
        if self.url_key:
            keys["url_key"] = self.url_key
        return keys

    @property
    def id_scope(self) -> str:
        """Whose external ids these are: a registered source, a unit, or anyone ("-")."""
        if self.source_id:
            return str(self.source_id)
        return f"unit:{self.submitter_unit}" if self.submitter_unit else "-"


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A draft to store, where it came from, and fields its collector adds (story, MinHash)."""

    draft: DocumentDraft
    origin: Origin = Origin()
    extra: Mapping[str, Any] | None = None


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


@dataclass(frozen=True, slots=True)
class Erasure:
    """Which documents to delete: exactly one of url, external_id or author_handle."""

    requested_by: str
    reason: str
    url: str = ""
    external_id: str = ""
    source_id: ObjectId | None = None
    author_handle: str = ""

    def query(self) -> dict[str, Any]:
        if self.url:
            return {"$or": [{"url": self.url}, {"url_key": self.url}]}
        if self.external_id:
            return {"ext_key": f"{self.source_id or '-'}:{self.external_id}"}
        return {"author_handle": self.author_handle}


class DocumentStore:
    def __init__(self, db: AsyncDatabase, retention: Mapping[str, timedelta] | None = None) -> None:
        self._documents = db[DOCUMENTS]
        self._erasures = db[ERASURES]
        self._retention = dict(retention or {})

    async def add(
        self,
        draft: DocumentDraft,
        *,
        now: datetime,
        claim_until: datetime,
        origin: Origin = Origin(),
        extra: Mapping[str, Any] | None = None,
    ) -> StoredDocument:
        """Insert the draft, or return the document that already has its text, id or URL.

        A new document is born claimed by its submitter until ``claim_until``: if the submitter
        dies before analysing it, the claim lapses and the worker takes it over.
        """
        (stored,) = await self.add_many(
            [NewDocument(draft, origin, extra)], now=now, claim_until=claim_until
        )
        return stored

    async def add_many(
        self, items: Sequence["NewDocument"], *, now: datetime, claim_until: datetime
    ) -> list[StoredDocument]:
        """``add`` for several drafts in one round trip; results in the order of ``items``.

        Every draft is tried (an unordered insert), so a duplicate among them stops nothing;
        each duplicate is then resolved to the document that holds its key, as ``add`` does.
        Two drafts of one batch with the same text are one document, as if added in turn.
        """
        if not items:
            return []
        records = [self._record(item, now=now, claim_until=claim_until) for item in items]
        duplicates: set[int] = set()
        for first in range(0, len(records), INSERT_BATCH):
            try:
                await self._documents.insert_many(
                    records[first : first + INSERT_BATCH], ordered=False
                )
            except BulkWriteError as error:
                for write_error in error.details.get("writeErrors", ()):
                    if write_error.get("code") != DUPLICATE_KEY:
                        raise
                    duplicates.add(first + write_error["index"])
        stored = []
        for index, (item, record) in enumerate(zip(items, records, strict=True)):
            if index in duplicates:
                stored.append(await self._existing(item, record))
            else:
                stored.append(StoredDocument(record["_id"], True, PENDING))
        return stored

    def _record(self, item: "NewDocument", *, now: datetime, claim_until: datetime) -> dict:
        draft, origin = item.draft, item.origin
        record = {
            "_id": ObjectId(),
            **(item.extra or {}),
            **origin.keys(draft.content_hash),
            "content_hash": draft.content_hash,
            "text": draft.text,
            "title": draft.title,
            "url": draft.url,
            "published_at": draft.published_at,
            "created_at": now,
            # Its place on the timeline: when published, or when stored if no date was given.
            "timeline_at": draft.published_at or now,
            "source_id": origin.source_id,
            "source_kind": origin.source_kind,
            "channel": origin.channel,
            "outlet": origin.outlet,
            "external_id": origin.external_id,
            "author": origin.author,
            "author_handle": origin.author_handle,
            **({"submitter_unit": origin.submitter_unit} if origin.submitter_unit else {}),
            **({"feedback": dict(origin.feedback)} if origin.feedback is not None else {}),
            "search_terms": search_keys(draft.title, draft.text),
            "analysis_state": PENDING,
            "analysis_due_at": claim_until,
            "analysis_attempts": 1,
        }
        if origin.source_kind in self._retention:
            record["expire_at"] = now + self._retention[origin.source_kind]
        return record

    async def _existing(self, item: "NewDocument", record: dict) -> StoredDocument:
        """The stored document that holds one of ``record``'s unique keys."""
        existing = None
        # One equality lookup per key, not an $or: each is an index lookup on any MongoDB.
        for key in ("ext_key", "text_key", "url_key"):
            if key in record:
                existing = await self._documents.find_one(
                    {key: record[key]}, {"analysis_state": 1, "url_key": 1}
                )
                if existing is not None:
                    break
        if existing is None:  # erased between the two calls; the caller may submit again
            raise DuplicateKeyError(f"document {record['_id']} collided with one since erased")
        url_key = item.origin.url_key
        if url_key and existing.get("url_key") != url_key:
            # The same text at another address: remember the address, so it is known.
            await self._documents.update_one(
                {"_id": existing["_id"]}, {"$addToSet": {"alternate_urls": url_key}}
            )
        return StoredDocument(existing["_id"], False, existing["analysis_state"])

    async def known_urls(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` belong to a stored document, as its address or an alternate one.

        Equality lookups, all sent at once: each is an index lookup on any MongoDB (the
        embedded one scans the collection for ``$in`` and ``$or``), and sent together they wait
        in the server's queue once, not once each. Most URLs are found by their address.
        """
        known: set[str] = set()
        unknown = list(dict.fromkeys(urls))
        for key in ("url_key", "alternate_urls"):
            found = await asyncio.gather(
                *(self._documents.find_one({key: url}, {"_id": 1}) for url in unknown)
            )
            known.update(url for url, record in zip(unknown, found, strict=True) if record)
            unknown = [url for url in unknown if url not in known]
            if not unknown:
                break
        return known

    async def erase(self, erasure: Erasure, *, now: datetime) -> tuple[int, ObjectId]:
        """Delete the matching documents and keep an audit record of who asked and why."""
        result = await self._documents.delete_many(erasure.query())
        audit = await self._erasures.insert_one(
            {
                "requested_by": erasure.requested_by,
                "reason": erasure.reason,
                "selector": {
                    k: v
                    for k, v in (
                        ("url", erasure.url),
                        ("external_id", erasure.external_id),
                        ("source_id", erasure.source_id),
                        ("author_handle", erasure.author_handle),
                    )
                    if v
                },
                "erased": result.deleted_count,
                "at": now,
            }
        )
        return result.deleted_count, audit.inserted_id

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

    async def origins(self, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Where each document came from and its place on the timeline, for live events."""
        cursor = self._documents.find(
            {"_id": {"$in": ids}},
            {"source_kind": 1, "source_id": 1, "outlet": 1, "timeline_at": 1},
        )
        return {record["_id"]: record async for record in cursor}

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
        """Documents pending and analysed, for the gauge.

        The queue is read by an equality lookup and the total from the collection's metadata:
        the embedded MongoDB answers ``count_documents`` by scanning every document.
        """
        pending = len(await self._documents.find({"analysis_state": PENDING}, {"_id": 1}).to_list())
        total = await self._documents.estimated_document_count()
        return {PENDING: pending, ANALYZED: max(total - pending, 0)}
