"""The Document type, its sentiment, and the connection and filter that list documents."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self
from zoneinfo import ZoneInfo

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay

from services.gateway.query_language import QuerySyntaxError, compile_query
from services.gateway.repository import DocumentFilter, DocumentOrder
from services.gateway.schema.context import Info
from services.gateway.schema.errors import ApiError, bad_input
from services.gateway.schema.pagination import decode_position, encode_position, page_size

if TYPE_CHECKING:
    from services.gateway.schema.story import Story


@strawberry.enum
class SentimentLabel(Enum):
    NEGATIVE = "NEGATIVE"
    NEUTRAL = "NEUTRAL"
    POSITIVE = "POSITIVE"


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@strawberry.enum(description="Where documents come from.")
class SourceKind(Enum):
    PRESS = "press"
    WEBSITE = "website"
    SOCIAL = "social"
    PUSH = "push"
    MANUAL = "manual"
    FEEDBACK = strawberry.enum_value("feedback", description="Citizens' feedback (1022).")


@strawberry.enum(description="How a list of documents is ordered; newest first either way.")
class DocumentOrderBy(Enum):
    STORED = "stored"
    PUBLISHED = "published"


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
    source_kind: SourceKind
    outlet: str = strawberry.field(description="The press agency, site or page; may be empty.")
    language: str | None
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
            source_kind=SourceKind(record.get("source_kind", "manual")),
            outlet=record.get("outlet", ""),
            language=record.get("language"),
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
        records = await info.context.loaders.document.load_many([i for i in ids if i is not None])
        found = {record["_id"]: record for record in records if record is not None}
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
        if self.filter.story_id is not None and self.filter == DocumentFilter(
            story_id=self.filter.story_id
        ):
            # A story's count, asked for each of a page's stories, is counted for all at once.
            return await info.context.loaders.story_count.load(self.filter.story_id)
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
    since: datetime | None = strawberry.field(
        default=None, description="Published (or, undated, stored) at or after this time."
    )
    until: datetime | None = strawberry.field(default=None, description="... and before this.")
    source_kinds: list[SourceKind] | None = None
    outlets: list[str] | None = None
    language: str | None = strawberry.field(default=None, description="ISO 639-1, e.g. vi.")
    query: str | None = strawberry.field(
        default=None,
        description='A tracked-topic query: ngập OR "triều cường" AND NOT sentiment:positive, '
        "with source:, outlet:, district:, sector: and sentiment: fields.",
    )

    def to_filter(self) -> DocumentFilter:
        story_id = None
        if self.story is not None:
            if self.story.type_name != "Story" or not ObjectId.is_valid(self.story.node_id):
                raise bad_input(f"{self.story} is not the id of a story")
            story_id = ObjectId(self.story.node_id)
        if self.since and self.until and self.since >= self.until:
            raise bad_input("since must be before until")
        topic = None
        if self.query is not None:
            try:
                topic = compile_query(self.query)
            except QuerySyntaxError as error:
                raise ApiError(str(error), "BAD_USER_INPUT", position=error.position) from None
        return DocumentFilter(
            search=self.search,
            sentiment=self.sentiment.value if self.sentiment else None,
            story_id=story_id,
            since=in_city_time(self.since),
            until=in_city_time(self.until),
            source_kinds=tuple(k.value for k in self.source_kinds or ()),
            outlets=tuple(self.outlets or ()),
            language=self.language,
            topic=topic,
        )


def in_city_time(moment: datetime | None) -> datetime | None:
    """A time without an offset, from a Vietnamese caller, is Vietnamese time."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=VIETNAM)
    return moment


async def document_page(
    info: Info,
    flt: DocumentFilter,
    first: int | None,
    after: str | None,
    order: DocumentOrderBy = DocumentOrderBy.STORED,
) -> DocumentConnection:
    """One page of the documents matching ``flt``, newest first in ``order``."""
    sort = DocumentOrder(order.value)
    page = await info.context.documents.page(
        flt,
        first=page_size(first),
        after=decode_position(after, sort) if after else None,
        order=sort,
    )
    return document_connection(page.records, page.has_next_page, after, sort, flt)


def document_connection(
    records: list[dict[str, Any]],
    has_next_page: bool,
    after: str | None,
    sort: DocumentOrder,
    flt: DocumentFilter,
) -> DocumentConnection:
    edges = [
        relay.Edge(cursor=encode_position(sort, record), node=Document.from_record(record))
        for record in records
    ]
    return DocumentConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=has_next_page,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        filter=flt,
    )
