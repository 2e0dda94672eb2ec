"""Per-host politeness, seen from the servers' side: spacing, the in-flight cap, no cross-talk."""

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable

import pytest

from services.ingest.fetch.politeness import HostLimiter
from tests.ingest.fetch.conftest import LocalServer, Received, Reply

# Server-side timestamps come after the client's: connection set-up and scheduling shave a
# few milliseconds off the spacing the client kept.
SLACK_S = 0.05


def gaps(requests: list[Received]) -> list[float]:
    starts = sorted(r.started for r in requests)
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


def most_in_flight(requests: list[Received]) -> int:
    events = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests])
    in_flight = peak = 0
    for _, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    return peak


class LoopLag:
    """How late this process's event loop woke a sleeper, at worst, while it was watched."""

    def __init__(self) -> None:
        self.worst_s = 0.0

    async def watch(self, every_s: float = 0.005) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(every_s)
            self.worst_s = max(self.worst_s, time.monotonic() - before - every_s)


@contextlib.asynccontextmanager
async def loop_lag() -> AsyncIterator[LoopLag]:
    lag = LoopLag()
    watcher = asyncio.create_task(lag.watch())
    try:
        yield lag
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def slow(_: Received) -> Reply:
    await asyncio.sleep(0.5)
    return Reply(body=b"ok")


async def test_each_host_is_spaced_and_capped_and_hosts_run_in_parallel(
    start_server: Callable, make_fetcher: Callable
) -> None:
    # "Host" is the origin, so two ports on 127.0.0.1 are two hosts.
    first, second = await start_server(), await start_server()
    for server in (first, second):
        server.routes["/slow"] = slow
    fetcher = make_fetcher(per_host_delay_s=0.2, per_host_concurrency=2)

    async with loop_lag() as lag:
        await asyncio.gather(
            *(
                fetcher.fetch(server.url(f"/slow?n={n}"))
                for n in range(6)
                for server in (first, second)
            )
        )

    for server in (first, second):
        pages = [r for r in server.received if r.path.startswith("/slow")]
        assert len(pages) == 6
        # robots.txt queues with the pages: every request to the host counts. The servers run
        # in this process's event loop: a loaded machine that stalls it stamps a request late
        # by as much, and shortens the gap before the next by as much.
        assert min(gaps(server.received)) >= 0.2 - SLACK_S - lag.worst_s
        assert most_in_flight(pages) == 2
    # Each host alone is busy about 1.7 s (robots.txt, then 6 requests of 0.5 s, 2 at a time).
    # Had one host waited for the other, their busy spans would not overlap; in parallel, they
    # overlap for most of either, however slowly a loaded machine runs both.
    spans = [
        (min(r.started for r in s.received), max(r.finished for r in s.received))
        for s in (first, second)
    ]
    overlap = min(end for _, end in spans) - max(start for start, _ in spans)
    assert overlap > 0.5 * min(end - start for start, end in spans)


@pytest.mark.parametrize(
    ("crawl_delay", "expected_gap_s"),
    [("0.3", 0.3), ("3600", 0.5)],
    ids=["honoured", "capped"],
)
async def test_crawl_delay_raises_the_host_delay(
    server: LocalServer, make_fetcher: Callable, crawl_delay: str, expected_gap_s: float
) -> None:
    robots_txt = f"User-agent: *\nCrawl-delay: {crawl_delay}\n"
    server.routes["/robots.txt"] = Reply(body=robots_txt.encode())
    server.routes["/page"] = Reply(body=b"ok")
    fetcher = make_fetcher(per_host_delay_s=0.05, max_crawl_delay_s=0.5)

    await asyncio.gather(*(fetcher.fetch(server.url(f"/page?n={n}")) for n in range(3)))

    page_gaps = gaps([r for r in server.received if r.path.startswith("/page")])
    assert min(page_gaps) >= expected_gap_s - SLACK_S
    assert max(page_gaps) < expected_gap_s + 0.2


async def test_a_host_waiting_out_a_long_delay_holds_up_no_other_host() -> None:
    limiter = HostLimiter(min_delay_s=60.0, max_concurrency=1)
    async with limiter.slot("https://a.vn:443"):
        pass
    started = time.monotonic()

    async def one(host: str) -> None:
        async with limiter.slot(host):
            pass

    # A thousand other hosts each get their first slot at once, with no scan of the others.
    await asyncio.gather(*(one(f"https://site{n}.vn:443") for n in range(1000)))
    assert time.monotonic() - started < 0.5
    # While a.vn's next turn is a minute away.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await one("https://a.vn:443")


async def test_a_paused_host_starts_nothing_until_the_pause_ends() -> None:
    limiter = HostLimiter(min_delay_s=0.001, max_concurrency=2)
    limiter.pause("https://a.vn:443", 0.3)
    started = time.monotonic()

    async with limiter.slot("https://a.vn:443"):
        waited = time.monotonic() - started
    async with limiter.slot("https://b.vn:443"):
        other_waited = time.monotonic() - started - waited

    assert waited >= 0.29
    assert other_waited < 0.05


async def test_free_in_says_how_long_the_next_request_must_wait() -> None:
    """What a replica handing a host over tells the next one: Crawl-delay and pauses count."""
    now = [100.0]
    limiter = HostLimiter(min_delay_s=1.0, max_concurrency=2, clock=lambda: now[0])
    assert limiter.free_in("https://a.vn:443") == 0.0
    async with limiter.slot("https://a.vn:443", min_delay_s=8.0):
        pass
    now[0] += 3.0
    assert limiter.free_in("https://a.vn:443") == pytest.approx(5.0)
    limiter.pause("https://a.vn:443", 20.0)
    assert limiter.free_in("https://a.vn:443") == pytest.approx(20.0)
    now[0] += 30.0
    assert limiter.free_in("https://a.vn:443") == 0.0
