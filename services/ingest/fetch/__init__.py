"""Fetching for the ingest service: one URL at a time, politely, safely and efficiently."""

from services.common.ssrf import (
    AddressGuard,
    BlockedBySsrfPolicy,
    GuardedTransport,
    Resolver,
    SystemResolver,
)
from services.ingest.fetch.client import Fetcher, FetchResult
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
from services.ingest.fetch.metrics import FetchMetrics, FetchObserver
from services.ingest.fetch.policy import FetchPolicy
from services.ingest.fetch.request_log import RequestLog, read_request_log, spacing_violations

__all__ = [
    "AddressGuard",
    "BlockedBySsrfPolicy",
    "BodyTooLarge",
    "CertificateError",
    "DisallowedByRobots",
    "FetchBlockedBySsrfPolicy",
    "FetchError",
    "FetchMetrics",
    "FetchObserver",
    "FetchPolicy",
    "FetchResult",
    "FetchTimeout",
    "Fetcher",
    "GuardedTransport",
    "HttpStatusError",
    "InvalidUrl",
    "NetworkError",
    "Outcome",
    "RequestLog",
    "Resolver",
    "RetryLater",
    "SystemResolver",
    "TooManyRedirects",
    "read_request_log",
    "spacing_violations",
]
