"""Spike alerts on a tracked topic and their signed webhooks, end to end over HTTP and WebSocket.

A second gateway with a low alert threshold, a one-second tick and fast retries runs on the
stack's MongoDB and ingest; a webhook receiver listens on a loopback port the gateway is told to
allow (as a city intranet receiver would be).
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from services.common.mongo import connect, database
from services.devstack.processes import free_port
from services.devstack.stack import Stack
from tests.conftest import GraphQLClient, another_gateway, wait_until
from tests.gateway.graphql_ws import graphql_ws, wait_for_ingest_stream


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server that records POSTs and answers each path with its next scripted status."""

    port: int = 0
    statuses: dict[str, list[int]] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    received: list[Delivery] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                _method, path, _ = head[0].split(" ", 2)
                headers = {}
                for line in head[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append(Delivery(path, headers, body))
                script = self.statuses.get(path, [404])
                status = script.pop(0) if len(script) > 1 else script[0]
                extra = f"Location: {self.locations[path]}\r\n" if path in self.locations else ""
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n{extra}\r\n".encode("latin-1")
                )
                await writer.drain()
        writer.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.received if d.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        server.close_clients()
        await server.wait_closed()


def fast_alerts(receiver: Receiver) -> dict[str, str]:
    return {
        "LANGNGHE_GATEWAY_ALERT_MIN_COUNT": "3",
        "LANGNGHE_GATEWAY_ALERT_TICK_S": "1",
        "LANGNGHE_GATEWAY_WEBHOOK_ALLOW": json.dumps([f"127.0.0.1:{receiver.port}"]),
        "LANGNGHE_GATEWAY_WEBHOOK_RETRY_BASE_S": "0.3",
        "LANGNGHE_GATEWAY_WEBHOOK_POLL_S": "0.2",
        "LANGNGHE_GATEWAY_WEBHOOK_DELIVERY": "true",
    }


async def unit_client(graphql: GraphQLClient, base: str, unit: str) -> GraphQLClient:
    created = await graphql(
        "mutation K($unit: String!) { createApiKey(input: {unit: $unit, "
        'scopes: ["read", "documents:write"]}) { key } }',
        unit=unit,
    )
    key = created["data"]["createApiKey"]["key"]
    http = httpx.AsyncClient(timeout=30.0, headers={"Authorization": f"Bearer {key}"})
    client = GraphQLClient(http, f"{base}/graphql")
    client.key = key  # type: ignore[attr-defined]
    return client


async def track(client: GraphQLClient, tag: str) -> str:
    created = await client(
        "mutation T($input: CreateTrackedTopicInput!) { createTrackedTopic(input: $input) "
        "{ trackedTopic { id } userErrors { message } } }",
        input={"name": f"Sạt lở {tag}", "query": tag},
    )
    return created["data"]["createTrackedTopic"]["trackedTopic"]["id"]


async def submit_spike(client: GraphQLClient, tag: str, count: int) -> None:
    for n in range(count):
        answer = await client(
            "mutation S($input: SubmitDocumentInput!) { submitDocument(input: $input) "
            "{ userErrors { code } } }",
            input={
                "text": f"Bờ kè kênh {tag} sạt lở lần {n} {uuid.uuid4().hex[:6]}, nhiều nhà "
                "dân ven kênh nứt tường, người dân hoảng sợ và bức xúc vì chưa được di dời."
            },
        )
        assert answer["data"]["submitDocument"]["userErrors"] == []


