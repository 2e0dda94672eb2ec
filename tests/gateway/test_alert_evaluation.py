"""The alert evaluator on a real MongoDB: history becomes a baseline, replicas raise an alert once.

Documents are written with the fields ingest gives an analysed document, at past times (their
ObjectIds carry the time, as ingest's do), so that a topic has a history to learn from.
"""

import asyncio
import os
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.common.text import search_keys
from services.gateway.alerts import (
    ALERTS,
    TRACKED_TOPICS,
    VOLUME_SPIKE,
    AlertEvaluator,
    AlertRule,
    AlertStore,
    hour_start,
)
from services.gateway.live import Broadcast

RULE = AlertRule(min_count=5, volume_factor=3.0, negative_share_min=0.5, negative_share_rise=0.25)


def object_id_at(moment: datetime) -> ObjectId:
    return ObjectId(struct.pack(">I", int(moment.timestamp())) + os.urandom(8))


def analysed(tag: str, moment: datetime, label: str) -> dict[str, Any]:
    text = f"Rác thải ùn ứ ở chợ {tag}, tiểu thương than phiền mùi hôi suốt buổi sáng."
    return {
        "_id": object_id_at(moment),
        "text": text,
        "title": "",
        "created_at": moment,
        "timeline_at": moment,
        "source_kind": "social",
        "search_terms": search_keys("", text),
        "analysis_state": "analyzed",
        "sentiment": {"label": label},
    }


async def test_history_sets_the_baseline_and_racing_replicas_raise_once(
    mongo_db: AsyncDatabase,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    current = hour_start(now)
    tag = f"cho{os.urandom(4).hex()}"
    # Ten documents in each of the last three hours, a third of them negative.
    past = [
        analysed(tag, current - timedelta(hours=h) + timedelta(minutes=5 * i), label)
        for h in (1, 2, 3)
        for i, label in enumerate(["NEGATIVE", "NEUTRAL", "POSITIVE"] * 3 + ["NEUTRAL"])
    ]
    elapsed = max((now - current).total_seconds(), 1.0)
    this_hour = [
        analysed(tag, current + timedelta(seconds=elapsed * i / 12), "NEUTRAL") for i in range(10)
    ]
    await mongo_db[DOCUMENTS].insert_many(past + this_hour)
    topic = {
        "_id": ObjectId(),
        "unit": "UBND phường Bến Thành",
        "name": "Vệ sinh chợ",
        "query": tag,
        "created_at": now,
    }
    await mongo_db[TRACKED_TOPICS].insert_one(topic)
    store = AlertStore(mongo_db)
    await store.ensure_indexes()
    handed_on: list[dict] = []

    async def hand_on(alert: dict) -> None:
        handed_on.append(alert)
        await store.mark_enqueued(alert["_id"])

    replicas = [
        AlertEvaluator(store, RULE, raised=Broadcast(16), on_new_alert=hand_on, clock=lambda: now)
        for _ in range(2)
    ]
    query = {"search_terms": tag}

    # Ten this hour is the usual: no alert, though ten is over the minimum count.
    assert await replicas[0].evaluate(topic, query) is None
    baseline = await store.baseline(topic["_id"])
    assert baseline["folded_until"] == current
    assert 5.0 < baseline["overall"]["volume"] < 10.0
    assert abs(baseline["overall"]["negative_share"] - 0.3) < 0.05

    # Twenty more: thirty is over three times the usual. Both replicas judge at once.
    spike = [
        analysed(tag, current + timedelta(seconds=elapsed * (i + 0.5) / 24), "NEGATIVE")
        for i in range(20)
    ]
    await mongo_db[DOCUMENTS].insert_many(spike)
    results = await asyncio.gather(*(r.evaluate(topic, query) for r in replicas))
    assert all(r is not None for r in results)
    assert results[0]["_id"] == results[1]["_id"]
    stored = await mongo_db[ALERTS].find({"topic_id": topic["_id"]}).to_list()
    assert len(stored) == 1
    alert = stored[0]
    assert VOLUME_SPIKE in alert["reasons"]
    assert alert["volume"] == 30
    assert alert["baseline"] == "overall"
    assert alert["window_start"] == current
    # Only the replica whose insert won hands it on to webhooks.
    assert [a["_id"] for a in handed_on] == [alert["_id"]]
    # A later batch in the same hour finds the alert raised and raises nothing new.
    await replicas[1].evaluate(topic, query)
    assert await mongo_db[ALERTS].count_documents({"topic_id": topic["_id"]}) == 1
    assert len(handed_on) == 1
