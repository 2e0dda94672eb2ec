"""How an nlp Analysis is stored: every field in the shape docs/storage.md names, findable by it."""

import struct
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from langnghe.nlp.v1 import nlp_pb2
from services.common.documents import validate_submission
from services.common.mongo import DOCUMENTS, ensure_document_indexes
from services.ingest.analysis import analysis_fields
from services.ingest.store import AnalysisResult, DocumentStore

TITLE = "Ngập ở Quận 7"
TEXT = "Ông Nguyễn Văn Bình, Sở Xây dựng, nói triều cường làm ngập Phường Tân Phong, Q.7."


def _span(field: int, start: int, end: int) -> nlp_pb2.Span:
    return nlp_pb2.Span(field=field, start=start, end=end)


def full_analysis() -> nlp_pb2.Analysis:
    """An Analysis with every field set, as nlp returns it for a Vietnamese text."""
    person = TEXT.index("Nguyễn Văn Bình")
    ward = TEXT.index("Phường Tân Phong")
    return nlp_pb2.Analysis(
        id="1",
        language=nlp_pb2.Language(code="vi", confidence=0.98),
        sentiment=nlp_pb2.Sentiment(
            label=nlp_pb2.SENTIMENT_LABEL_NEGATIVE,
            score=0.8,
            negative=0.8,
            neutral=0.15,
            positive=0.05,
        ),
        toxicity=nlp_pb2.Classification(
            label="clean",
            score=0.9,
            probabilities=[
                nlp_pb2.LabelScore(label="clean", probability=0.9),
                nlp_pb2.LabelScore(label="offensive", probability=0.07),
                nlp_pb2.LabelScore(label="hate", probability=0.03),
            ],
        ),
        emotion=nlp_pb2.Classification(
            label="sadness",
            score=0.6,
            probabilities=[
                nlp_pb2.LabelScore(label="sadness", probability=0.6),
                nlp_pb2.LabelScore(label="anger", probability=0.4),
            ],
        ),
        topic=nlp_pb2.Classification(
            label="politics_society",
            score=0.7,
            probabilities=[
                nlp_pb2.LabelScore(label="politics_society", probability=0.7),
                nlp_pb2.LabelScore(label="lifestyle", probability=0.3),
            ],
        ),
        # Not in order: the store keeps them best first.
        sectors=[
            nlp_pb2.LabelScore(label="construction", probability=0.55),
            nlp_pb2.LabelScore(label="flooding", probability=0.92),
        ],
        entities=[
            nlp_pb2.Entity(
                type=nlp_pb2.ENTITY_TYPE_PER,
                text="Nguyễn Văn Bình",
                span=_span(nlp_pb2.TEXT_FIELD_TEXT, person, person + 15),
                score=0.95,
            ),
            nlp_pb2.Entity(
                type=nlp_pb2.ENTITY_TYPE_ORG,
                text="Sở Xây dựng",
                span=_span(nlp_pb2.TEXT_FIELD_TEXT, 17, 28),
                score=0.9,
            ),
            nlp_pb2.Entity(
                type=nlp_pb2.ENTITY_TYPE_LOC,
                text="Quận 7",
                span=_span(nlp_pb2.TEXT_FIELD_TITLE, 7, 13),
                score=0.85,
            ),
            # A second mention of one person is one key.
            nlp_pb2.Entity(
                type=nlp_pb2.ENTITY_TYPE_PER,
                text="nguyễn văn  bình",
                span=_span(nlp_pb2.TEXT_FIELD_TEXT, 0, 0),
                score=0.5,
            ),
        ],
        localities=[
            nlp_pb2.Locality(
                code="26995",
                name="Phường Tân Phong",
                level=nlp_pb2.LOCALITY_LEVEL_COMMUNE,
                structure=nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025,
                current_codes=["27487"],
                span=_span(nlp_pb2.TEXT_FIELD_TEXT, ward, ward + 16),
                mention="Phường Tân Phong",
                score=0.9,
            ),
            nlp_pb2.Locality(
                code="778",
                name="Quận 7",
                level=nlp_pb2.LOCALITY_LEVEL_DISTRICT,
                structure=nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025,
                current_codes=["27487", "27475", "27478"],
                span=_span(nlp_pb2.TEXT_FIELD_TITLE, 7, 13),
                mention="Q.7",
                score=0.8,
            ),
        ],
        keywords=[
            nlp_pb2.Keyword(phrase="triều cường", score=0.7),
            nlp_pb2.Keyword(phrase="ngập", score=0.5),
        ],
        embedding=[0.5, -0.25, 0.125, 0.0],
        models_version="2026.11-test",
    )


