"""Benchmark ingest end to end against a local fixture web of 1,555 sources.

The fixture web (services/demosite content: the bench's own Vietnamese stories) serves 200 press
feeds, 355 social feeds and 1,000 news-sitemap websites, each on its own loopback address, so
per-host politeness applies as it would on the internet. Every fourth story is wire copy that a
group of eight outlets publishes. The bench starts the whole system (embedded MongoDB in
memory, nlp, ingest, gateway), registers the sources over gRPC, and runs two phases:

- backlog: every feed lists its newest stories at once; documents/s is measured from
  registration until 95 % of them are stored and analysed;
- steady state: the first HOT_FEEDS press outlets publish a story every HOT_PERIOD_S, spread
  evenly over the period, and their feeds are polled every 30 s (the lower polling bound; a
  feed with news keeps it). For each story published after the backlog drained, the delay
  from its publication to GraphQL first returning it analysed gives p50/p95.

With ``--steady`` there is no backlog: the feeds list only what is published during the run
(the hot feeds' stories; the other 1,455 sources are polled and have nothing new), so the
delay is measured, after a first period of warm-up, on a system keeping up as in daily work.

It also reports each collection stage's share of the collectors' time (ingest's stage
metrics), duplicate stories (wire copies split over more than one story) and politeness
violations: requests to one host closer together than the configured delay, on the request
log the fetcher writes as it sends each request (the client's own times; the fixture server's
view, which includes its queueing on a loaded machine, is printed beside it).

``python bench/ingest.py [--seconds 240] [--steady]`` ends with one JSON line.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import re
import shutil
import socket
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from pymongo.errors import AutoReconnect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langnghe.ingest.v1 import ingest_pb2 as pb
from langnghe.ingest.v1 import ingest_pb2_grpc
from services.common.grpc_client import open_channel
from services.common.mongo import DOCUMENTS, connect, database
from services.demosite.app import DemoWeb, create_demo_app
from services.devstack.processes import Ports, ServiceProcess, free_port, http_ready
from services.devstack.stack import Stack
from services.ingest.fetch import read_request_log, spacing_violations

PRESS, SOCIAL, WEBSITES = 200, 355, 1000
PER_HOST_DELAY_S = 1.0
# Each outlet publishes a story every PERIOD_S; feeds list the newest FEED_LENGTH.
PERIOD_S = 600.0
FEED_LENGTH = 2
# Hot feeds: press outlets that publish every HOT_PERIOD_S, each at its own phase.
HOT_FEEDS = 100
HOT_PERIOD_S = 60.0
# Polling bounds of every source; hot feeds stay at the lower one.
MIN_INTERVAL_S, MAX_INTERVAL_S = 30, 600
# A story counts for the delay only if published at least this long before the end.
DELAY_HORIZON_S = 60.0
# Share of the backlog stored and analysed at which it counts as drained.
DRAINED = 0.95
# Pages of 100 documents the GraphQL watcher reads each second: about three minutes of the hot
# feeds' stories, so a story analysed up to three minutes after it was stored is still seen.
WATCH_PAGES = 3


def host_of(index: int) -> str:
    """Outlet ``index``'s own loopback address: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def outlets() -> list[tuple[str, str, str]]:
    """(slug, kind, channel) of every fixture outlet, in index order."""
    rows = [(f"bao-{i:04d}", "press", "rss") for i in range(PRESS)]
    rows += [(f"trang-{i:04d}", "social", "rss") for i in range(SOCIAL)]
    rows += [(f"web-{i:04d}", "website", "news_sitemap") for i in range(WEBSITES)]
    return rows


def fixture_web(epoch: datetime, *, steady: bool) -> DemoWeb:
    """The fixture's outlets and publishing rhythm (the bench builds the same to know what
    was published when). ``epoch`` is the bench's start.

    With a backlog, every outlet's feed lists FEED_LENGTH stories at the start. Steady, the
    outlets' first stories come after the run, but for the hot ones, whose first comes within
    HOT_PERIOD_S of the start.
    """
    names = {slug: slug.replace("-", " ").title() for slug, _, _ in outlets()}
    hot = list(names.values())[:HOT_FEEDS]
    # Story n of an outlet is published at its epoch + n periods.
    if steady:
        first, hot_first = timedelta(days=1), timedelta(0)
    else:
        first = hot_first = -timedelta(seconds=PERIOD_S * (FEED_LENGTH - 1))
    hot_offset = (hot_first - first).total_seconds()
    return DemoWeb(
        names,
        period_s=PERIOD_S,
        epoch=epoch + first,
        feed_length=FEED_LENGTH,
        rhythms={
            name: (HOT_PERIOD_S, hot_offset + HOT_PERIOD_S * i / len(hot))
            for i, name in enumerate(hot)
        },
    )


