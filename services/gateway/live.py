"""Live events in the gateway: ingest's WatchDocuments streams in, in-process fan-out out.

Every gateway replica subscribes to every ingest replica (each streams only what it analysed
itself): the endpoints are ``ingest_watch_targets`` when set, otherwise every address the name
in ``ingest_target`` resolves to (a headless Service names every ready pod), looked up again
every ``ingest_watch_resolve_s``. Events are live only; a stream that breaks is reopened with
backoff, and what happened meanwhile is for clients to query.
"""

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.common.grpc_client import open_channel

log = structlog.get_logger(__name__)

# Events arriving within this long are handed on together: one MongoDB query per batch.
BATCH_WINDOW_S = 0.1
BATCH_MAX = 200
HEARTBEAT_S = 15
# A stream silent for this many heartbeats is taken for dead and reopened.
MISSED_HEARTBEATS = 3


@dataclass(frozen=True, slots=True)
class DocumentEvent:
    document_id: str
    source_kind: str
    outlet: str
    sentiment_label: str
    analyzed_at: datetime


class TooSlow(Exception):
    """A subscriber's queue filled up; it is dropped rather than slow everyone down."""


class Broadcast[T]:
    """Fans items out to in-process subscribers, each with a bounded queue."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._queues: dict[asyncio.Queue, bool] = {}

    def publish(self, item: T) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self._queues[queue] = False

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[T]]:
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        self._queues[queue] = True

        async def items() -> AsyncIterator[T]:
            while True:
                if not self._queues.get(queue, False) and queue.empty():
                    raise TooSlow
                yield await queue.get()

        try:
            yield items()
        finally:
            self._queues.pop(queue, None)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "langnghe_gateway_document_events_total",
            "Document events received from ingest's WatchDocuments streams.",
            registry=registry,
        )
        self.reconnects = Counter(
            "langnghe_gateway_watch_reconnects_total",
            "WatchDocuments streams that ended and were reopened, by gRPC status.",
            ["code"],
            registry=registry,
        )
        self.streams = Gauge(
            "langnghe_gateway_watch_streams",
            "Ingest replicas this gateway is subscribed to now.",
            registry=registry,
        )


async def resolve_endpoints(target: str) -> list[str]:
    """Every ``address:port`` the host of a gRPC target (``dns:///name:port`` or
    ``name:port``) resolves to."""
    host, _, port = target.removeprefix("dns:///").removeprefix("dns:").rpartition(":")
    host = host.strip("[]")
    answers = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    addresses = dict.fromkeys(a[4][0] for a in answers)
    return [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses]


class IngestEventFeed:
    """Keeps one WatchDocuments stream open to each ingest replica; hands on event batches."""

    def __init__(
        self,
        *,
        target: str,
        explicit_targets: Sequence[str],
        resolve_every_s: float,
        on_batch: Callable[[list[DocumentEvent]], None],
        metrics: FeedMetrics,
    ) -> None:
        self._target = target
        self._explicit = list(explicit_targets)
        self._resolve_every_s = resolve_every_s
        self._on_batch = on_batch
        self._metrics = metrics
        self._streams: dict[str, asyncio.Task] = {}
        self._pending: list[DocumentEvent] = []
        self._flush: asyncio.TimerHandle | None = None
        self.connected: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: follow the set of ingest endpoints, a stream task per endpoint."""
        try:
            while not stop.is_set():
                try:
                    endpoints = self._explicit or await resolve_endpoints(self._target)
                except (OSError, ValueError) as error:
                    log.warning("cannot resolve ingest endpoints", error=str(error))
                    endpoints = list(self._streams)
                for endpoint in endpoints:
                    task = self._streams.get(endpoint)
                    if task is None or task.done():
                        self._streams[endpoint] = asyncio.create_task(
                            self._follow(endpoint), name=f"watch {endpoint}"
                        )
                for endpoint in set(self._streams) - set(endpoints):
                    self._streams.pop(endpoint).cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._resolve_every_s)
        finally:
            for task in self._streams.values():
                task.cancel()
            await asyncio.gather(*self._streams.values(), return_exceptions=True)

    async def _follow(self, endpoint: str) -> None:
        """One endpoint's stream, reopened with backoff and jitter whenever it ends."""
        failures = 0
        channel = open_channel(endpoint)
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        try:
            while True:
                code, was_live = await self._stream(endpoint, stub)
                self._metrics.reconnects.labels(code).inc()
                if was_live:
                    # A stream that worked ended (ingest closes connections after a few minutes
                    # so clients rebalance): reopen at once, every second of gap is lost events.
                    failures = 0
                    continue
                failures += 1
                ceiling = min(30.0, 0.5 * 2 ** min(failures, 6))
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
        finally:
            self.connected.discard(endpoint)
            await channel.close()

    async def _stream(
        self, endpoint: str, stub: ingest_pb2_grpc.IngestServiceStub
    ) -> tuple[str, bool]:
        """Follow one stream until it ends; its final status, and whether it was ever live."""
        live = False
        call = stub.WatchDocuments(
            ingest_pb2.WatchDocumentsRequest(heartbeat_interval_s=HEARTBEAT_S)
        )
        try:
            while True:
                async with asyncio.timeout(HEARTBEAT_S * MISSED_HEARTBEATS):
                    message = await call.read()
                if message is grpc.aio.EOF:
                    return "OK", live
                live = True
                if message.HasField("heartbeat"):
                    if endpoint not in self.connected:
                        self.connected.add(endpoint)
                        self._metrics.streams.set(len(self.connected))
                        log.info("watching ingest", endpoint=endpoint)
                    continue
                analyzed = message.analyzed
                self._add(
                    DocumentEvent(
                        document_id=analyzed.document_id,
                        source_kind=analyzed.source_kind,
                        outlet=analyzed.outlet,
                        sentiment_label=analyzed.sentiment_label,
                        analyzed_at=analyzed.analyzed_at.ToDatetime(tzinfo=UTC),
                    )
                )
        except TimeoutError:
            return "DEADLINE_EXCEEDED", live
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or live:
                log.info(
                    "ingest watch stream ended",
                    endpoint=endpoint,
                    code=error.code().name,
                    details=error.details(),
                )
            return error.code().name, live
        finally:
            self.connected.discard(endpoint)
            self._metrics.streams.set(len(self.connected))
            call.cancel()

    def _add(self, event: DocumentEvent) -> None:
        self._metrics.events.inc()
        self._pending.append(event)
        if len(self._pending) >= BATCH_MAX:
            self._hand_on()
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(BATCH_WINDOW_S, self._hand_on)

    def _hand_on(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._pending = self._pending, []
        if batch:
            self._on_batch(batch)
