"""The Document type, its sentiment, and the connection and filter that list documents."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Self
from zoneinfo import ZoneInfo

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay
from strawberry.dataloader import DataLoader

from services.common.text import folded_phrase
from services.gateway.query_language import QuerySyntaxError, compile_query
from services.gateway.repository import DocumentFilter, DocumentOrder
from services.gateway.schema import findings
from services.gateway.schema.context import Info
from services.gateway.schema.errors import ApiError, bad_input
from services.gateway.schema.findings import (
    Emotion,
    EmotionLabel,
    EntityType,
    Keyword,
    Locality,
    NamedEntity,
    SectorScore,
    Topic,
    TopicLabel,
    Toxicity,
    ToxicityLabel,
)
from services.gateway.schema.pagination import decode_position, encode_position, page_size

if TYPE_CHECKING:
    from services.gateway.schema.story import Story


@strawberry.enum
class SentimentLabel(Enum):
    NEGATIVE = "NEGATIVE"
    NEUTRAL = "NEUTRAL"
    POSITIVE = "POSITIVE"


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# A filter's lists stay short: each value is one more index range to scan.
MAX_FILTER_VALUES = 50


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
    language: str | None = strawberry.field(
        description="ISO 639-1 code: as detected by nlp once analysed (vi, en or other), "
        "before that as the source declares it."
    )
    language_confidence: float | None = strawberry.field(
        description="The language detector's confidence; null when not detected."
    )
    analysis_state: AnalysisState
    sentiment: Sentiment | None = strawberry.field(
        description="Null until analysed, and for texts not in Vietnamese."
    )
    models_version: str | None = strawberry.field(
        description="The version of the model set that analysed the document."
    )
    analyzed_at: datetime | None
    # Made with the document rather than by a resolver: a resolver runs Strawberry's general
    # resolver path once for every document of a page.
    story: Annotated["Story", strawberry.lazy("services.gateway.schema.story")] | None = (
        strawberry.field(
            description="The story this document tells, with its copies and versions across "
            "outlets; null for documents submitted directly."
        )
    )
    # The stored record: the findings below are made from it only when a query asks for them
    # (a page of documents usually asks for a few fields, and making them all cost more than
    # answering them).
    record: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="Null until analysed, and for texts not in Vietnamese.")
    def toxicity(self) -> Toxicity | None:
        return findings.classification(Toxicity, ToxicityLabel, self.record.get("toxicity"))

    @strawberry.field(description="Null until analysed, and for texts not in Vietnamese.")
    def emotion(self) -> Emotion | None:
        return findings.classification(Emotion, EmotionLabel, self.record.get("emotion"))

    @strawberry.field(description="Null until analysed, and for texts not in Vietnamese.")
    def topic(self) -> Topic | None:
        return findings.classification(Topic, TopicLabel, self.record.get("topic"))

    @strawberry.field(description="The city sectors the document concerns, best first.")
    def sectors(self) -> list[SectorScore]:
        return findings.sectors(self.record.get("sectors"))

    @strawberry.field(description="Names of people, organisations and places, in the order found.")
    def entities(self) -> list[NamedEntity]:
        return findings.entities(self.record.get("entities"))

    @strawberry.field(description="Administrative units of the city the document mentions.")
    def localities(self) -> list[Locality]:
        return findings.localities(self.record.get("localities"))

    @strawberry.field(description="Key phrases, best first.")
    def keywords(self) -> list[Keyword]:
        return findings.keywords(self.record.get("keywords"))

    @strawberry.field(
        description="The L2-normalised sentence embedding (384 numbers, float16 precision), for "
        "similarity search; read only when asked for. Null until analysed."
    )
    async def embedding(self, info: Info) -> list[float] | None:
        context = info.context
        if context.embeddings is None:
            context.embeddings = DataLoader(load_fn=context.documents.embeddings)
        return await context.embeddings.load(ObjectId(self.id))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        sentiment = record.get("sentiment")
        language, confidence = findings.language_of(record)
        story_id = record.get("story_id")
        return cls(
            story=_story_type()(id=str(story_id)) if story_id else None,
            id=str(record["_id"]),
            title=record.get("title", ""),
            text=record["text"],
            url=record.get("url"),
            published_at=record.get("published_at"),
            created_at=record["created_at"],
            source_kind=findings.member(SourceKind, record.get("source_kind", "manual")),
            outlet=record.get("outlet", ""),
            language=language,
            language_confidence=confidence,
            analysis_state=findings.member(AnalysisState, record["analysis_state"]),
            sentiment=(
                Sentiment(
                    label=findings.member(SentimentLabel, sentiment["label"]),
                    score=sentiment["score"],
                    negative=sentiment["negative"],
                    neutral=sentiment["neutral"],
                    positive=sentiment["positive"],
                )
                if sentiment
                else None
            ),
            record=record,
            models_version=record.get("models_version"),
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


@cache
def _story_type() -> type["Story"]:
    # story.py imports this module, so Story is reached once both are loaded.
    from services.gateway.schema.story import Story

    return Story


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
    toxicity: ToxicityLabel | None = None
    emotion: EmotionLabel | None = None
    topic: TopicLabel | None = None
    sectors: list[str] | None = strawberry.field(
        default=None, description="Documents concerning any of these sectors (taxonomy ids)."
    )
    localities: list[str] | None = strawberry.field(
        default=None,
        description="Documents mentioning any of these units, by official code. A document "
        "naming a unit of the old map (a district, say) is found by that unit's code and by the "
        "codes of today's units on its area.",
    )
    keywords: list[str] | None = strawberry.field(
        default=None,
        description="Documents with any of these key phrases; accents and case do not matter.",
    )
    entity: "EntityFilterInput | None" = strawberry.field(
        default=None, description="Documents naming this person, organisation or place."
    )
    query: str | None = strawberry.field(
        default=None,
        description='A tracked-topic query: ngập OR "triều cường" AND NOT sentiment:positive, '
        "with source:, outlet:, district: (or locality:), sector: and sentiment: fields.",
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
        for name, values in (
            ("sectors", self.sectors),
            ("localities", self.localities),
            ("keywords", self.keywords),
        ):
            if values is not None and not 1 <= len(values) <= MAX_FILTER_VALUES:
                raise bad_input(f"{name} takes 1 to {MAX_FILTER_VALUES} values")
        return DocumentFilter(
            search=self.search,
            sentiment=self.sentiment.value if self.sentiment else None,
            story_id=story_id,
            since=in_city_time(self.since),
            until=in_city_time(self.until),
            source_kinds=tuple(k.value for k in self.source_kinds or ()),
            outlets=tuple(self.outlets or ()),
            language=self.language,
            toxicity=self.toxicity.value if self.toxicity else None,
            emotion=self.emotion.value if self.emotion else None,
            news_topic=self.topic.value if self.topic else None,
            sector_ids=tuple(s.strip().lower() for s in self.sectors or ()),
            locality_codes=tuple(c.strip() for c in self.localities or ()),
            entity_keys=self.entity.keys() if self.entity else (),
            keyword_keys=tuple(k for k in map(folded_phrase, self.keywords or ()) if k),
            topic=topic,
        )


@strawberry.input(description="A named entity to look for; accents and case do not matter.")
class EntityFilterInput:
    text: str = strawberry.field(description='e.g. "Nguyễn Văn A" or "nguyen van a".')
    type: EntityType | None = strawberry.field(default=None, description="Any type when null.")

    def keys(self) -> tuple[str, ...]:
        key = folded_phrase(self.text)
        if not any(c.isalnum() for c in key):
            raise bad_input("entity.text must have letters or digits")
        kinds = [self.type] if self.type else list(EntityType)
        return tuple(f"{kind.value.lower()}:{key}" for kind in kinds)


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
