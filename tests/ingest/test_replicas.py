"""Two ingest processes on one registry: the demo web's one host sees one polite crawler."""

import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.devstack.processes import Ports, ServiceProcess, free_port
from services.devstack.stack import Stack
from services.ingest.fetch import read_request_log
from tests.conftest import FAST_RETRIES, wait_until

# The demo web asks every crawler for this many seconds between requests (robots.txt), while
# each replica's own per-host delay is 0.05 s: only the Crawl-delay, kept across replicas,
# spaces requests this far.
CRAWL_DELAY_S = 1.0
# Both replicas stamp a request as they hand it to the transport, with the same machine clock;
# MongoDB keeps the time a host is handed over to the millisecond.
CLIENT_SLACK_S = 0.005
# The demo web stamps a request when its handler runs: on a loaded machine a request that
# waited in its queue comes out closer to the next one than it was sent.
SERVER_SLACK_S = 0.5


@pytest.fixture
async def two_replicas(
    mongo_server: str, mongo_db: AsyncDatabase, tmp_path: Path
) -> AsyncIterator[tuple[Stack, list[ServiceProcess], list[Path]]]:
    ports = Ports.free()
    logs = [tmp_path / "ingest-1.jsonl", tmp_path / "ingest-2.jsonl"]
    stack = Stack(
        ports=ports,
        demo=True,
        # A story an outlet every 20 s, feeds of five stories: a backlog of some 40 requests.
        demo_period_s=20,
        demo_args=("--feed-length", "5", "--crawl-delay", f"{CRAWL_DELAY_S:g}"),
        mongodb_uri=f"mongodb://{mongo_server}/{mongo_db.name}?directConnection=true",
        env={"ingest": {**FAST_RETRIES, "LANGNGHE_INGEST_REQUEST_LOG_PATH": str(logs[0])}},
    )
    await stack.start()
    second = ServiceProcess(
        "ingest-2",
        "services.ingest",
        env={
            **stack.ingest.env,
            "LANGNGHE_INGEST_PORT": str(free_port()),
            "LANGNGHE_INGEST_METRICS_PORT": str(free_port()),
            "LANGNGHE_INGEST_REQUEST_LOG_PATH": str(logs[1]),
        },
    )
    await second.start()
    try:
        yield stack, [stack.ingest, second], logs
    finally:
        await second.stop()
        await stack.stop()


def demo_requests(path: Path) -> list[float]:
    """When a replica sent each request to the demo web (robots.txt included)."""
    if not path.exists():
        return []
    return [at for at, _origin, _path in read_request_log(path)]


@pytest.mark.timeout(300)
async def test_two_replicas_keep_one_hosts_crawl_delay_between_them(
    two_replicas: tuple[Stack, list[ServiceProcess], list[Path]], mongo_db: AsyncDatabase
) -> None:
    stack, replicas, logs = two_replicas

    async def the_holder() -> int | None:
        # The replica that took the host first, once it is well into the backlog.
        counts = [len(demo_requests(log)) for log in logs]
        return next((n + 1 for n, count in enumerate(counts) if count >= 8), None)

    holder = await wait_until(the_holder, within_s=90, what="a replica collecting") - 1
    other = 1 - holder
    # Both want the host throughout (the backlog), and the other never got it while the holder
    # fetched. Stopping the holder mid-backlog hands the host over (a rolling update does it):
    # the other replica goes on from there, one Crawl-delay after the holder's last request.
    # (Were the host not handed back, it would wait out the 300 s collection lease.)
    await replicas[holder].stop()
    handed_over_at = time.time()

    async def the_other_collects() -> bool:
        return sum(at > handed_over_at for at in demo_requests(logs[other])) >= 4

    await wait_until(the_other_collects, within_s=60, every_s=1, what="the other replica going on")

    sent = sorted((at, n) for n, log in enumerate(logs) for at in demo_requests(log))
    assert {n for _at, n in sent} == {0, 1}
    client_gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sent)]
    assert min(client_gaps) >= CRAWL_DELAY_S - CLIENT_SLACK_S, sorted(client_gaps)[:5]
    # The handover: the holder's last request, then the other's first.
    last_of_holder = max(at for at, n in sent if n == holder)
    first_after = min(at for at, n in sent if n == other and at > last_of_holder)
    assert CRAWL_DELAY_S - CLIENT_SLACK_S <= first_after - last_of_holder < 30

    async with httpx.AsyncClient(timeout=10) as http:
        seen = (await http.get(f"http://127.0.0.1:{stack.ports.demo}/_requests")).json()
    arrived = sorted((at, path) for at, _host, path in seen)
    assert len(arrived) >= 12
    # Each replica's first request, robots.txt, also opens its connection: a loaded demo web
    # accepts and reads it late (0.65 s was seen), which shortens the gap after it only.
    server_gaps = [
        b - a for (a, path), (b, _) in itertools.pairwise(arrived) if path != "/robots.txt"
    ]
    assert min(server_gaps) >= CRAWL_DELAY_S - SERVER_SLACK_S, sorted(server_gaps)[:5]

    async def stored_keys() -> list[str]:
        return [d["url_key"] async for d in mongo_db[DOCUMENTS].find({}, {"url_key": 1})]

    keys = await wait_until(stored_keys, within_s=30, what="documents stored")
    assert len(keys) == len(set(keys))
    (lease,) = await mongo_db["host_leases"].find().to_list()
    assert lease["_id"] == f"http://127.0.0.1:{stack.ports.demo}"
