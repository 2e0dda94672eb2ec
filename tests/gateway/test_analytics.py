"""Analytics, share of voice and reports through GraphQL, over documents stored as ingest does."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.devstack.stack import Stack
from services.gateway import alerts
from tests.conftest import GraphQLClient
from tests.gateway.analysed import Analysed, Place, store_analysed

# Sent without an offset: Ho Chi Minh City time.
PERIOD = {"since": "2026-10-05T00:00:00", "until": "2026-10-08T00:00:00"}
DISTRICT_7 = Place("778", "Quận 7", "DISTRICT", current=("27001", "27002"))
TAN_HUNG = Place("27001", "Phường Tân Hưng")
TAN_THUAN = Place("27002", "Phường Tân Thuận")
# A ward of the old map whose successor no document names.
OLD_WARD = Place("26734", "Phường Bến Nghé", current=("26735",))


async def store_period(db: AsyncDatabase) -> str:
    """Six documents of one tag: five in PERIOD, one just after it; returns the tag."""
    tag = f"thongke{uuid.uuid4().hex[:8]}"
    flood_story, park_story = ObjectId(), ObjectId()
    await store_analysed(
        db,
        [
            Analysed(
                title="Triều cường gây ngập Quận 7",
                text=f"Ông Trần Văn Hùng cho biết triều cường làm ngập nhiều tuyến đường {tag}",
                published_at=datetime.fromisoformat("2026-10-05T08:00:00+07:00"),
                sentiment="NEGATIVE",
                outlet="Tin Phố",
                sectors=("flooding", "transport"),
                places=(DISTRICT_7,),
                entities=(("PER", "Trần Văn Hùng"), ("ORG", "Sở Giao thông Vận tải")),
                keywords=("triều cường", "ngập"),
                story_id=flood_story,
            ),
            Analysed(
                title="Phường Tân Hưng ngập sâu",
                # 00:30 on 6 October in the city is still 5 October in UTC.
                text=f"Nước ngập tới đầu gối, ông tran van hung phải dắt xe về nhà {tag}",
                published_at=datetime.fromisoformat("2026-10-06T00:30:00+07:00"),
                sentiment="NEGATIVE",
                outlet="Báo Mẫu",
                sectors=("flooding",),
                places=(TAN_HUNG,),
                entities=(("PER", "tran van hung"),),
                keywords=("Ngập",),
                story_id=flood_story,
            ),
            Analysed(
                text=f"Sở Giao thông vận tải phân luồng lại nút giao, xe đi ổn hơn {tag}",
                published_at=datetime.fromisoformat("2026-10-06T09:00:00+07:00"),
                sentiment="NEUTRAL",
                source_kind="social",
                sectors=("transport",),
                places=(TAN_THUAN,),
                entities=(("ORG", "Sở Giao thông vận tải"),),
                keywords=("kẹt xe",),
            ),
            Analysed(
                text=f"Công viên mới ở Quận 7 mở cửa, người dân rất vui {tag}",
                published_at=datetime.fromisoformat("2026-10-06T10:00:00+07:00"),
                sentiment="POSITIVE",
                outlet="Tin Phố",
                sectors=("environment", "transport"),
                places=(OLD_WARD,),
                entities=(("LOC", "Quận 7"),),
                story_id=park_story,
            ),
            Analysed(
                text=f"The riverside park opened to visitors {tag}",
                published_at=datetime.fromisoformat("2026-10-07T10:00:00+07:00"),
                sentiment=None,
                language="en",
                outlet="Tin Phố",
                story_id=park_story,
            ),
            Analysed(
                # 00:30 on 8 October in the city: after PERIOD, though before its end in UTC.
                text=f"Triều cường lại dâng, đường ngập sau nửa đêm {tag}",
                published_at=datetime.fromisoformat("2026-10-08T00:30:00+07:00"),
                sentiment="NEGATIVE",
                outlet="Tin Phố",
                sectors=("flooding",),
                places=(TAN_HUNG,),
                keywords=("ngập",),
            ),
        ],
    )
    return tag


ANALYTICS = """
query A($f: DocumentFilterInput, $p: PeriodInput) {
  analytics(filter: $f, period: $p) {
    period { since until }
    total
    sentiment { total negative neutral positive unanalysed negativeShare }
    timeline(bucket: DAY) { start total negative }
    bySourceKind { sourceKind count negative negativeShare }
    byOutlet { outlet count negativeShare }
    bySector { sector count negative }
    today: byLocality { code name level structure count negative negativeShare }
    old: byLocality(structure: BEFORE_2025) { code name level count }
    districts: byLocality(structure: BEFORE_2025, level: DISTRICT) { code }
    people: topEntities(type: PER) { type key text count negativeShare }
    names: topEntities(first: 3) { type key count }
    topKeywords { key phrase count }
    topStories { story { id } title documents outlets firstSeen lastSeen }
  }
}"""


async def test_breakdowns_of_a_filter(graphql: GraphQLClient, stack_db: AsyncDatabase) -> None:
    tag = await store_period(stack_db)
    body = await graphql(ANALYTICS, f={"search": tag}, p=PERIOD)
    assert "errors" not in body, body
    a = body["data"]["analytics"]

    assert a["period"] == {
        "since": "2026-10-05T00:00:00+07:00",
        "until": "2026-10-08T00:00:00+07:00",
    }
    assert a["total"] == 5
    assert a["sentiment"] == {
        "total": 5,
        "negative": 2,
        "neutral": 1,
        "positive": 1,
        "unanalysed": 1,
        "negativeShare": 0.5,
    }
    assert [(p["start"][:10], p["total"], p["negative"]) for p in a["timeline"]] == [
        ("2026-10-05", 1, 1),
        ("2026-10-06", 3, 1),
        ("2026-10-07", 1, 0),
    ]
    assert a["bySourceKind"] == [
        {"sourceKind": "PRESS", "count": 4, "negative": 2, "negativeShare": 0.666667},
        {"sourceKind": "SOCIAL", "count": 1, "negative": 0, "negativeShare": 0.0},
    ]
    assert a["byOutlet"] == [
        {"outlet": "Tin Phố", "count": 3, "negativeShare": 0.5},
        {"outlet": "", "count": 1, "negativeShare": 0.0},
        {"outlet": "Báo Mẫu", "count": 1, "negativeShare": 1.0},
    ]
    assert a["bySector"] == [
        {"sector": "transport", "count": 3, "negative": 1},
        {"sector": "flooding", "count": 2, "negative": 2},
        {"sector": "environment", "count": 1, "negative": 0},
    ]
    # Today's map: Quận 7 counts under both of today's wards on its area.
    assert a["today"] == [
        {
            "code": "27001",
            "name": "Phường Tân Hưng",
            "level": "COMMUNE",
            "structure": "SINCE_2025",
            "count": 2,
            "negative": 2,
            "negativeShare": 1.0,
        },
        {
            "code": "27002",
            "name": "Phường Tân Thuận",
            "level": "COMMUNE",
            "structure": "SINCE_2025",
            "count": 2,
            "negative": 1,
            "negativeShare": 0.5,
        },
        {
            "code": "26735",
            "name": None,
            "level": "COMMUNE",
            "structure": "SINCE_2025",
            "count": 1,
            "negative": 0,
            "negativeShare": 0.0,
        },
    ]
    assert a["old"] == [
        {"code": "26734", "name": "Phường Bến Nghé", "level": "COMMUNE", "count": 1},
        {"code": "778", "name": "Quận 7", "level": "DISTRICT", "count": 1},
    ]
    assert a["districts"] == [{"code": "778"}]

    (person,) = a["people"]
    assert (person["type"], person["key"], person["count"]) == ("PER", "tran van hung", 2)
    assert person["text"] in ("Trần Văn Hùng", "tran van hung")
    assert person["negativeShare"] == 1.0
    assert [(n["type"], n["key"], n["count"]) for n in a["names"]] == [
        ("ORG", "so giao thong van tai", 2),
        ("PER", "tran van hung", 2),
        ("LOC", "quan 7", 1),
    ]
    assert [(k["key"], k["count"]) for k in a["topKeywords"]] == [
        ("ngap", 2),
        ("ket xe", 1),
        ("trieu cuong", 1),
    ]
    assert a["topKeywords"][0]["phrase"] in ("ngập", "Ngập")

    flood, park = a["topStories"]
    assert (flood["title"], flood["documents"], flood["outlets"]) == (
        "Triều cường gây ngập Quận 7",
        2,
        2,
    )
    assert flood["firstSeen"].startswith("2026-10-05T01:00:00")
    assert (park["documents"], park["outlets"]) == (2, 1)
    # Untitled: named by how its first document begins.
    assert park["title"] == f"Công viên mới ở Quận 7 mở cửa, người dân rất vui {tag}"
    # The story is a node: its documents are one query away.
    story = await graphql(
        "query S($id: ID!) { story(id: $id) { documents { edges { node { id } } } } }",
        id=flood["story"]["id"],
    )
    assert len(story["data"]["story"]["documents"]["edges"]) == 2


async def test_without_a_period_the_last_30_days(
    graphql: GraphQLClient, stack_db: AsyncDatabase
) -> None:
    tag = f"gannay{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await store_analysed(
        stack_db,
        [
            Analysed(text=f"Đèn đường sáng trở lại {tag}", published_at=now),
            Analysed(
                text=f"Tin cũ về đèn đường {tag}", published_at=datetime(2025, 1, 1, tzinfo=UTC)
            ),
        ],
    )
    body = await graphql(
        "query A($f: DocumentFilterInput) { analytics(filter: $f) { total period { since } } }",
        f={"search": tag},
    )
    assert body["data"]["analytics"]["total"] == 1
    since = datetime.fromisoformat(body["data"]["analytics"]["period"]["since"])
    assert 29.9 < (now - since).total_seconds() / 86_400 < 30.1


CREATE_TOPIC = """mutation C($name: String!, $q: String!) {
  createTrackedTopic(input: {name: $name, query: $q}) {
    trackedTopic { id } userErrors { code }
  }
}"""

SHARE = """
query V($topics: [ID!]!, $p: PeriodInput, $b: TimeBucket!) {
  shareOfVoice(trackedTopics: $topics, period: $p, bucket: $b) {
    topics { trackedTopic { name } count share }
    timeline { start total topics { count share } }
  }
}"""


async def create_topic(graphql: GraphQLClient, name: str, query: str) -> str:
    body = await graphql(CREATE_TOPIC, name=name, q=query)
    assert body["data"]["createTrackedTopic"]["userErrors"] == [], body
    return body["data"]["createTrackedTopic"]["trackedTopic"]["id"]


async def test_tracked_topics_share_of_voice_and_report(
    graphql: GraphQLClient, stack: Stack, stack_db: AsyncDatabase
) -> None:
    tag = await store_period(stack_db)
    flooding = await create_topic(graphql, f"Ngập {tag}", f"{tag} sector:flooding")
    transport = await create_topic(graphql, f"Giao thông {tag}", f"{tag} AND sector:transport")

    voice = await graphql(SHARE, topics=[flooding, transport], p=PERIOD, b="DAY")
    assert "errors" not in voice, voice
    share = voice["data"]["shareOfVoice"]
    assert [(t["trackedTopic"]["name"], t["count"], t["share"]) for t in share["topics"]] == [
        (f"Ngập {tag}", 2, 0.4),
        (f"Giao thông {tag}", 3, 0.6),
    ]
    assert [
        (p["start"][:10], p["total"], [t["count"] for t in p["topics"]]) for p in share["timeline"]
    ] == [("2026-10-05", 2, [1, 1]), ("2026-10-06", 3, [1, 2])]
    weekly = await graphql(SHARE, topics=[flooding, transport], p=PERIOD, b="WEEK")
    (week,) = weekly["data"]["shareOfVoice"]["timeline"]
    assert (week["start"], week["total"]) == ("2026-10-05T00:00:00+07:00", 5)

    topic_analytics = await graphql(
        "query A($t: ID, $p: PeriodInput) { analytics(trackedTopic: $t, period: $p) "
        "{ total bySector { sector count } } }",
        t=flooding,
        p=PERIOD,
    )
    assert topic_analytics["data"]["analytics"]["total"] == 2
    assert topic_analytics["data"]["analytics"]["bySector"][0] == {"sector": "flooding", "count": 2}

    # Alerts are raised elsewhere; the report reads what is in the collection.
    topic_oid = ObjectId(_node_id(flooding))
    await stack_db["alerts"].insert_many(
        [
            _alert(topic_oid, "administrators", alerts.VOLUME_SPIKE, "2026-10-06T09:00:00+07:00"),
            _alert(topic_oid, "administrators", alerts.NEGATIVE_SHIFT, "2026-10-09T09:00:00+07:00"),
            _alert(
                ObjectId(), "UBND phường khác", alerts.VOLUME_SPIKE, "2026-10-06T10:00:00+07:00"
            ),
        ]
    )
    report = await graphql(
        """query R($t: ID, $p: PeriodInput!) { report(trackedTopic: $t, period: $p) {
          total sentiment { negative positive }
          topStories { title documents outlets }
          topEntities(first: 1) { key }
          topKeywords(first: 1) { key }
          alerts { reasons raisedAt topicId }
        } }""",
        t=flooding,
        p=PERIOD,
    )
    assert "errors" not in report, report
    r = report["data"]["report"]
    assert (r["total"], r["sentiment"]) == (2, {"negative": 2, "positive": 0})
    assert r["topStories"] == [
        {"title": "Triều cường gây ngập Quận 7", "documents": 2, "outlets": 2}
    ]
    assert r["topEntities"] == [{"key": "tran van hung"}]
    assert r["topKeywords"] == [{"key": "ngap"}]
    assert r["alerts"] == [
        {
            "reasons": ["VOLUME_SPIKE"],
            "raisedAt": "2026-10-06T02:00:00+00:00",
            "topicId": flooding,
        }
    ]

    # Another unit sees none of it: not the topics, not the alerts.
    key = (
        await graphql(
            'mutation { createApiKey(input: {unit: "UBND xã Bình Chánh", scopes: ["read"]}) '
            "{ key } }"
        )
    )["data"]["createApiKey"]["key"]
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        theirs = (
            await http.post(
                stack.graphql_url,
                json={"query": SHARE, "variables": {"topics": [flooding, transport], "b": "DAY"}},
            )
        ).json()
        assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        their_report = (
            await http.post(
                stack.graphql_url,
                json={
                    "query": "query R($p: PeriodInput!) { report(period: $p) { alerts { id } } }",
                    "variables": {"p": PERIOD},
                },
            )
        ).json()
        assert their_report["data"]["report"]["alerts"] == []


def _alert(topic_id: ObjectId, unit: str, reason: str, hour: str) -> dict:
    """An alert as the gateway's alert store writes it."""
    start = datetime.fromisoformat(hour)
    return {
        "dedup_key": f"{topic_id}:{start.isoformat()}",
        "unit": unit,
        "topic_id": topic_id,
        "topic_name": "ngập",
        "window_start": start,
        "window_end": start + timedelta(hours=1),
        "reasons": [reason],
        "volume": 40,
        "negative_share": 0.8,
        "expected_volume": 5.0,
        "expected_negative_share": 0.3,
        "baseline": "seasonal",
        "state": alerts.OPEN,
        "raised_at": start,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "webhooks_enqueued": True,
    }


