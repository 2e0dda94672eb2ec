"""Every knob of the fetcher, with production defaults; the service maps its settings onto it."""

import re
from dataclasses import dataclass, fields

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchPolicy:
    # Where a site operator reads who we are and how to reach us; it goes into the User-Agent,
    # so it has no default: an honest crawler names a page that really exists.
    contact_url: str
    # The product token robots.txt groups are matched against.
    agent_token: str = "LangNgheBot"
    agent_version: str = "0.1"

    connect_timeout_s: float = 10.0
    # The longest silence allowed between two reads of the response.
    read_timeout_s: float = 30.0
    # One attempt, from sending the request to the last body byte: stops slow-drip servers.
    total_timeout_s: float = 60.0

    # Tries of one request, the first included, on connection errors, timeouts, 5xx and 429.
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    # A Retry-After longer than this is not waited for: the fetch raises RetryLater instead.
    retry_after_cap_s: float = 60.0

    # Between the starts of two requests to the same origin, and how many may be in flight.
    per_host_delay_s: float = 1.0
    per_host_concurrency: int = 2
    # robots.txt Crawl-delay raises the per-host delay, up to this.
    max_crawl_delay_s: float = 60.0
    robots_ttl_s: float = 24 * 3600.0
    # RFC 9309: a robots.txt that is unreachable (5xx, network) means "disallow all" for now;
    # this is how long "now" lasts before it is fetched again.
    robots_unreachable_ttl_s: float = 600.0

    max_body_bytes: int = 10 * MIB
    max_redirects: int = 5
    # Open connections across all hosts, for the one client the process shares.
    max_connections: int = 100
    # SSRF allow-list: CIDRs ("127.0.0.1/32") or address:port ("127.0.0.1:8080", "[::1]:8080")
    # that may be reached although they are loopback, private or otherwise forbidden.
    ssrf_allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.contact_url.startswith(("https://", "http://")):
            raise ValueError(f"contact_url must be an http(s) URL, got {self.contact_url!r}")
        if not re.fullmatch(r"[A-Za-z_-]+", self.agent_token):
            # RFC 9309 2.2.1: what robots.txt groups name, and so what they can name.
            raise ValueError(f"agent_token must be letters, '_' and '-': {self.agent_token!r}")
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{field.name} must be positive, got {value}")

    @property
    def user_agent(self) -> str:
        return f"{self.agent_token}/{self.agent_version} (+{self.contact_url})"
