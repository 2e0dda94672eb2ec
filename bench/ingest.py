"""Benchmark ingest end to end against a local fixture web of 1,555 sources.

The fixture web (services/demosite content: the bench's own Vietnamese stories) serves 200 press
feeds, 355 social feeds and 1,000 news-sitemap websites, each on its own loopback address, so
per-host politeness applies as it would on the internet. Every fourth story is wire copy that a
group of eight outlets publishes. The bench starts the whole system (embedded MongoDB in
memory, nlp, ingest, gateway), registers the sources over gRPC, and measures:

- documents/s from registration until the initial backlog is stored and analysed,
- each collection stage's share of the collectors' time (ingest's stage metrics),
- p50/p95 delay from a story appearing in its feed to GraphQL returning it,
- duplicate stories (wire copies split over more than one story) and
- politeness violations (requests to one host closer together than the configured delay).

``python bench/ingest.py [--seconds 120]`` ends with one JSON line.
"""

import argparse
import asyncio
import itertools
import json
import re
import socket
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langnghe.ingest.v1 import ingest_pb2 as pb
from langnghe.ingest.v1 import ingest_pb2_grpc
from services.common.grpc_client import open_channel
from services.common.mongo import DOCUMENTS, connect, database
from services.demosite.app import DemoWeb, create_demo_app
from services.devstack.processes import Ports, ServiceProcess, free_port, http_ready
from services.devstack.stack import Stack

PRESS, SOCIAL, WEBSITES = 200, 355, 1000
PER_HOST_DELAY_S = 1.0
# Each outlet publishes a story every PERIOD_S; feeds list the newest FEED_LENGTH.
PERIOD_S = 600.0
FEED_LENGTH = 2


