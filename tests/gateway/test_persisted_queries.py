"""Persisted queries: registered by administrators, sent by hash, and required in production."""

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from services.devstack.stack import Stack
from tests.conftest import GraphQLClient, another_gateway
from tests.gateway.graphql_ws import graphql_ws

COUNT = "query DemTin { documents { totalCount } }"


def by_hash(query: str) -> dict:
    sha = hashlib.sha256(query.encode()).hexdigest()
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}


@pytest.fixture(scope="module")
async def strict_gateway(stack: Stack) -> AsyncIterator[str]:
    async with another_gateway(
        stack,
        "gateway-persisted-only",
        LANGNGHE_GATEWAY_ENVIRONMENT="prod",
        LANGNGHE_GATEWAY_REQUIRE_PERSISTED_QUERIES="true",
    ) as base:
        yield f"{base}/graphql"


async def test_register_then_send_by_hash(graphql: GraphQLClient, stack: Stack) -> None:
    made = await graphql(
        'mutation P($q: String!) { persistQuery(query: $q, name: "đếm tin") '
        "{ persistedQuery { sha256Hash name } userErrors { code message } } }",
        q=COUNT,
    )
    stored = made["data"]["persistQuery"]["persistedQuery"]
    assert stored["sha256Hash"] == by_hash(COUNT)["extensions"]["persistedQuery"]["sha256Hash"]
    async with httpx.AsyncClient(timeout=10, headers=stack.auth_headers) as http:
        answer = await http.post(stack.graphql_url, json=by_hash(COUNT))
        unknown = await http.post(stack.graphql_url, json=by_hash("{ documents { totalCount } }"))
    assert isinstance(answer.json()["data"]["documents"]["totalCount"], int)
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    broken = await graphql(
        "mutation P($q: String!) { persistQuery(query: $q) { userErrors { code } } }",
        q="{ documents { khongCo } }",
    )
    assert broken["data"]["persistQuery"]["userErrors"][0]["code"] == "INVALID"


async def test_production_runs_only_persisted_queries(
    graphql: GraphQLClient, stack: Stack, strict_gateway: str
) -> None:
    await graphql(
        "mutation P($q: String!) { persistQuery(query: $q) { userErrors { code } } }", q=COUNT
    )
    async with httpx.AsyncClient(timeout=10, headers=stack.auth_headers) as http:
        ad_hoc = await http.post(strict_gateway, json={"query": "{ documents { totalCount } }"})
        hashed = await http.post(strict_gateway, json=by_hash(COUNT))
        full_text = await http.post(strict_gateway, json={"query": COUNT})
    assert ad_hoc.status_code == 400
    assert ad_hoc.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    assert isinstance(hashed.json()["data"]["documents"]["totalCount"], int)
    assert isinstance(full_text.json()["data"]["documents"]["totalCount"], int)


async def test_production_runs_only_persisted_subscriptions_too(
    graphql: GraphQLClient, stack: Stack, strict_gateway: str
) -> None:
    registered = "subscription TinMoi { documentAdded { id } }"
    await graphql(
        "mutation P($q: String!) { persistQuery(query: $q) { userErrors { code } } }",
        q=registered,
    )
    async with graphql_ws(strict_gateway) as ws:
        await ws.init({"authorization": f"Bearer {stack.admin_key}"})
        ad_hoc = await ws.subscribe("subscription { documentAdded { id text } }")
        refused = await ws.receive(10)
        allowed = await ws.subscribe(registered)
        # The registered one runs: it waits for documents instead of answering with an error.
        later = []
        while True:
            try:
                later.append(await ws.receive(1.5))
            except TimeoutError:
                break
    assert [m["id"] for m in later if m["id"] == allowed] == []
    assert refused["id"] == ad_hoc
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
