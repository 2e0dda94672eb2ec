"""HTTP metrics and one log line per request, as ASGI middleware; and the /metrics endpoint."""

import time
import uuid

import structlog
from litestar import Response, get
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from services.common.metrics import LATENCY_BUCKETS

log = structlog.get_logger("http")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_server_requests_total",
            "HTTP requests served, by method, route and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "http_server_request_duration_seconds",
            "Time to serve an HTTP request.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


def observability_middleware(metrics: HttpMetrics):
    """Times each request, labels it by route template (bounded), and logs it with its id."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers = dict(scope.get("headers", ()))
            request_id = (
                headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
            )
            scope.setdefault("state", {})["request_id"] = request_id
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        (b"x-request-id", request_id.encode("latin-1")),
                    ]
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("path_template") or "unmatched"
                metrics.requests.labels(scope["method"], route, str(status)).inc()
                metrics.seconds.labels(scope["method"], route).observe(elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    request_id=request_id,
                )

        return middleware

    return factory


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(state: State) -> Response[bytes]:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