def host_of(index: int) -> str:
    """Outlet ``index``'s own loopback address: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def outlets() -> list[tuple[str, str, str]]:
    """(slug, kind, channel) of every fixture outlet, in index order."""
    rows = [(f"bao-{i:04d}", "press", "rss") for i in range(PRESS)]
    rows += [(f"trang-{i:04d}", "social", "rss") for i in range(SOCIAL)]
    rows += [(f"web-{i:04d}", "website", "news_sitemap") for i in range(WEBSITES)]
    return rows


def serve_fixture(port: int, epoch: datetime) -> None:
    """The fixture web: one app, one socket per outlet address."""
    web = DemoWeb(
        {slug: slug.replace("-", " ").title() for slug, _, _ in outlets()},
        period_s=PERIOD_S,
        epoch=epoch,
        feed_length=FEED_LENGTH,
    )
    sockets = []
    for index in range(len(outlets())):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_of(index), port))
        sockets.append(sock)
    config = uvicorn.Config(
        create_demo_app(web), log_config=None, access_log=False, backlog=4096, timeout_keep_alive=30
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=sockets))


def specs(port: int) -> list[pb.SourceSpec]:
    paths = {"rss": "rss.xml", "news_sitemap": "news-sitemap.xml"}
    return [
        pb.SourceSpec(
            name=f"Nguồn thử {slug}",
            kind=getattr(pb, f"SOURCE_KIND_{kind.upper()}"),
            channel=getattr(pb, f"CHANNEL_{channel.upper()}"),
            urls=[f"http://{host_of(i)}:{port}/{slug}/{paths[channel]}"],
            outlet=slug,
            # Hot feeds are polled every 30 s.
            min_interval_s=30,
            max_interval_s=600,
        )
        for i, (slug, kind, channel) in enumerate(outlets())
    ]


async def graphql_sightings(
    url: str, headers: dict[str, str], seen: dict[str, float], stop: asyncio.Event
) -> None:
    """Poll the newest documents through GraphQL; note when each URL is first returned."""
    query = "{ documents(first: 100) { edges { node { url } } } }"
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        while not stop.is_set():
            response = await http.post(url, json={"query": query})
            now = time.time()
            for edge in response.json()["data"]["documents"]["edges"]:
                seen.setdefault(edge["node"]["url"], now)
            await asyncio.sleep(0.5)


async def stage_shares(metrics_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(metrics_url)).text
    stages = {
        m[1]: float(m[2])
        for m in re.finditer(r'langnghe_ingest_stage_seconds_total\{stage="(\w+)"\} (\S+)', text)
    }
    total = sum(stages.values()) or 1.0
    return {stage: round(seconds / total, 3) for stage, seconds in sorted(stages.items())}


def request_gaps(log: list[tuple[float, str, str]]) -> list[float]:
    """Seconds between consecutive requests to the same host, over every host."""
    by_host: dict[str, list[float]] = defaultdict(list)
    for at, host, _path in log:
        by_host[host].append(at)
    return [b - a for times in by_host.values() for a, b in itertools.pairwise(sorted(times))]


def politeness_violations(gaps: list[float]) -> int:
    # 50 ms of slack for the server's own scheduling of two requests it received in order.
    return sum(1 for gap in gaps if gap < PER_HOST_DELAY_S - 0.05)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180, help="how long to collect")
    args = parser.parse_args()

    epoch = datetime.now(UTC) - timedelta(seconds=PERIOD_S * FEED_LENGTH)
    fixture_port = free_port()
    fixture = ServiceProcess(
        "fixture-web",
        "bench.ingest",
        args=["--serve-fixture", str(fixture_port), epoch.isoformat()],
    )
    ports = Ports.free()
    stack = Stack(
        ports=ports,
        env={
            "ingest": {
                "LANGNGHE_INGEST_CONTACT_URL": f"http://127.0.0.1:{ports.gateway}/bot",
                "LANGNGHE_INGEST_FETCH_ALLOW": json.dumps(["127.0.0.0/8"]),
                "LANGNGHE_INGEST_PER_HOST_DELAY_S": str(PER_HOST_DELAY_S),
                "LANGNGHE_INGEST_COLLECT_CONCURRENCY": "256",
            }
        },
    )
    await fixture.start()
    await fixture.wait_ready(
        lambda: http_ready(f"http://{host_of(0)}:{fixture_port}/robots.txt"), 120
    )
    await stack.start()
    mongo = connect(stack.mongodb_uri, "bench")
    documents = database(mongo)[DOCUMENTS]
    seen: dict[str, float] = {}
    stop = asyncio.Event()
    try:
        started = time.time()
        async with open_channel(f"127.0.0.1:{ports.ingest}") as channel:
            imported = await ingest_pb2_grpc.IngestServiceStub(channel).ImportSources(
                pb.ImportSourcesRequest(sources=specs(fixture_port)), timeout=120
            )
        print(f"registered {imported.created} sources", flush=True)
        watcher = asyncio.create_task(
            graphql_sightings(stack.graphql_url, stack.auth_headers, seen, stop)
        )
        backlog = len(outlets()) * FEED_LENGTH
        drained_at = None
        while time.time() - started < args.seconds:
            await asyncio.sleep(10)
            analysed = await documents.count_documents({"analysis_state": "analyzed"})
            stored = await documents.count_documents({})
            print(
                f"{time.time() - started:6.0f} s: {stored} stored, {analysed} analysed", flush=True
            )
            if drained_at is None and analysed >= backlog * 0.95:
                drained_at = time.time()
        stop.set()
        await watcher
        elapsed = (drained_at or time.time()) - started
        analysed = await documents.count_documents({"analysis_state": "analyzed"})
        docs_per_s = analysed / elapsed

        # Delay from appearing in a feed (the story's publication time) to GraphQL returning it,
        # for the stories published while the bench ran.
        delays = []
        async for d in documents.find(
            {"published_at": {"$gte": datetime.fromtimestamp(started, UTC)}},
            {"url": 1, "published_at": 1},
        ):
            if d["url"] in seen:
                delays.append(seen[d["url"]] - d["published_at"].timestamp())
        stories_of_wire: dict[str, set] = defaultdict(set)
        index_of = {slug: i for i, (slug, _, _) in enumerate(outlets())}
        async for d in documents.find({}, {"url": 1, "story_id": 1}):
            slug, page = d["url"].rsplit("/", 2)[-2:]
            number = int(page.removesuffix(".html").rsplit("-", 1)[1])
            if number % 4 == 0:
                group = index_of[slug] // 8
                stories_of_wire[f"{number}/{group}"].add(d["story_id"])
        duplicate_stories = sum(len(s) - 1 for s in stories_of_wire.values())
        async with httpx.AsyncClient(timeout=60) as http:
            log = (await http.get(f"http://{host_of(0)}:{fixture_port}/_requests")).json()
        gaps = request_gaps([tuple(r) for r in log])
        shares = await stage_shares(f"http://127.0.0.1:{ports.ingest_metrics}/metrics")
        delays.sort()
        result = {
            "docs_per_s": round(docs_per_s, 1),
            "p50_delay_s": round(statistics.median(delays), 1) if delays else None,
            "p95_delay_s": round(delays[int(len(delays) * 0.95) - 1], 1) if delays else None,
            "duplicate_stories": duplicate_stories,
            "politeness_violations": politeness_violations(gaps),
        }
        print(f"sources: {len(outlets())}; documents analysed: {analysed} in {elapsed:.0f} s")
        print(f"stage shares of collection time: {shares}")
        print(f"delays measured on {len(delays)} stories published during the run")
        print(f"closest two requests to one host: {min(gaps, default=0.0):.3f} s apart")
        print(json.dumps(result))
    finally:
        stop.set()
        await mongo.close()
        await stack.stop()
        await fixture.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-fixture":
        serve_fixture(int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]))
    else:
        asyncio.run(main())
