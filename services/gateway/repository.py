"""Reads documents from MongoDB for the API: filters, keyset pagination, counts."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.embedding import decode_embedding
from services.common.mongo import DOCUMENTS
from services.common.text import search_terms

# Everything the API shows; the search index, hashes, lookup keys and the embedding (768 bytes a
# document, of use only to similarity search) stay in the database.
_PROJECTION = {
    "search_terms": 0,
    "minhash": 0,
    "embedding": 0,
    "sector_ids": 0,
    "entity_keys": 0,
    "locality_codes": 0,
    "keyword_keys": 0,
}
# Rows a timeline can have: buckets (the schema allows 2,000) times sentiment labels and none.
_TIMELINE_ROWS = 2_000 * 4


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
    toxicity: str | None = None
    emotion: str | None = None
    # The news topic nlp classified the document under (POLITICS_SOCIETY, ...).
    news_topic: str | None = None
    # Each list matches documents having any of its values (docs/storage.md names the keys).
    sector_ids: tuple[str, ...] = ()
    locality_codes: tuple[str, ...] = ()
    entity_keys: tuple[str, ...] = ()
    keyword_keys: tuple[str, ...] = ()
    # A compiled tracked-topic query (services.gateway.query_language).
    topic: dict[str, Any] | None = None

    def to_mongo(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        clauses: list[dict[str, Any]] = []
        if self.since or self.until:
            query["timeline_at"] = {
                **({"$gte": self.since} if self.since else {}),
                **({"$lt": self.until} if self.until else {}),
            }
        for field, values in (
            ("source_kind", self.source_kinds),
            ("source_id", self.source_ids),
            ("outlet", self.outlets),
            ("sector_ids", self.sector_ids),
            ("locality_codes", self.locality_codes),
            ("entity_keys", self.entity_keys),
            ("keyword_keys", self.keyword_keys),
        ):
            if values:
                query[field] = values[0] if len(values) == 1 else {"$in": list(values)}
        for field, value in (
            ("toxicity.label", self.toxicity),
            ("emotion.label", self.emotion),
            ("topic.label", self.news_topic),
        ):
            if value:
                query[field] = value
        if self.language:
            # Detected ({code, confidence}) once analysed; before that, as the source declared.
            clauses.append({"$or": [{"language.code": self.language}, {"language": self.language}]})
        if self.search:
            terms = search_terms(self.search)
            if terms:
                query["search_terms"] = {"$all": terms}
        if self.sentiment:
            query["sentiment.label"] = self.sentiment
        if self.story_id:
            query["story_id"] = self.story_id
        if self.topic:
            clauses.append(self.topic)
        if not clauses:
            return query
        return (
            {"$and": [query, *clauses]}
            if query
            else (clauses[0] if len(clauses) == 1 else {"$and": clauses})
        )


def time_bucket(unit: str, timezone: str, field: str = "timeline_at") -> dict[str, Any]:
    """The hour or day a document's ``field`` (its timeline time unless told) falls in, in
    ``timezone``, as ISO text.

    $dateToString rather than $dateTrunc: the embedded test store lacks $dateTrunc with a
    time zone, and both give the same buckets on real MongoDB.
    """
    fmt = "%Y-%m-%dT%H:00:00" if unit == "hour" else "%Y-%m-%dT00:00:00"
    return {"$dateToString": {"format": fmt, "date": f"${field}", "timezone": timezone}}


def one_or_any(values: list[Any]) -> Any:
    """A condition matching any of ``values``: plain equality for one value, which every store
    answers from an index (the embedded test store uses indexes for equality only), else $in."""
    return values[0] if len(values) == 1 else {"$in": values}


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
        cursor = self._documents.find({"_id": one_or_any(ids)}, _PROJECTION)
        return {record["_id"]: record async for record in cursor}

    async def matching(
        self, ids: list[ObjectId], flt: DocumentFilter
    ) -> dict[ObjectId, dict[str, Any]]:
        """Which of ``ids`` match ``flt``, in one query."""
        if not ids:
            return {}
        by_id = {"_id": {"$in": ids}}
        query = flt.to_mongo()
        cursor = self._documents.find({"$and": [by_id, query]} if query else by_id, _PROJECTION)
        return {record["_id"]: record async for record in cursor}

    async def embeddings(self, ids: list[ObjectId]) -> list[list[float] | None]:
        """The embeddings of ``ids``, in order (None where absent): one query for a page."""
        cursor = self._documents.find({"_id": {"$in": ids}}, {"embedding": 1})
        found = {r["_id"]: r.get("embedding") async for r in cursor}
        return [decode_embedding(found[i]) if found.get(i) else None for i in ids]

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
        # The whole page in the first reply: without a batch size the server may split it and
        # the rest costs a getMore round trip.
        cursor = (
            self._documents.find(query, _PROJECTION)
            .sort(sort)
            .limit(first + 1)
            .batch_size(first + 1)
        )
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
        cursor = await self._documents.aggregate(
            [
                {"$match": flt.to_mongo()},
                {
                    "$group": {
                        "_id": {
                            "bucket": time_bucket(unit, timezone),
                            "label": "$sentiment.label",
                        },
                        "n": {"$sum": 1},
                    }
                },
            ],
            # Every row in the first reply: a getMore per 101 rows would be a round trip each.
            batchSize=_TIMELINE_ROWS,
        )
        buckets: dict[str, dict[str | None, int]] = {}
        async for row in cursor:
            buckets.setdefault(row["_id"]["bucket"], {})[row["_id"].get("label")] = row["n"]
        return sorted(buckets.items())

    async def by_external_keys(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Documents by their sender-scoped external key (``ext_key``), in one query."""
        cursor = self._documents.find({"ext_key": one_or_any(keys)}, _PROJECTION)
        return {record["ext_key"]: record async for record in cursor}

    async def story_pages(
        self, story_ids: list[ObjectId], *, first: int
    ) -> dict[ObjectId, list[dict[str, Any]]]:
        """The newest ``first + 1`` documents of each story, in one query for all of them.

        Stories are small (an event's copies across outlets), so grouping all their documents
        and keeping the newest in the database is cheap, and it spares a query per story.
        """
        cursor = await self._documents.aggregate(
            [
                {"$match": {"story_id": one_or_any(story_ids)}},
                {"$project": _PROJECTION},
                {"$sort": {"_id": -1}},
                {"$group": {"_id": "$story_id", "records": {"$push": "$$ROOT"}}},
                {"$project": {"records": {"$slice": ["$records", first + 1]}}},
            ]
        )
        return {row["_id"]: row["records"] async for row in cursor}

    async def story_counts(self, story_ids: list[ObjectId]) -> dict[ObjectId, int]:
        cursor = await self._documents.aggregate(
            [
                {"$match": {"story_id": one_or_any(story_ids)}},
                {"$group": {"_id": "$story_id", "n": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["n"] async for row in cursor}

    async def existing_stories(self, ids: list[ObjectId]) -> set[ObjectId]:
        """Which of ``ids`` name a story that still has documents."""
        return set(await self._documents.distinct("story_id", {"story_id": one_or_any(ids)}))

    async def count(self, flt: DocumentFilter) -> int:
        """Documents matching the filter, all pages: asked only when a client selects it."""
        return await self._documents.count_documents(flt.to_mongo())
