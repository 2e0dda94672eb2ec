"""Collection from the local demo web through real processes: nothing lost, nothing twice."""

import base64
import itertools
import re
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS, connect, database
from services.devstack.processes import Ports, ServiceProcess, free_port, grpc_serving
from services.devstack.stack import DEMO_REGISTRY, Stack
from services.ingest.seed import read_registry
from tests.conftest import FAST_RETRIES, wait_until

# Short leases, so that a killed replica's sources and documents move on within the test.
SHORT_LEASES = {
    **FAST_RETRIES,
    "LANGNGHE_INGEST_COLLECT_LEASE_S": "15",
    "LANGNGHE_INGEST_ANALYSIS_LEASE_S": "10",
}
# The demo registry's feeds, by path on the demo web.
DEMO_FEEDS = [urlsplit(url).path for spec in read_registry(DEMO_REGISTRY) for url in spec.urls]
# Suffixes the demo web's outlets add to wire copies (services/demosite/content.py).
WIRE_SUFFIXES = re.compile(r"( \(cập nhật\)| — phản ánh của người dân| hôm nay)$")


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[Stack]:
    stack = Stack(ports=Ports.free(), demo=True, demo_period_s=15, env={"ingest": SHORT_LEASES})
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


@pytest.fixture
async def db(demo: Stack) -> AsyncIterator[AsyncDatabase]:
    client = connect(demo.mongodb_uri, "tests")
    yield database(client)
    await client.close()


async def count(db: AsyncDatabase, query: dict | None = None) -> int:
    return await db[DOCUMENTS].count_documents(query or {})


@pytest.mark.timeout(300)
async def test_kill_9_mid_collection_loses_nothing(demo: Stack, db: AsyncDatabase) -> None:
    await wait_until(lambda: count(db), within_s=60, every_s=0.1, what="a first stored document")
    demo.ingest.signal(signal.SIGKILL)
    await demo.ingest.process.wait()
    stored_before = await count(db)
    await demo.ingest.start()
    await demo.ingest.wait_ready(lambda: grpc_serving(demo.ports.ingest), 30)

    # The killed replica's leases lapse and the restarted one finishes every feed: every item
    # the demo web lists now (those published while ingest was down included) ends up stored
    # once and analysed, unless the feed drops it first (each lists its 30 newest). Judged on
    # what is listed now, not at some later moment: the outlets are polled at different
    # moments (an import spreads their first polls), so there need never be a moment when the
    # newest items of every feed are all stored.
    listed_after_restart = await listed_article_urls(demo)

    async def all_listed_items_stored() -> bool:
        still_listed = listed_after_restart & await listed_article_urls(demo)
        stored = set()
        async for d in db[DOCUMENTS].find({}, {"url_key": 1, "alternate_urls": 1}):
            stored |= {d["url_key"], *d.get("alternate_urls", ())}
        return still_listed <= stored

    await wait_until(all_listed_items_stored, within_s=120, what="every listed item stored")
    await wait_until(lambda: _none_pending(db), within_s=60, what="every stored document analysed")
    assert await count(db) >= stored_before
    keys = [d["url_key"] async for d in db[DOCUMENTS].find({}, {"url_key": 1})]
    assert len(keys) == len(set(keys))


async def _none_pending(db: AsyncDatabase) -> bool:
    return await count(db, {"analysis_state": "pending"}) == 0


async def listed_article_urls(stack: Stack) -> set[str]:
    """Every article URL the demo web's feeds and sitemaps list: each outlet's 30 newest."""
    base = f"http://127.0.0.1:{stack.ports.demo}"
    urls: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as http:
        for outlet, path, pattern in (
            ("tin-pho-sai-gon", "rss.xml", LINK),
            ("nhip-song-thanh-pho", "rss.xml", LINK),
            ("tin-nhanh-phuong-xa", "rss.xml", LINK),
            ("nguoi-dan-hoi", "rss.xml", LINK),
            ("bao-do-thi-moi", "news-sitemap.xml", LOC),
            ("thoi-bao-kenh-rach", "news-sitemap.xml", LOC),
        ):
            listing = (await http.get(f"{base}/{outlet}/{path}")).text
            urls |= {u.split("?")[0] for u in pattern.findall(listing)}
    return urls


LINK = re.compile(r"<link>([^<]+\.html[^<]*)</link>")
LOC = re.compile(r"<loc>([^<]+)</loc>")


async def test_stories_group_syndicated_copies_and_nothing_else(
    demo: Stack, db: AsyncDatabase
) -> None:
    await wait_until(lambda: _none_pending(db), within_s=60, what="analysis caught up")
    headlines: dict[object, set[str]] = defaultdict(set)
    stories_of_wire: dict[int, set[object]] = defaultdict(set)
    async for d in db[DOCUMENTS].find({}, {"story_id": 1, "title": 1, "url_key": 1}):
        headlines[d["story_id"]].add(WIRE_SUFFIXES.sub("", d["title"]))
        number = int(d["url_key"].rsplit("-", 1)[1].removesuffix(".html"))
        if number % 4 == 0:  # the demo web's wire copies, shared by every outlet
            stories_of_wire[number].add(d["story_id"])
    # No duplicate stories: every wire story's copies, across outlets, are one story.
    assert stories_of_wire
    assert all(len(stories) == 1 for stories in stories_of_wire.values()), stories_of_wire
    assert max(len(stories) for stories in stories_of_wire.values()) == 1
    copies = [await count(db, {"story_id": s}) for (s,) in stories_of_wire.values()]
    assert max(copies) > 1
    # Different events are kept apart. MinHash estimates similarity from 72 hashes, so two
    # events built from one template may, rarely, look alike: allow 1 story in 20 to merge two.
    merged = [titles for titles in headlines.values() if len(titles) > 1]
    assert len(merged) <= len(headlines) / 20, merged


