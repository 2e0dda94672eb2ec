"""The fetcher against a real local HTTP server: results, conditional GET, retries, limits."""

import gzip
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.fetch import (
    BlockedBySsrfPolicy,
    BodyTooLarge,
    Fetcher,
    FetchError,
    FetchMetrics,
    FetchPolicy,
    FetchTimeout,
    HttpStatusError,
    InvalidUrl,
    NetworkError,
    Outcome,
    RetryLater,
    TooManyRedirects,
)
from services.ingest.fetch.client import retry_after_seconds
from tests.ingest.fetch.conftest import (
    CONTACT_URL,
    USER_AGENT,
    LocalServer,
    Received,
    RecordingObserver,
    Reply,
)

FEED = '<?xml version="1.0"?><rss><channel><title>Tin Đà Nẵng</title></channel></rss>'.encode()


def replies(*sequence: Reply) -> Callable[[Received], Reply]:
    """A route answering with each reply in turn, then the last one forever."""
    remaining = list(sequence)

    def answer(_: Received) -> Reply:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return answer


async def test_fetch_returns_body_validators_and_metadata(
    server: LocalServer, fetcher: Fetcher
) -> None:
    server.routes["/rss/home.rss"] = Reply(
        body=FEED,
        headers={
            "Content-Type": "application/RSS+xml; charset=UTF-8",
            "ETag": '"v1"',
            "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
        },
    )
    url = server.url("/rss/home.rss")

    result = await fetcher.fetch(url)

    assert result.status == 200
    assert result.url == result.final_url == url
    assert result.body == FEED
    assert result.body_sha256 == hashlib.sha256(FEED).hexdigest()
    assert not result.not_modified
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert result.content_type == "application/rss+xml"
    assert result.charset == "utf-8"
    assert result.headers["etag"] == '"v1"'
    assert result.attempts == 1
    assert 0 < result.elapsed_s < 5
    # robots.txt first, then the page; both say who we are and where to reach us.
    assert server.paths() == ["/robots.txt", "/rss/home.rss"]
    assert {r.headers["user-agent"] for r in server.received} == {USER_AGENT}


