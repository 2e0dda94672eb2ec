"""Reads documents from MongoDB for the API: filters, keyset pagination, counts."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.common.text import search_terms

# Everything the API shows; the search index and hashes stay in the database.
_PROJECTION = {"search_terms": 0, "minhash": 0}


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    search: str | None = None
    sentiment: str | None = None
    story_id: ObjectId | None = None
    # On the timeline (publication time, or storage time when the source gave none).
    since: datetime | None = None
    until: datetime | None = None
    source_kinds: tuple[str, ...] = ()
    source_ids: tuple[ObjectId, ...] = ()
    outlets: tuple[str, ...] = ()
    language: str | None = None
    # A compiled tracked-topic query (services.gateway.query_language).
    topic: dict[str, Any] | None = None

    def to_mongo(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.since or self.until:
            query["timeline_at"] = {
                **({"$gte": self.since} if self.since else {}),
                **({"$lt": self.until} if self.until else {}),
            }
        for field, values in (
            ("source_kind", self.source_kinds),
            ("source_id", self.source_ids),
            ("outlet", self.outlets),
        ):
            if values:
                query[field] = values[0] if len(values) == 1 else {"$in": list(values)}
        if self.language:
            query["language"] = self.language
        if self.search:
            terms = search_terms(self.search)
            if terms:
                query["search_terms"] = {"$all": terms}
        if self.sentiment:
            query["sentiment.label"] = self.sentiment
        if self.story_id:
            query["story_id"] = self.story_id
        if self.topic:
            query = {"$and": [query, self.topic]} if query else self.topic
        return query


class DocumentOrder(Enum):
    STORED = "stored"
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last document's id, and its timeline time for that order."""

    id: ObjectId
    timeline_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentPage:
    records: list[dict[str, Any]]
    has_next_page: bool


class DocumentRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.database = db
        self._documents = db[DOCUMENTS]

    async def get_many(self, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        cursor = self._documents.find({"_id": {"$in": ids}}, _PROJECTION)
        return {record["_id"]: record async for record in cursor}

    async def page(
        self,
        flt: DocumentFilter,
        *,
        first: int,
        after: Position | None,
        order: DocumentOrder = DocumentOrder.STORED,
    ) -> DocumentPage:
        """Newest first, by storage or by timeline; ``after`` is where the previous page ended
        (keyset pagination: stable while documents arrive, and no skipping)."""
        query = flt.to_mongo()
        if order is DocumentOrder.STORED:
            sort = [("_id", -1)]
            if after:
                query = {**query, "_id": {"$lt": after.id}}
        else:
            sort = [("timeline_at", -1), ("_id", -1)]
            if after:
                keyset = {
                    "$or": [
                        {"timeline_at": {"$lt": after.timeline_at}},
                        {"timeline_at": after.timeline_at, "_id": {"$lt": after.id}},
                    ]
                }
                query = {"$and": [query, keyset]} if query else keyset
        cursor = self._documents.find(query, _PROJECTION).sort(sort).limit(first + 1)
        records = await cursor.to_list()
        return DocumentPage(records[:first], len(records) > first)

    async def stream(self, flt: DocumentFilter, *, limit: int) -> AsyncIterator[dict[str, Any]]:
        """Every matching document, newest first, read in batches."""
        cursor = self._documents.find(flt.to_mongo(), _PROJECTION).sort("_id", -1).limit(limit)
        async for record in cursor.batch_size(500):
            yield record

    async def sentiment_counts(
        self, flt: DocumentFilter, *, unit: str, timezone: str
    ) -> list[tuple[str, dict[str | None, int]]]:
        """(bucket start as ISO text in ``timezone``, {label: count}) for each hour or day."""
        fmt = "%Y-%m-%dT%H:00:00" if unit == "hour" else "%Y-%m-%dT00:00:00"
        cursor = await self._documents.aggregate(
            [
                {"$match": flt.to_mongo()},
                {
                    "$group": {
                        "_id": {
                            "bucket": {
                                "$dateToString": {
                                    "format": fmt,
                                    "date": "$timeline_at",
                                    "timezone": timezone,
                                }
                            },
                            "label": "$sentiment.label",
                        },
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        buckets: dict[str, dict[str | None, int]] = {}
        async for row in cursor:
            buckets.setdefault(row["_id"]["bucket"], {})[row["_id"].get("label")] = row["n"]
        return sorted(buckets.items())

    async def existing_stories(self, ids: list[ObjectId]) -> set[ObjectId]:
        """Which of ``ids`` name a story that still has documents."""
        return set(await self._documents.distinct("story_id", {"story_id": {"$in": ids}}))

    async def count(self, flt: DocumentFilter) -> int:
        """Documents matching the filter, all pages: asked only when a client selects it."""
        return await self._documents.count_documents(flt.to_mongo())
