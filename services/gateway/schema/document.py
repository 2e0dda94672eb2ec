"""The Document type, its sentiment, and the connection and filter that list documents."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay

from services.gateway.repository import DocumentFilter
from services.gateway.schema.context import Info
from services.gateway.schema.errors import bad_input
from services.gateway.schema.pagination import decode_cursor, encode_cursor, page_size

if TYPE_CHECKING:
    from services.gateway.schema.story import Story


@strawberry.enum
class SentimentLabel(Enum):
    NEGATIVE = "NEGATIVE"
    NEUTRAL = "NEUTRAL"
    POSITIVE = "POSITIVE"


@strawberry.enum(description="Whether the nlp service has analysed the document yet.")
class AnalysisState(Enum):
    PENDING = "pending"
    ANALYZED = "analyzed"


@strawberry.type(description="The tone of a document, with the probability of every label.")
class Sentiment:
    label: SentimentLabel
    score: float = strawberry.field(description="Probability of the label, 0 to 1.")
    negative: float
    neutral: float
    positive: float


@strawberry.type(description="A text the city listens to: a news article, a post, a comment.")
class Document(relay.Node):
    id: relay.NodeID[str]
    title: str
    text: str
    url: str | None
    published_at: datetime | None
    created_at: datetime = strawberry.field(description="When Lắng Nghe stored it.")
    analysis_state: AnalysisState
    sentiment: Sentiment | None = strawberry.field(description="Null until analysed.")
    analyzed_at: datetime | None
    story_id: strawberry.Private[ObjectId | None]

    @strawberry.field(
        description="The story this document tells, with its copies and versions across "
        "outlets; null for documents submitted directly."
    )
    def story(self) -> Annotated["Story", strawberry.lazy("services.gateway.schema.story")] | None:
        from services.gateway.schema.story import Story

        return Story(id=str(self.story_id)) if self.story_id else None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        sentiment = record.get("sentiment")
        return cls(
            story_id=record.get("story_id"),
            id=str(record["_id"]),
            title=record.get("title", ""),
            text=record["text"],
            url=record.get("url"),
            published_at=record.get("published_at"),
            created_at=record["created_at"],
            analysis_state=AnalysisState(record["analysis_state"]),
            sentiment=(
                Sentiment(
                    label=SentimentLabel(sentiment["label"]),
                    score=sentiment["score"],
                    negative=sentiment["negative"],
                    neutral=sentiment["neutral"],
                    positive=sentiment["positive"],
                )
                if sentiment
                else None
            ),
            analyzed_at=record.get("analyzed_at"),
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        node_ids = list(node_ids)
        ids: list[ObjectId | None] = []
        for node_id in node_ids:
            try:
                ids.append(ObjectId(node_id))
            except (InvalidId, TypeError):
                ids.append(None)
        found = await info.context.documents.get_many([i for i in ids if i is not None])
        nodes = [cls.from_record(found[i]) if i in found else None for i in ids]
        if required and any(n is None for n in nodes):
            missing = [n for n, node in zip(node_ids, nodes, strict=True) if node is None]
            raise ValueError(f"no document with id {', '.join(missing)}")
        return nodes


@strawberry.type(name="DocumentConnection")
class DocumentConnection(relay.Connection[Document]):
    filter: strawberry.Private[DocumentFilter]

    @strawberry.field(description="Documents matching the filter, all pages.")
    async def total_count(self, info: Info) -> int:
        return await info.context.documents.count(self.filter)


@strawberry.input(description="Narrows a document listing; all given conditions must hold.")
class DocumentFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description="Words that must all occur in the title or text; accents are optional.",
    )
    sentiment: SentimentLabel | None = None
    story: relay.GlobalID | None = strawberry.field(
        default=None, description="Only the documents of this story."
    )

    def to_filter(self) -> DocumentFilter:
        story_id = None
        if self.story is not None:
            if self.story.type_name != "Story" or not ObjectId.is_valid(self.story.node_id):
                raise bad_input(f"{self.story} is not the id of a story")
            story_id = ObjectId(self.story.node_id)
        return DocumentFilter(
            search=self.search,
            sentiment=self.sentiment.value if self.sentiment else None,
            story_id=story_id,
        )


async def document_page(
    info: Info, flt: DocumentFilter, first: int | None, after: str | None
) -> DocumentConnection:
    """One page of the documents matching ``flt``, newest first."""
    page = await info.context.documents.page(
        flt, first=page_size(first), after=decode_cursor(after) if after else None
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
