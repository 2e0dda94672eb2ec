"""Per-host politeness: a minimum delay between request starts and a cap on requests in flight.

A "host" is an origin, ``scheme://host:port``: the unit robots.txt (and so Crawl-delay) applies
to under RFC 9309. Each host has its own state, so hosts never wait for each other, and taking
a slot costs O(1): a semaphore and one reserved start time, no scan and no global lock.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class _HostState:
    in_flight: asyncio.Semaphore
    # When the latest request started or is booked to start; the next books after it.
    last_start: float = field(default=float("-inf"))
    # When the latest request really started (a late wake-up makes it later than booked).
    started: float = field(default=float("-inf"))
    # Nobody starts before this, whatever the delay (the host asked for a pause).
    not_before: float = field(default=float("-inf"))
    # The delay the latest request was spaced by (a Crawl-delay can make it longer than the
    # configured one); the next request, whoever sends it, keeps at least this gap.
    delay: float = 0.0


class HostLimiter:
    """Shared by every caller in the process: concurrent fetches of one host queue here."""

    def __init__(
        self,
        *,
        min_delay_s: float,
        max_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._min_delay_s = min_delay_s
        self._max_concurrency = max_concurrency
        self._clock = clock
        # One entry per host ever fetched: bounded by the sources and where they redirect.
        self._hosts: dict[str, _HostState] = {}

    @asynccontextmanager
    async def slot(self, host: str, *, min_delay_s: float | None = None) -> AsyncIterator[None]:
        """Wait for the host's turn, then hold one of its slots for the request.

        ``min_delay_s`` (a robots.txt Crawl-delay) can only lengthen the configured delay.
        """
        state = self._state(host)
        delay = max(self._min_delay_s, min_delay_s or 0.0)
        async with state.in_flight:
            # Book a start time before sleeping, so callers queued behind are spaced after it;
            # the event loop runs one coroutine at a time, so no lock is needed for the booking.
            now = self._clock()
            start = max(now, state.last_start + delay, state.not_before)
            state.last_start = start
            while start > now:
                await asyncio.sleep(start - now)
                # A busy event loop wakes sleepers late: the previous request may have started
                # later than booked, and the spacing counts from when it really started.
                now = self._clock()
                start = max(now, state.started + delay, state.not_before)
            state.started = now
            state.last_start = max(state.last_start, now)
            state.delay = delay
            yield

    def note_sent(self, host: str) -> None:
        """The request given a slot has now gone out: the next one is spaced from this moment.

        Between taking a slot and sending, a loaded process can lose a few milliseconds;
        counting from the send keeps those out of the gap the host sees.
        """
        state = self._hosts.get(host)
        if state is not None:
            state.started = max(state.started, self._clock())
            state.last_start = max(state.last_start, state.started)

    def pause(self, host: str, seconds: float) -> None:
        """Start nothing on this host for ``seconds`` (it answered 429/503 with Retry-After)."""
        state = self._state(host)
        state.not_before = max(state.not_before, self._clock() + seconds)

    def free_in(self, host: str) -> float:
        """Seconds until this host may be sent its next request (0 when it may now).

        What another replica must wait when this one hands the host over (sources.py).
        """
        state = self._hosts.get(host)
        if state is None:
            return 0.0
        free_at = max(state.started + max(state.delay, self._min_delay_s), state.not_before)
        return max(0.0, free_at - self._clock())

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _HostState(asyncio.Semaphore(self._max_concurrency))
        return state
