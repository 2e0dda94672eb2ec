"""DataLoaders, made per request: whatever a query asks for in many places is read in one query.

A page of documents each asking for its story's documents, aliases asking for several documents
or feedback by id: each becomes one MongoDB round trip however many items ask, so no resolver
queries per item (N+1). A loader caches for the request only, so nothing outlives it.
"""

from collections import defaultdict
from functools import cached_property
from typing import Any

from bson import ObjectId
from strawberry.dataloader import DataLoader

from services.gateway.repository import DocumentRepository


class Loaders:
    """Each loader is made on first use: most requests need one of them or none."""

    def __init__(self, documents: DocumentRepository) -> None:
        self._documents = documents

    @cached_property
    def document(self) -> DataLoader[ObjectId, dict[str, Any] | None]:
        return DataLoader(self._load_documents)

    @cached_property
    def story_exists(self) -> DataLoader[ObjectId, bool]:
        return DataLoader(self._load_story_exists)

    @cached_property
    def story_count(self) -> DataLoader[ObjectId, int]:
        return DataLoader(self._load_story_counts)

    @cached_property
    def story_page(self) -> DataLoader[tuple[ObjectId, int], list[dict[str, Any]]]:
        # Keyed by (story id, page size): one query per page size asked for in the request.
        return DataLoader(self._load_story_pages)

    @cached_property
    def by_external_key(self) -> DataLoader[str, dict[str, Any] | None]:
        return DataLoader(self._load_external)

    async def _load_documents(self, ids: list[ObjectId]) -> list[dict[str, Any] | None]:
        found = await self._documents.get_many(list(set(ids)))
        return [found.get(i) for i in ids]

    async def _load_story_exists(self, ids: list[ObjectId]) -> list[bool]:
        known = await self._documents.existing_stories(list(set(ids)))
        return [i in known for i in ids]

    async def _load_story_counts(self, ids: list[ObjectId]) -> list[int]:
        counts = await self._documents.story_counts(list(set(ids)))
        return [counts.get(i, 0) for i in ids]

    async def _load_story_pages(
        self, keys: list[tuple[ObjectId, int]]
    ) -> list[list[dict[str, Any]]]:
        by_size: dict[int, set[ObjectId]] = defaultdict(set)
        for story_id, first in keys:
            by_size[first].add(story_id)
        pages: dict[tuple[ObjectId, int], list[dict[str, Any]]] = {}
        for first, story_ids in by_size.items():
            found = await self._documents.story_pages(list(story_ids), first=first)
            for story_id in story_ids:
                pages[story_id, first] = found.get(story_id, [])
        return [pages[key] for key in keys]

    async def _load_external(self, keys: list[str]) -> list[dict[str, Any] | None]:
        found = await self._documents.by_external_keys(list(set(keys)))
        return [found.get(k) for k in keys]
