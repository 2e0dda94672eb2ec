"""The root Query type."""

import strawberry
from strawberry import relay

from services.gateway.schema.context import Info
from services.gateway.schema.document import Document, DocumentConnection, DocumentFilterInput
from services.gateway.schema.errors import bad_input
from services.gateway.schema.pagination import decode_cursor, encode_cursor, page_size


@strawberry.type
class Query:
    node: relay.Node | None = relay.node()

    @strawberry.field(description="One document by its global id; null when there is none.")
    async def document(self, info: Info, id: relay.GlobalID) -> Document | None:
        if id.type_name != "Document":
            raise bad_input(f"{id} is the id of a {id.type_name}, not a Document")
        (node,) = await Document.resolve_nodes(info=info, node_ids=[id.node_id])
        return node

    @strawberry.field(description="Documents, newest first, at most 100 a page.")
    async def documents(
        self,
        info: Info,
        filter: DocumentFilterInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> DocumentConnection:
        size = page_size(first)
        flt = filter.to_filter() if filter else DocumentFilterInput().to_filter()
        page = await info.context.documents.page(
            flt,
            first=size,
            after=decode_cursor(after) if after else None,
        )
        edges = [
            relay.Edge(cursor=encode_cursor(record["_id"]), node=Document.from_record(record))
            for record in page.records
        ]
        return DocumentConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            filter=flt,
        )
