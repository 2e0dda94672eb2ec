"""The fetcher: one shared HTTP client that fetches a URL politely, safely and efficiently."""

import asyncio
import hashlib
import http.cookiejar
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx
import structlog

from services.common.ssrf import (
    ALLOWED_SCHEMES,
    AddressGuard,
    BlockedBySsrfPolicy,
    GuardedTransport,
    Resolver,
)
from services.ingest.fetch.errors import (
    BodyTooLarge,
    CertificateError,
    DisallowedByRobots,
    FetchBlockedBySsrfPolicy,
    FetchError,
    FetchTimeout,
    HttpStatusError,
    InvalidUrl,
    NetworkError,
    Outcome,
    RetryLater,
    TooManyRedirects,
)
from services.ingest.fetch.metrics import FetchObserver
from services.ingest.fetch.policy import FetchPolicy
from services.ingest.fetch.politeness import HostLimiter
from services.ingest.fetch.request_log import RequestLog
from services.ingest.fetch.robots import (
    ROBOTS_MAX_BYTES,
    ROBOTS_MAX_REDIRECTS,
    RobotsCache,
    origin_of,
)

log = structlog.get_logger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Retry-After is honoured on these; on other statuses it is not part of the contract.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def _is_retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    # After redirects.
    final_url: str
    status: int
    headers: Mapping[str, str]
    # None when not modified (304).
    body: bytes | None
    not_modified: bool
    # Validators to send next time; on a 304 without them, the ones this fetch sent.
    etag: str | None
    last_modified: str | None
    # The media type alone ("application/rss+xml") and the declared charset, both lower-cased.
    content_type: str | None
    charset: str | None
    # Of the final response: from sending the request to its last body byte.
    elapsed_s: float
    # Requests sent, retries and redirect hops included.
    attempts: int
    body_sha256: str | None


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One response, read (or to be followed)."""

    response: httpx.Response
    body: bytes | None
    elapsed_s: float
    redirect_to: httpx.URL | None = None


class _Retryable(Exception):
    """A failed attempt that another attempt may fix."""

    def __init__(self, error: FetchError, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


class Fetcher:
    """Fetches URLs for the whole process through one HTTP client and one politeness state.

    Every fetch obeys robots.txt, waits its turn on its host, connects only to addresses the
    SSRF guard allows (redirect hops and robots.txt included) and retries what is transient.
    Failures are ``FetchError`` subclasses; nothing from httpx escapes.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver | None = None,
        observer: FetchObserver | None = None,
        verify: ssl.SSLContext | bool = True,
        request_log: RequestLog | None = None,
    ) -> None:
        self._policy = policy
        self._observer = observer
        self._guard = AddressGuard(policy.ssrf_allow)
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(
                self._guard,
                resolver=resolver,
                verify=verify,
                limits=httpx.Limits(max_connections=policy.max_connections),
            ),
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(
                policy.read_timeout_s, connect=policy.connect_timeout_s, pool=None
            ),
            # Redirects are followed here, hop by hop, so each hop gets robots and politeness.
            follow_redirects=False,
            # A jar that accepts nothing: one client serves every source, and a crawler that
            # carries cookies from one fetch to the next gets answers nobody else gets.
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
            trust_env=False,
            # Every request, robots.txt, redirect hops and retries included, as it is sent: logged
            # first, then the host's spacing counted from it (so logged gaps are never short).
            event_hooks={
                "request": [*([request_log.request_sent] if request_log else []), self._sent]
            },
        )
        self._limiter = HostLimiter(
            min_delay_s=policy.per_host_delay_s, max_concurrency=policy.per_host_concurrency
        )
        self._robots = RobotsCache(
            self._fetch_robots_txt,
            agent_token=policy.agent_token,
            ttl_s=policy.robots_ttl_s,
            unreachable_ttl_s=policy.robots_unreachable_ttl_s,
        )

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """GET ``url``, conditionally when given the validators of the previous fetch."""
        started = time.monotonic()
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            result = await self._fetch(
                url,
                headers,
                max_bytes=max_bytes or self._policy.max_body_bytes,
                max_redirects=self._policy.max_redirects,
                obey_robots=True,
            )
        except FetchError as error:
            error.url = url
            self._report(error.outcome, started, 0)
            raise
        outcome = Outcome.NOT_MODIFIED if result.not_modified else Outcome.OK
        self._report(outcome, started, len(result.body or b""))
        return result

    def host_free_in(self, origin: str) -> float:
        """Seconds until ``origin`` may be asked again, Crawl-delay and Retry-After included."""
        return self._limiter.free_in(origin)

    async def _sent(self, request: httpx.Request) -> None:
        self._limiter.note_sent(origin_of(request.url))

    def _report(self, outcome: Outcome, started: float, body_bytes: int) -> None:
        if self._observer is not None:
            self._observer.fetch_finished(outcome, time.monotonic() - started, body_bytes)

    async def _fetch_robots_txt(self, url: str) -> bytes:
        result = await self._fetch(
            url,
            {},
            max_bytes=ROBOTS_MAX_BYTES,
            max_redirects=ROBOTS_MAX_REDIRECTS,
            obey_robots=False,
            truncate=True,
        )
        return result.body or b""

    async def _fetch(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        max_bytes: int,
        max_redirects: int,
        obey_robots: bool,
        truncate: bool = False,
    ) -> FetchResult:
        target = _parse_url(url)
        attempts = 0
        for _ in range(max_redirects + 1):
            # Before robots.txt and the host's queue, so a forbidden URL costs nothing.
            try:
                self._guard.check_url(target)
            except BlockedBySsrfPolicy as refused:
                raise FetchBlockedBySsrfPolicy(str(refused)) from None
            origin = origin_of(target)
            crawl_delay_s = (
                await self._crawl_delay_if_allowed(target, origin) if obey_robots else None
            )
            request = self._client.build_request("GET", target, headers=headers)
            exchange, tries = await self._send_with_retries(
                request, origin, crawl_delay_s, max_bytes, truncate
            )
            attempts += tries
            if exchange.redirect_to is None:
                return _result(url, exchange, attempts)
            target = exchange.redirect_to
        raise TooManyRedirects(f"more than {max_redirects} redirects")

    async def _crawl_delay_if_allowed(self, url: httpx.URL, origin: str) -> float | None:
        rules = await self._robots.rules_for(origin)
        if rules.unreachable_until is not None:
            raise RetryLater("robots.txt is unreachable", retry_at=rules.unreachable_until)
        if not rules.allows(str(url)):
            raise DisallowedByRobots(f"robots.txt disallows {url}")
        if rules.crawl_delay_s is None:
            return None
        return min(rules.crawl_delay_s, self._policy.max_crawl_delay_s)

    async def _send_with_retries(
        self,
        request: httpx.Request,
        origin: str,
        crawl_delay_s: float | None,
        max_bytes: int,
        truncate: bool,
    ) -> tuple[_Exchange, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._limiter.slot(origin, min_delay_s=crawl_delay_s):
                    return await self._send_once(request, max_bytes, truncate), attempt
            except _Retryable as failed:
                wait_s = self._wait_before_retry(failed, attempt)
                if failed.retry_after_s is not None:
                    # The host asked everyone to hold off, not just this request.
                    self._limiter.pause(origin, wait_s)
                log.info(
                    "retrying fetch",
                    url=str(request.url),
                    attempt=attempt,
                    wait_s=round(wait_s, 3),
                    error=str(failed.error),
                )
                # Outside the host's slot: a backing-off request holds no place in its queue.
                await asyncio.sleep(wait_s)

    def _wait_before_retry(self, failed: _Retryable, attempt: int) -> float:
        """Seconds to wait before the next attempt, or raise when there is to be none."""
        policy = self._policy
        retry_after_s = failed.retry_after_s
        last_attempt = attempt >= policy.max_attempts
        if retry_after_s is not None and (last_attempt or retry_after_s > policy.retry_after_cap_s):
            raise RetryLater(
                f"{failed.error}, with Retry-After {retry_after_s:.0f} s",
                retry_at=datetime.now(UTC) + timedelta(seconds=retry_after_s),
            ) from None
        if last_attempt:
            raise failed.error from None
        if retry_after_s is not None:
            return retry_after_s
        # Exponential backoff with full jitter: retries of many fetches spread out evenly.
        return random.uniform(
            0, min(policy.backoff_cap_s, policy.backoff_base_s * 2 ** (attempt - 1))
        )

    async def _send_once(self, request: httpx.Request, max_bytes: int, truncate: bool) -> _Exchange:
        total_s = self._policy.total_timeout_s
        try:
            async with asyncio.timeout(total_s):
                started = time.monotonic()
                response = await self._client.send(request, stream=True)
                try:
                    return await _read_response(response, max_bytes, truncate, started)
                finally:
                    await response.aclose()
        except BlockedBySsrfPolicy as refused:
            # Raised by the guarded transport when it connects (redirect hops included).
            raise FetchBlockedBySsrfPolicy(str(refused)) from None
        except TimeoutError:
            raise _Retryable(FetchTimeout(f"no complete response within {total_s} s")) from None
        except httpx.TimeoutException as error:
            raise _Retryable(FetchTimeout(_describe(error))) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as error:
            if _caused_by(error, ssl.SSLCertVerificationError):
                raise CertificateError(_describe(error)) from None
            raise _Retryable(NetworkError(_describe(error))) from None
        except httpx.HTTPError as error:
            raise NetworkError(_describe(error)) from None


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise InvalidUrl(f"invalid URL {url!r}: {error}") from None
    # Malformed: no scheme, or http(s) without a host. A file: or ftp: URL is well-formed, and
    # the SSRF guard refuses it.
    if not parsed.scheme or (parsed.scheme in ALLOWED_SCHEMES and not parsed.raw_host):
        raise InvalidUrl(f"not an absolute URL: {url!r}")
    return parsed


async def _read_response(
    response: httpx.Response, max_bytes: int, truncate: bool, started: float
) -> _Exchange:
    status = response.status_code
    if status in REDIRECT_STATUSES and response.next_request is not None:
        return _Exchange(response, None, time.monotonic() - started, response.next_request.url)
    if status == 304:
        return _Exchange(response, None, time.monotonic() - started)
    if 200 <= status < 300:
        body = await _read_body(response, max_bytes, truncate)
        return _Exchange(response, body, time.monotonic() - started)
    error = HttpStatusError(status, f"HTTP {status} from {response.url}")
    if not _is_retryable_status(status):
        raise error
    retry_after = response.headers.get("retry-after") if status in RETRY_AFTER_STATUSES else None
    raise _Retryable(error, None if retry_after is None else retry_after_seconds(retry_after))


async def _read_body(response: httpx.Response, max_bytes: int, truncate: bool) -> bytes:
    """The decoded body, refused (or, for robots.txt, cut) once it is over ``max_bytes``.

    The limit is on decoded bytes, so a small gzip bomb is caught too; Content-Length, the
    encoded size, already over the limit refuses the body before any of it is read.
    """
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            if not truncate:
                raise BodyTooLarge(max_bytes)
            del body[max_bytes:]
            break
    return bytes(body)


def _result(url: str, exchange: _Exchange, attempts: int) -> FetchResult:
    response, body = exchange.response, exchange.body
    not_modified = response.status_code == 304
    sent = response.request.headers
    etag = response.headers.get("etag") or (sent.get("if-none-match") if not_modified else None)
    last_modified = response.headers.get("last-modified") or (
        sent.get("if-modified-since") if not_modified else None
    )
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    return FetchResult(
        url=url,
        final_url=str(response.url),
        status=response.status_code,
        headers=response.headers,
        body=body,
        not_modified=not_modified,
        etag=etag,
        last_modified=last_modified,
        content_type=media_type or None,
        charset=response.charset_encoding,
        elapsed_s=exchange.elapsed_s,
        attempts=attempts,
        body_sha256=None if body is None else hashlib.sha256(body).hexdigest(),
    )


def retry_after_seconds(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for: delay-seconds or an HTTP-date; None if invalid."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _describe(error: Exception) -> str:
    # Some httpx errors carry no message; their type says what happened.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False