async def test_conditional_get_reports_not_modified(server: LocalServer, fetcher: Fetcher) -> None:
    def feed(request: Received) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304)
        return Reply(body=FEED, headers={"ETag": '"v1"'})

    server.routes["/feed"] = feed
    first = await fetcher.fetch(server.url("/feed"))
    again = await fetcher.fetch(
        server.url("/feed"), etag=first.etag, last_modified="Wed, 01 Jan 2025 00:00:00 GMT"
    )

    assert again.status == 304
    assert again.not_modified
    assert again.body is None
    assert again.body_sha256 is None
    # The 304 carried no validators: the ones sent stay valid for the next fetch.
    assert again.etag == '"v1"'
    assert again.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert server.received[-1].headers["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"


async def test_redirects_are_followed_to_the_final_url(
    server: LocalServer, fetcher: Fetcher
) -> None:
    server.routes["/old"] = Reply(301, headers={"Location": "/moved"})
    server.routes["/moved"] = Reply(302, headers={"Location": server.url("/new")})
    server.routes["/new"] = Reply(body=FEED)

    result = await fetcher.fetch(server.url("/old"))

    assert result.final_url == server.url("/new")
    assert result.url == server.url("/old")
    assert result.body == FEED
    assert result.attempts == 3


async def test_redirects_are_capped(server: LocalServer, make_fetcher: Callable) -> None:
    for n in range(10):
        server.routes[f"/hop/{n}"] = Reply(302, headers={"Location": f"/hop/{n + 1}"})
    fetcher = make_fetcher(max_redirects=3)

    with pytest.raises(TooManyRedirects) as raised:
        await fetcher.fetch(server.url("/hop/0"))

    assert raised.value.url == server.url("/hop/0")
    assert [p for p in server.paths() if p.startswith("/hop")] == [f"/hop/{n}" for n in range(4)]


async def test_transient_statuses_are_retried(server: LocalServer, fetcher: Fetcher) -> None:
    server.routes["/flaky"] = replies(Reply(503), Reply(500), Reply(body=FEED))

    result = await fetcher.fetch(server.url("/flaky"))

    assert result.body == FEED
    assert result.attempts == 3


async def test_retries_give_up_with_the_last_status(server: LocalServer, fetcher: Fetcher) -> None:
    server.routes["/down"] = Reply(502)

    with pytest.raises(HttpStatusError) as raised:
        await fetcher.fetch(server.url("/down"))

    assert raised.value.status == 502
    assert server.hits("/down") == 3


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_client_errors_are_not_retried(
    server: LocalServer, fetcher: Fetcher, status: int
) -> None:
    server.routes["/gone"] = Reply(status)

    with pytest.raises(HttpStatusError) as raised:
        await fetcher.fetch(server.url("/gone"))

    assert raised.value.status == status
    assert server.hits("/gone") == 1


async def test_retry_after_seconds_is_waited_for(server: LocalServer, fetcher: Fetcher) -> None:
    server.routes["/busy"] = replies(Reply(429, headers={"Retry-After": "1"}), Reply(body=FEED))

    result = await fetcher.fetch(server.url("/busy"))

    assert result.body == FEED
    first, second = (r for r in server.received if r.path == "/busy")
    assert second.started - first.finished >= 0.95


async def test_retry_after_beyond_the_cap_asks_to_retry_later(
    server: LocalServer, fetcher: Fetcher
) -> None:
    server.routes["/seconds"] = Reply(429, headers={"Retry-After": "3600"})
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    server.routes["/date"] = Reply(503, headers={"Retry-After": format_datetime(later, True)})

    with pytest.raises(RetryLater) as in_an_hour:
        await fetcher.fetch(server.url("/seconds"))
    with pytest.raises(RetryLater) as in_two_hours:
        await fetcher.fetch(server.url("/date"))

    expected = datetime.now(UTC) + timedelta(hours=1)
    assert abs((in_an_hour.value.retry_at - expected).total_seconds()) < 5
    assert abs((in_two_hours.value.retry_at - later).total_seconds()) < 2
    assert server.hits("/seconds") == server.hits("/date") == 1


def test_retry_after_header_forms() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120", now=now) == 120
    assert retry_after_seconds("Wed, 01 Jan 2025 00:02:00 GMT", now=now) == 120
    assert retry_after_seconds("Tue, 31 Dec 2024 23:00:00 GMT", now=now) == 0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds("-5", now=now) is None


async def test_connection_errors_are_retried_then_reported(
    start_server: Callable, fetcher: Fetcher
) -> None:
    server = await start_server()
    server.routes["/feed"] = Reply(body=FEED)
    await fetcher.fetch(server.url("/feed"))  # robots.txt is now cached for this origin
    await server.stop()
    started = time.monotonic()

    with pytest.raises(NetworkError, match="ConnectError"):
        await fetcher.fetch(server.url("/feed"))

    # Three attempts, two backoffs of at most backoff_cap_s each.
    assert time.monotonic() - started < 1


async def test_a_slow_server_times_out(server: LocalServer, make_fetcher: Callable) -> None:
    fetcher = make_fetcher(read_timeout_s=0.2, max_attempts=2)
    server.routes["/slow"] = Reply(body=FEED, delay_s=1.0)

    with pytest.raises(FetchTimeout):
        await fetcher.fetch(server.url("/slow"))

    assert server.hits("/slow") == 2


async def test_a_slow_drip_is_cut_by_the_total_timeout(
    server: LocalServer, make_fetcher: Callable
) -> None:
    fetcher = make_fetcher(read_timeout_s=1.0, total_timeout_s=0.4, max_attempts=1)
    server.routes["/drip"] = Reply(body=b"x" * 100, drip_s=0.05)
    started = time.monotonic()

    with pytest.raises(FetchTimeout, match=r"within 0\.4 s"):
        await fetcher.fetch(server.url("/drip"))

    assert time.monotonic() - started < 1.0


async def test_a_declared_oversize_body_is_refused_before_reading(
    server: LocalServer, fetcher: Fetcher
) -> None:
    # Claims a gigabyte and sends none of it: reading any would wait for the read timeout.
    server.routes["/huge"] = Reply(headers={"Content-Length": str(10**9)})
    started = time.monotonic()

    with pytest.raises(BodyTooLarge) as raised:
        await fetcher.fetch(server.url("/huge"))

    assert raised.value.limit == FetchPolicy(contact_url=CONTACT_URL).max_body_bytes
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=b"x" * 300_000, chunked=True),
        # 2 MB that gzip makes a few kB: the limit is on what the body decodes to.
        Reply(body=gzip.compress(b"x" * 2_000_000), headers={"Content-Encoding": "gzip"}),
    ],
    ids=["chunked", "gzip"],
)
async def test_a_streamed_body_over_the_limit_is_refused(
    server: LocalServer, fetcher: Fetcher, reply: Reply
) -> None:
    server.routes["/big"] = reply

    with pytest.raises(BodyTooLarge):
        await fetcher.fetch(server.url("/big"), max_bytes=100_000)
    ok = await fetcher.fetch(server.url("/big"), max_bytes=3_000_000)
    assert ok.body is not None
    assert set(ok.body) == {ord("x")}


