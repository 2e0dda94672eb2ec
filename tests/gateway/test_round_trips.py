"""MongoDB round trips per request do not grow with the page: nested reads go through loaders."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId

from services.common.mongo import DOCUMENTS, connect, database
from services.devstack.stack import Stack
from tests.conftest import another_gateway

PAGE = """query($first: Int!, $outlet: String!) {
  documents(first: $first, filter: {outlets: [$outlet]}) {
    edges { node { id title story { id documents(first: 2) { totalCount
      edges { node { id outlet } } } } } }
  }
}"""


def commands_of(response: httpx.Response) -> int:
    timing = re.search(r'desc="(\d+) commands"', response.headers["server-timing"])
    return int(timing[1])


async def test_a_page_with_its_stories_costs_the_same_round_trips_at_any_size(
    stack: Stack,
) -> None:
    outlet = f"bao-thu-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    stories = [ObjectId() for _ in range(10)]
    records = [
        {
            "_id": ObjectId(),
            "text": f"Bài thử số {i} về tuyến metro số một chạy thêm chuyến cuối tuần.",
            "title": f"Bài thử {i}",
            "created_at": now - timedelta(minutes=i),
            "timeline_at": now - timedelta(minutes=i),
            "source_kind": "press",
            "outlet": outlet,
            "analysis_state": "analyzed",
            "story_id": stories[i % len(stories)],
        }
        for i in range(40)
    ]
    client = connect(stack.mongodb_uri, "tests")
    try:
        await database(client)[DOCUMENTS].insert_many(records)
    finally:
        await client.close()
    async with (
        another_gateway(
            stack,
            "gateway-server-timing",
            LANGNGHE_GATEWAY_SERVER_TIMING="true",
            LANGNGHE_GATEWAY_AUDIT_QUERIES="false",
        ) as base,
        httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http,
    ):
        counts = {}
        for first in (2, 5, 40):
            body = {"query": PAGE, "variables": {"first": first, "outlet": outlet}}
            await http.post(f"{base}/graphql", json=body)  # the key is cached after this
            response = await http.post(f"{base}/graphql", json=body)
            edges = response.json()["data"]["documents"]["edges"]
            assert len(edges) == first
            assert edges[0]["node"]["story"]["documents"]["totalCount"] == 4
            counts[first] = commands_of(response)
        metrics = (await http.get(f"{base}/metrics")).text
    # The page, its stories' first pages, their counts: three, however many documents.
    assert counts == {2: 3, 5: 3, 40: 3}
    # Operators get the same per request from the metrics.
    assert 'langnghe_gateway_mongo_commands_per_request_bucket{le="3.0"}' in metrics
    assert "langnghe_gateway_own_seconds_per_request_count" in metrics
