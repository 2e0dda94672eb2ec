"""Why a fetch failed: one exception type per outcome, each with its bounded metrics label."""

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from services.common.ssrf import BlockedBySsrfPolicy


class Outcome(StrEnum):
    """How a fetch ended; the only label fetch metrics carry, so its values stay few."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    INVALID_URL = "invalid_url"
    SSRF_BLOCKED = "ssrf_blocked"
    ROBOTS_DISALLOWED = "robots_disallowed"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    RETRY_LATER = "retry_later"


class FetchError(Exception):
    """A URL could not be fetched; ``Fetcher.fetch`` sets ``url`` to the URL it was asked for."""

    outcome: ClassVar[Outcome] = Outcome.NETWORK_ERROR
    url: str | None = None


class InvalidUrl(FetchError):
    outcome = Outcome.INVALID_URL


class FetchBlockedBySsrfPolicy(FetchError, BlockedBySsrfPolicy):
    """The SSRF guard (services.common.ssrf) refused a URL to fetch, or one it redirected to."""

    outcome = Outcome.SSRF_BLOCKED


class DisallowedByRobots(FetchError):
    outcome = Outcome.ROBOTS_DISALLOWED


class BodyTooLarge(FetchError):
    outcome = Outcome.TOO_LARGE

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body exceeds {limit} bytes")
        self.limit = limit


class TooManyRedirects(FetchError):
    outcome = Outcome.TOO_MANY_REDIRECTS


class HttpStatusError(FetchError):
    """The server answered with a status that is neither success, 304 nor a redirect."""

    outcome = Outcome.HTTP_ERROR

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FetchTimeout(FetchError):
    outcome = Outcome.TIMEOUT


class NetworkError(FetchError):
    """DNS, connection, TLS or protocol failure."""

    outcome = Outcome.NETWORK_ERROR


class CertificateError(NetworkError):
    """The server's TLS certificate does not verify for its name: no retry will change that."""


class RetryLater(FetchError):
    """The source asked us to come back later than we are willing to wait: reschedule it."""

    outcome = Outcome.RETRY_LATER

    def __init__(self, message: str, *, retry_at: datetime) -> None:
        super().__init__(f"{message}; retry at {retry_at.isoformat(timespec='seconds')}")
        self.retry_at = retry_at