async def test_cookies_are_not_kept_between_fetches(server: LocalServer, fetcher: Fetcher) -> None:
    server.routes["/set"] = Reply(headers={"Set-Cookie": "session=abc; Path=/"})
    server.routes["/next"] = Reply()

    await fetcher.fetch(server.url("/set"))
    await fetcher.fetch(server.url("/next"))

    assert "cookie" not in server.received[-1].headers


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("not a url", InvalidUrl),
        ("http://", InvalidUrl),
        ("http://[::1", InvalidUrl),
        ("file:///etc/passwd", BlockedBySsrfPolicy),
        ("ftp://127.0.0.1/pub/", BlockedBySsrfPolicy),
        ("gopher://127.0.0.1:6379/_INFO", BlockedBySsrfPolicy),
    ],
)
async def test_malformed_and_non_http_urls_are_refused(
    fetcher: Fetcher, url: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await fetcher.fetch(url)


async def test_every_fetch_reports_its_outcome(server: LocalServer, make_fetcher: Callable) -> None:
    registry = CollectorRegistry()
    metrics = FetchMetrics(registry)
    recorder = RecordingObserver()

    class Both:
        def fetch_finished(self, outcome: Outcome, duration_s: float, body_bytes: int) -> None:
            metrics.fetch_finished(outcome, duration_s, body_bytes)
            recorder.fetch_finished(outcome, duration_s, body_bytes)

    fetcher = make_fetcher(observer=Both())
    server.routes["/ok"] = Reply(body=FEED, headers={"ETag": '"1"'})
    server.routes["/same"] = Reply(304)
    server.routes["/missing"] = Reply(404)
    server.routes["/robots.txt"] = Reply(body=b"User-agent: *\nDisallow: /private\n")

    await fetcher.fetch(server.url("/ok"))
    await fetcher.fetch(server.url("/same"), etag='"1"')
    for url in (server.url("/missing"), server.url("/private"), "http://169.254.169.254/"):
        with pytest.raises(FetchError):
            await fetcher.fetch(url)

    assert recorder.outcomes == [
        "ok",
        "not_modified",
        "http_error",
        "robots_disallowed",
        "ssrf_blocked",
    ]

    def fetches(outcome: str) -> float | None:
        return registry.get_sample_value("langnghe_ingest_fetches_total", {"outcome": outcome})

    assert fetches("ok") == fetches("not_modified") == fetches("ssrf_blocked") == 1
    assert fetches("timeout") == 0
    assert registry.get_sample_value("langnghe_ingest_fetched_bytes_total") == len(FEED)
    assert registry.get_sample_value("langnghe_ingest_fetch_duration_seconds_count") == 5


def test_policy_defaults_and_validation() -> None:
    policy = FetchPolicy(contact_url="https://langnghe.example/bot")
    assert policy.user_agent == "LangNgheBot/0.1 (+https://langnghe.example/bot)"
    assert policy.per_host_delay_s == 1.0
    assert policy.per_host_concurrency == 2
    assert policy.max_redirects == 5
    assert policy.ssrf_allow == ()
    with pytest.raises(TypeError):
        FetchPolicy()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="contact_url"):
        FetchPolicy(contact_url="mailto:bot@example.com")
    with pytest.raises(ValueError, match="agent_token"):
        FetchPolicy(contact_url=CONTACT_URL, agent_token="LangNgheBot/0.1")
    with pytest.raises(ValueError, match="max_attempts"):
        FetchPolicy(contact_url=CONTACT_URL, max_attempts=0)
