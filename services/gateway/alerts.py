"""Spike alerts on tracked topics: each hour's volume and negative share against a baseline.

The rule, per tracked topic and per hour of Ho Chi Minh City time (documents counted by when
Lắng Nghe stored them, analysed ones only):

- expected volume and negative share come from an EWMA (weight ``ALPHA`` for the newest hour)
  of the same hour of the week once that slot has ``SEASONAL_MIN_WEEKS`` observations, else from
  an EWMA over every hour; a topic's first baseline is folded from the ``HISTORY_HOURS`` before
  it was first evaluated, so a new topic does not start blind. Hours with no document count as
  zero volume; they say nothing of the negative share.
- a volume spike: the hour so far has at least ``min_count`` documents and at least
  ``volume_factor`` times the expected volume (an expectation under 1 counts as 1).
- a negative shift: at least ``min_count`` documents, a negative share of at least
  ``negative_share_min``, and at least ``negative_share_rise`` above the expected share.

The current hour is judged while it runs (on every batch of live events and every tick), so an
alert comes as soon as the hour so far crosses the line; each hour is folded into the baseline
once it has ended. One alert per topic per hour at most: its ``dedup_key`` (topic and hour) has
a unique index, so gateway replicas racing on the same events raise it once.
"""

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.mongo import DOCUMENTS
from services.gateway.live import Broadcast, DocumentEvent, TooSlow
from services.gateway.query_language import QuerySyntaxError, compile_query
from services.gateway.repository import time_bucket

log = structlog.get_logger(__name__)

ALERTS = "alerts"
BASELINES = "alert_baselines"
TRACKED_TOPICS = "tracked_topics"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = timedelta(hours=1)

ALPHA = 0.3
SEASONAL_MIN_WEEKS = 3
HISTORY_HOURS = 7 * 24
# How far back a tick looks for alerts other replicas raised, to tell its own subscribers.
RECENT_ALERTS = timedelta(minutes=15)

VOLUME_SPIKE = "VOLUME_SPIKE"
NEGATIVE_SHIFT = "NEGATIVE_SHIFT"
OPEN = "open"
ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class AlertRule:
    min_count: int = 20
    volume_factor: float = 3.0
    negative_share_min: float = 0.5
    negative_share_rise: float = 0.25


@dataclass(frozen=True, slots=True)
class HourStats:
    volume: int
    negatives: int

    @property
    def negative_share(self) -> float:
        return self.negatives / self.volume if self.volume else 0.0


@dataclass(frozen=True, slots=True)
class Expectation:
    volume: float
    negative_share: float
    # seasonal (same hour of the week), overall (every hour), or none (no history yet).
    basis: str


def hour_start(moment: datetime) -> datetime:
    """The start of the Ho Chi Minh City hour ``moment`` falls in, in UTC."""
    local = moment.astimezone(VIETNAM)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def hour_of_week(start: datetime) -> str:
    local = start.astimezone(VIETNAM)
    return str(local.weekday() * 24 + local.hour)


def expectation(baseline: dict[str, Any] | None, start: datetime) -> Expectation:
    if not baseline:
        return Expectation(0.0, 0.0, "none")
    slot = baseline.get("hours", {}).get(hour_of_week(start))
    if slot and slot["n"] >= SEASONAL_MIN_WEEKS:
        return Expectation(slot["volume"], slot["negative_share"], "seasonal")
    overall = baseline.get("overall")
    if overall and overall["n"] >= 1:
        return Expectation(overall["volume"], overall["negative_share"], "overall")
    return Expectation(0.0, 0.0, "none")


def judge(stats: HourStats, expected: Expectation, rule: AlertRule) -> list[str]:
    """Which signals the hour so far raises; empty when none."""
    if stats.volume < rule.min_count:
        return []
    reasons = []
    if stats.volume >= rule.volume_factor * max(expected.volume, 1.0):
        reasons.append(VOLUME_SPIKE)
    share = stats.negative_share
    if (
        share >= rule.negative_share_min
        and share >= expected.negative_share + rule.negative_share_rise
    ):
        reasons.append(NEGATIVE_SHIFT)
    return reasons


