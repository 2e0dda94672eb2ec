"""MongoDB round trips and time per HTTP request, from PyMongo's command monitoring.

A CommandListener adds each command's count and duration to the current request's tally (a
context variable, so concurrent requests keep apart; tasks a request starts inherit it). The
middleware records both per request as metrics and, when ``server_timing`` is on, reports them
in a ``Server-Timing`` header: ``mongo;dur=<ms>;desc="<n> commands", app;dur=<ms>``, where app is
the gateway's own share (its time less the time inside MongoDB commands).
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
    seconds: float = 0.0


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
            "Time an HTTP request spent waiting on MongoDB commands.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.own_seconds = Histogram(
            "langnghe_gateway_own_seconds_per_request",
            "An HTTP request's time in the gateway itself: its duration less MongoDB time.",
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
                    value = (
                        f'mongo;dur={mongo_ms:.3f};desc="{tally.commands} commands", '
                        f"app;dur={max(elapsed_ms - mongo_ms, 0.0):.3f}"
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
                metrics.commands.observe(tally.commands)
                metrics.seconds.observe(tally.seconds)
                metrics.own_seconds.observe(max(elapsed - tally.seconds, 0.0))

        return middleware

    return factory
