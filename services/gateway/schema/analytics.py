"""Analytics over a filter or tracked topic, in Ho Chi Minh City's calendar: volume and sentiment
over time, breakdowns by source, outlet, sector and place, top names, key phrases and stories,
share of voice between tracked topics, and the period report."""

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from bson import ObjectId
from strawberry import relay

from services.gateway.aggregations import DocumentAggregations, ValueCount
from services.gateway.query_language import compile_query
from services.gateway.repository import DocumentFilter
from services.gateway.schema.alerts import Alert
from services.gateway.schema.context import Info
from services.gateway.schema.document import (
    VIETNAM,
    DocumentFilterInput,
    SourceKind,
    in_city_time,
)
from services.gateway.schema.errors import ApiError, bad_input
from services.gateway.schema.findings import AdminStructure, EntityType, LocalityLevel, known
from services.gateway.schema.story import Story
from services.gateway.schema.topics import TRACKED_TOPICS, TrackedTopic

MAX_BUCKETS = 2_000
# Without a period, analytics cover the last 30 days; a period is at most about 13 months.
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=400)
MAX_ROWS = 100
# A heat map of the city needs every unit: 168 today, about 330 on the old map.
MAX_LOCALITY_ROWS = 500
MAX_TOPICS = 10


@strawberry.enum(description="Calendar buckets in Asia/Ho_Chi_Minh; weeks start on Monday.")
class TimeBucket(Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@strawberry.type(description="Documents in one bucket of time, by sentiment.")
class TimelinePoint:
    start: datetime
    total: int
    negative: int
    neutral: int
    positive: int
    unanalysed: int = strawberry.field(description="Stored, not analysed yet.")


@strawberry.input(description="A span of time; a time without an offset is Vietnamese time.")
class PeriodInput:
    since: datetime = strawberry.field(description="From this time, included.")
    until: datetime = strawberry.field(description="To this time, excluded.")


@strawberry.type(description="The span of time analytics cover.")
class Period:
    since: datetime
    until: datetime


def bucket_start(key: str, bucket: TimeBucket) -> datetime:
    """The bucket an hour or day (ISO text in city time) belongs to. Days are folded into weeks
    here, so that week boundaries follow the city's calendar whatever the database does."""
    start = datetime.fromisoformat(key).replace(tzinfo=VIETNAM)
    if bucket is TimeBucket.WEEK:
        start -= timedelta(days=start.weekday())
    return start


def _unit(bucket: TimeBucket) -> str:
    return "hour" if bucket is TimeBucket.HOUR else "day"


async def timeline_points(
    info: Info, flt: DocumentFilter, bucket: TimeBucket
) -> list[TimelinePoint]:
    charge(info)
    counts = await info.context.documents.sentiment_counts(
        flt, unit=_unit(bucket), timezone=str(VIETNAM)
    )
    points: dict[datetime, TimelinePoint] = {}
    for key, by_label in counts:
        start = bucket_start(key, bucket)
        point = points.setdefault(
            start,
            TimelinePoint(start=start, total=0, negative=0, neutral=0, positive=0, unanalysed=0),
        )
        point.negative += by_label.get("NEGATIVE", 0)
        point.neutral += by_label.get("NEUTRAL", 0)
        point.positive += by_label.get("POSITIVE", 0)
        point.unanalysed += by_label.get(None, 0)
        point.total += sum(by_label.values())
    if len(points) > MAX_BUCKETS:
        raise bad_input(f"more than {MAX_BUCKETS} buckets: narrow the time range")
    return [points[start] for start in sorted(points)]


async def sentiment_timeline(
    info: Info, bucket: TimeBucket = TimeBucket.DAY, filter: DocumentFilterInput | None = None
) -> list[TimelinePoint]:
    """Volume and sentiment over time for the documents matching ``filter``, in its since/until
    or the last 30 days."""
    _, flt = window(None, (filter or DocumentFilterInput()).to_filter())
    return await timeline_points(info, flt, bucket)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@strawberry.interface(description="How many documents share a value, and how negative they are.")
class Tally:
    count: int
    negative: int = strawberry.field(description="Of which analysed as negative.")
    negative_share: float | None = strawberry.field(
        description="Negative documents among those with a sentiment; null when none has one."
    )


def _tally_fields(tally: ValueCount) -> dict[str, Any]:
    return {
        "count": tally.count,
        "negative": tally.negative,
        "negative_share": _share(tally.negative, tally.analysed),
    }


@strawberry.type
class SourceKindTally(Tally):
    source_kind: SourceKind


@strawberry.type
class OutletTally(Tally):
    outlet: str = strawberry.field(description="Empty for documents with no outlet.")


@strawberry.type
class SectorTally(Tally):
    sector: str = strawberry.field(description="The sector taxonomy's id.")


@strawberry.type(description="Documents about one administrative unit: a cell of a heat map.")
class LocalityTally(Tally):
    code: str
    name: str | None = strawberry.field(
        description="Null for a unit known here only as where an old unit went, until a "
        "document names it."
    )
    level: LocalityLevel | None
    structure: AdminStructure


@strawberry.type(description="Documents naming one person, organisation or place.")
class EntityTally(Tally):
    type: EntityType
    key: str = strawberry.field(description="The folded form the count is grouped by.")
    text: str = strawberry.field(description="One way the documents write it.")


@strawberry.type(description="Documents sharing one key phrase.")
class KeywordTally(Tally):
    key: str = strawberry.field(description="The folded form the count is grouped by.")
    phrase: str = strawberry.field(description="One way the documents write it.")


@strawberry.type(description="A story of the period, with how widely it was told.")
class TopStory:
    story: Story
    title: str = strawberry.field(
        description="The title it was first told under; for untitled posts, how the first begins."
    )
    documents: int
    outlets: int
    first_seen: datetime
    last_seen: datetime


@strawberry.type(description="Documents by sentiment.")
class SentimentSplit:
    total: int
    negative: int
    neutral: int
    positive: int
    unanalysed: int = strawberry.field(description="Not analysed yet, or not in Vietnamese.")
    negative_share: float | None = strawberry.field(
        description="Negative among those with a sentiment; null when none has one."
    )


def charge(info: Info, parts: int = 1) -> None:
    """Count ``parts`` analytics aggregations against the request's budget: aliases could
    otherwise ask one request for hundreds of aggregations over months of documents."""
    context = info.context
    context.analytics_parts += parts
    if context.analytics_parts > context.settings.max_analytics_parts:
        raise bad_input(
            f"a request may ask for at most {context.settings.max_analytics_parts} analytics "
            "parts (breakdowns, tops, timelines, topics compared): split it"
        )


def aggregations_for(info: Info, parts: int = 1) -> DocumentAggregations:
    charge(info, parts)
    return DocumentAggregations(info.context.documents.database)


def _rows(first: int, maximum: int = MAX_ROWS) -> int:
    if not 1 <= first <= maximum:
        raise bad_input(f"first must be between 1 and {maximum}")
    return first


@strawberry.type(description="Analytics of the documents matching a filter in a period.")
class Analytics:
    period: Period
    flt: strawberry.Private[DocumentFilter]
    # total and sentiment read one split: one aggregation, however many fields ask.
    cache: strawberry.Private[dict[str, asyncio.Future]]

    def _aggregations(self, info: Info) -> DocumentAggregations:
        return aggregations_for(info)

    async def _split(self, info: Info) -> dict[str | None, int]:
        if "split" not in self.cache:
            self.cache["split"] = asyncio.ensure_future(
                self._aggregations(info).sentiment_split(self.flt)
            )
        return await self.cache["split"]

    @strawberry.field(description="Documents in the period.")
    async def total(self, info: Info) -> int:
        return sum((await self._split(info)).values())

    @strawberry.field(description="Documents by sentiment.")
    async def sentiment(self, info: Info) -> SentimentSplit:
        split = await self._split(info)
        negative, neutral, positive = (split.get(k, 0) for k in ("NEGATIVE", "NEUTRAL", "POSITIVE"))
        return SentimentSplit(
            total=sum(split.values()),
            negative=negative,
            neutral=neutral,
            positive=positive,
            unanalysed=split.get(None, 0),
            negative_share=_share(negative, negative + neutral + positive),
        )

    @strawberry.field(description="Volume and sentiment over time.")
    async def timeline(
        self, info: Info, bucket: TimeBucket = TimeBucket.DAY
    ) -> list[TimelinePoint]:
        return await timeline_points(info, self.flt, bucket)

    @strawberry.field(description="Documents by kind of source, most first.")
    async def by_source_kind(self, info: Info) -> list[SourceKindTally]:
        tallies = await self._aggregations(info).by_field(self.flt, "source_kind", limit=10)
        return [
            SourceKindTally(source_kind=kind, **_tally_fields(t))
            for t in tallies
            if (kind := known(SourceKind, t.value)) is not None
        ]

    @strawberry.field(description="Documents by outlet, most first.")
    async def by_outlet(self, info: Info, first: int = 20) -> list[OutletTally]:
        tallies = await self._aggregations(info).by_field(self.flt, "outlet", limit=_rows(first))
        return [OutletTally(outlet=t.value or "", **_tally_fields(t)) for t in tallies]

    @strawberry.field(
        description="Documents by city sector, most first; a document concerning two sectors "
        "counts under each."
    )
    async def by_sector(self, info: Info, first: int = 20) -> list[SectorTally]:
        tallies = await self._aggregations(info).by_each(self.flt, "sector_ids", limit=_rows(first))
        return [SectorTally(sector=t.value, **_tally_fields(t)) for t in tallies]

    @strawberry.field(
        description="Documents by administrative unit, most first, for heat maps. On today's "
        "map (the default) a document naming a unit of the old map counts under each of "
        "today's units on its area; on the old map only units of the old map count."
    )
    async def by_locality(
        self,
        info: Info,
        structure: AdminStructure = AdminStructure.SINCE_2025,
        level: LocalityLevel | None = None,
        first: int = 200,
    ) -> list[LocalityTally]:
        tallies = await self._aggregations(info).by_locality(
            self.flt,
            structure=structure.value,
            level=level.value if level else None,
            limit=_rows(first, MAX_LOCALITY_ROWS),
        )
        return [
            LocalityTally(
                code=t.value,
                name=t.details.get("name"),
                level=known(LocalityLevel, t.details.get("level")),
                structure=structure,
                **_tally_fields(t),
            )
            for t in tallies
        ]

    @strawberry.field(description="The names most documents mention, of one type or any.")
    async def top_entities(
        self, info: Info, type: EntityType | None = None, first: int = 20
    ) -> list[EntityTally]:
        tallies = await self._aggregations(info).top_entities(
            self.flt, entity_type=type.value if type else None, limit=_rows(first)
        )
        return [
            EntityTally(
                type=kind,
                key=t.value["k"],
                text=t.details["text"] or t.value["k"],
                **_tally_fields(t),
            )
            for t in tallies
            if (kind := known(EntityType, t.value.get("t"))) is not None
        ]

    @strawberry.field(description="The key phrases most documents share.")
    async def top_keywords(self, info: Info, first: int = 20) -> list[KeywordTally]:
        tallies = await self._aggregations(info).top_keywords(self.flt, limit=_rows(first))
        return [
            KeywordTally(key=t.value, phrase=t.details["phrase"] or t.value, **_tally_fields(t))
            for t in tallies
        ]

    @strawberry.field(description="The stories told by most outlets, then by most documents.")
    async def top_stories(self, info: Info, first: int = 10) -> list[TopStory]:
        stories = await self._aggregations(info).top_stories(self.flt, limit=_rows(first))
        return [
            TopStory(
                story=Story(id=str(s.story_id)),
                title=s.title,
                documents=s.count,
                outlets=s.outlets,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
            )
            for s in stories
        ]


@strawberry.type(description="A period's summary, with the alerts your unit's topics raised.")
class Report(Analytics):
    unit: strawberry.Private[str]
    topic_ids: strawberry.Private[list[ObjectId] | None]

    @strawberry.field(
        description="Alerts your unit's tracked topics raised in the period (of the report's "
        "topic only, when it has one), newest first, at most 100."
    )
    async def alerts(self, info: Info) -> list[Alert]:
        records = await self._aggregations(info).alerts(
            unit=self.unit,
            since=self.period.since,
            until=self.period.until,
            topic_ids=self.topic_ids,
        )
        return [Alert.from_record(r) for r in records]


@strawberry.type(description="One tracked topic's documents and share of all the topics' total.")
class TopicVoice:
    tracked_topic: TrackedTopic
    count: int
    share: float | None = strawberry.field(
        description="count / the sum of the topics' counts; null when that sum is 0. A document "
        "matching two topics counts for each."
    )


@strawberry.type(description="The topics' voices in one bucket of time.")
class VoicePoint:
    start: datetime
    total: int = strawberry.field(description="The sum of the topics' counts in the bucket.")
    topics: list[TopicVoice] = strawberry.field(description="In the order the topics were asked.")


@strawberry.type(description="How much of the conversation each tracked topic has.")
class ShareOfVoice:
    period: Period
    topics: list[TopicVoice] = strawberry.field(description="In the order the topics were asked.")
    timeline: list[VoicePoint]


def window(period: PeriodInput | None, flt: DocumentFilter) -> tuple[Period, DocumentFilter]:
    """The period analytics cover, and the filter narrowed to it, so that every aggregation
    reads one bounded range of the timeline index.

    The period is the one given; else the filter's since/until (an open end being now, or 30
    days before the other end); else the last 30 days. It is at most MAX_PERIOD long.
    """
    if period is not None:
        since, until = in_city_time(period.since), in_city_time(period.until)
    else:
        until = flt.until or datetime.now(UTC)
        since = flt.since or until - DEFAULT_PERIOD
    if since >= until:
        raise bad_input("the period must start before it ends")
    if until - since > MAX_PERIOD:
        raise bad_input(f"a period is at most {MAX_PERIOD.days} days: narrow it")
    narrowed = dataclasses.replace(
        flt,
        since=max(since, flt.since) if flt.since else since,
        until=min(until, flt.until) if flt.until else until,
    )
    return Period(since=since, until=until), narrowed


async def unit_topics(info: Info, ids: list[relay.GlobalID]) -> list[dict[str, Any]]:
    """The calling unit's tracked topics with these ids, in order; another unit's topic is as
    good as absent."""
    object_ids = []
    for topic_id in ids:
        if topic_id.type_name != "TrackedTopic" or not ObjectId.is_valid(topic_id.node_id):
            raise bad_input(f"{topic_id} is not the id of a tracked topic")
        object_ids.append(ObjectId(topic_id.node_id))
    collection = info.context.documents.database[TRACKED_TOPICS]
    found = {
        r["_id"]: r
        async for r in collection.find(
            {"_id": {"$in": object_ids}, "unit": info.context.principal.unit}
        )
    }
    missing = [str(i) for i, o in zip(ids, object_ids, strict=True) if o not in found]
    if missing:
        raise ApiError(
            f"no tracked topic of your unit has the id {', '.join(missing)}", "NOT_FOUND"
        )
    return [found[o] for o in object_ids]


def with_topic(flt: DocumentFilter, query: str) -> DocumentFilter:
    compiled = compile_query(query)
    return dataclasses.replace(
        flt, topic={"$and": [flt.topic, compiled]} if flt.topic else compiled
    )


async def _scope(
    info: Info,
    filter: DocumentFilterInput | None,
    tracked_topic: relay.GlobalID | None,
    period: PeriodInput | None,
) -> tuple[Period, DocumentFilter, list[ObjectId] | None]:
    flt = (filter or DocumentFilterInput()).to_filter()
    topic_ids = None
    if tracked_topic is not None:
        (topic,) = await unit_topics(info, [tracked_topic])
        flt = with_topic(flt, topic["query"])
        topic_ids = [topic["_id"]]
    span, flt = window(period, flt)
    return span, flt, topic_ids


async def analytics(
    info: Info,
    filter: DocumentFilterInput | None = None,
    tracked_topic: relay.GlobalID | None = None,
    period: PeriodInput | None = None,
) -> Analytics:
    span, flt, _ = await _scope(info, filter, tracked_topic, period)
    return Analytics(period=span, flt=flt, cache={})


async def report(
    info: Info,
    period: PeriodInput,
    filter: DocumentFilterInput | None = None,
    tracked_topic: relay.GlobalID | None = None,
) -> Report:
    span, flt, topic_ids = await _scope(info, filter, tracked_topic, period)
    return Report(
        period=span, flt=flt, cache={}, unit=info.context.principal.unit, topic_ids=topic_ids
    )


async def share_of_voice(
    info: Info,
    tracked_topics: list[relay.GlobalID],
    period: PeriodInput | None = None,
    bucket: TimeBucket = TimeBucket.DAY,
    filter: DocumentFilterInput | None = None,
) -> ShareOfVoice:
    if not 2 <= len(tracked_topics) <= MAX_TOPICS:
        raise bad_input(f"share of voice compares 2 to {MAX_TOPICS} tracked topics")
    if len(set(tracked_topics)) != len(tracked_topics):
        raise bad_input("a tracked topic is listed twice")
    topics = await unit_topics(info, tracked_topics)
    span, flt = window(period, (filter or DocumentFilterInput()).to_filter())
    aggregations = aggregations_for(info, parts=len(topics))
    # One aggregation a topic, side by side: each uses its own indexes, where one pipeline
    # testing every topic per document could use none.
    volumes = await asyncio.gather(
        *(
            aggregations.volume(
                with_topic(flt, t["query"]), unit=_unit(bucket), timezone=str(VIETNAM)
            )
            for t in topics
        )
    )
    nodes = [TrackedTopic.from_record(t) for t in topics]
    by_bucket: dict[datetime, list[int]] = {}
    for index, volume in enumerate(volumes):
        for key, n in volume.items():
            by_bucket.setdefault(bucket_start(key, bucket), [0] * len(topics))[index] += n
    if len(by_bucket) > MAX_BUCKETS:
        raise bad_input(f"more than {MAX_BUCKETS} buckets: narrow the period")
    totals = [sum(v.values()) for v in volumes]

    def voices(counts: list[int]) -> list[TopicVoice]:
        whole = sum(counts)
        return [
            TopicVoice(tracked_topic=node, count=n, share=_share(n, whole))
            for node, n in zip(nodes, counts, strict=True)
        ]

    return ShareOfVoice(
        period=span,
        topics=voices(totals),
        timeline=[
            VoicePoint(start=start, total=sum(counts), topics=voices(counts))
            for start, counts in sorted(by_bucket.items())
        ],
    )