def expected_signature(secret: str, delivery: Delivery) -> str:
    timestamp = delivery.headers["langnghe-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


ALERTS = """
query A($topic: ID) { alerts(topicId: $topic) { edges { node {
  id state reasons volume expectedVolume baseline acknowledgedBy topicName } } } }"""


async def test_spike_raises_one_alert_delivered_by_subscription_and_signed_webhook(
    stack: Stack, graphql: GraphQLClient, receiver: Receiver
) -> None:
    tag = f"kenh{uuid.uuid4().hex[:8]}"
    receiver.statuses["/hook"] = [500, 200]
    async with another_gateway(stack, "gateway-alerts", **fast_alerts(receiver)) as base:
        await wait_for_ingest_stream(base)
        unit = await unit_client(graphql, base, f"UBND phường Bình Đông {tag}")
        topic = await track(unit, tag)
        created = await unit(
            "mutation W($url: String!, $topics: [ID!]) { createWebhook(url: $url, "
            "topicIds: $topics) { webhook { id url } secret userErrors { code message } } }",
            url=receiver.url("/hook"),
            topics=[topic],
        )
        hook = created["data"]["createWebhook"]
        assert hook["userErrors"] == []
        secret = hook["secret"]
        assert secret.startswith("whsec_")
        listed = await unit("{ webhooks { url } }")
        assert listed["data"]["webhooks"] == [{"url": receiver.url("/hook")}]

        async with graphql_ws(f"{base}/graphql") as ws:
            ack = await ws.init({"authorization": f"Bearer {unit.key}"})
            assert ack["type"] == "connection_ack"
            operation = await ws.subscribe(
                "subscription R($topic: ID) { alertRaised(topicId: $topic) "
                "{ id topicName reasons volume state } }",
                topic=topic,
            )
            await asyncio.sleep(0.5)
            await submit_spike(unit, tag, 3)
            message = await ws.receive(30)
            assert message["id"] == operation
            raised = message["payload"]["data"]["alertRaised"]
            assert raised["topicName"] == f"Sạt lở {tag}"
            assert "VOLUME_SPIKE" in raised["reasons"]
            assert raised["volume"] >= 3
            assert raised["state"] == "OPEN"

            # More of the same hour: still one alert, on every channel.
            await submit_spike(unit, tag, 2)
            await asyncio.sleep(2.5)  # two ticks
            with pytest.raises(TimeoutError):
                await ws.receive(1)
        alerts = (await unit(ALERTS, topic=topic))["data"]["alerts"]["edges"]
        assert [a["node"]["id"] for a in alerts] == [raised["id"]]
        assert alerts[0]["node"]["baseline"] in ("none", "overall")

        # The webhook: a 500 first, then the same delivery again, accepted.
        hits = await wait_until(
            lambda: _ready(receiver.at("/hook"), 2), within_s=30, what="a retried delivery"
        )
        first, second = hits[:2]
        assert first.headers["langnghe-delivery"] == second.headers["langnghe-delivery"]
        for delivery in (first, second):
            assert delivery.headers["content-type"] == "application/json"
            assert delivery.headers["langnghe-event"] == "alert.raised"
            assert hmac.compare_digest(
                delivery.headers["langnghe-signature"], expected_signature(secret, delivery)
            )
            assert abs(time.time() - int(delivery.headers["langnghe-timestamp"])) < 60
        body = json.loads(second.body)
        assert body["event"] == "alert.raised"
        assert body["alert"]["id"] == raised["id"]
        assert body["alert"]["topicId"] == topic
        forged = Delivery("/hook", second.headers, second.body.replace(b"kenh", b"kenk"))
        assert expected_signature(secret, forged) != second.headers["langnghe-signature"]
        await asyncio.sleep(1.0)
        assert len(receiver.at("/hook")) == 2  # delivered: not sent again

        # Acknowledged once, by this unit only.
        ack = await unit(
            "mutation A($id: ID!) { acknowledgeAlert(id: $id) "
            "{ alert { state acknowledgedBy acknowledgedAt } userErrors { code message } } }",
            id=raised["id"],
        )
        payload = ack["data"]["acknowledgeAlert"]
        assert payload["userErrors"] == []
        assert payload["alert"]["state"] == "ACKNOWLEDGED"
        assert unit.key.startswith(payload["alert"]["acknowledgedBy"])
        again = await unit(
            "mutation A($id: ID!) { acknowledgeAlert(id: $id) { userErrors { code } } }",
            id=raised["id"],
        )
        assert again["data"]["acknowledgeAlert"]["userErrors"] == [{"code": "INVALID"}]
        other = await graphql(
            "mutation A($id: ID!) { acknowledgeAlert(id: $id) { userErrors { code } } }",
            id=raised["id"],
        )
        assert other["data"]["acknowledgeAlert"]["userErrors"] == [{"code": "NOT_FOUND"}]
        assert (await graphql(ALERTS, topic=topic))["data"]["alerts"]["edges"] == []
        await unit.http.aclose()


async def _ready(items: list, count: int) -> list | None:
    return items if len(items) >= count else None


async def test_webhook_targets_on_private_addresses_are_refused(
    stack: Stack, graphql: GraphQLClient, receiver: Receiver
) -> None:
    create = (
        "mutation W($url: String!) { createWebhook(url: $url) "
        "{ webhook { id } secret userErrors { code field message } } }"
    )
    # The stack's own gateway allows no private address: the receiver itself is refused.
    for url in (
        receiver.url("/hook"),
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://0x7f000001/hook",
        "ftp://example.vn/hook",
    ):
        answer = (await graphql(create, url=url))["data"]["createWebhook"]
        assert answer["webhook"] is None, url
        assert answer["secret"] is None
        assert [e["code"] for e in answer["userErrors"]] == ["INVALID_URL"], url


async def test_a_redirect_to_a_private_address_fails_the_delivery_without_retrying(
    stack: Stack, graphql: GraphQLClient, receiver: Receiver
) -> None:
    tag = f"kenh{uuid.uuid4().hex[:8]}"
    receiver.statuses["/moved"] = [307]
    receiver.locations["/moved"] = f"http://127.0.0.1:{free_port()}/internal"
    async with another_gateway(stack, "gateway-redirect", **fast_alerts(receiver)) as base:
        await wait_for_ingest_stream(base)
        unit = await unit_client(graphql, base, f"Sở Giao thông Vận tải {tag}")
        await track(unit, tag)
        created = await unit(
            "mutation W($url: String!) { createWebhook(url: $url) "
            "{ webhook { id } userErrors { code } } }",
            url=receiver.url("/moved"),
        )
        assert created["data"]["createWebhook"]["userErrors"] == []
        await submit_spike(unit, tag, 3)
        await wait_until(
            lambda: _ready(receiver.at("/moved"), 1), within_s=30, what="the first attempt"
        )
        mongo = connect(stack.mongodb_uri, "tests")
        try:
            deliveries = database(mongo)["webhook_deliveries"]

            async def failed() -> dict | None:
                return await deliveries.find_one({"state": "failed", "unit": unit_name(tag)})

            record = await wait_until(failed, within_s=10, what="the delivery failing")
        finally:
            await mongo.close()
        assert "refused" in record["last_error"]
        assert "loopback" in record["last_error"]
        await asyncio.sleep(1.0)
        assert len(receiver.at("/moved")) == 1
        await unit.http.aclose()


def unit_name(tag: str) -> str:
    return f"Sở Giao thông Vận tải {tag}"


async def test_a_pending_delivery_survives_a_gateway_restart(
    stack: Stack, graphql: GraphQLClient, receiver: Receiver
) -> None:
    tag = f"kenh{uuid.uuid4().hex[:8]}"
    receiver.statuses["/slow"] = [503]
    settings = {
        **fast_alerts(receiver),
        # Long enough that the retry is still pending when the gateway stops.
        "LANGNGHE_GATEWAY_WEBHOOK_RETRY_BASE_S": "10",
    }
    async with another_gateway(stack, "gateway-before", **settings) as base:
        await wait_for_ingest_stream(base)
        unit = await unit_client(graphql, base, f"UBND xã Cần Giờ {tag}")
        await track(unit, tag)
        created = await unit(
            "mutation W($url: String!) { createWebhook(url: $url) { secret userErrors { code } } }",
            url=receiver.url("/slow"),
        )
        secret = created["data"]["createWebhook"]["secret"]
        await submit_spike(unit, tag, 3)
        await wait_until(
            lambda: _ready(receiver.at("/slow"), 1), within_s=30, what="the first attempt"
        )
    receiver.statuses["/slow"] = [200]
    async with another_gateway(stack, "gateway-after", **settings):
        hits = await wait_until(
            lambda: _ready(receiver.at("/slow"), 2), within_s=40, what="the retry after restart"
        )
    first, second = hits[:2]
    assert first.headers["langnghe-delivery"] == second.headers["langnghe-delivery"]
    assert second.headers["langnghe-signature"] == expected_signature(secret, second)
    await unit.http.aclose()


async def test_a_unit_lists_and_deletes_only_its_own_webhooks(
    stack: Stack, graphql: GraphQLClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    base = f"http://127.0.0.1:{stack.ports.gateway}"
    district = await unit_client(graphql, base, f"UBND phường Tân Định {tag}")
    other = await unit_client(graphql, base, f"UBND phường Đa Kao {tag}")
    try:
        other_topic = await track(other, tag)
        create = (
            "mutation W($url: String!, $topics: [ID!]) { createWebhook(url: $url, "
            "topicIds: $topics) { webhook { id topicIds } secret userErrors { code field } } }"
        )
        url = f"https://1022-{tag}.example.gov.vn/hooks/langnghe"
        foreign = (await district(create, url=url, topics=[other_topic]))["data"]
        assert foreign["createWebhook"]["userErrors"] == [
            {"code": "NOT_FOUND", "field": ["topicIds"]}
        ]
        too_long = (await district(create, url=url + "x" * 2_100))["data"]["createWebhook"]
        assert [e["code"] for e in too_long["userErrors"]] == ["TOO_LONG"]
        made = (await district(create, url=url))["data"]["createWebhook"]
        assert made["webhook"]["topicIds"] == []
        hook_id = made["webhook"]["id"]
        assert (await other("{ webhooks { id } }"))["data"]["webhooks"] == []
        delete = (
            "mutation D($id: ID!) { deleteWebhook(id: $id) { webhook { id } userErrors { code } } }"
        )
        refused = (await other(delete, id=hook_id))["data"]["deleteWebhook"]
        assert refused == {"webhook": None, "userErrors": [{"code": "NOT_FOUND"}]}
        deleted = (await district(delete, id=hook_id))["data"]["deleteWebhook"]
        assert deleted == {"webhook": {"id": hook_id}, "userErrors": []}
        assert (await district("{ webhooks { id } }"))["data"]["webhooks"] == []
    finally:
        await district.http.aclose()
        await other.http.aclose()
