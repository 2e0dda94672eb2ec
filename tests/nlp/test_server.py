"""The nlp gRPC service as its own process: analysis, model info, limits, health and SIGTERM."""

import asyncio
import signal
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.devstack.processes import ServiceProcess, free_port, grpc_serving

NEGATIVE_POST = "Khu này ngập nặng mỗi lần mưa, rác bốc mùi hôi thối, người dân rất bức xúc."
POSITIVE_POST = "Công viên bờ sông mới mở rất đẹp, sạch sẽ, gia đình tôi rất hài lòng."


async def start_nlp(**env: str) -> tuple[ServiceProcess, int]:
    port = free_port()
    process = ServiceProcess(
        "nlp",
        "services.nlp",
        env={"LANGNGHE_NLP_PORT": str(port), "LANGNGHE_NLP_METRICS_PORT": str(free_port()), **env},
    )
    await process.start()
    await process.wait_ready(lambda: grpc_serving(port), 60)
    return process, port


@pytest.fixture(scope="module")
async def nlp_port() -> AsyncIterator[int]:
    process, port = await start_nlp()
    try:
        yield port
    finally:
        await process.stop()


@pytest.fixture
async def nlp(nlp_port: int) -> AsyncIterator[nlp_pb2_grpc.NlpServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{nlp_port}") as channel:
        yield nlp_pb2_grpc.NlpServiceStub(channel)


async def test_analyze_returns_sentiment_in_order(nlp: nlp_pb2_grpc.NlpServiceStub) -> None:
    request = nlp_pb2.AnalyzeRequest(
        texts=[
            nlp_pb2.TextInput(id="a", text=NEGATIVE_POST),
            nlp_pb2.TextInput(id="b", text=POSITIVE_POST, title="Công viên mới"),
        ]
    )
    response = await nlp.Analyze(request, timeout=10)
    assert [a.id for a in response.analyses] == ["a", "b"]
    negative, positive = (a.sentiment for a in response.analyses)
    assert negative.label == nlp_pb2.SENTIMENT_LABEL_NEGATIVE
    assert positive.label == nlp_pb2.SENTIMENT_LABEL_POSITIVE
    for s in (negative, positive):
        assert s.negative + s.neutral + s.positive == pytest.approx(1.0, abs=1e-4)
        assert s.score == pytest.approx(max(s.negative, s.neutral, s.positive))
    for analysis in response.analyses:
        for field, labels in (
            ("toxicity", {"clean", "offensive", "hate"}),
            ("emotion", {"enjoyment", "sadness", "anger", "fear", "disgust", "surprise", "other"}),
            (
                "topic",
                {"politics_society", "lifestyle", "science", "business", "law", "health"}
                | {"world", "sports", "culture", "technology"},
            ),
        ):
            classification = getattr(analysis, field)
            assert {p.label for p in classification.probabilities} == labels
            assert sum(p.probability for p in classification.probabilities) == pytest.approx(
                1.0, abs=1e-4
            )
            # Most probable first, and the label is the first.
            probabilities = [p.probability for p in classification.probabilities]
            assert probabilities == sorted(probabilities, reverse=True)
            assert classification.label == classification.probabilities[0].label
            assert classification.score == pytest.approx(probabilities[0])


async def test_model_info_names_the_shipped_models(nlp: nlp_pb2_grpc.NlpServiceStub) -> None:
    response = await nlp.ModelInfo(nlp_pb2.ModelInfoRequest(), timeout=5)
    tasks = [model.task for model in response.models]
    assert tasks == ["embedding", "sentiment", "toxicity", "emotion", "topic"]
    for model in response.models:
        assert model.name
        assert model.version
        assert len(model.sha256) == 64


async def test_oversized_batches_and_texts_are_refused(nlp: nlp_pb2_grpc.NlpServiceStub) -> None:
    too_many = nlp_pb2.AnalyzeRequest(texts=[nlp_pb2.TextInput(text="xin chào")] * 257)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await nlp.Analyze(too_many, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    too_long = nlp_pb2.AnalyzeRequest(texts=[nlp_pb2.TextInput(text="a" * 100_001)])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await nlp.Analyze(too_long, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts[0]" in error.value.details()


async def test_sigterm_reports_not_serving_and_finishes_in_flight_calls() -> None:
    process, port = await start_nlp(
        LANGNGHE_NLP_SHUTDOWN_DELAY_S="1.0", LANGNGHE_NLP_SHUTDOWN_GRACE_S="20"
    )
    # Long enough texts that the call is still running when the server stops taking new ones:
    # each is cut to 256 tokens by the encoder, which takes some seconds for the batch.
    batch = nlp_pb2.AnalyzeRequest(
        texts=[nlp_pb2.TextInput(id=str(i), text=NEGATIVE_POST * 120) for i in range(32)]
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            nlp = nlp_pb2_grpc.NlpServiceStub(channel)
            process.signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            in_flight = asyncio.ensure_future(nlp.Analyze(batch, timeout=30))
            response = await in_flight
            assert len(response.analyses) == 32
        assert await asyncio.wait_for(process.process.wait(), 30) == 0
    finally:
        await process.stop()