def hot_publications(web: DemoWeb, port: int, since: float, until: float) -> dict[str, float]:
    """URL -> publication time (unix seconds) of the hot feeds' stories in [since, until)."""
    published = {}
    for index, (slug, _, _) in enumerate(outlets()[:HOT_FEEDS]):
        name = web.outlet(slug)
        period_s, epoch = web.rhythm(name)
        first = max(int((since - epoch.timestamp()) // period_s) - 1, 0)
        for number in range(first, first + int((until - since) // period_s) + 2):
            story = web.story(name, number)
            at = story.published_at.timestamp()
            if since <= at < until:
                published[f"http://{host_of(index)}:{port}/{slug}/{story.slug}.html"] = at
    return published


def serve_fixture(port: int, epoch: datetime, steady: bool) -> None:
    """The fixture web: one app, one socket per outlet address."""
    web = fixture_web(epoch, steady=steady)
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
            min_interval_s=MIN_INTERVAL_S,
            max_interval_s=MAX_INTERVAL_S,
        )
        for i, (slug, kind, channel) in enumerate(outlets())
    ]


async def graphql_sightings(
    url: str, headers: dict[str, str], seen: dict[str, float], stop: asyncio.Event
) -> None:
    """Poll the newest documents through GraphQL, as a dashboard would; note when each URL is
    first returned analysed.

    Each poll reads WATCH_PAGES pages of 100, newest stored first. One page alone spans about a
    minute of the hot feeds' stories: a story analysed later than that was never on it, and
    counted as never returned however soon after it was.
    """
    query = """query Newest($after: String) { documents(first: 100, after: $after) {
      edges { node { url analysisState } } pageInfo { endCursor hasNextPage } } }"""
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        while not stop.is_set():
            after = None
            for _ in range(WATCH_PAGES):
                try:
                    response = await http.post(
                        url, json={"query": query, "variables": {"after": after}}
                    )
                    data = response.json().get("data")
                    if data is None:
                        print(f"GraphQL poll failed: {response.text[:200]}", flush=True)
                except (httpx.HTTPError, ValueError) as error:
                    data = None
                    print(f"GraphQL poll failed: {error!r}", flush=True)
                now = time.time()
                page = (data or {}).get("documents") or {}
                for edge in page.get("edges", []):
                    if edge["node"]["analysisState"] == "ANALYZED":
                        seen.setdefault(edge["node"]["url"], now)
                info = page.get("pageInfo") or {}
                if not info.get("hasNextPage"):
                    break
                after = info["endCursor"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def stage_seconds(metrics_url: str) -> dict[str, float]:
    """Seconds the collectors spent per stage, analysis split into nlp and its writes."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(metrics_url)).text
    stages = {
        m[1]: float(m[2])
        for m in re.finditer(r'langnghe_ingest_stage_seconds_total\{stage="(\w+)"\} (\S+)', text)
    }
    # The analysis worker's own share of these is nil here: it only retries failed analyses.
    stages.pop("analyse", None)
    for m in re.finditer(r'langnghe_ingest_analysis_seconds_total\{part="(\w+)"\} (\S+)', text):
        stages[f"analyse_{m[1]}"] = float(m[2])
    return stages


async def rounds_done(metrics_url: str) -> dict[str, int]:
    """Rounds of collection (one poll of one source) ended so far, per source kind."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(metrics_url)).text
    rounds: dict[str, int] = defaultdict(int)
    for m in re.finditer(r"langnghe_ingest_source_fetches_total\{([^}]*)\} (\S+)", text):
        kind = re.search(r'kind="(\w+)"', m[1])
        rounds[kind[1] if kind else "?"] += int(float(m[2]))
    return dict(rounds)


def hot_feed_repolls(server_log: list) -> list[float]:
    """Seconds between consecutive polls of each hot feed, as the fixture server saw them (its
    clock; the first poll of each feed starts no gap)."""
    polls: dict[str, list[float]] = defaultdict(list)
    hot_hosts = {host_of(i) for i in range(HOT_FEEDS)}
    for at, host, path in server_log:
        if host.rsplit(":", 1)[0] in hot_hosts and path.endswith("/rss.xml"):
            polls[host].append(at)
    return [b - a for times in polls.values() for a, b in itertools.pairwise(sorted(times))]


# Stages that wait on MongoDB: writes of documents and analyses, URL lookups, source records.
STORE_STAGES = ("store", "analyse_store", "lookup", "record")


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(math.ceil(len(ordered) * share) - 1, len(ordered) - 1)]


async def progress(documents, attempts: int = 6) -> tuple[int, int]:
    """(stored, analysed), by an equality lookup and the collection's metadata: counting by
    query scans the embedded store and would slow what is measured."""
    for _ in range(attempts - 1):
        try:
            return await count_progress(documents)
        except AutoReconnect:
            # Under the backlog the embedded store can leave the driver's monitor unanswered
            # past its 5 s server selection: the count is asked again, not given up.
            await asyncio.sleep(5)
    return await count_progress(documents)


async def count_progress(documents) -> tuple[int, int]:
    pending = len(await documents.find({"analysis_state": "pending"}, {"_id": 1}).to_list())
    stored = await documents.estimated_document_count()
    return stored, max(stored - pending, 0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=240, help="how long to collect")
    parser.add_argument(
        "--steady", action="store_true", help="no backlog: only the hot feeds' new stories"
    )
    args = parser.parse_args()

    epoch = datetime.now(UTC)
    fixture_port = free_port()
    mode = "steady" if args.steady else "backlog"
    fixture = ServiceProcess(
        "fixture-web",
        "bench.ingest",
        args=["--serve-fixture", str(fixture_port), epoch.isoformat(), mode],
    )
    ports = Ports.free()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    request_log = workdir / "requests.jsonl"
    stack = Stack(
        ports=ports,
        env={
            "ingest": {
                "LANGNGHE_INGEST_CONTACT_URL": f"http://127.0.0.1:{ports.gateway}/bot",
                "LANGNGHE_INGEST_FETCH_ALLOW": json.dumps(["127.0.0.0/8"]),
                "LANGNGHE_INGEST_PER_HOST_DELAY_S": str(PER_HOST_DELAY_S),
                "LANGNGHE_INGEST_COLLECT_CONCURRENCY": "256",
                "LANGNGHE_INGEST_REQUEST_LOG_PATH": str(request_log),
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
        backlog = 0 if args.steady else len(outlets()) * FEED_LENGTH
        # Steady, there is nothing to drain: delays count after a first period of warm-up.
        drained_at = started + HOT_PERIOD_S if args.steady else None
        analysed_at_drain = 0
        while time.time() - started < args.seconds:
            await asyncio.sleep(10)
            stored, analysed = await progress(documents)
            print(
                f"{time.time() - started:6.0f} s: {stored} stored, {analysed} analysed", flush=True
            )
            if drained_at is None and analysed >= backlog * DRAINED:
                drained_at, analysed_at_drain = time.time(), analysed
        ended = time.time()
        stop.set()
        await watcher
        _, analysed = await progress(documents)
        docs_per_s = None
        if args.steady:
            backlog_s = 0.0
        elif drained_at is not None:
            backlog_s = drained_at - started
            docs_per_s = analysed_at_drain / backlog_s
        else:
            backlog_s = ended - started
            docs_per_s = analysed / backlog_s

        # Steady state: the hot feeds' stories published after the backlog drained, early
        # enough to be judged; one not returned by the end took longer than the horizon.
        delays: list[float] = []
        if drained_at is not None:
            published = hot_publications(
                fixture_web(epoch, steady=args.steady),
                fixture_port,
                drained_at,
                ended - DELAY_HORIZON_S,
            )
            delays = [seen.get(url, math.inf) - at for url, at in published.items()]
        stories_of_wire: dict[str, set] = defaultdict(set)
        index_of = {slug: i for i, (slug, _, _) in enumerate(outlets())}
        async for d in documents.find({}, {"url": 1, "story_id": 1}):
            slug, page = d["url"].rsplit("/", 2)[-2:]
            number = int(page.removesuffix(".html").rsplit("-", 1)[1])
            if number % 4 == 0:
                group = index_of[slug] // 8
                stories_of_wire[f"{number}/{group}"].add(d["story_id"])
        duplicate_stories = sum(len(s) - 1 for s in stories_of_wire.values())
        violations, closest = spacing_violations(
            read_request_log(request_log), min_gap_s=PER_HOST_DELAY_S
        )
        async with httpx.AsyncClient(timeout=60) as http:
            server_log = (await http.get(f"http://{host_of(0)}:{fixture_port}/_requests")).json()
        server_violations, server_closest = spacing_violations(
            [tuple(r) for r in server_log], min_gap_s=PER_HOST_DELAY_S
        )
        seconds = await stage_seconds(f"http://127.0.0.1:{ports.ingest_metrics}/metrics")
        rounds = await rounds_done(f"http://127.0.0.1:{ports.ingest_metrics}/metrics")
        repolls = hot_feed_repolls(server_log)
        total = sum(seconds.values()) or 1.0
        shares = {stage: round(s / total, 3) for stage, s in sorted(seconds.items())}
        store_share = sum(seconds.get(stage, 0.0) for stage in STORE_STAGES) / total
        # A story not returned by the end has no delay to give: a percentile falling on one is
        # reported as null (JSON has no infinity), and the count of such stories is printed.
        p50, p95 = (
            None if p is None or math.isinf(p) else p
            for p in (percentile(delays, 0.5), percentile(delays, 0.95))
        )
        result = {
            "docs_per_s": None if docs_per_s is None else round(docs_per_s, 1),
            "p50_delay_s": None if p50 is None else round(p50, 1),
            "p95_delay_s": None if p95 is None else round(p95, 1),
            "duplicate_stories": duplicate_stories,
            "politeness_violations": violations,
        }
        if args.steady:
            state = "steady: no backlog (docs/s is not measured in this mode)"
        elif drained_at is not None:
            state = f"backlog drained ({DRAINED:.0%}) in {backlog_s:.0f} s"
        else:
            state = f"backlog NOT drained in {backlog_s:.0f} s"
        print(f"sources: {len(outlets())}; backlog {backlog} items; analysed {analysed}; {state}")
        print(f"stage shares of collection time: {shares}")
        rounded = {stage: round(s) for stage, s in sorted(seconds.items())}
        print(f"stage seconds (summed over concurrent rounds): {rounded}")
        print(f"MongoDB's share (stages {', '.join(STORE_STAGES)}): {store_share:.3f}")
        if docs_per_s is not None:
            print(
                "ESTIMATE, not a measurement: documents/s were MongoDB's time zero "
                f"(docs/s / (1 - its share)): {docs_per_s / max(1 - store_share, 1e-9):.1f}"
            )
        print(
            f"source rounds done: {sum(rounds.values())} in {ended - started:.0f} s "
            f"({sum(rounds.values()) / (ended - started):.1f}/s), by kind {rounds}"
        )
        if repolls:
            print(
                f"hot feeds' re-polls (bar: every 30 s): {len(repolls)}, seconds apart p50 "
                f"{percentile(repolls, 0.5):.1f}, p95 {percentile(repolls, 0.95):.1f}, "
                f"max {max(repolls):.1f}"
            )
        late = sum(1 for d in delays if math.isinf(d))
        print(
            f"steady state: {len(delays)} hot stories published after the drain and "
            f">= {DELAY_HORIZON_S:.0f} s before the end; {late} not returned by the end"
        )
        print(
            f"politeness, client side: {violations} gaps < {PER_HOST_DELAY_S} s, closest "
            f"{closest or 0:.3f} s; fixture server side (includes its queueing): "
            f"{server_violations}, closest {server_closest or 0:.3f} s"
        )
        print(json.dumps(result))
    finally:
        stop.set()
        await mongo.close()
        await stack.stop()
        await fixture.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-fixture":
        serve_fixture(
            int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), steady=sys.argv[4] == "steady"
        )
    else:
        asyncio.run(main())
