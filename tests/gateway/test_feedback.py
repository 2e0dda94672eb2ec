"""The 1022 integration over HTTP: submitFeedback and the feedback lookup, on the real stack."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import bson
import httpx
from bson import ObjectId

from services.common.mongo import DOCUMENTS, connect, database
from services.devstack.processes import ServiceProcess, free_port, grpc_serving
from services.devstack.stack import Stack
from tests.conftest import FAST_RETRIES, GraphQLClient, another_gateway, wait_until

SUBMIT = """
mutation Submit($input: SubmitFeedbackInput!) {
  submitFeedback(input: $input) {
    created
    feedback {
      id externalId channel wardCode analysisState
      sentiment { label score }
      suggestedUnit { id name match }
      document { id sourceKind }
    }
    userErrors { code field message }
  }
}
"""

LOOKUP = """
query Lookup($externalId: String) {
  feedback(externalId: $externalId) {
    id analysisState sentiment { label } wardCode
    toxicity { label }
    sectors { id score }
    suggestedUnit { id match sector locality }
  }
}
"""


def feedback_input(**overrides: object) -> dict:
    return {
        "externalId": f"1022-{uuid.uuid4().hex[:10]}",
        "channel": "APP",
        "text": "Đèn đường trên hẻm 42 tắt suốt một tuần, buổi tối đi lại rất nguy hiểm.",
        "wardCode": "26743",
        "submittedAt": "2026-11-29T20:15:00+07:00",
        **overrides,
    }


@contextlib.asynccontextmanager
async def raw_documents(stack: Stack) -> AsyncIterator:
    client = connect(stack.mongodb_uri, "tests")
    try:
        yield database(client)[DOCUMENTS]
    finally:
        await client.close()


async def test_feedback_is_analysed_in_the_call_and_found_again(graphql: GraphQLClient) -> None:
    sent = feedback_input()
    payload = (await graphql(SUBMIT, input=sent))["data"]["submitFeedback"]
    assert payload["userErrors"] == []
    assert payload["created"] is True
    feedback = payload["feedback"]
    assert feedback["externalId"] == sent["externalId"]
    assert feedback["channel"] == "APP"
    assert feedback["analysisState"] == "ANALYZED"
    assert feedback["sentiment"]["label"] in ("NEGATIVE", "NEUTRAL", "POSITIVE")
    assert feedback["document"]["sourceKind"] == "FEEDBACK"
    assert feedback["suggestedUnit"]["id"]

    found = (await graphql(LOOKUP, externalId=sent["externalId"]))["data"]["feedback"]
    assert found["id"] == feedback["id"]
    assert found["wardCode"] == "26743"
    by_id = await graphql("query($id: ID!) { feedback(id: $id) { externalId } }", id=found["id"])
    assert by_id["data"]["feedback"]["externalId"] == sent["externalId"]
    missing = await graphql(LOOKUP, externalId="không-có-mã-này")
    assert missing["data"]["feedback"] is None


async def test_the_same_external_id_is_one_feedback_per_unit(
    stack: Stack, graphql: GraphQLClient
) -> None:
    sent = feedback_input()
    first = (await graphql(SUBMIT, input=sent))["data"]["submitFeedback"]
    again = (await graphql(SUBMIT, input={**sent, "text": sent["text"] + " Xin xử lý sớm."}))[
        "data"
    ]["submitFeedback"]
    assert again["created"] is False
    assert again["feedback"]["id"] == first["feedback"]["id"]

    # Another unit's portal may use the same id for its own citizen's feedback.
    created = await graphql(
        """mutation { createApiKey(input: {unit: "Cổng góp ý phường Bến Thành",
           scopes: ["feedback:write"]}) { key } }"""
    )
    other_key = created["data"]["createApiKey"]["key"]
    async with httpx.AsyncClient(
        timeout=30, headers={"Authorization": f"Bearer {other_key}"}
    ) as http:
        other = await GraphQLClient(http, stack.graphql_url)(SUBMIT, input=sent)
        theirs = other["data"]["submitFeedback"]
        assert theirs["created"] is True
        assert theirs["feedback"]["id"] != first["feedback"]["id"]
        # And neither unit sees the other's feedback by id.
        peek = await GraphQLClient(http, stack.graphql_url)(
            "query($id: ID!) { feedback(id: $id) { id } }", id=first["feedback"]["id"]
        )
        assert peek["data"]["feedback"] is None
    async with raw_documents(stack) as documents:
        assert await documents.count_documents({"external_id": sent["externalId"]}) == 2


async def test_invalid_input_is_refused_field_by_field_and_nothing_is_stored(
    stack: Stack, graphql: GraphQLClient
) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    sent = feedback_input(
        externalId="   ",
        text=" ",
        wardCode="Q1-BN",
        submittedAt=future,
        citizen={"name": "Trần Thị Mai", "phone": "12345", "email": "mai-at-example"},
    )
    payload = (await graphql(SUBMIT, input=sent))["data"]["submitFeedback"]
    assert payload["feedback"] is None
    errors = {tuple(e["field"]): e["code"] for e in payload["userErrors"]}
    assert errors == {
        ("input", "externalId"): "REQUIRED",
        ("input", "text"): "REQUIRED",
        ("input", "submittedAt"): "IN_FUTURE",
        ("input", "wardCode"): "INVALID",
        ("input", "citizen", "phone"): "INVALID",
        ("input", "citizen", "email"): "INVALID",
    }
    async with raw_documents(stack) as documents:
        assert await documents.count_documents({"feedback.ward_code": "Q1-BN"}) == 0


async def test_a_read_only_key_may_not_submit_feedback(
    stack: Stack, graphql: GraphQLClient
) -> None:
    created = await graphql(
        'mutation { createApiKey(input: {unit: "Sở Xây dựng", scopes: ["read"]}) { key } }'
    )
    key = created["data"]["createApiKey"]["key"]
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
        answer = await GraphQLClient(http, stack.graphql_url)(SUBMIT, input=feedback_input())
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_with_nlp_down_feedback_is_stored_pending_and_analysed_later(
    stack: Stack, graphql: GraphQLClient
) -> None:
    port = free_port()
    ingest = ServiceProcess(
        "ingest-without-nlp",
        "services.ingest",
        env={
            **stack.ingest.env,
            **FAST_RETRIES,
            "LANGNGHE_INGEST_PORT": str(port),
            "LANGNGHE_INGEST_METRICS_PORT": str(free_port()),
            # Nothing listens here: nlp is down.
            "LANGNGHE_INGEST_NLP_TARGET": f"127.0.0.1:{free_port()}",
            "LANGNGHE_INGEST_COLLECT": "false",
        },
    )
    await ingest.start()
    try:
        await ingest.wait_ready(lambda: grpc_serving(port), 30)
        async with (
            another_gateway(
                stack, "gateway-nlp-down", LANGNGHE_GATEWAY_INGEST_TARGET=f"127.0.0.1:{port}"
            ) as base,
            httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http,
        ):
            sent = feedback_input()
            answer = await GraphQLClient(http, f"{base}/graphql")(SUBMIT, input=sent)
        payload = answer["data"]["submitFeedback"]
        assert payload["userErrors"] == []
        assert payload["feedback"]["analysisState"] == "PENDING"
        assert payload["feedback"]["sentiment"] is None
        # Routed by its ward meanwhile.
        assert payload["feedback"]["suggestedUnit"]["id"] == "ubnd-phuong-ben-thanh"
    finally:
        await ingest.stop()

    async def analysed() -> dict | None:
        found = (await graphql(LOOKUP, externalId=sent["externalId"]))["data"]["feedback"]
        return found if found["analysisState"] == "ANALYZED" else None

    # The stack's own ingest worker, with nlp up, finishes it.
    done = await wait_until(analysed, within_s=30, what="background analysis")
    assert done["sentiment"]["label"] in ("NEGATIVE", "NEUTRAL", "POSITIVE")


async def test_suggested_unit_follows_the_stored_analysis_and_the_routing_table(
    stack: Stack, graphql: GraphQLClient
) -> None:
    now = datetime.now(UTC)

    def analysed_feedback(external_id: str, ward: str, sectors: list[str]) -> dict:
        return {
            "_id": ObjectId(),
            "ext_key": f"unit:administrators:{external_id}",
            "external_id": external_id,
            "submitter_unit": "administrators",
            "source_kind": "feedback",
            "text": "Nhóm thanh niên tụ tập đua xe trước chợ mỗi đêm.",
            "title": "",
            "created_at": now,
            "published_at": now,
            "timeline_at": now,
            "analysis_state": "analyzed",
            "analyzed_at": now,
            "feedback": {"channel": "phone", "ward_code": ward, "citizen_keys": []},
            "sentiment": {
                "label": "NEGATIVE",
                "score": 0.9,
                "negative": 0.9,
                "neutral": 0.08,
                "positive": 0.02,
            },
            "toxicity": {"label": "CLEAN", "score": 0.97},
            "sectors": [{"id": s, "score": 0.8 - 0.1 * i} for i, s in enumerate(sectors)],
            "sector_ids": sectors,
            "localities": [],
        }

    cases = {
        # Sector and ward both have a rule of their own.
        "r-pair": ("26740", ["public_order"], ("cong-an-phuong-sai-gon", "SECTOR_AND_LOCALITY")),
        # No pair rule: the best sector's department, before the ward.
        "r-sector": ("26743", ["health", "public_order"], ("so-y-te", "SECTOR")),
        # No sector known: the ward.
        "r-ward": ("26743", [], ("ubnd-phuong-ben-thanh", "LOCALITY")),
        # Nothing matches: the default unit.
        "r-default": ("27000", ["unknown_sector"], ("van-phong-ubnd-tp", "DEFAULT")),
    }
    suffix = uuid.uuid4().hex[:6]
    async with raw_documents(stack) as documents:
        await documents.insert_many(
            [analysed_feedback(f"{k}-{suffix}", ward, s) for k, (ward, s, _) in cases.items()]
        )
    for name, (_, _, (unit, match)) in cases.items():
        found = (await graphql(LOOKUP, externalId=f"{name}-{suffix}"))["data"]["feedback"]
        assert (found["suggestedUnit"]["id"], found["suggestedUnit"]["match"]) == (unit, match)
    pair = (await graphql(LOOKUP, externalId=f"r-pair-{suffix}"))["data"]["feedback"]
    assert pair["toxicity"]["label"] == "CLEAN"
    assert pair["suggestedUnit"]["sector"] == "public_order"
    assert pair["suggestedUnit"]["locality"] == "26740"


async def test_personal_data_is_never_stored_in_clear(stack: Stack) -> None:
    name, phone, email = "Nguyễn Văn Bình", "0903 123 456", "Binh.Nguyen@example.vn"
    secret = "bí-mật-của-thành-phố-" + uuid.uuid4().hex
    async with (
        another_gateway(
            stack, "gateway-with-secret", LANGNGHE_GATEWAY_CITIZEN_HASH_SECRET=secret
        ) as base,
        httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http,
    ):
        submit = GraphQLClient(http, f"{base}/graphql")
        first = feedback_input(citizen={"name": name, "phone": phone, "email": email})
        # The same citizen again, the number written the international way.
        second = feedback_input(citizen={"phone": "+84903123456"})
        for sent in (first, second):
            payload = (await submit(SUBMIT, input=sent))["data"]["submitFeedback"]
            assert payload["userErrors"] == []
    async with raw_documents(stack) as documents:
        records = [
            await documents.find_one({"external_id": s["externalId"]}) for s in (first, second)
        ]
    for record in records:
        raw = bson.encode(record)
        for secret_text in (name, phone, "903123456", email, email.lower(), "Bình"):
            assert secret_text.encode() not in raw, secret_text
    first_keys, second_keys = (set(r["feedback"]["citizen_keys"]) for r in records)
    assert len(first_keys) == 2
    assert first_keys & second_keys == {k for k in first_keys if k.startswith("phone:")}

    # Without a secret (the stack's gateway) contact details are dropped altogether.
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        sent = feedback_input(citizen={"name": name, "phone": phone, "email": email})
        await GraphQLClient(http, stack.graphql_url)(SUBMIT, input=sent)
    async with raw_documents(stack) as documents:
        record = await documents.find_one({"external_id": sent["externalId"]})
    assert record["feedback"]["citizen_keys"] == []
    assert phone.encode() not in bson.encode(record)
