"""Fixtures that start real components on free loopback ports: MongoDB, nlp, ingest, gateway."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import connect, database
from services.devstack.processes import Ports, ServiceProcess, free_port, http_ready, tcp_open
from services.devstack.stack import Stack

# Short retry intervals so that recovery tests take seconds, not minutes.
FAST_RETRIES = {
    "LANGNGHE_INGEST_ANALYSIS_RETRY_BASE_S": "0.1",
    "LANGNGHE_INGEST_ANALYSIS_RETRY_MAX_S": "0.5",
    "LANGNGHE_INGEST_ANALYSIS_POLL_S": "0.5",
}


@pytest.fixture(scope="session")
async def mongo_server() -> AsyncIterator[str]:
    """The embedded MongoDB wire server (in memory) as its own process; yields its host:port."""
    port = free_port()
    process = ServiceProcess("mongodb", "services.embedded_mongo", args=["--port", str(port)])
    await process.start()
    try:
        await process.wait_ready(lambda: tcp_open(port), 30)
        yield f"127.0.0.1:{port}"
    finally:
        await process.stop()


@pytest.fixture
async def mongo_db(mongo_server: str) -> AsyncIterator[AsyncDatabase]:
    """A fresh database per test, on the shared server."""
    client = connect(f"mongodb://{mongo_server}/?directConnection=true", "langnghe-tests")
    db = client[f"test_{uuid.uuid4().hex[:12]}"]
    try:
        yield db
    finally:
        await client.drop_database(db.name)
        await client.close()


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    """The whole system, as ``make run`` starts it but in memory and on free ports."""
    # The stack's gateway leaves webhook deliveries to the gateways the webhook tests start,
    # which are allowed to reach their loopback receivers.
    running = Stack(
        ports=Ports.free(),
        env={"ingest": FAST_RETRIES, "gateway": {"LANGNGHE_GATEWAY_WEBHOOK_DELIVERY": "false"}},
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def stack_db(stack: Stack) -> AsyncIterator[AsyncDatabase]:
    """The stack's own database, for tests that store records the way ingest does."""
    client = connect(stack.mongodb_uri, "langnghe-tests")
    try:
        yield database(client)
    finally:
        await client.close()


@pytest.fixture
async def graphql(stack: Stack) -> AsyncIterator["GraphQLClient"]:
    async with httpx.AsyncClient(timeout=30.0, headers=stack.auth_headers) as http:
        yield GraphQLClient(http, stack.graphql_url)


class GraphQLClient:
    """Posts GraphQL over real HTTP and returns the decoded body."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url

    async def __call__(self, query: str, **variables: object) -> dict:
        response = await self.http.post(self.url, json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        return response.json()


async def wait_until(check, *, within_s: float, every_s: float = 0.5, what: str = "condition"):
    """Poll ``check`` (an async callable) until it returns something truthy; return that."""
    deadline = time.monotonic() + within_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within_s:.0f} s (last: {value!r})")
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def another_gateway(stack: Stack, name: str, **env: str) -> AsyncIterator[str]:
    """A second gateway process on the stack's MongoDB and ingest, with settings changed by
    ``env``; yields its base URL once it is ready."""
    port = free_port()
    gateway = ServiceProcess(
        name,
        "services.gateway",
        env={**stack.gateway.env, "LANGNGHE_GATEWAY_PORT": str(port), **env},
    )
    await gateway.start()
    base = f"http://127.0.0.1:{port}"
    try:
        await gateway.wait_ready(lambda: http_ready(f"{base}/readyz"), 30)
        yield base
    finally:
        await gateway.stop()
