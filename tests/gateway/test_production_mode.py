"""In production settings the gateway hides its schema: no introspection, no GraphiQL."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.devstack.stack import Stack
from tests.conftest import another_gateway


@pytest.fixture(scope="module")
async def production_gateway(stack: Stack) -> AsyncIterator[str]:
    async with another_gateway(stack, "gateway-prod", LANGNGHE_GATEWAY_ENVIRONMENT="prod") as base:
        yield f"{base}/graphql"


async def test_introspection_is_refused(production_gateway: str, stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10, headers=stack.auth_headers) as http:
        body = (
            await http.post(production_gateway, json={"query": "{ __schema { types { name } } }"})
        ).json()
        assert body.get("data") is None
        assert "introspection" in body["errors"][0]["message"].lower()
        # Ordinary queries still work.
        ok = await http.post(production_gateway, json={"query": "{ documents { totalCount } }"})
        assert isinstance(ok.json()["data"]["documents"]["totalCount"], int)


async def test_no_graphiql_page(production_gateway: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(production_gateway, headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()
    # Without the IDE, a browser's GET is an API call like any other: it needs a key.
    assert response.status_code == 401
