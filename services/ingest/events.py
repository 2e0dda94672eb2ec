"""Live document events: every stored analysis fanned out to the WatchDocuments subscribers.

Publishing never waits: each subscriber has a bounded queue, and one that falls a full queue
behind is dropped (its stream ends with RESOURCE_EXHAUSTED) instead of slowing analysis down.
Events are live only: nothing is kept for subscribers that are not connected.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True, slots=True)
class AnalyzedEvent:
    document_id: str
    source_kind: str
    source_id: str
    outlet: str
    sentiment_label: str
    analyzed_at: datetime
    timeline_at: datetime | None


class SubscriberTooSlow(Exception):
    """The subscriber's queue filled up: it has missed events and must catch up by querying."""


class HubClosed(Exception):
    """The replica is shutting down; the stream ends normally."""


class _Closed:
    """Put in a queue to end its stream: the hub is shutting down."""


_CLOSED = _Closed()


class _Subscriber:
    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[AnalyzedEvent | _Closed] = asyncio.Queue(queue_size)
        self.dropped = False


class DocumentEventHub:
    def __init__(self, *, queue_size: int, registry: CollectorRegistry) -> None:
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        self._closed = False
        self._published = Counter(
            "langnghe_ingest_document_events_total",
            "Document events published to WatchDocuments subscribers.",
            registry=registry,
        )
        self._dropped = Counter(
            "langnghe_ingest_watch_subscribers_dropped_total",
            "WatchDocuments subscribers dropped because their queue was full.",
            registry=registry,
        )
        self._connected = Gauge(
            "langnghe_ingest_watch_subscribers",
            "WatchDocuments streams open now.",
            registry=registry,
        )
        self._connected.set_function(lambda: len(self._subscribers))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, events: list[AnalyzedEvent]) -> None:
        """Queue ``events`` for every subscriber; never blocks."""
        for subscriber in list(self._subscribers):
            if subscriber.dropped:
                continue
            for event in events:
                try:
                    subscriber.queue.put_nowait(event)
                except asyncio.QueueFull:
                    subscriber.dropped = True
                    self._dropped.inc()
                    # Make room so the stream wakes up and learns it was dropped.
                    subscriber.queue.get_nowait()
                    subscriber.queue.put_nowait(_CLOSED)
                    break
        self._published.inc(len(events))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator["Subscription"]:
        subscriber = _Subscriber(self._queue_size)
        if self._closed:
            subscriber.queue.put_nowait(_CLOSED)
        self._subscribers.add(subscriber)
        try:
            yield Subscription(subscriber)
        finally:
            self._subscribers.discard(subscriber)

    def close(self) -> None:
        """End every stream (with OK): the replica is shutting down."""
        self._closed = True
        for subscriber in self._subscribers:
            while subscriber.queue.full():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(_CLOSED)


class Subscription:
    def __init__(self, subscriber: _Subscriber) -> None:
        self._subscriber = subscriber

    async def next(self, timeout_s: float) -> AnalyzedEvent | None:
        """The next event, or None after ``timeout_s`` without one.

        Raises SubscriberTooSlow once this subscriber has been dropped, HubClosed at shutdown.
        """
        try:
            item = await asyncio.wait_for(self._subscriber.queue.get(), timeout_s)
        except TimeoutError:
            return None
        if isinstance(item, _Closed):
            if self._subscriber.dropped:
                raise SubscriberTooSlow
            raise HubClosed
        return item