async def test_sources_report_health_and_new_items(demo: Stack) -> None:
    # A round is counted when it ends, after its documents are stored, and the kill -9 test
    # above restarted the process (and its counters): wait for a round of this process.
    wanted = (
        r'langnghe_ingest_source_fetches_total\{channel="rss",kind="press",outcome="ok"\} [1-9]',
        r'langnghe_ingest_documents_stored_total\{kind="press"\} [1-9]',
        r"langnghe_ingest_published_to_stored_seconds_bucket",
    )

    async def missing() -> list[str]:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"http://127.0.0.1:{demo.ports.ingest_metrics}/metrics"
            metrics = (await http.get(url)).text
        return [pattern for pattern in wanted if not re.search(pattern, metrics)]

    async def all_reported() -> bool:
        return not await missing()

    await wait_until(all_reported, within_s=90, what="a press feed's round in the metrics")
    assert await missing() == []


@pytest.mark.timeout(420)
async def test_two_replicas_share_the_registry_without_overlap(
    mongo_server: str, mongo_db: AsyncDatabase
) -> None:
    """Two ingest processes, one registry: each source is fetched by one replica at a time."""
    ports = Ports.free()
    uri = f"mongodb://{mongo_server}/{mongo_db.name}?directConnection=true"
    stack = Stack(
        ports=ports, demo=True, demo_period_s=10, mongodb_uri=uri, env={"ingest": FAST_RETRIES}
    )
    await stack.start()
    second_metrics = free_port()
    second = ServiceProcess(
        "ingest-2",
        "services.ingest",
        env={
            **stack.ingest.env,
            "LANGNGHE_INGEST_PORT": str(free_port()),
            "LANGNGHE_INGEST_METRICS_PORT": str(second_metrics),
        },
    )
    await second.start()
    try:
        # The demo web is one host, and a host is held by one replica while it has a round
        # there (politeness across replicas): its feeds are fetched one after another, a crawl
        # delay apart, and the other replica gets the host at a moment it is idle, which on a
        # loaded machine can take a few polling rounds. So wait for what is checked below:
        # every feed fetched twice (a gap to measure) and both replicas collecting.
        feeds = await wait_until(
            lambda: _every_feed_fetched(ports.demo, times=2),
            within_s=300,
            what="every demo feed fetched twice",
        )
        await wait_until(
            lambda: _fetched_by_both(ports.ingest_metrics, second_metrics),
            within_s=120,
            what="both replicas collecting",
        )
        for path, times in feeds.items():
            gaps = [b - a for a, b in itertools.pairwise(times)]
            # Sources are due every 30 s at the most (less 10 % jitter); two replicas holding
            # one source at once would fetch it twice within moments.
            assert all(gap > 20 for gap in gaps), (path, gaps)
        keys = [d["url_key"] async for d in mongo_db[DOCUMENTS].find({}, {"url_key": 1})]
        assert len(keys) == len(set(keys))
    finally:
        await second.stop()
        await stack.stop()


async def _every_feed_fetched(demo_port: int, *, times: int) -> dict[str, list[float]]:
    """The demo web's feed fetches by path, once each of its feeds was fetched ``times`` times
    (empty until then)."""
    async with httpx.AsyncClient(timeout=10) as http:
        log = (await http.get(f"http://127.0.0.1:{demo_port}/_requests")).json()
    feed_times: dict[str, list[float]] = {path: [] for path in DEMO_FEEDS}
    for at, _host, path in log:
        if path in feed_times:
            feed_times[path].append(at)
    if min(map(len, feed_times.values())) < times:
        return {}
    return feed_times


async def _fetched_by_both(*ports: int) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        for port in ports:
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            if not re.search(
                r'langnghe_ingest_source_fetches_total\{[^}]*outcome="ok"\} [1-9]', metrics
            ):
                return False
    return True


async def test_stories_are_queryable_through_graphql(demo: Stack, db: AsyncDatabase) -> None:
    await wait_until(lambda: _none_pending(db), within_s=60, what="analysis caught up")
    copies = await db[DOCUMENTS].aggregate(
        [
            {"$group": {"_id": "$story_id", "n": {"$sum": 1}, "one": {"$first": "$_id"}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$limit": 1},
        ]
    )
    (wire,) = await copies.to_list()
    document_id = relay_id("Document", wire["one"])
    query = """
    query Story($id: ID!) {
      document(id: $id) {
        story { id documents(first: 20) { totalCount edges { node { id outletUrl: url } } } }
      }
    }"""
    async with httpx.AsyncClient(timeout=30, headers=demo.auth_headers) as http:
        body = (
            await http.post(
                demo.graphql_url, json={"query": query, "variables": {"id": document_id}}
            )
        ).json()
        story = body["data"]["document"]["story"]
        assert story["documents"]["totalCount"] == wire["n"]
        outlets = {e["node"]["outletUrl"].split("/")[3] for e in story["documents"]["edges"]}
        assert len(outlets) == wire["n"], "a story's copies come from different outlets"
        same = (
            await http.post(
                demo.graphql_url,
                json={
                    "query": "query S($id: ID!) { story(id: $id) { id } "
                    "documents(filter: {story: $id}) { totalCount } }",
                    "variables": {"id": story["id"]},
                },
            )
        ).json()["data"]
        assert same["story"] == {"id": story["id"]}
        assert same["documents"]["totalCount"] == wire["n"]


def relay_id(type_name: str, object_id: object) -> str:
    return base64.b64encode(f"{type_name}:{object_id}".encode()).decode()
