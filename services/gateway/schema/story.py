"""The Story type: one event as the outlets covering it told it, syndicated copies together."""

from collections.abc import Iterable
from typing import Self

import strawberry
from bson import ObjectId
from strawberry import relay

from services.gateway.repository import DocumentFilter, DocumentOrder
from services.gateway.schema.context import Info
from services.gateway.schema.document import (
    DocumentConnection,
    document_connection,
    document_page,
)
from services.gateway.schema.pagination import page_size


@strawberry.type(description="Documents that tell one story: wire copies, retitled versions.")
class Story(relay.Node):
    id: relay.NodeID[str]

    @strawberry.field(description="The story's documents across outlets, newest first.")
    async def documents(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> DocumentConnection:
        flt = DocumentFilter(story_id=ObjectId(self.id))
        if after is not None:
            return await document_page(info, flt, first, after)
        # The first page, which every story of a listing asks for: one query for them all.
        size = page_size(first)
        records = await info.context.loaders.story_page.load((ObjectId(self.id), size))
        return document_connection(
            records[:size], len(records) > size, None, DocumentOrder.STORED, flt
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        node_ids = list(node_ids)
        valid = [ObjectId(n) for n in node_ids if ObjectId.is_valid(n)]
        exists = dict(
            zip(valid, await info.context.loaders.story_exists.load_many(valid), strict=True)
        )
        nodes = [
            cls(id=n) if ObjectId.is_valid(n) and exists.get(ObjectId(n)) else None
            for n in node_ids
        ]
        if required and None in nodes:
            raise ValueError(f"no story with id {', '.join(node_ids)}")
        return nodes
