"""The Story type: one event as the outlets covering it told it, syndicated copies together."""

from collections.abc import Iterable
from typing import Self

import strawberry
from bson import ObjectId
from strawberry import relay

from services.gateway.repository import DocumentFilter
from services.gateway.schema.context import Info
from services.gateway.schema.document import DocumentConnection, document_page


@strawberry.type(description="Documents that tell one story: wire copies, retitled versions.")
class Story(relay.Node):
    id: relay.NodeID[str]

    @strawberry.field(description="The story's documents across outlets, newest first.")
    async def documents(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> DocumentConnection:
        return await document_page(info, DocumentFilter(story_id=ObjectId(self.id)), first, after)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        node_ids = list(node_ids)
        valid = [ObjectId(n) for n in node_ids if ObjectId.is_valid(n)]
        known = await info.context.documents.existing_stories(valid)
        nodes = [
            cls(id=n) if ObjectId.is_valid(n) and ObjectId(n) in known else None for n in node_ids
        ]
        if required and None in nodes:
            raise ValueError(f"no story with id {', '.join(node_ids)}")
        return nodes