def _ewma(previous: dict[str, Any] | None, stats: HourStats) -> dict[str, Any]:
    if previous is None or previous["n"] == 0:
        return {
            "volume": float(stats.volume),
            "negative_share": stats.negative_share,
            "n": 1,
            "shares": 1 if stats.volume else 0,
        }
    share = previous["negative_share"]
    shares = previous.get("shares", 0)
    if stats.volume:
        # An hour without documents says nothing about their tone.
        share = (
            stats.negative_share
            if shares == 0
            else ALPHA * stats.negative_share + (1 - ALPHA) * share
        )
        shares += 1
    return {
        "volume": ALPHA * stats.volume + (1 - ALPHA) * previous["volume"],
        "negative_share": share,
        "n": previous["n"] + 1,
        "shares": shares,
    }


def fold(baseline: dict[str, Any], start: datetime, stats: HourStats) -> dict[str, Any]:
    """The baseline with the hour that began at ``start`` added to both its EWMAs."""
    hours = dict(baseline.get("hours", {}))
    slot = hour_of_week(start)
    hours[slot] = _ewma(hours.get(slot), stats)
    return {**baseline, "hours": hours, "overall": _ewma(baseline.get("overall"), stats)}


class AlertStore:
    """Alerts and baselines in MongoDB; counts of a topic's documents by hour."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.alerts = db[ALERTS]
        self._baselines = db[BASELINES]
        self._documents = db[DOCUMENTS]
        self._topics = db[TRACKED_TOPICS]

    async def ensure_indexes(self) -> None:
        await self.alerts.create_indexes(
            [
                IndexModel([("dedup_key", ASCENDING)], name="dedup_key_unique", unique=True),
                IndexModel([("unit", ASCENDING), ("_id", DESCENDING)], name="unit_recent"),
                IndexModel([("topic_id", ASCENDING), ("_id", DESCENDING)], name="topic_recent"),
                # Reports read a unit's alerts of a period.
                IndexModel([("unit", ASCENDING), ("raised_at", DESCENDING)], name="unit_raised"),
                IndexModel([("webhooks_enqueued", ASCENDING)], name="webhooks_pending"),
            ]
        )

    async def topics(self) -> list[dict[str, Any]]:
        return await self._topics.find({}).to_list()

    async def hourly_stats(
        self, query: dict[str, Any], since: datetime, until: datetime
    ) -> dict[datetime, HourStats]:
        """Each Ho Chi Minh City hour's analysed documents matching ``query``, from ``since``
        (an hour start) to ``until``; hours without documents are absent."""
        match = {
            "$and": [
                {
                    "_id": {
                        "$gte": ObjectId.from_datetime(since),
                        "$lt": ObjectId.from_datetime(until),
                    },
                    "analysis_state": "analyzed",
                },
                query,
            ]
        }
        cursor = await self._documents.aggregate(
            [
                {"$match": match},
                {
                    "$group": {
                        "_id": time_bucket("hour", VIETNAM.key, field="created_at"),
                        "volume": {"$sum": 1},
                        "negatives": {
                            "$sum": {"$cond": [{"$eq": ["$sentiment.label", "NEGATIVE"]}, 1, 0]}
                        },
                    }
                },
            ]
        )
        stats = {}
        async for row in cursor:
            start = datetime.fromisoformat(row["_id"]).replace(tzinfo=VIETNAM).astimezone(UTC)
            stats[start] = HourStats(row["volume"], row["negatives"])
        return stats

    async def any_match(self, ids: list[ObjectId], query: dict[str, Any]) -> bool:
        found = await self._documents.find_one({"$and": [{"_id": {"$in": ids}}, query]}, {"_id": 1})
        return found is not None

    async def baseline(self, topic_id: ObjectId) -> dict[str, Any] | None:
        return await self._baselines.find_one({"_id": topic_id})

    async def save_baseline(
        self, topic_id: ObjectId, folded_until: datetime | None, baseline: dict[str, Any]
    ) -> bool:
        """Store ``baseline`` if no other replica folded these hours first."""
        if folded_until is None:
            try:
                await self._baselines.insert_one({**baseline, "_id": topic_id})
            except DuplicateKeyError:
                return False
            return True
        result = await self._baselines.replace_one(
            {"_id": topic_id, "folded_until": folded_until}, {**baseline, "_id": topic_id}
        )
        return result.modified_count == 1

    async def insert(self, alert: dict[str, Any]) -> dict[str, Any] | None:
        """Store a new alert; None when this topic already has one for the hour."""
        try:
            result = await self.alerts.insert_one(alert)
        except DuplicateKeyError:
            return None
        return {**alert, "_id": result.inserted_id}

    async def by_key(self, dedup_key: str) -> dict[str, Any] | None:
        return await self.alerts.find_one({"dedup_key": dedup_key})

    async def raised_since(self, moment: datetime) -> list[dict[str, Any]]:
        return await self.alerts.find({"_id": {"$gte": ObjectId.from_datetime(moment)}}).to_list()

    async def page(
        self,
        *,
        unit: str,
        topic_id: ObjectId | None,
        state: str | None,
        first: int,
        after: ObjectId | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        query: dict[str, Any] = {"unit": unit}
        if topic_id is not None:
            query["topic_id"] = topic_id
        if state is not None:
            query["state"] = state
        if after is not None:
            query["_id"] = {"$lt": after}
        records = await self.alerts.find(query).sort("_id", -1).limit(first + 1).to_list()
        return records[:first], len(records) > first

    async def get(self, alert_id: ObjectId, unit: str) -> dict[str, Any] | None:
        return await self.alerts.find_one({"_id": alert_id, "unit": unit})

    async def acknowledge(
        self, alert_id: ObjectId, unit: str, by: str, at: datetime
    ) -> dict[str, Any] | None:
        """Mark an open alert of ``unit`` acknowledged; None when there is no such open alert."""
        return await self.alerts.find_one_and_update(
            {"_id": alert_id, "unit": unit, "state": OPEN},
            {"$set": {"state": ACKNOWLEDGED, "acknowledged_by": by, "acknowledged_at": at}},
            return_document=ReturnDocument.AFTER,
        )

    async def unenqueued(self, older_than: datetime) -> list[dict[str, Any]]:
        """Alerts whose webhook deliveries were never written (a replica died in between)."""
        return await self.alerts.find(
            {"webhooks_enqueued": False, "_id": {"$lt": ObjectId.from_datetime(older_than)}}
        ).to_list()

    async def mark_enqueued(self, alert_id: ObjectId) -> None:
        await self.alerts.update_one({"_id": alert_id}, {"$set": {"webhooks_enqueued": True}})


type AlertHandler = Callable[[dict[str, Any]], Awaitable[None]]


class AlertEvaluator:
    """Judges tracked topics on live events and on a tick; raises, publishes, hands on."""

    def __init__(
        self,
        store: AlertStore,
        rule: AlertRule,
        *,
        raised: Broadcast[dict[str, Any]],
        on_new_alert: AlertHandler,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._rule = rule
        self._raised = raised
        self._on_new_alert = on_new_alert
        self._clock = clock
        # Alerts this replica has told its own subscribers about (by dedup key).
        self._published: OrderedDict[str, None] = OrderedDict()

    async def run(
        self, stop: asyncio.Event, events: Broadcast[list[DocumentEvent]], tick_s: float
    ) -> None:
        await asyncio.gather(self._follow_events(stop, events), self._tick_loop(stop, tick_s))

    async def _follow_events(
        self, stop: asyncio.Event, events: Broadcast[list[DocumentEvent]]
    ) -> None:
        while not stop.is_set():
            try:
                async with events.subscribe() as batches:
                    async for batch in batches:
                        await self.on_documents(batch)
            except TooSlow:
                log.warning("alert evaluation fell behind live events; the tick catches up")
            except Exception:
                log.exception("alert evaluation failed")
                await asyncio.sleep(1.0)

    async def _tick_loop(self, stop: asyncio.Event, tick_s: float) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("alert tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick_s)

    async def on_documents(self, batch: list[DocumentEvent]) -> None:
        """Judge every topic that one of the newly analysed documents belongs to."""
        ids = [ObjectId(e.document_id) for e in batch if ObjectId.is_valid(e.document_id)]
        if not ids:
            return
        for topic, query in await self._compiled_topics():
            if await self._store.any_match(ids, query):
                await self.evaluate(topic, query)

    async def tick(self) -> None:
        """Fold ended hours into baselines, judge every topic, and publish what others raised."""
        for topic, query in await self._compiled_topics():
            await self._fold_ended_hours(topic, query)
            await self.evaluate(topic, query)
        for alert in await self._store.raised_since(self._clock() - RECENT_ALERTS):
            self._publish(alert)
        for alert in await self._store.unenqueued(self._clock() - timedelta(minutes=1)):
            await self._on_new_alert(alert)

    async def evaluate(self, topic: dict[str, Any], query: dict[str, Any]) -> dict | None:
        """Raise the topic's alert for the current hour if it spikes; the alert or None."""
        now = self._clock()
        start = hour_start(now)
        stats = (await self._store.hourly_stats(query, start, now + timedelta(seconds=1))).get(
            start, HourStats(0, 0)
        )
        baseline = await self._store.baseline(topic["_id"])
        if baseline is None:
            # A topic no tick has seen yet: its past week first, or its usual volume would
            # look like a spike.
            await self._fold_ended_hours(topic, query)
            baseline = await self._store.baseline(topic["_id"])
        expected = expectation(baseline, start)
        reasons = judge(stats, expected, self._rule)
        if not reasons:
            return None
        dedup_key = f"{topic['_id']}:{start.isoformat()}"
        alert = await self._store.insert(
            {
                "dedup_key": dedup_key,
                "unit": topic["unit"],
                "topic_id": topic["_id"],
                "topic_name": topic["name"],
                "window_start": start,
                "window_end": start + HOUR,
                "reasons": reasons,
                "volume": stats.volume,
                "negative_share": round(stats.negative_share, 4),
                "expected_volume": round(expected.volume, 4),
                "expected_negative_share": round(expected.negative_share, 4),
                "baseline": expected.basis,
                "state": OPEN,
                "raised_at": now,
                "acknowledged_by": None,
                "acknowledged_at": None,
                "webhooks_enqueued": False,
            }
        )
        if alert is None:
            # Another replica, or an earlier batch, raised it: only tell local subscribers.
            existing = await self._store.by_key(dedup_key)
            if existing is not None:
                self._publish(existing)
            return existing
        log.info("alert raised", topic=str(topic["_id"]), unit=topic["unit"], reasons=reasons)
        self._publish(alert)
        await self._on_new_alert(alert)
        return alert

    def _publish(self, alert: dict[str, Any]) -> None:
        key = alert["dedup_key"]
        if key in self._published:
            return
        self._published[key] = None
        if len(self._published) > 10_000:
            self._published.popitem(last=False)
        self._raised.publish(alert)

    async def _fold_ended_hours(self, topic: dict[str, Any], query: dict[str, Any]) -> None:
        current = hour_start(self._clock())
        baseline = await self._store.baseline(topic["_id"])
        folded_until = baseline["folded_until"] if baseline else None
        start = folded_until or current - timedelta(hours=HISTORY_HOURS)
        if start >= current:
            return
        stats = await self._store.hourly_stats(query, start, current)
        updated = baseline or {}
        hour = start
        while hour < current:
            updated = fold(updated, hour, stats.get(hour, HourStats(0, 0)))
            hour += HOUR
        updated["folded_until"] = current
        await self._store.save_baseline(topic["_id"], folded_until, updated)

    async def _compiled_topics(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        compiled = []
        for topic in await self._store.topics():
            try:
                compiled.append((topic, compile_query(topic["query"])))
            except QuerySyntaxError:
                # Saved before the language changed; it cannot match anything now.
                log.warning("tracked topic no longer compiles", topic=str(topic["_id"]))
        return compiled
