"""MongoDB round trips and time per HTTP request, from PyMongo's command monitoring.

A CommandListener adds each command's count and duration to the current request's tally (a
context variable, so concurrent requests keep apart; tasks a request starts inherit it), and a
ConnectionPoolListener adds the time spent waiting for a connection (when the store is slow, all
connections are busy and a request queues for one: time the store costs, not the gateway). The
middleware records them per request as metrics and, when ``server_timing`` is on, reports them in
a ``Server-Timing`` header: ``mongo;dur=<ms>;desc="<n> commands", pool;dur=<ms>, app;dur=<ms>``,
where app is the gateway's own share: its time less the time in commands and pool waits.
"""

import contextvars
import time
from dataclasses import dataclass

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram
from pymongo import monitoring

from services.common.metrics import LATENCY_BUCKETS


@dataclass(slots=True)
class MongoTally:
    commands: int = 0
    # Inside commands, from sending to the reply.
    seconds: float = 0.0
    # Waiting for a pooled connection.
    wait_seconds: float = 0.0


_current: contextvars.ContextVar[MongoTally | None] = contextvars.ContextVar(
    "mongo_tally", default=None
)


class RequestCommandListener(monitoring.CommandListener):
    """Counts every command against the request that issued it."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        tally = _current.get()
        if tally is not None:
            tally.commands += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event.duration_micros)

    @staticmethod
    def _add(duration_micros: int) -> None:
        tally = _current.get()
        if tally is not None:
            tally.seconds += duration_micros / 1e6


class RequestPoolListener(monitoring.ConnectionPoolListener):
    """Adds the time a request waited to check a connection out of the pool."""

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self._add(event.duration)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        self._add(event.duration)

    @staticmethod
    def _add(seconds: float) -> None:
        tally = _current.get()
        if tally is not None:
            tally.wait_seconds += seconds

    # The pool's other events say nothing about a request.
    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None: ...
    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None: ...
    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None: ...
    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None: ...
    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None: ...
    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None: ...
    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None: ...
    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None: ...
    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None: ...


class MongoRequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Histogram(
            "langnghe_gateway_mongo_commands_per_request",
            "MongoDB commands (round trips) an HTTP request made.",
            buckets=(0, 1, 2, 3, 4, 6, 8, 12, 20, 50),
            registry=registry,
        )
        self.seconds = Histogram(
            "langnghe_gateway_mongo_seconds_per_request",
            "Time an HTTP request spent in MongoDB commands and waiting for a connection.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.own_seconds = Histogram(
            "langnghe_gateway_own_seconds_per_request",
            "An HTTP request's time in the gateway itself: its duration less MongoDB's share.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


def mongo_tally_middleware(metrics: MongoRequestMetrics, *, server_timing: bool):
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            tally = MongoTally()
            token = _current.set(tally)
            started = time.perf_counter()

            async def send_with_timing(message: Message) -> None:
                if server_timing and message["type"] == "http.response.start":
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    mongo_ms = tally.seconds * 1000
                    wait_ms = tally.wait_seconds * 1000
                    value = (
                        f'mongo;dur={mongo_ms:.3f};desc="{tally.commands} commands", '
                        f"pool;dur={wait_ms:.3f}, "
                        f"app;dur={max(elapsed_ms - mongo_ms - wait_ms, 0.0):.3f}"
                    )
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"server-timing", value.encode()),
                    ]
                await send(message)

            try:
                await app(scope, receive, send_with_timing)
            finally:
                _current.reset(token)
                elapsed = time.perf_counter() - started
                store = tally.seconds + tally.wait_seconds
                metrics.commands.observe(tally.commands)
                metrics.seconds.observe(store)
                metrics.own_seconds.observe(max(elapsed - store, 0.0))

        return middleware

    return factory
