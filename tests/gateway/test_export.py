"""/export streams what documents() would list, as CSV or JSON Lines, to key holders only."""

import csv
import io
import json
import uuid

import httpx

from services.devstack.stack import Stack
from tests.conftest import GraphQLClient

SUBMIT = "mutation S($t: String!) { submitDocument(input: {text: $t}) { document { id } } }"


async def test_export_as_csv_and_json_lines(graphql: GraphQLClient, stack: Stack) -> None:
    tag = f"xuat{uuid.uuid4().hex[:8]}"
    for text in (f"Cầu Ánh Sao sáng đèn trở lại {tag}", f"Rác ùn ứ ở chợ, hôi thối {tag}"):
        await graphql(SUBMIT, t=text)
    url = f"http://127.0.0.1:{stack.ports.gateway}/export"
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        as_csv = await http.get(url, params={"format": "csv", "search": tag})
        as_jsonl = await http.get(url, params={"search": tag, "sentiment": "negative"})
        bad = await http.get(url, params={"format": "xlsx"})
        bad_filter = await http.get(url, params={"sentiment": "buồn"})
    async with httpx.AsyncClient(timeout=30) as anonymous:
        refused = await anonymous.get(url, params={"search": tag})

    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [r["text"] for r in rows] == [
        f"Rác ùn ứ ở chợ, hôi thối {tag}",
        f"Cầu Ánh Sao sáng đèn trở lại {tag}",
    ]
    assert rows[0]["source_kind"] == "manual"
    assert rows[0]["sentiment"] in ("NEGATIVE", "NEUTRAL", "POSITIVE")

    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert all(line["sentiment"] == "NEGATIVE" for line in lines)
    assert f"Rác ùn ứ ở chợ, hôi thối {tag}" in [line["text"] for line in lines]
    assert (bad.status_code, bad_filter.status_code, refused.status_code) == (400, 400, 401)
