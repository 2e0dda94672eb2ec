"""Fetching for the ingest service: one URL at a time, politely, safely and efficiently."""

from services.ingest.fetch.client import Fetcher, FetchResult
from services.ingest.fetch.errors import (
    BlockedBySsrfPolicy,
    BodyTooLarge,
    CertificateError,
    DisallowedByRobots,
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
from services.ingest.fetch.ssrf import (
    AddressGuard,
    GuardedTransport,
    Resolver,
    SystemResolver,
)

__all__ = [
    "AddressGuard",
    "BlockedBySsrfPolicy",
    "BodyTooLarge",
    "CertificateError",
    "DisallowedByRobots",
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
