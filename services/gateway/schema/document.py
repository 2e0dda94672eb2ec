"""The Document type, its sentiment, and the connection and filter that list documents."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any, Self

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay

from services.gateway.repository import DocumentFilter
from services.gateway.schema.context import Info


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

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        sentiment = record.get("sentiment")
        return cls(
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

    def to_filter(self) -> DocumentFilter:
        return DocumentFilter(
            search=self.search, sentiment=self.sentiment.value if self.sentiment else None
        )