def test_every_field_is_mapped() -> None:
    fields = analysis_fields(full_analysis())

    assert fields["language"] == {"code": "vi", "confidence": 0.98}
    assert fields["sentiment"]["label"] == "NEGATIVE"
    assert fields["toxicity"] == {
        "label": "CLEAN",
        "score": 0.9,
        "probabilities": {"clean": 0.9, "offensive": 0.07, "hate": 0.03},
    }
    assert fields["emotion"]["label"] == "SADNESS"
    assert fields["topic"]["label"] == "POLITICS_SOCIETY"
    assert fields["topic"]["probabilities"] == {"politics_society": 0.7, "lifestyle": 0.3}
    assert fields["sectors"] == [
        {"id": "flooding", "score": 0.92},
        {"id": "construction", "score": 0.55},
    ]
    assert fields["sector_ids"] == ["flooding", "construction"]

    person = fields["entities"][0]
    assert person == {
        "type": "PER",
        "text": "Nguyễn Văn Bình",
        "key": "nguyen van binh",
        "field": "text",
        "start": TEXT.index("Nguyễn"),
        "end": TEXT.index("Nguyễn") + 15,
        "score": 0.95,
    }
    assert TEXT[person["start"] : person["end"]] == person["text"]
    assert fields["entities"][2]["field"] == "title"
    assert fields["entity_keys"] == ["per:nguyen van binh", "org:so xay dung", "loc:quan 7"]

    ward, district = fields["localities"]
    assert ward == {
        "code": "26995",
        "name": "Phường Tân Phong",
        "level": "COMMUNE",
        "structure": "BEFORE_2025",
        "current_codes": ["27487"],
        "field": "text",
        "start": TEXT.index("Phường Tân Phong"),
        "end": TEXT.index("Phường Tân Phong") + 16,
        "mention": "Phường Tân Phong",
        "score": 0.9,
    }
    assert (district["level"], district["mention"], district["field"]) == (
        "DISTRICT",
        "Q.7",
        "title",
    )
    # Every code mentioned and every current code, each once.
    assert fields["locality_codes"] == ["26995", "27487", "778", "27475", "27478"]

    assert fields["keywords"] == [
        {"phrase": "triều cường", "key": "trieu cuong", "score": 0.7},
        {"phrase": "ngập", "key": "ngap", "score": 0.5},
    ]
    assert fields["keyword_keys"] == ["trieu cuong", "ngap"]
    embedding = bytes(fields["embedding"])
    assert len(embedding) == 4 * 2
    assert struct.unpack("<4e", embedding) == (0.5, -0.25, 0.125, 0.0)
    assert fields["models_version"] == "2026.11-test"


def test_what_nlp_leaves_unset_stays_absent() -> None:
    """An English text: language and embedding only, as the proto says for non-Vietnamese."""
    fields = analysis_fields(
        nlp_pb2.Analysis(
            id="2",
            language=nlp_pb2.Language(code="en", confidence=0.9),
            embedding=[0.1] * 384,
            models_version="2026.11-test",
        )
    )
    for absent in ("sentiment", "toxicity", "emotion", "topic"):
        assert absent not in fields
    for empty in ("sectors", "sector_ids", "entities", "entity_keys", "localities"):
        assert fields[empty] == []
    assert len(bytes(fields["embedding"])) == 384 * 2
    assert fields["language"]["code"] == "en"
    # Today's nlp: sentiment only; nothing else is invented.
    today = analysis_fields(
        nlp_pb2.Analysis(
            id="3",
            sentiment=nlp_pb2.Sentiment(
                label=nlp_pb2.SENTIMENT_LABEL_POSITIVE, score=1, positive=1
            ),
        )
    )
    assert set(today) == {
        "sentiment",
        "sectors",
        "sector_ids",
        "entities",
        "entity_keys",
        "localities",
        "locality_codes",
        "keywords",
        "keyword_keys",
    }


async def test_stored_analysis_is_found_by_its_indexed_fields(mongo_db: AsyncDatabase) -> None:
    await ensure_document_indexes(mongo_db)
    store = DocumentStore(mongo_db)
    now = datetime.now(UTC)
    stored = await store.add(validate_submission(text=TEXT, title=TITLE), now=now, claim_until=now)
    await store.save_analyses(
        [AnalysisResult(stored.id, analysis_fields(full_analysis()))], now=now
    )
    documents = mongo_db[DOCUMENTS]
    for query in (
        {"sector_ids": "flooding"},
        {"locality_codes": "778"},  # the old district
        {"locality_codes": "27475"},  # a ward of today that took over part of it
        {"entity_keys": "per:nguyen van binh"},
        {"keyword_keys": "trieu cuong"},
        {"topic.label": "POLITICS_SOCIETY"},
    ):
        assert [d["_id"] async for d in documents.find(query, {"_id": 1})] == [stored.id], query
    names = set((await documents.index_information()).keys())
    assert {
        "sectors_recent",
        "localities_recent",
        "entities_recent",
        "keywords_recent",
        "topic_recent",
    } <= names
