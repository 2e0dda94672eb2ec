"""Benchmark the gateway: the 1022 feedback lookup, a filtered documents page, a day timeline.

Starts the real stack as processes (the embedded MongoDB in memory, nlp, ingest, gateway) with
N analysed documents loaded (20,000 by default), then offers each query at a fixed rate (200 req/s
by default) from 50 concurrent clients (httpx, async) and reports, per query: offered and served
req/s, p50/p99 latency, MongoDB round trips per request, and the gateway's own share of each
request (its time less the time inside MongoDB commands, from PyMongo's command monitoring,
which the gateway reports per request in a Server-Timing header when the bench asks for it).

The documents are written straight into the store in the stored shape (what ingest writes once
nlp has analysed a text: services/ingest/analysis.py::analysis_fields and the storage contract)
by the MongoDB process itself, in batches through mongoeco's own client: loading them one by one
through the API, or even insert_many over the wire, takes far longer on the test store (its wire
insert handles one document at a time and compares each with the whole collection).

The store runs at niceness 19 (``--store-nice``): a test store on the gateway's own cores, it
takes what the gateway and the clients leave idle rather than delaying them.

``python bench/gateway.py [--documents 20000] [--rate 200] [--seconds 10]`` ends with one JSON
line for the documents page: rps, p50_ms, p99_ms, overhead_p99_ms, mongo_roundtrips_per_request.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from bson import ObjectId

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.mongo import DOCUMENT_INDEXES, DOCUMENTS
from services.common.text import content_hash, search_keys
from services.devstack.processes import Ports, ServiceProcess, free_port, tcp_open
from services.devstack.stack import Stack

FEEDBACK_UNIT = "Cổng 1022 (bench)"
CLIENTS = 50
SECTORS = ["transport", "flooding", "environment", "health", "education", "public_order"]
WARDS = ["26734", "26737", "26740", "26743", "26746", "26749", "26752", "26755"]
OUTLETS = [f"bao-{i:02d}" for i in range(20)]
# The bench's own sentences, combined into varied texts.
OPENINGS = [
    "Người dân phản ánh",
    "Cư dân khu phố than phiền",
    "Nhiều hộ gia đình cho biết",
    "Bạn đọc gửi ý kiến về việc",
    "Phụ huynh học sinh lo lắng vì",
]
SUBJECTS = [
    "đường ngập sâu sau cơn mưa chiều",
    "kẹt xe kéo dài ở nút giao gần chợ",
    "rác thải tồn đọng nhiều ngày trên vỉa hè",
    "đèn tín hiệu giao thông hỏng từ tuần trước",
    "bệnh viện quận đông người chờ khám",
    "trường học thiếu phòng học cho năm học mới",
    "nhóm thanh niên đua xe trong đêm",
    "công trình thi công bỏ dở gây bụi",
]
ENDINGS = [
    "và mong chính quyền sớm xử lý.",
    "nhưng chưa thấy cơ quan chức năng có mặt.",
    "và cảm ơn phường đã phản hồi nhanh.",
    "đề nghị thành phố kiểm tra lại.",
]


def stored_document(i: int, rng: random.Random, now: datetime) -> dict:
    """One analysed document as ingest stores it, deterministic in ``i`` and the generator."""
    at = now - timedelta(minutes=2 * i + rng.random())
    text = (
        f"{rng.choice(OPENINGS)} {rng.choice(SUBJECTS)} tại phường {rng.choice(WARDS)[-2:]}, "
        f"{rng.choice(ENDINGS)} (bản tin {i})"
    )
    probabilities = [rng.random() for _ in range(3)]
    total = sum(probabilities)
    negative, neutral, positive = (round(p / total, 6) for p in probabilities)
    label = max(
        (("NEGATIVE", negative), ("NEUTRAL", neutral), ("POSITIVE", positive)),
        key=lambda pair: pair[1],
    )
    sectors = rng.sample(SECTORS, rng.randint(0, 2))
    ward = rng.choice(WARDS)
    is_feedback = i % 20 == 0
    record = {
        # Ids in time order, as ingest's would be: pages sort by _id.
        "_id": ObjectId(ObjectId.from_datetime(at).binary[:4] + i.to_bytes(8, "big")),
        "content_hash": content_hash(text),
        "text": text,
        "title": "" if is_feedback else f"Tin số {i}",
        "url": None if is_feedback else f"https://bao.example.vn/tin-{i}",
        "published_at": at,
        "created_at": at,
        "timeline_at": at,
        "source_id": None,
        "source_kind": "feedback" if is_feedback else "press",
        "channel": "api" if is_feedback else "rss",
        "outlet": "" if is_feedback else OUTLETS[i % len(OUTLETS)],
        "author": "",
        "author_handle": "",
        "search_terms": search_keys("", text),
        "analysis_state": "analyzed",
        "analyzed_at": at,
        "analysis_attempts": 1,
        "language": {"code": "vi", "confidence": 0.99},
        "sentiment": {
            "label": label[0],
            "score": label[1],
            "negative": negative,
            "neutral": neutral,
            "positive": positive,
        },
        "toxicity": {"label": "CLEAN", "score": 0.95},
        "sectors": [{"id": s, "score": round(0.9 - 0.2 * k, 3)} for k, s in enumerate(sectors)],
        "sector_ids": sectors,
        "localities": [],
        "locality_codes": [ward],
        "models_version": "bench",
    }
    if is_feedback:
        record.update(
            ext_key=f"unit:{FEEDBACK_UNIT}:fb-{i}",
            external_id=f"fb-{i}",
            submitter_unit=FEEDBACK_UNIT,
            feedback={"channel": "app", "ward_code": ward, "citizen_keys": []},
        )
    else:
        record["text_key"] = record["content_hash"]
        # Every tenth article is a copy shared by a story.
        if i % 10 == 1:
            record["story_id"] = ObjectId(f"{i // 100:024x}")
    return record


async def serve_loaded_mongo(port: int, documents: int) -> None:
    """The embedded MongoDB (mongoeco, in memory), loaded before it listens on ``port``."""
    import mongoeco
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    client = mongoeco.AsyncMongoClient(MemoryEngine())
    collection = client.get_database("langnghe")[DOCUMENTS]
    await collection.create_indexes(DOCUMENT_INDEXES)
    rng = random.Random(1022)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, documents, 1000):
        batch = [stored_document(i, rng, now) for i in range(start, min(start + 1000, documents))]
        await collection.insert_many(batch, ordered=False)
        print(f"loaded {start + len(batch)} in {time.perf_counter() - started:.0f} s", flush=True)
    server = AsyncMongoEcoProxyServer(client=client, host="127.0.0.1", port=port)
    await server.start()
    await asyncio.Event().wait()


@dataclass
class Sample:
    seconds: float
    ok: bool
    mongo_ms: float = 0.0
    commands: int = 0
    pool_ms: float = 0.0
    app_ms: float = 0.0


@dataclass
class Scenario:
    name: str
    query: str
    variables: dict = field(default_factory=dict)


_TIMING = re.compile(
    r'mongo;dur=([\d.]+);desc="(\d+) commands", pool;dur=([\d.]+), app;dur=([\d.]+)'
)


async def offer(
    http: httpx.AsyncClient, url: str, scenario: Scenario, rate: float, seconds: float
) -> tuple[list[Sample], float]:
    """Send ``rate`` requests a second for ``seconds`` from CLIENTS workers: a late worker sends
    at once, and what is not sent by the end counts as offered but not served."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    end = start + seconds
    ticket = iter(range(total))
    samples: list[Sample] = []
    body = {"query": scenario.query, "variables": scenario.variables}

    async def worker() -> None:
        for n in ticket:
            if time.perf_counter() > end:
                return
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                response = await http.post(url, json=body)
                ok = response.status_code == 200 and "errors" not in response.json()
            except httpx.HTTPError:
                samples.append(Sample(time.perf_counter() - sent, False))
                continue
            sample = Sample(time.perf_counter() - sent, ok)
            timing = _TIMING.search(response.headers.get("server-timing", ""))
            if timing:
                sample.mongo_ms = float(timing[1])
                sample.commands = int(timing[2])
                sample.pool_ms = float(timing[3])
                sample.app_ms = float(timing[4])
            samples.append(sample)

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return samples, max(time.perf_counter(), end) - start


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(samples: list[Sample], elapsed: float, rate: float) -> dict:
    ok = [s for s in samples if s.ok]
    latencies = [s.seconds * 1000 for s in ok]
    return {
        "offered_rps": rate,
        "served_rps": round(len(ok) / elapsed, 1),
        "errors": len(samples) - len(ok),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "mongo_roundtrips_mean": round(statistics.fmean(s.commands for s in ok), 2) if ok else 0,
        "mongo_roundtrips_max": max((s.commands for s in ok), default=0),
        "mongo_p50_ms": round(percentile([s.mongo_ms for s in ok], 0.50), 1),
        "pool_wait_p50_ms": round(percentile([s.pool_ms for s in ok], 0.50), 1),
        "overhead_p50_ms": round(percentile([s.app_ms for s in ok], 0.50), 1),
        "overhead_p99_ms": round(percentile([s.app_ms for s in ok], 0.99), 1),
    }


