"""The vertical slice through real processes: GraphQL -> gateway -> ingest -> MongoDB + nlp."""

import uuid

import httpx
import pytest

from services.devstack.stack import Stack
from tests.conftest import GraphQLClient

SUBMIT = """
mutation Submit($input: SubmitDocumentInput!) {
  submitDocument(input: $input) {
    document { id title text url publishedAt analysisState sentiment { label score } analyzedAt }
    userErrors { code field message }
  }
}"""

DOCUMENTS = """
query Documents($filter: DocumentFilterInput, $first: Int, $after: String) {
  documents(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { cursor node { id title text publishedAt sentiment { label score } analyzedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _deep(levels: int) -> str:
    selection = "id"
    for _ in range(levels):
        selection = f"story {{ documents {{ edges {{ node {{ {selection} }} }} }} }}"
    return f"{{ documents {{ edges {{ node {{ {selection} }} }} }} }}"


# Deeper than the gateway's limit of 12 levels.
DEEP_QUERY = _deep(3)


def marker() -> str:
    """A word no other test uses, to find this test's documents by search."""
    return f"maso{uuid.uuid4().hex[:10]}"


async def submit(graphql: GraphQLClient, **fields: object) -> dict:
    body = await graphql(SUBMIT, input=fields)
    assert "errors" not in body, body
    return body["data"]["submitDocument"]


async def test_submitted_text_is_analysed_and_read_back(graphql: GraphQLClient) -> None:
    tag = marker()
    payload = await submit(
        graphql,
        text=f"Người dân bức xúc vì kẹt xe kéo dài hàng giờ ở cầu Sài Gòn, quá mệt mỏi {tag}.",
        title="Kẹt xe cầu Sài Gòn",
        url="https://tin-tuc.example.vn/ket-xe-cau-sai-gon",
        publishedAt="2026-11-29T17:30:00+07:00",
    )
    assert payload["userErrors"] == []
    document = payload["document"]
    assert document["analysisState"] == "ANALYZED"
    assert document["sentiment"]["label"] == "NEGATIVE"
    assert document["publishedAt"].startswith("2026-11-29T10:30:00")

    body = await graphql(
        DOCUMENTS, first=10, filter={"search": tag.upper(), "sentiment": "NEGATIVE"}
    )
    connection = body["data"]["documents"]
    assert connection["totalCount"] == 1
    (edge,) = connection["edges"]
    assert edge["node"]["id"] == document["id"]
    assert 0 < edge["node"]["sentiment"]["score"] <= 1
    assert edge["node"]["analyzedAt"] is not None
    assert connection["pageInfo"] == {"hasNextPage": False, "endCursor": edge["cursor"]}

    single = await graphql(
        "query One($id: ID!) { document(id: $id) { id title } }", id=document["id"]
    )
    assert single["data"]["document"] == {"id": document["id"], "title": "Kẹt xe cầu Sài Gòn"}


async def test_search_ignores_diacritics(graphql: GraphQLClient) -> None:
    tag = marker()
    await submit(graphql, text=f"Người dân phường Bến Nghé khen dịch vụ công trực tuyến {tag}")
    body = await graphql(DOCUMENTS, filter={"search": f"ben nghe {tag}"})
    assert body["data"]["documents"]["totalCount"] == 1


async def test_same_text_twice_is_one_document(graphql: GraphQLClient) -> None:
    tag = marker()
    text = f"Đèn tín hiệu giao thông ở ngã tư Bảy Hiền bị hỏng từ sáng {tag}"
    first = await submit(graphql, text=text)
    second = await submit(graphql, text=f"  {text}  ")
    assert first["document"]["id"] == second["document"]["id"]
    body = await graphql(DOCUMENTS, filter={"search": tag})
    assert body["data"]["documents"]["totalCount"] == 1


