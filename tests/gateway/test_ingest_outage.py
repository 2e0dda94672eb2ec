"""With ingest away, the API still answers queries and refuses submissions clearly."""

import httpx

from services.devstack.processes import free_port
from services.devstack.stack import Stack
from tests.conftest import another_gateway


async def test_queries_served_and_submissions_refused_while_ingest_is_down(stack: Stack) -> None:
    async with another_gateway(
        stack,
        "gateway-without-ingest",
        # Nothing listens here: ingest is down.
        LANGNGHE_GATEWAY_INGEST_TARGET=f"127.0.0.1:{free_port()}",
        LANGNGHE_GATEWAY_INGEST_TIMEOUT_S="2",
    ) as base:
        async with httpx.AsyncClient(timeout=20, headers=stack.auth_headers) as http:
            ready = (await http.get(f"{base}/readyz")).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["mongodb"] == "ok"
            assert ready["checks"]["ingest"] != "ok"
            query = await http.post(
                f"{base}/graphql", json={"query": "{ documents { totalCount } }"}
            )
            assert isinstance(query.json()["data"]["documents"]["totalCount"], int)
            submitted = (
                await http.post(
                    f"{base}/graphql",
                    json={
                        "query": 'mutation { submitDocument(input: {text: "Mất điện cả khu '
                        'phố từ chiều"}) { document { id } } }'
                    },
                )
            ).json()
        assert submitted["data"] is None
        (error,) = submitted["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "nothing was stored" in error["message"]
