"""A graphql-transport-ws client over a real WebSocket, and helpers the live tests share."""

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import wait_until


class GraphQLWebSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.connection.send(json.dumps(message))
        return await self.receive(10)

    async def subscribe(self, query: str, **variables: Any) -> str:
        operation_id = uuid.uuid4().hex[:8]
        await self.connection.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        return operation_id

    async def receive(self, within_s: float) -> dict[str, Any]:
        """The next message other than ping/pong."""
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.recv(), within_s))
            if message["type"] == "ping":
                await self.connection.send(json.dumps({"type": "pong"}))
            elif message["type"] != "pong":
                return message


@contextlib.asynccontextmanager
async def graphql_ws(http_url: str) -> AsyncIterator[GraphQLWebSocket]:
    """A WebSocket to the gateway's /graphql, speaking graphql-transport-ws."""
    url = http_url.replace("http://", "ws://", 1)
    async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        yield GraphQLWebSocket(ws)


async def wait_for_ingest_stream(base_url: str, streams: int = 1) -> None:
    """Until the gateway at ``base_url`` follows ``streams`` ingest WatchDocuments streams."""

    async def watching() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"{base_url}/metrics")).text
        found = re.search(r"^langnghe_gateway_watch_streams(?:\{[^}]*\})? (\S+)$", text, re.M)
        return bool(found and float(found.group(1)) >= streams)

    await wait_until(watching, within_s=30, what="the gateway watching ingest")