async def test_pages_follow_cursors_newest_first(graphql: GraphQLClient) -> None:
    tag = marker()
    ids = [
        (await submit(graphql, text=f"Bản tin số {i} về chợ Bến Thành {tag}"))["document"]["id"]
        for i in range(3)
    ]
    first_page = (await graphql(DOCUMENTS, first=2, filter={"search": tag}))["data"]["documents"]
    assert first_page["totalCount"] == 3
    assert [e["node"]["id"] for e in first_page["edges"]] == ids[::-1][:2]
    assert first_page["pageInfo"]["hasNextPage"] is True
    rest = await graphql(
        DOCUMENTS, first=2, after=first_page["pageInfo"]["endCursor"], filter={"search": tag}
    )
    rest = rest["data"]["documents"]
    assert [e["node"]["id"] for e in rest["edges"]] == ids[:1]
    assert rest["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"text": "   "}, "REQUIRED", ["input", "text"]),
        ({"text": "a" * 100_001}, "TOO_LONG", ["input", "text"]),
        ({"text": "Tin hợp lệ", "url": "ftp://example.vn/x"}, "INVALID_URL", ["input", "url"]),
        (
            {"text": "Tin từ tương lai", "publishedAt": "2099-01-01T00:00:00+07:00"},
            "IN_FUTURE",
            ["input", "publishedAt"],
        ),
    ],
)
async def test_invalid_input_gets_user_errors_and_stores_nothing(
    graphql: GraphQLClient, fields: dict, code: str, field: list[str]
) -> None:
    tag = marker()
    payload = await submit(graphql, **fields, title=f"Tin thử {tag}")
    assert payload["document"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
    assert payload["userErrors"][0]["message"]
    body = await graphql(DOCUMENTS, filter={"search": tag})
    assert body["data"]["documents"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (SUBMIT, {"input": {"text": "Tin", "publishedAt": "hôm qua"}}, "DateTime"),
        (SUBMIT, {"input": {"text": "Tin", "author": "ai đó"}}, "author"),
        (DOCUMENTS, {"first": 101}, "between 1 and 100"),
        (DOCUMENTS, {"after": "không-phải-cursor"}, "not a cursor"),
        ("{ documents { edges { node { secret } } } }", {}, "secret"),
        (
            "{ " + " ".join(f"a{i}: documents {{ totalCount }}" for i in range(16)) + " }",
            {},
            "aliases",
        ),
        ("{ documents { totalCount " + "__typename " * 2_000 + "} }", {}, "token"),
        (
            DEEP_QUERY,
            {},
            "depth",
        ),
    ],
)
async def test_malformed_requests_get_graphql_errors_not_500s(
    graphql: GraphQLClient, query: str, variables: dict, expected: str
) -> None:
    body = await graphql(query, **variables)
    assert body.get("data") is None or not any(body["data"].values())
    messages = " ".join(e["message"] for e in body["errors"])
    assert expected in messages


async def test_probes_metrics_and_request_ids(stack: Stack) -> None:
    base = f"http://127.0.0.1:{stack.ports.gateway}"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{base}/healthz")).json() == {"status": "ok"}
        ready = await http.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"mongodb": "ok", "ingest": "ok"}
        response = await http.post(
            f"{base}/graphql",
            json={"query": "{ __typename }"},
            headers={"X-Request-ID": "abc-123", **stack.auth_headers},
        )
        assert response.headers["x-request-id"] == "abc-123"
        metrics = (await http.get(f"{base}/metrics")).text
        assert 'http_server_requests_total{method="POST",route="/graphql",status="200"}' in metrics
        assert 'langnghe_build_info{python_version="3.13' in metrics
        assert 'langnghe_gateway_graphql_operations_total{operation_type="query",outcome="ok"}' in (
            metrics
        )
        # The malformed requests above were answered with HTTP 200 and counted as errors.
        assert 'outcome="error"} ' in metrics
        for port in (stack.ports.nlp_metrics, stack.ports.ingest_metrics):
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert "grpc_server_handled_total" in scraped
            assert "langnghe_build_info" in scraped


async def test_oversized_body_is_refused_with_413(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            stack.graphql_url,
            content=b'{"query": "' + b"x" * (3 * 1024 * 1024) + b'"}',
            headers={"content-type": "application/json", **stack.auth_headers},
        )
    assert response.status_code == 413


ME = "{ documents(first: 1) { totalCount } }"


