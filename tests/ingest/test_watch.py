"""WatchDocuments: live events of stored analyses over a real gRPC stream, and slow subscribers."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from prometheus_client import CollectorRegistry

from langnghe.ingest.v1 import ingest_pb2 as pb
from langnghe.ingest.v1 import ingest_pb2_grpc
from services.devstack.stack import Stack
from services.ingest.events import AnalyzedEvent, DocumentEventHub, HubClosed, SubscriberTooSlow


@pytest.fixture
async def ingest(stack: Stack) -> AsyncIterator[ingest_pb2_grpc.IngestServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.ports.ingest}") as channel:
        yield ingest_pb2_grpc.IngestServiceStub(channel)


async def test_each_stored_analysis_is_streamed(
    ingest: ingest_pb2_grpc.IngestServiceStub,
) -> None:
    call = ingest.WatchDocuments(pb.WatchDocumentsRequest(heartbeat_interval_s=1))
    try:
        first = await asyncio.wait_for(call.read(), 10)
        assert first.HasField("heartbeat")
        assert first.heartbeat.replica
        text = (
            f"Cư dân chung cư {uuid.uuid4().hex[:8]} ở Thủ Đức phàn nàn thang máy hỏng cả tuần "
            "mà ban quản lý chưa sửa."
        )
        submitted = await ingest.SubmitDocument(pb.SubmitDocumentRequest(text=text), timeout=20)
        assert submitted.analysis_state == pb.ANALYSIS_STATE_ANALYZED
        heartbeats = 0
        while True:
            event = await asyncio.wait_for(call.read(), 10)
            if event.HasField("heartbeat"):
                heartbeats += 1
                continue
            if event.analyzed.document_id == submitted.document_id:
                break
        analyzed = event.analyzed
        assert analyzed.source_kind == "manual"
        assert analyzed.sentiment_label in ("NEGATIVE", "NEUTRAL", "POSITIVE")
        moment = analyzed.analyzed_at.ToDatetime(tzinfo=UTC)
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 30
        assert analyzed.HasField("timeline_at")
        # Quiet for two seconds: heartbeats keep coming at the interval asked for.
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 2.5:
            event = await asyncio.wait_for(call.read(), 3)
            heartbeats += event.HasField("heartbeat")
        assert heartbeats >= 2
    finally:
        call.cancel()


async def test_a_bad_heartbeat_interval_is_refused(
    ingest: ingest_pb2_grpc.IngestServiceStub,
) -> None:
    call = ingest.WatchDocuments(pb.WatchDocumentsRequest(heartbeat_interval_s=3600))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _event(n: int) -> AnalyzedEvent:
    return AnalyzedEvent(str(n), "press", "", "Tuổi Trẻ", "NEUTRAL", datetime.now(UTC), None)


async def test_a_subscriber_that_falls_behind_is_dropped_and_others_are_not() -> None:
    hub = DocumentEventHub(queue_size=3, registry=CollectorRegistry())
    async with hub.subscribe() as slow, hub.subscribe() as keeping_up:
        for n in range(3):
            hub.publish([_event(n)])
            assert (await keeping_up.next(1.0)).document_id == str(n)
        # Publishing never waits for the slow one: the fourth event overflows its queue.
        hub.publish([_event(3)])
        assert (await keeping_up.next(1.0)).document_id == "3"
        # It gets what was queued (the oldest made room for the notice), then is told.
        assert (await slow.next(1.0)).document_id == "1"
        assert (await slow.next(1.0)).document_id == "2"
        with pytest.raises(SubscriberTooSlow):
            await slow.next(1.0)
        hub.publish([_event(4)])
        assert (await keeping_up.next(1.0)).document_id == "4"
        assert await keeping_up.next(0.05) is None
        hub.close()
        with pytest.raises(HubClosed):
            await keeping_up.next(1.0)