def _node_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def test_analytics_refuse_unbounded_or_malformed_requests(graphql: GraphQLClient) -> None:
    cases = [
        (
            '{ analytics(period: {since: "2024-01-01T00:00:00", until: "2026-01-01T00:00:00"})'
            " { total } }",
            "at most 400 days",
        ),
        (
            '{ analytics(period: {since: "2026-01-02T00:00:00", until: "2026-01-01T00:00:00"})'
            " { total } }",
            "must start before it ends",
        ),
        ("{ analytics { byOutlet(first: 0) { count } } }", "between 1 and 100"),
        ("{ analytics { byLocality(first: 501) { count } } }", "between 1 and 500"),
        (
            '{ shareOfVoice(trackedTopics: ["VHJhY2tlZFRvcGljOjE="]) { topics { count } } }',
            "2 to 10",
        ),
        (
            '{ analytics(trackedTopic: "RG9jdW1lbnQ6MQ==") { total } }',
            "not the id of a tracked topic",
        ),
    ]
    every_part = (
        "{ total timeline { total } bySourceKind { count } byOutlet { count } bySector { count } "
        "byLocality { count } topEntities { count } topKeywords { count } topStories { outlets } }"
    )
    cases.append(
        (
            f"{{ a: analytics {every_part} b: analytics {every_part} c: analytics {every_part} "
            f"d: analytics {every_part} }}",
            "at most 30 analytics parts",
        )
    )
    for query, expected in cases:
        body = await graphql(query)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert expected in body["errors"][0]["message"]