async def test_every_request_needs_a_valid_key(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.post(stack.graphql_url, json={"query": ME})
        wrong = await http.post(
            stack.graphql_url, json={"query": ME}, headers={"Authorization": "Bearer ln_sai"}
        )
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_keys_carry_scopes_and_can_be_revoked(graphql: GraphQLClient, stack: Stack) -> None:
    created = await graphql(
        """mutation { createApiKey(input: {unit: "UBND phường Bến Nghé", scopes: ["read"],
        name: "bảng tin"}) { key apiKey { id unit scopes prefix } userErrors { code } } }"""
    )
    payload = created["data"]["createApiKey"]
    key, api_key = payload["key"], payload["apiKey"]
    assert key.startswith("ln_")
    assert api_key["scopes"] == ["read"]
    assert key.startswith(api_key["prefix"])
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        read = (await http.post(stack.graphql_url, json={"query": ME})).json()
        assert isinstance(read["data"]["documents"]["totalCount"], int)
        write = (
            await http.post(
                stack.graphql_url,
                json={
                    "query": 'mutation { submitDocument(input: {text: "Tin"}) '
                    "{ userErrors { code } } }"
                },
            )
        ).json()
        assert write["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        listed = (await http.post(stack.graphql_url, json={"query": "{ apiKeys { unit } }"})).json()
        assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        revoked = await graphql(
            "mutation R($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }",
            id=api_key["id"],
        )
        assert revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"]
        after = await http.post(stack.graphql_url, json={"query": ME})
        assert after.status_code == 401

    bad = await graphql(
        'mutation { createApiKey(input: {unit: " ", scopes: ["root"]}) '
        "{ key userErrors { code field } } }"
    )
    assert bad["data"]["createApiKey"]["key"] is None
    assert {e["code"] for e in bad["data"]["createApiKey"]["userErrors"]} == {"REQUIRED", "INVALID"}
    keys = await graphql("{ apiKeys { unit prefix } }")
    units = {k["unit"] for k in keys["data"]["apiKeys"]}
    assert {"administrators", "UBND phường Bến Nghé"} <= units


async def test_rate_limits_per_key(graphql: GraphQLClient, stack: Stack) -> None:
    created = await graphql(
        """mutation { createApiKey(input: {unit: "Sở Giao thông", scopes: ["read"],
        ratePerMinute: 3}) { key apiKey { ratePerMinute } } }"""
    )
    key = created["data"]["createApiKey"]["key"]
    assert created["data"]["createApiKey"]["apiKey"]["ratePerMinute"] == 3
    query = {"query": "{ rateLimit { limit remaining resetSeconds } }"}
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        answers = [await http.post(stack.graphql_url, json=query) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["ratelimit-limit"] == "3" for a in answers)
    assert answers[0].json()["data"]["rateLimit"] == {
        "limit": 3,
        "remaining": 2,
        "resetSeconds": 20,
    }
    refused = answers[3]
    assert int(refused.headers["retry-after"]) >= 1
    assert "limit of 3 requests a minute" in refused.text


async def test_every_operation_is_audited_with_its_unit_and_outcome(
    graphql: GraphQLClient, stack: Stack
) -> None:
    created = await graphql(
        'mutation { createApiKey(input: {unit: "UBND xã Cần Giờ", scopes: ["read"]}) { key } }'
    )
    key = created["data"]["createApiKey"]["key"]
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        await http.post(
            stack.graphql_url, json={"query": "query BangTin { documents { totalCount } }"}
        )
        await http.post(stack.graphql_url, json={"query": "query Cam { apiKeys { unit } }"})
    log = await graphql(
        'query { auditLog(unit: "UBND xã Cần Giờ", first: 10) '
        "{ edges { node { unit operationName operationType outcome requestId } } } }"
    )
    entries = [e["node"] for e in log["data"]["auditLog"]["edges"]]
    assert [(e["operationName"], e["outcome"]) for e in entries] == [
        ("Cam", "error"),
        ("BangTin", "ok"),
    ]
    assert all(e["unit"] == "UBND xã Cần Giờ" and e["operationType"] == "query" for e in entries)
    assert all(e["requestId"] for e in entries)


async def test_filters_by_time_and_kind_and_orders_by_publication(graphql: GraphQLClient) -> None:
    tag = marker()
    published = ["2026-11-20T08:00:00+07:00", "2026-11-25T08:00:00+07:00", "2026-11-22T08:00:00"]
    for i, at in enumerate(published):
        await submit(graphql, text=f"Tin số {i} về chợ Bình Tây {tag}", publishedAt=at)
    query = """
    query Timeline($filter: DocumentFilterInput, $first: Int, $after: String) {
      documents(filter: $filter, orderBy: PUBLISHED, first: $first, after: $after) {
        totalCount
        edges { node { text publishedAt sourceKind outlet } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    first = (await graphql(query, filter={"search": tag}, first=2))["data"]["documents"]
    assert [e["node"]["text"][:8] for e in first["edges"]] == ["Tin số 1", "Tin số 2"]
    assert {e["node"]["sourceKind"] for e in first["edges"]} == {"MANUAL"}
    rest = await graphql(
        query, filter={"search": tag}, first=2, after=first["pageInfo"]["endCursor"]
    )
    assert [e["node"]["text"][:8] for e in rest["data"]["documents"]["edges"]] == ["Tin số 0"]

    # The third was sent without an offset: 08:00 in Ho Chi Minh City is 01:00 UTC.
    window = {"search": tag, "since": "2026-11-21T00:00:00", "until": "2026-11-23T00:00:00"}
    inside = (await graphql(query, filter=window))["data"]["documents"]
    assert inside["totalCount"] == 1
    assert inside["edges"][0]["node"]["publishedAt"].startswith("2026-11-22T01:00:00")
    pressed = await graphql(query, filter={"search": tag, "sourceKinds": ["PRESS"]})
    assert pressed["data"]["documents"]["totalCount"] == 0

    stored_order = await graphql(
        "query Q($after: String) { documents(after: $after) { totalCount } }",
        after=first["pageInfo"]["endCursor"],
    )
    assert "not a cursor this API issued for this order" in stored_order["errors"][0]["message"]
    backwards = await graphql(query, filter={**window, "since": "2026-11-24T00:00:00"})
    assert "since must be before until" in backwards["errors"][0]["message"]


async def test_sentiment_timeline_in_city_days_and_weeks(graphql: GraphQLClient) -> None:
    tag = marker()
    # 00:30 on 25 Nov in Ho Chi Minh City is 17:30 on 24 Nov in UTC: a UTC calendar would put
    # the last two on one day; the city's puts them on two.
    for text, at in (
        (f"Kẹt xe nghiêm trọng, người dân bức xúc {tag}", "2026-11-23T10:00:00+07:00"),
        (f"Ngập nặng, xe chết máy hàng loạt, rất tệ {tag}", "2026-11-24T23:30:00+07:00"),
        (f"Ngập sâu, cống tắc, hôi thối khó chịu {tag}", "2026-11-25T00:30:00+07:00"),
    ):
        await submit(graphql, text=text, publishedAt=at)
    query = """
    query T($bucket: TimeBucket!, $filter: DocumentFilterInput) {
      sentimentTimeline(bucket: $bucket, filter: $filter) { start total negative unanalysed }
    }"""
    within = {"search": tag, "since": "2026-11-20T00:00:00", "until": "2026-11-27T00:00:00"}
    days = (await graphql(query, bucket="DAY", filter=within))["data"]["sentimentTimeline"]
    assert [(d["start"][:10], d["total"]) for d in days] == [
        ("2026-11-23", 1),
        ("2026-11-24", 1),
        ("2026-11-25", 1),
    ]
    assert all(d["start"].endswith("+07:00") for d in days)
    weeks = (await graphql(query, bucket="WEEK", filter=within))["data"]["sentimentTimeline"]
    assert [(w["start"][:10], w["total"]) for w in weeks] == [("2026-11-23", 3)]
    assert weeks[0]["negative"] + weeks[0]["unanalysed"] <= 3


async def test_documents_by_tracked_topic_query(graphql: GraphQLClient) -> None:
    tag = marker()
    await submit(graphql, text=f"Triều cường dâng cao, đường Huỳnh Tấn Phát ngập {tag}")
    await submit(graphql, text=f"Cường độ mưa lớn nhưng triều thấp, không ngập {tag}")
    await submit(graphql, text=f"Kẹt xe trên cầu Phú Mỹ {tag}")
    query = "query Q($q: String) { documents(filter: {query: $q}) { totalCount } }"

    async def count(q: str) -> int:
        return (await graphql(query, q=q))["data"]["documents"]["totalCount"]

    assert await count(f'"trieu cuong" {tag}') == 1  # the words side by side, accents optional
    assert await count(f"triều cường {tag}") == 2  # the words anywhere
    assert await count(f'{tag} (ngập OR "phú mỹ") NOT cường') == 1
    assert await count(f"{tag} source:manual") == 3
    bad = await graphql(query, q=f"{tag} AND (ngập")
    (error,) = bad["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["position"] == len(f"{tag} AND (ngập")


async def test_tracked_topics_belong_to_their_unit(graphql: GraphQLClient, stack: Stack) -> None:
    tag = marker()
    await submit(graphql, text=f"Ngập sâu ở đường Võ Văn Ngân sau mưa {tag}")
    key = (
        await graphql(
            'mutation { createApiKey(input: {unit: "UBND phường Thủ Đức", scopes: ["read"]}) '
            "{ key } }"
        )
    )["data"]["createApiKey"]["key"]
    create = """mutation C($name: String!, $query: String!) {
      createTrackedTopic(input: {name: $name, query: $query}) {
        trackedTopic { id name documents { totalCount } } userErrors { code field message }
      }
    }"""
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:

        async def call(document: str, **variables: object) -> dict:
            response = await http.post(
                stack.graphql_url, json={"query": document, "variables": variables}
            )
            return response.json()

        made = (await call(create, name="Ngập Thủ Đức", query=f"ngập {tag}"))["data"]
        topic = made["createTrackedTopic"]["trackedTopic"]
        assert topic["documents"]["totalCount"] == 1
        again = await call(create, name="Ngập Thủ Đức", query="ngập")
        assert again["data"]["createTrackedTopic"]["userErrors"][0]["code"] == "DUPLICATE"
        broken = await call(create, name="Hỏng", query="ngập AND (")
        (error,) = broken["data"]["createTrackedTopic"]["userErrors"]
        assert error["field"] == ["input", "query"]
        assert "at character 10" in error["message"]
        mine = (await call("{ trackedTopics { name } }"))["data"]["trackedTopics"]
        assert mine == [{"name": "Ngập Thủ Đức"}]

    # Another unit (the administrators) neither sees nor deletes it.
    theirs = await graphql("{ trackedTopics { name } }")
    assert {"name": "Ngập Thủ Đức"} not in theirs["data"]["trackedTopics"]
    deleted = await graphql(
        "mutation D($id: ID!) { deleteTrackedTopic(id: $id) { userErrors { code } } }",
        id=topic["id"],
    )
    assert deleted["data"]["deleteTrackedTopic"]["userErrors"] == [{"code": "NOT_FOUND"}]


FINDINGS = """
query F($id: ID!, $f: DocumentFilterInput) {
  document(id: $id) {
    analysisState language languageConfidence modelsVersion
    sentiment { label }
    toxicity { label score probabilities { label probability } }
    emotion { label score probabilities { label probability } }
    topic { label score probabilities { label probability } }
    sectors { id score }
    entities { type text key span { field start end } }
    localities { code name level structure currentCodes mention }
    keywords { phrase score }
  }
  analytics(filter: $f) {
    total bySector { sector } byLocality { code } topEntities { key } topKeywords { key }
  }
}"""


async def test_submitted_document_shows_every_finding_nlp_returns(graphql: GraphQLClient) -> None:
    """Whatever nlp returns today (sentiment; the other models are still to come), every field
    is there: a finding nlp gives is well formed, one it does not give is null or empty."""
    tag = marker()
    text = f"Bà Nguyễn Thị Lan phản ánh rác ùn ứ trên đường Lê Văn Sỹ, Quận 3, hôi thối {tag}"
    document = (await submit(graphql, text=text))["document"]
    body = await graphql(FINDINGS, id=document["id"], f={"search": tag})
    assert "errors" not in body, body
    found = body["data"]["document"]
    assert found["analysisState"] == "ANALYZED"
    assert found["sentiment"]["label"] == "NEGATIVE"
    for name in ("toxicity", "emotion", "topic"):
        value = found[name]
        assert value is None or (
            value["label"] and 0 <= value["score"] <= 1 and value["probabilities"] is not None
        ), (name, value)
    for entity in found["entities"]:
        span = entity["span"]
        assert span["field"] == "TEXT"
        assert text[span["start"] : span["end"]] == entity["text"]
    for place in found["localities"]:
        assert place["code"]
        assert place["structure"] in ("BEFORE_2025", "SINCE_2025")
    assert all(0 <= s["score"] <= 1 for s in found["sectors"])
    assert all(k["phrase"] for k in found["keywords"])
    assert found["language"] in (None, "vi")
    # The same document in analytics: present, whichever findings it has.
    analytics = body["data"]["analytics"]
    assert analytics["total"] == 1
    assert [s["sector"] for s in analytics["bySector"]] == [s["id"] for s in found["sectors"]]
    assert len(analytics["topEntities"]) == len({e["key"] for e in found["entities"]})
