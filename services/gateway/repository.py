"""Reads documents from MongoDB for the API: filters, keyset pagination, counts."""

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.common.text import search_terms

# Everything the API shows; the search index and hashes stay in the database.
_PROJECTION = {"search_terms": 0, "minhash": 0, "minhash_bands": 0}


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    search: str | None = None
    sentiment: str | None = None
    story_id: ObjectId | None = None

    def to_mongo(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.search:
            terms = search_terms(self.search)
            if terms:
                query["search_terms"] = {"$all": terms}
        if self.sentiment:
            query["sentiment.label"] = self.sentiment
        if self.story_id:
            query["story_id"] = self.story_id
        return query


@dataclass(frozen=True, slots=True)
class DocumentPage:
    records: list[dict[str, Any]]
    has_next_page: bool


class DocumentRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._documents = db[DOCUMENTS]

    async def get_many(self, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        cursor = self._documents.find({"_id": {"$in": ids}}, _PROJECTION)
        return {record["_id"]: record async for record in cursor}

    async def page(
        self, flt: DocumentFilter, *, first: int, after: ObjectId | None
    ) -> DocumentPage:
        """Newest first; ``after`` is the last id of the previous page (keyset, not offsets)."""
        query = flt.to_mongo()
        if after:
            query = {**query, "_id": {"$lt": after}}
        cursor = self._documents.find(query, _PROJECTION).sort("_id", -1).limit(first + 1)
        records = await cursor.to_list()
        return DocumentPage(records[:first], len(records) > first)

    async def existing_stories(self, ids: list[ObjectId]) -> set[ObjectId]:
        """Which of ``ids`` name a story that still has documents."""
        return set(await self._documents.distinct("story_id", {"story_id": {"$in": ids}}))

    async def count(self, flt: DocumentFilter) -> int:
        """Documents matching the filter, all pages: asked only when a client selects it."""
        return await self._documents.count_documents(flt.to_mongo())
