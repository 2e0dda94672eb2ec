"""documentAdded over a real WebSocket: fed by ingest's stream, filtered, and behind API keys."""

import asyncio
import json
import uuid

import grpc
import pytest
from strawberry import relay
from websockets.exceptions import ConnectionClosed

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.devstack.processes import ServiceProcess, free_port, grpc_serving
from services.devstack.stack import Stack
from tests.conftest import GraphQLClient, another_gateway
from tests.gateway.graphql_ws import graphql_ws, wait_for_ingest_stream

SUBMIT = """
mutation Submit($input: SubmitDocumentInput!) {
  submitDocument(input: $input) { document { id analysisState } userErrors { code } }
}"""

DOCUMENT_ADDED = """
subscription Added($filter: DocumentFilterInput) {
  documentAdded(filter: $filter) { id text analysisState sentiment { label } }
}"""


async def submit(graphql: GraphQLClient, text: str) -> str:
    answer = await graphql(SUBMIT, input={"text": text})
    payload = answer["data"]["submitDocument"]
    assert payload["userErrors"] == []
    return payload["document"]["id"]


async def test_document_added_sends_matching_documents_and_not_others(
    stack: Stack, graphql: GraphQLClient
) -> None:
    base = f"http://127.0.0.1:{stack.ports.gateway}"
    await wait_for_ingest_stream(base)
    tag = f"kenh{uuid.uuid4().hex[:8]}"
    async with graphql_ws(stack.graphql_url) as ws:
        ack = await ws.init({"authorization": f"Bearer {stack.admin_key}"})
        assert ack["type"] == "connection_ack"
        operation = await ws.subscribe(DOCUMENT_ADDED, filter={"search": tag})
        # The subscription starts listening a moment after subscribe is sent; until something
        # arrives, keep submitting a pair: one that fails the filter, then one that passes.
        matching: set[str] = set()
        others: set[str] = set()
        message = None
        for round_ in range(8):
            others.add(
                await submit(
                    graphql,
                    f"Lượt {round_} {uuid.uuid4().hex[:6]}: người dân quận 8 khen công viên "
                    "mới mở rộng sạch đẹp.",
                )
            )
            matching.add(
                await submit(
                    graphql,
                    f"Lượt {round_} ({tag}): nước ngập ngang gối trên đường Nguyễn Hữu Cảnh, "
                    "xe chết máy hàng loạt.",
                )
            )
            try:
                message = await ws.receive(3)
                break
            except TimeoutError:
                continue
        assert message is not None, "no documentAdded within 8 rounds"
        assert message["id"] == operation
        assert message["type"] == "next", message
        document = message["payload"]["data"]["documentAdded"]
        assert document["id"] in matching
        assert document["id"] not in others
        assert tag in document["text"]
        assert document["analysisState"] == "ANALYZED"
        assert document["sentiment"]["label"] in ("NEGATIVE", "NEUTRAL", "POSITIVE")
        # The next ones, if any, pass the filter too; none of the others ever comes.
        received = {document["id"]}
        while True:
            try:
                extra = await ws.receive(2)
            except TimeoutError:
                break
            received.add(extra["payload"]["data"]["documentAdded"]["id"])
        assert received <= matching


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"authorization": "Bearer ln_khong-phai-khoa-that"}, {"authorization": "ln_x"}],
    ids=["no-payload", "no-key", "unknown-key", "not-bearer"],
)
async def test_connection_init_without_a_valid_key_is_closed_4403(
    stack: Stack, payload: dict | None
) -> None:
    async with graphql_ws(stack.graphql_url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.init(payload)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_subscribing_before_connection_init_is_closed_4401(stack: Stack) -> None:
    async with graphql_ws(stack.graphql_url) as ws:
        await ws.subscribe(DOCUMENT_ADDED)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive(5)
    assert closed.value.rcvd.code == 4401


async def test_a_key_without_read_scope_gets_forbidden(
    stack: Stack, graphql: GraphQLClient
) -> None:
    created = await graphql(
        'mutation { createApiKey(input: {unit: "Cổng 1022", scopes: ["feedback:write"]}) { key } }'
    )
    key = created["data"]["createApiKey"]["key"]
    async with graphql_ws(stack.graphql_url) as ws:
        assert (await ws.init({"authorization": f"Bearer {key}"}))["type"] == "connection_ack"
        operation = await ws.subscribe(DOCUMENT_ADDED)
        message = await ws.receive(10)
    assert message["id"] == operation
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_subscriptions_spend_the_keys_rate_limit(
    stack: Stack, graphql: GraphQLClient
) -> None:
    created = await graphql(
        'mutation { createApiKey(input: {unit: "Sở Xây dựng", scopes: ["read"], '
        "ratePerMinute: 2}) { key } }"
    )
    key = created["data"]["createApiKey"]["key"]
    async with graphql_ws(stack.graphql_url) as ws:
        assert (await ws.init({"authorization": f"Bearer {key}"}))["type"] == "connection_ack"
        for _ in range(2):
            await ws.subscribe(DOCUMENT_ADDED)
        await asyncio.sleep(0.5)
        third = await ws.subscribe(DOCUMENT_ADDED)
        message = await ws.receive(10)
    assert message["id"] == third
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["retryAfterSeconds"] >= 1


async def test_each_gateway_follows_every_ingest_replica(stack: Stack) -> None:
    port = free_port()
    second = ServiceProcess(
        "ingest-2",
        "services.ingest",
        env={
            **stack.ingest.env,
            "LANGNGHE_INGEST_PORT": str(port),
            "LANGNGHE_INGEST_METRICS_PORT": str(free_port()),
        },
    )
    await second.start()
    try:
        await second.wait_ready(lambda: grpc_serving(port), 60)
        replicas = [f"127.0.0.1:{stack.ports.ingest}", f"127.0.0.1:{port}"]
        watch = {"LANGNGHE_GATEWAY_INGEST_WATCH_TARGETS": json.dumps(replicas)}
        async with another_gateway(stack, "gateway-two-ingests", **watch) as base:
            await wait_for_ingest_stream(base, streams=2)
            tag = f"kenh{uuid.uuid4().hex[:8]}"
            async with graphql_ws(f"{base}/graphql") as ws:
                await ws.init({"authorization": f"Bearer {stack.admin_key}"})
                await ws.subscribe(DOCUMENT_ADDED, filter={"search": tag})
                await asyncio.sleep(0.5)
                submitted = set()
                for n, replica in enumerate(replicas):
                    async with grpc.aio.insecure_channel(replica) as channel:
                        stored = await ingest_pb2_grpc.IngestServiceStub(channel).SubmitDocument(
                            ingest_pb2.SubmitDocumentRequest(
                                text=f"Bản tin {n} ({tag}): xe buýt tuyến 19 đổi lộ trình qua "
                                "đường Tôn Đức Thắng từ sáng mai."
                            ),
                            timeout=20,
                        )
                    submitted.add(stored.document_id)
                received = set()
                while len(received) < 2:
                    message = await ws.receive(15)
                    received.add(message["payload"]["data"]["documentAdded"]["id"])
        assert received == {str(relay.GlobalID("Document", d)) for d in submitted}
    finally:
        await second.stop()


async def test_filters_on_the_events_own_fields_pass_and_refuse_as_the_query_would(
    stack: Stack, graphql: GraphQLClient
) -> None:
    await wait_for_ingest_stream(f"http://127.0.0.1:{stack.ports.gateway}")
    tag = f"kenh{uuid.uuid4().hex[:8]}"
    async with graphql_ws(stack.graphql_url) as ws:
        await ws.init({"authorization": f"Bearer {stack.admin_key}"})
        pushed = await ws.subscribe(DOCUMENT_ADDED, filter={"search": tag, "sourceKinds": ["PUSH"]})
        manual = await ws.subscribe(
            DOCUMENT_ADDED, filter={"search": tag, "sourceKinds": ["MANUAL"]}
        )
        await asyncio.sleep(0.5)
        document_id = await submit(
            graphql, f"Phản ánh ({tag}): đèn đường hẻm 42 Lê Văn Sỹ tắt cả tháng nay."
        )
        messages = []
        while True:
            try:
                messages.append(await ws.receive(3))
            except TimeoutError:
                break
    assert [(m["id"], m["payload"]["data"]["documentAdded"]["id"]) for m in messages] == [
        (manual, document_id)
    ]
    assert pushed != manual
