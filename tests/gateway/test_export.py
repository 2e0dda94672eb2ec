"""/export streams what documents() would list, as CSV or JSON Lines, to key holders only."""

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from services.devstack.stack import Stack
from tests.conftest import GraphQLClient
from tests.gateway.analysed import Analysed, Place, store_analysed

SUBMIT = "mutation S($t: String!) { submitDocument(input: {text: $t}) { document { id } } }"


async def test_export_as_csv_and_json_lines(graphql: GraphQLClient, stack: Stack) -> None:
    tag = f"xuat{uuid.uuid4().hex[:8]}"
    for text in (f"Cầu Ánh Sao sáng đèn trở lại {tag}", f"Rác ùn ứ ở chợ, hôi thối {tag}"):
        await graphql(SUBMIT, t=text)
    url = f"http://127.0.0.1:{stack.ports.gateway}/export"
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        as_csv = await http.get(url, params={"format": "csv", "search": tag})
        rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        # Filter by the sentiment the model gave the newer text: which label it is belongs to
        # the nlp tests (the random tag is text too, and moves the score).
        sentiment = rows[0]["sentiment"] if rows else "NEGATIVE"
        as_jsonl = await http.get(url, params={"search": tag, "sentiment": sentiment.lower()})
        bad = await http.get(url, params={"format": "xlsx"})
        bad_filter = await http.get(url, params={"sentiment": "buồn"})
    async with httpx.AsyncClient(timeout=30) as anonymous:
        refused = await anonymous.get(url, params={"search": tag})

    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert [r["text"] for r in rows] == [
        f"Rác ùn ứ ở chợ, hôi thối {tag}",
        f"Cầu Ánh Sao sáng đèn trở lại {tag}",
    ]
    assert rows[0]["source_kind"] == "manual"
    assert rows[0]["sentiment"] in ("NEGATIVE", "NEUTRAL", "POSITIVE")

    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert all(line["sentiment"] == sentiment for line in lines)
    assert f"Rác ùn ứ ở chợ, hôi thối {tag}" in [line["text"] for line in lines]
    assert (bad.status_code, bad_filter.status_code, refused.status_code) == (400, 400, 401)


async def test_export_carries_and_filters_by_findings(
    stack: Stack, stack_db: AsyncDatabase
) -> None:
    tag = f"xuatnlp{uuid.uuid4().hex[:8]}"
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    await store_analysed(
        stack_db,
        [
            Analysed(
                text=f"Ông Phạm Minh Quân nói kẹt xe kéo dài ở Phường Tân Hưng {tag}",
                published_at=at,
                toxicity="clean",
                topic="lifestyle",
                sectors=("transport",),
                places=(Place("27001", "Phường Tân Hưng"),),
                entities=(("PER", "Phạm Minh Quân"),),
                keywords=("kẹt xe",),
            ),
            Analysed(text=f"Bình luận thô tục về xe buýt {tag}", published_at=at, toxicity="hate"),
        ],
    )
    url = f"http://127.0.0.1:{stack.ports.gateway}/export"
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        by_place = await http.get(url, params={"search": tag, "locality": "27001"})
        by_person = await http.get(
            url, params={"search": tag, "entity": "pham minh quan", "entity_type": "per"}
        )
        hateful = await http.get(url, params={"search": tag, "toxicity": "hate", "format": "csv"})
        wrong = await http.get(url, params={"search": tag, "topic": "thời tiết"})

    (row,) = [json.loads(line) for line in by_place.text.splitlines()]
    assert row["language"] == "vi"
    assert (row["toxicity"], row["topic"], row["sectors"]) == ("CLEAN", "LIFESTYLE", "transport")
    assert row["localities"] == "27001 Phường Tân Hưng"
    assert row["entities"] == "PER:Phạm Minh Quân"
    assert row["keywords"] == "kẹt xe"
    assert [json.loads(line)["id"] for line in by_person.text.splitlines()] == [row["id"]]
    (hate,) = csv.DictReader(io.StringIO(hateful.content.decode("utf-8-sig")))
    assert hate["toxicity"] == "HATE"
    assert hate["text"].startswith("Bình luận thô tục")
    assert wrong.status_code == 400
