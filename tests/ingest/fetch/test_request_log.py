"""The request log and the spacing check on it: what the client sent, and when, per origin."""

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path

from services.ingest.fetch import RequestLog, read_request_log, spacing_violations
from services.ingest.fetch.politeness import HostLimiter
from tests.ingest.fetch.conftest import LocalServer, Reply


async def fetch_pages(fetcher, servers: list[LocalServer], pages: int) -> None:
    for server in servers:
        server.routes["/trang"] = Reply(body="Tin mới về tuyến metro số 1".encode())
    await asyncio.gather(
        *(fetcher.fetch(s.url(f"/trang?so={n}")) for n in range(pages) for s in servers)
    )


async def test_a_polite_client_passes_and_every_request_is_logged(
    start_server: Callable, make_fetcher: Callable, tmp_path: Path
) -> None:
    servers = [await start_server(), await start_server()]
    log = RequestLog(tmp_path / "requests.jsonl")
    fetcher = make_fetcher(per_host_delay_s=0.2, per_host_concurrency=2, request_log=log)

    await fetch_pages(fetcher, servers, 4)
    log.close()

    sent = read_request_log(tmp_path / "requests.jsonl")
    # robots.txt and four pages per origin, as the servers received them.
    assert len(sent) == sum(len(s.received) for s in servers) == 10
    assert {origin for _, origin, _ in sent} == {s.url("") for s in servers}
    violations, closest = spacing_violations(sent, min_gap_s=0.2)
    assert violations == 0
    assert closest is not None
    assert closest >= 0.2


async def test_the_check_catches_a_client_that_does_not_wait(
    start_server: Callable, make_fetcher: Callable, tmp_path: Path
) -> None:
    servers = [await start_server(), await start_server()]
    log = RequestLog(tmp_path / "requests.jsonl")
    # Deliberately impolite: 10 ms between requests and eight at once.
    fetcher = make_fetcher(per_host_delay_s=0.01, per_host_concurrency=8, request_log=log)

    await fetch_pages(fetcher, servers, 4)
    log.close()

    violations, closest = spacing_violations(
        read_request_log(tmp_path / "requests.jsonl"), min_gap_s=0.2
    )
    # Every gap but none is too short: 5 requests per origin, 4 gaps each.
    assert violations == 8
    assert closest is not None
    assert closest < 0.2


async def test_spacing_counts_from_when_a_late_request_really_started() -> None:
    limiter = HostLimiter(min_delay_s=0.2, max_concurrency=3)
    starts: list[float] = []

    async def request(block_s: float = 0.0) -> None:
        async with limiter.slot("https://a.vn:443"):
            starts.append(time.monotonic())
            if block_s:
                # Let the others book their turns (0.2 s and 0.4 s from now), then hold up the
                # whole event loop past the first of them, as a busy process does.
                await asyncio.sleep(0.05)
                time.sleep(block_s)  # noqa: ASYNC251 - blocking the loop is the point

    await asyncio.gather(request(block_s=0.3), request(), request())

    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # The second started late (about 0.35 s); the third, booked for 0.4 s, waited for 0.2 s
    # after it rather than following it within 0.05 s.
    assert gaps[0] >= 0.3
    assert gaps[1] >= 0.2
