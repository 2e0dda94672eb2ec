"""What nlp found, through GraphQL: every Document field, and every filter on it."""

import uuid
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import GraphQLClient
from tests.gateway.analysed import Analysed, Place, global_id, store_analysed

FINDINGS = """
query One($id: ID!) {
  document(id: $id) {
    language languageConfidence modelsVersion
    sentiment { label }
    toxicity { label score probabilities { label probability } }
    emotion { label }
    topic { label score }
    sectors { id score }
    entities { type text key score span { field start end } }
    localities { code name level structure currentCodes mention span { field start end } }
    keywords { phrase score }
  }
}"""

COUNT = "query C($f: DocumentFilterInput) { documents(filter: $f) { totalCount } }"

# Quận 7 of the old map, and two of today's wards on its area (the codes are the tests' own).
DISTRICT_7 = Place("778", "Quận 7", "DISTRICT", current=("27001", "27002"))
TAN_HUNG = Place("27001", "Phường Tân Hưng")


async def test_document_shows_every_finding(graphql: GraphQLClient, stack_db: AsyncDatabase):
    tag = f"phathien{uuid.uuid4().hex[:8]}"
    text = f"Ông Trần Văn Hùng nói rác ùn ứ ở Quận 7 khiến người dân bức xúc {tag}"
    (stored,) = await store_analysed(
        stack_db,
        [
            Analysed(
                text=text,
                published_at=datetime(2026, 11, 2, 3, tzinfo=UTC),
                sentiment="NEGATIVE",
                toxicity="offensive",
                emotion="anger",
                topic="lifestyle",
                sectors=("environment", "public_order"),
                entities=(("PER", "Trần Văn Hùng"), ("LOC", "Quận 7")),
                places=(DISTRICT_7,),
                keywords=("rác ùn ứ", "bức xúc"),
            )
        ],
    )
    doc_id = global_id("Document", stored)
    body = await graphql(FINDINGS, id=doc_id)
    assert "errors" not in body, body
    document = body["data"]["document"]
    assert (document["language"], document["languageConfidence"]) == ("vi", 0.97)
    assert document["modelsVersion"] == "test-analyses"
    assert document["sentiment"]["label"] == "NEGATIVE"
    assert document["toxicity"]["label"] == "OFFENSIVE"
    assert document["toxicity"]["probabilities"][0] == {"label": "offensive", "probability": 0.7}
    assert {p["label"] for p in document["toxicity"]["probabilities"]} == {
        "clean",
        "offensive",
        "hate",
    }
    assert (document["emotion"]["label"], document["topic"]["label"]) == ("ANGER", "LIFESTYLE")
    assert [s["id"] for s in document["sectors"]] == ["environment", "public_order"]
    person = document["entities"][0]
    assert (person["type"], person["text"], person["key"]) == (
        "PER",
        "Trần Văn Hùng",
        "tran van hung",
    )
    span = person["span"]
    assert span["field"] == "TEXT"
    assert text[span["start"] : span["end"]] == "Trần Văn Hùng"
    (place,) = document["localities"]
    assert place == {
        "code": "778",
        "name": "Quận 7",
        "level": "DISTRICT",
        "structure": "BEFORE_2025",
        "currentCodes": ["27001", "27002"],
        "mention": "Quận 7",
        "span": {"field": "TEXT", "start": text.index("Quận 7"), "end": text.index("Quận 7") + 6},
    }
    assert [k["phrase"] for k in document["keywords"]] == ["rác ùn ứ", "bức xúc"]
    # The embedding is read only when asked for.
    assert "embedding" not in document
    vector = await graphql("query O($id: ID!) { document(id: $id) { embedding } }", id=doc_id)
    assert vector["data"]["document"]["embedding"] == [0.0625] * 384


async def test_filters_on_findings(graphql: GraphQLClient, stack_db: AsyncDatabase) -> None:
    tag = f"locnlp{uuid.uuid4().hex[:8]}"
    at = datetime(2026, 11, 3, 2, tzinfo=UTC)
    await store_analysed(
        stack_db,
        [
            Analysed(
                text=f"Bà Lê Thị Mai phản ánh đường ngập ở Quận 7 sau mưa {tag}",
                published_at=at,
                sentiment="NEGATIVE",
                toxicity="clean",
                emotion="sadness",
                topic="politics_society",
                sectors=("flooding",),
                entities=(("PER", "Lê Thị Mai"),),
                places=(DISTRICT_7,),
                keywords=("đường ngập",),
            ),
            Analysed(
                text=f"Phường Tân Hưng khai trương công viên mới, lời lẽ thô tục trên mạng {tag}",
                published_at=at,
                sentiment="POSITIVE",
                toxicity="offensive",
                emotion="enjoyment",
                topic="lifestyle",
                sectors=("environment", "flooding"),
                entities=(("ORG", "Lê Thị Mai"),),
                places=(TAN_HUNG,),
            ),
            Analysed(
                text=f"The park opened in District 7 today {tag}",
                published_at=at,
                sentiment=None,
                language="en",
            ),
        ],
    )

    async def count(**conditions: object) -> int:
        body = await graphql(COUNT, f={"search": tag, **conditions})
        assert "errors" not in body, body
        return body["data"]["documents"]["totalCount"]

    assert await count() == 3
    page = await graphql(
        "query P($f: DocumentFilterInput) { documents(filter: $f) "
        "{ edges { node { language embedding } } } }",
        f={"search": tag},
    )
    nodes = [e["node"] for e in page["data"]["documents"]["edges"]]
    assert [len(n["embedding"]) for n in nodes] == [384, 384, 384]
    assert sorted(n["language"] for n in nodes) == ["en", "vi", "vi"]
    assert await count(toxicity="OFFENSIVE") == 1
    assert await count(emotion="SADNESS") == 1
    assert await count(topic="LIFESTYLE") == 1
    assert await count(sectors=["flooding"]) == 2
    assert await count(sectors=["Environment", "nothing"]) == 1
    assert await count(language="en") == 1
    assert await count(language="vi") == 2
    # The old district's code finds the document naming it; today's ward's code finds both.
    assert await count(localities=["778"]) == 1
    assert await count(localities=["27001"]) == 2
    assert await count(localities=["27002"]) == 1
    # Accents and case do not matter; the type narrows.
    assert await count(entity={"text": "LE THI MAI"}) == 2
    assert await count(entity={"text": "lê thị  mai", "type": "PER"}) == 1
    assert await count(entity={"text": "Lê Thị Mai", "type": "LOC"}) == 0
    assert await count(keywords=["DUONG NGAP", "không có"]) == 1
    # The query language's fields read the same stored fields.
    assert await count(query="district:27001 AND sector:flooding") == 2
    assert await count(query="locality:778 OR sector:environment") == 2
    assert await count(query="sector:flooding NOT sentiment:negative") == 1

    bad = await graphql(COUNT, f={"entity": {"text": "!!!"}})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    too_many = await graphql(COUNT, f={"sectors": [str(i) for i in range(51)]})
    assert "1 to 50 values" in too_many["errors"][0]["message"]
