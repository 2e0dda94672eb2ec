"""The MongoDB aggregations behind analytics and reports: tallies by field, place, name, story.

Every pipeline starts with the filter's $match, which always carries a time range (the caller's
period), so that MongoDB reads one index range and no pipeline grows with the whole collection;
every tally is sorted and cut to a limit inside the database.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from graphql import GraphQLError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from services.common.mongo import DOCUMENTS
from services.gateway.repository import DocumentFilter, time_bucket

# Written by the alerting part of the gateway; read here only, and absent until it writes.
ALERTS = "alerts"
# A report lists at most this many alerts, newest first.
MAX_ALERTS = 100
# A slow aggregation is stopped rather than left to hold a connection.
MAX_TIME_MS = 20_000
OPENING_CHARS = 120

_NEGATIVE = {"$cond": [{"$eq": ["$sentiment.label", "NEGATIVE"]}, 1, 0]}
_ANALYSED = {"$cond": [{"$ifNull": ["$sentiment.label", False]}, 1, 0]}


@dataclass(frozen=True, slots=True)
class ValueCount:
    """How many documents share a value, how many of them have a sentiment, how many are
    negative; ``details`` holds what the value's kind adds (a place's name, a name as written)."""

    value: Any
    count: int
    analysed: int
    negative: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoryCount:
    story_id: ObjectId
    count: int
    outlets: int
    title: str
    first_seen: datetime
    last_seen: datetime


class DocumentAggregations:
    def __init__(self, db: AsyncDatabase) -> None:
        self._documents = db[DOCUMENTS]
        self._alerts = db[ALERTS]

    async def _run(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            cursor = await self._documents.aggregate(
                pipeline, allowDiskUse=True, maxTimeMS=MAX_TIME_MS
            )
            return await cursor.to_list()
        except ExecutionTimeout:
            # A GraphQLError with a code, as schema.errors.ApiError is (importing the schema
            # package from here would be circular); the API shows it unmasked.
            raise GraphQLError(
                f"the analysis took longer than {MAX_TIME_MS // 1000} s: narrow the period or "
                "the filter",
                extensions={"code": "TIMEOUT"},
            ) from None

    async def sentiment_split(self, flt: DocumentFilter) -> dict[str | None, int]:
        """{label or None for not analysed: count} of the matching documents."""
        rows = await self._run(
            [
                {"$match": flt.to_mongo()},
                {"$group": {"_id": "$sentiment.label", "n": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["n"] for row in rows}

    async def by_field(self, flt: DocumentFilter, field: str, *, limit: int) -> list[ValueCount]:
        """Documents by the value of a single-valued field (source_kind, outlet)."""
        return self._tallies(
            await self._run(
                [
                    {"$match": flt.to_mongo()},
                    {"$group": _tally_group(f"${field}")},
                    *_top(limit),
                ]
            )
        )

    async def by_each(self, flt: DocumentFilter, field: str, *, limit: int) -> list[ValueCount]:
        """Documents by each value of a list field whose values are distinct (sector_ids): a
        document counts once under each of its values."""
        return self._tallies(
            await self._run(
                [
                    {"$match": flt.to_mongo()},
                    {"$project": {"v": f"${field}", "sentiment.label": 1}},
                    {"$unwind": "$v"},
                    {"$group": _tally_group("$v")},
                    *_top(limit),
                ]
            )
        )

    async def by_locality(
        self, flt: DocumentFilter, *, structure: str, level: str | None, limit: int
    ) -> list[ValueCount]:
        """Documents by administrative unit of one map, for heat maps.

        On today's map (SINCE_2025) a document naming a unit of the old map counts under each
        of today's units on its area; on the old map only units of the old map count, as a
        unit of today's cannot be split back into the old ones.
        """
        if structure == "SINCE_2025":
            today = {"$eq": ["$p.structure", "SINCE_2025"]}
            units = {"$cond": [today, ["$p.code"], {"$ifNull": ["$p.current_codes", []]}]}
            name = {"$cond": [today, "$p.name", None]}
            # Today's map has no districts: an old district's area is communes of today.
            level_expr = {
                "$cond": [
                    today,
                    "$p.level",
                    {"$cond": [{"$eq": ["$p.level", "CITY"]}, "CITY", "COMMUNE"]},
                ]
            }
            narrow: list[dict[str, Any]] = []
        else:
            units, name, level_expr = ["$p.code"], "$p.name", "$p.level"
            narrow = [{"$match": {"p.structure": structure}}]
        rows = await self._run(
            [
                {"$match": flt.to_mongo()},
                {"$project": {"p": "$localities", "sentiment.label": 1}},
                {"$unwind": "$p"},
                *narrow,
                {
                    "$project": {
                        "unit": units,
                        "name": name,
                        "level": level_expr,
                        "negative": _NEGATIVE,
                        "analysed": _ANALYSED,
                    }
                },
                {"$unwind": "$unit"},
                *([{"$match": {"level": level}}] if level else []),
                # A document naming a unit twice (or two old units on one of today's) counts once.
                {
                    "$group": {
                        "_id": {"d": "$_id", "u": "$unit"},
                        "name": {"$max": "$name"},
                        "level": {"$first": "$level"},
                        "negative": {"$first": "$negative"},
                        "analysed": {"$first": "$analysed"},
                    }
                },
                {
                    "$group": {
                        "_id": "$_id.u",
                        "n": {"$sum": 1},
                        "negative": {"$sum": "$negative"},
                        "analysed": {"$sum": "$analysed"},
                        "name": {"$max": "$name"},
                        "level": {"$first": "$level"},
                    }
                },
                *_top(limit),
            ]
        )
        tallies = self._tallies(rows, "name", "level")
        unnamed = [t.value for t in tallies if not t.details["name"]]
        if unnamed:
            names = await self._unit_names(unnamed, structure)
            tallies = [
                ValueCount(
                    t.value, t.count, t.analysed, t.negative, {**t.details, **names[t.value]}
                )
                if t.value in names
                else t
                for t in tallies
            ]
        return tallies

    async def _unit_names(self, codes: list[str], structure: str) -> dict[str, dict[str, Any]]:
        """Names of units known only by code (today's units an old one became), from any
        document that names them itself; the scan is bounded, so a unit no document names
        recently may stay unnamed."""
        rows = await self._run(
            [
                {"$match": {"locality_codes": {"$in": codes}}},
                {"$sort": {"_id": -1}},
                {"$limit": 2_000},
                {"$project": {"p": "$localities"}},
                {"$unwind": "$p"},
                {"$match": {"p.code": {"$in": codes}, "p.structure": structure}},
                {"$group": {"_id": "$p.code", "name": {"$first": "$p.name"}}},
            ]
        )
        return {row["_id"]: {"name": row["name"]} for row in rows}

    async def top_entities(
        self, flt: DocumentFilter, *, entity_type: str | None, limit: int
    ) -> list[ValueCount]:
        """The most named people, organisations, places: documents naming each, by folded key."""
        match = flt.to_mongo()
        if entity_type:
            # Narrows by the indexed keys first; real MongoDB reads a prefix range.
            match = {"$and": [match, {"entity_keys": {"$regex": f"^{entity_type.lower()}:"}}]}
        rows = await self._run(
            [
                {"$match": match},
                {"$project": {"e": "$entities", "sentiment.label": 1}},
                {"$unwind": "$e"},
                *([{"$match": {"e.type": entity_type}}] if entity_type else []),
                {
                    "$group": {
                        "_id": {"d": "$_id", "t": "$e.type", "k": "$e.key"},
                        "text": {"$first": "$e.text"},
                        "negative": {"$first": _NEGATIVE},
                        "analysed": {"$first": _ANALYSED},
                    }
                },
                {
                    "$group": {
                        "_id": {"t": "$_id.t", "k": "$_id.k"},
                        "n": {"$sum": 1},
                        "negative": {"$sum": "$negative"},
                        "analysed": {"$sum": "$analysed"},
                        "text": {"$first": "$text"},
                    }
                },
                *_top(limit, "_id.k"),
            ]
        )
        return self._tallies(rows, "text")

    async def top_keywords(self, flt: DocumentFilter, *, limit: int) -> list[ValueCount]:
        """The key phrases most documents share, by folded key."""
        rows = await self._run(
            [
                {"$match": flt.to_mongo()},
                {"$project": {"k": "$keywords", "sentiment.label": 1}},
                {"$unwind": "$k"},
                {
                    "$group": {
                        "_id": {"d": "$_id", "k": "$k.key"},
                        "phrase": {"$first": "$k.phrase"},
                        "negative": {"$first": _NEGATIVE},
                        "analysed": {"$first": _ANALYSED},
                    }
                },
                {
                    "$group": {
                        "_id": "$_id.k",
                        "n": {"$sum": 1},
                        "negative": {"$sum": "$negative"},
                        "analysed": {"$sum": "$analysed"},
                        "phrase": {"$first": "$phrase"},
                    }
                },
                *_top(limit),
            ]
        )
        return self._tallies(rows, "phrase")

    async def top_stories(self, flt: DocumentFilter, *, limit: int) -> list[StoryCount]:
        """The stories told by most outlets, then by most documents, in the filter's range."""
        match = {"$and": [flt.to_mongo(), {"story_id": {"$type": "objectId"}}]}
        rows = await self._run(
            [
                {"$match": match},
                # Oldest first, so that a story's title is the one it was first told under.
                {"$sort": {"timeline_at": 1}},
                {
                    "$group": {
                        "_id": "$story_id",
                        "n": {"$sum": 1},
                        "outlets": {"$addToSet": "$outlet"},
                        "title": {"$first": "$title"},
                        # For a story of untitled posts: how its first one begins.
                        "opening": {"$first": {"$substrCP": ["$text", 0, OPENING_CHARS]}},
                        "first_seen": {"$min": "$timeline_at"},
                        "last_seen": {"$max": "$timeline_at"},
                    }
                },
                {
                    "$project": {
                        "n": 1,
                        "outlets": {"$size": "$outlets"},
                        "title": 1,
                        "opening": 1,
                        "first_seen": 1,
                        "last_seen": 1,
                    }
                },
                {"$sort": {"outlets": -1, "n": -1, "last_seen": -1}},
                {"$limit": limit},
            ]
        )
        return [
            StoryCount(
                r["_id"],
                r["n"],
                r["outlets"],
                r.get("title") or r.get("opening") or "",
                r["first_seen"],
                r["last_seen"],
            )
            for r in rows
        ]

    async def volume(self, flt: DocumentFilter, *, unit: str, timezone: str) -> dict[str, int]:
        """{bucket start as ISO text in ``timezone``: documents} for each hour or day."""
        rows = await self._run(
            [
                {"$match": flt.to_mongo()},
                {"$group": {"_id": time_bucket(unit, timezone), "n": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["n"] for row in rows}

    async def alerts(
        self, *, unit: str, since: datetime, until: datetime, topic_ids: list[ObjectId] | None
    ) -> list[dict[str, Any]]:
        """The unit's alerts raised in [since, until), newest first; none when nothing has
        written alerts yet."""
        query: dict[str, Any] = {"unit": unit, "raised_at": {"$gte": since, "$lt": until}}
        if topic_ids is not None:
            query["topic_id"] = {"$in": topic_ids}
        cursor = self._alerts.find(query).sort("raised_at", -1).limit(MAX_ALERTS)
        return await cursor.to_list()

    @staticmethod
    def _tallies(rows: list[dict[str, Any]], *details: str) -> list[ValueCount]:
        return [
            ValueCount(
                row["_id"],
                row["n"],
                row["analysed"],
                row["negative"],
                {name: row.get(name) for name in details},
            )
            for row in rows
        ]


def _tally_group(key: Any) -> dict[str, Any]:
    return {
        "_id": key,
        "n": {"$sum": 1},
        "negative": {"$sum": _NEGATIVE},
        "analysed": {"$sum": _ANALYSED},
    }


def _top(limit: int, tie_breaker: str = "_id") -> list[dict[str, Any]]:
    # The tie-breaker makes equal counts come back in one order every time.
    return [{"$sort": {"n": -1, tie_breaker: 1}}, {"$limit": limit}]