async def create_key(stack: Stack) -> str:
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        answer = await http.post(
            stack.graphql_url,
            json={
                "query": "mutation($unit: String!) { createApiKey(input: {unit: $unit, "
                'scopes: ["read", "feedback:write"], ratePerMinute: 100000}) { key } }',
                "variables": {"unit": FEEDBACK_UNIT},
            },
        )
    return answer.json()["data"]["createApiKey"]["key"]


def scenarios(now: datetime) -> list[Scenario]:
    week_ago = (now - timedelta(days=7)).isoformat()
    page = """query Page($first: Int!, $since: DateTime!) {
      documents(first: $first, filter: {sentiment: NEGATIVE, since: $since}) {
        edges { cursor node { id title text url publishedAt outlet sourceKind analysisState
          sentiment { label score } story { id } } }
        pageInfo { hasNextPage endCursor } } }"""
    return [
        Scenario(
            "feedback lookup (1022)",
            """query Lookup($id: String!) { feedback(externalId: $id) { id analysisState
              sentiment { label } toxicity { label } sectors { id score } wardCode
              suggestedUnit { id name match } } }""",
            {"id": "fb-1000"},
        ),
        Scenario("documents page, first 20", page, {"first": 20, "since": week_ago}),
        Scenario("documents page, first 100", page, {"first": 100, "since": week_ago}),
        Scenario(
            "sentimentTimeline by day, 30 days",
            """query Timeline($since: DateTime!) { sentimentTimeline(bucket: DAY,
              filter: {since: $since}) { start total negative neutral positive } }""",
            {"since": (now - timedelta(days=30)).isoformat()},
        ),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second offered")
    parser.add_argument("--seconds", type=float, default=10.0, help="per query")
    parser.add_argument(
        "--store-nice",
        type=int,
        default=19,
        help="the embedded store's scheduling niceness (0: compete with the gateway as equals)",
    )
    args = parser.parse_args()

    mongo_port = free_port()
    mongo = ServiceProcess(
        "mongodb-loaded",
        "bench.gateway",
        args=["--serve-mongo", str(mongo_port), str(args.documents)],
    )
    began = time.perf_counter()
    await mongo.start()
    if args.store_nice:
        # The store is a test store on the gateway's own two cores; in a deployment MongoDB has
        # machines of its own. At a low priority it still gets every core the gateway and the
        # clients leave idle, but it no longer delays them, so the gateway's share is its own.
        os.setpriority(os.PRIO_PROCESS, mongo.process.pid, args.store_nice)
    stack = Stack(
        ports=Ports.free(),
        mongodb_uri=f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
        env={
            "gateway": {
                "LANGNGHE_GATEWAY_SERVER_TIMING": "true",
                # Each audited query is one more insert, and on mongoeco an insert costs time in
                # proportion to the collection: see bench/README.md.
                "LANGNGHE_GATEWAY_AUDIT_QUERIES": "false",
            },
            "ingest": {"LANGNGHE_INGEST_COLLECT": "false"},
        },
    )
    try:
        # mongoeco takes 7-40 ms a document (more as the shared machine is busier): wait long
        # enough for the load, rather than give up at a fixed time.
        await mongo.wait_ready(lambda: tcp_open(mongo_port), max(900.0, 0.06 * args.documents))
        loaded_s = time.perf_counter() - began
        print(f"{args.documents} documents loaded in {loaded_s:.0f} s", flush=True)
        await stack.start(within_s=180)
        key = await create_key(stack)
        results = {}
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(
            timeout=30, limits=limits, headers={"Authorization": f"Bearer {key}"}
        ) as http:
            for scenario in scenarios(datetime.now(UTC)):
                # A few requests first, so that connections and caches are warm.
                await offer(http, stack.graphql_url, scenario, 20, 1)
                samples, elapsed = await offer(
                    http, stack.graphql_url, scenario, args.rate, args.seconds
                )
                results[scenario.name] = summarise(samples, elapsed, args.rate)
                print(scenario.name, json.dumps(results[scenario.name]), flush=True)
    finally:
        with contextlib.suppress(Exception):
            await stack.stop()
        await mongo.stop()

    print()
    columns = list(next(iter(results.values())))
    print("| query | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |")
    pages = [results["documents page, first 20"], results["documents page, first 100"]]
    print(
        json.dumps(
            {
                "rps": pages[0]["served_rps"],
                "p50_ms": pages[0]["p50_ms"],
                "p99_ms": pages[0]["p99_ms"],
                "overhead_p99_ms": pages[0]["overhead_p99_ms"],
                "mongo_roundtrips_per_request": max(p["mongo_roundtrips_max"] for p in pages),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-mongo":
        asyncio.run(serve_loaded_mongo(int(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(main())
