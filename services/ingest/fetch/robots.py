"""robots.txt under RFC 9309: fetched once per origin, cached, matched for our product token.

Parsing and matching are protego's (longest match wins, Allow wins a tie, ``*`` and ``$``,
percent-encoding normalised, groups of one agent merged); the tests pin those RFC cases.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from protego import Protego

from services.common.ssrf import BlockedBySsrfPolicy
from services.ingest.fetch.errors import (
    CertificateError,
    FetchError,
    HttpStatusError,
    InvalidUrl,
    RetryLater,
    TooManyRedirects,
)
from services.ingest.fetch.policy import KIB

log = structlog.get_logger(__name__)

# RFC 9309 2.5 and 2.3.1.2: parse at least the first 500 KiB; follow at least five redirects.
ROBOTS_MAX_BYTES = 500 * KIB
ROBOTS_MAX_REDIRECTS = 5

DEFAULT_PORTS = {"http": 80, "https": 443}

type FetchRobotsTxt = Callable[[str], Awaitable[bytes]]


def origin_of(url: httpx.URL) -> str:
    """``scheme://host:port`` with the port always written, so equal origins are equal strings."""
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{url.port or DEFAULT_PORTS[url.scheme]}"


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """What one origin's robots.txt lets our agent fetch."""

    agent_token: str
    # None when the site has no usable robots.txt (4xx, too many redirects): all is allowed.
    parsed: Protego | None = None
    # Set while robots.txt is unreachable (5xx, network): all is disallowed until then.
    unreachable_until: datetime | None = None

    @classmethod
    def parse(cls, body: bytes, agent_token: str) -> "RobotsRules":
        # RFC 9309 2.3: UTF-8; a BOM or stray bytes must not cost the rules around them.
        text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
        return cls(agent_token, Protego.parse(text))

    def allows(self, url: str) -> bool:
        if self.unreachable_until is not None:
            return False
        return self.parsed is None or self.parsed.can_fetch(url, self.agent_token)

    @property
    def crawl_delay_s(self) -> float | None:
        return None if self.parsed is None else self.parsed.crawl_delay(self.agent_token)


class RobotsCache:
    """The rules of each origin, loaded by one caller while the others for that origin wait."""

    def __init__(
        self,
        fetch_robots_txt: FetchRobotsTxt,
        *,
        agent_token: str,
        ttl_s: float,
        unreachable_ttl_s: float,
    ) -> None:
        self._fetch_robots_txt = fetch_robots_txt
        self._agent_token = agent_token
        self._ttl_s = ttl_s
        self._unreachable_ttl_s = unreachable_ttl_s
        # origin -> (rules, monotonic expiry); one entry per origin fetched, like the locks.
        self._cached: dict[str, tuple[RobotsRules, float]] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def rules_for(self, origin: str) -> RobotsRules:
        rules = self._fresh(origin)
        if rules is not None:
            return rules
        lock = self._loading.get(origin)
        if lock is None:
            lock = self._loading[origin] = asyncio.Lock()
        async with lock:
            # Another caller may have loaded them while this one waited.
            rules = self._fresh(origin)
            if rules is None:
                rules, ttl_s = await self._load(origin)
                self._cached[origin] = (rules, time.monotonic() + ttl_s)
            return rules

    def _fresh(self, origin: str) -> RobotsRules | None:
        cached = self._cached.get(origin)
        if cached is None or cached[1] <= time.monotonic():
            return None
        return cached[0]

    async def _load(self, origin: str) -> tuple[RobotsRules, float]:
        try:
            body = await self._fetch_robots_txt(f"{origin}/robots.txt")
        except (BlockedBySsrfPolicy, CertificateError, InvalidUrl):
            # These say nothing about robots.txt and will not pass: the page would fail the same.
            raise
        except HttpStatusError as error:
            if error.status >= 500 or error.status == 429:
                return self._unreachable(origin, error)
            # RFC 9309 2.3.1.3: 4xx means there are no rules for us.
            return RobotsRules(self._agent_token), self._ttl_s
        except TooManyRedirects:
            return RobotsRules(self._agent_token), self._ttl_s
        except FetchError as error:
            return self._unreachable(origin, error)
        return RobotsRules.parse(body, self._agent_token), self._ttl_s

    def _unreachable(self, origin: str, error: FetchError) -> tuple[RobotsRules, float]:
        ttl_s = self._unreachable_ttl_s
        if isinstance(error, RetryLater):
            ttl_s = max(ttl_s, (error.retry_at - datetime.now(UTC)).total_seconds())
        log.info(
            "robots.txt unreachable; origin disallowed for now", origin=origin, error=str(error)
        )
        until = datetime.now(UTC) + timedelta(seconds=ttl_s)
        return RobotsRules(self._agent_token, unreachable_until=until), ttl_s
