"""Analysed documents for gateway tests, stored by ingest's own store and Analysis mapping.

The records are what ingest writes once nlp has answered: the text goes in through
DocumentStore.add, the analysis through analysis_fields and save_analyses. Only the Analysis
messages are written here, because today's nlp does not yet return every field.
"""

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from langnghe.nlp.v1 import nlp_pb2
from services.common.documents import validate_submission
from services.ingest.analysis import analysis_fields
from services.ingest.store import AnalysisResult, DocumentStore, Origin

_SENTIMENTS = {
    "NEGATIVE": nlp_pb2.SENTIMENT_LABEL_NEGATIVE,
    "NEUTRAL": nlp_pb2.SENTIMENT_LABEL_NEUTRAL,
    "POSITIVE": nlp_pb2.SENTIMENT_LABEL_POSITIVE,
}
_TYPES = {
    "PER": nlp_pb2.ENTITY_TYPE_PER,
    "ORG": nlp_pb2.ENTITY_TYPE_ORG,
    "LOC": nlp_pb2.ENTITY_TYPE_LOC,
    "MISC": nlp_pb2.ENTITY_TYPE_MISC,
}
_LEVELS = {
    "CITY": nlp_pb2.LOCALITY_LEVEL_CITY,
    "DISTRICT": nlp_pb2.LOCALITY_LEVEL_DISTRICT,
    "COMMUNE": nlp_pb2.LOCALITY_LEVEL_COMMUNE,
}


@dataclass(frozen=True)
class Place:
    """A unit as nlp resolves it; ``current`` set means a unit of the old map."""

    code: str
    name: str
    level: str = "COMMUNE"
    current: tuple[str, ...] = ()


@dataclass
class Analysed:
    """A document and what nlp found in it."""

    text: str
    published_at: datetime
    sentiment: str | None = "NEUTRAL"
    toxicity: str = "clean"
    emotion: str = "other"
    topic: str = "politics_society"
    sectors: tuple[str, ...] = ()
    entities: tuple[tuple[str, str], ...] = ()
    places: tuple[Place, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str = "vi"
    source_kind: str = "press"
    outlet: str = ""
    title: str = ""
    story_id: ObjectId | None = None
    extra: dict = field(default_factory=dict)

    def analysis(self) -> nlp_pb2.Analysis:
        def classified(label: str, others: tuple[str, ...]) -> nlp_pb2.Classification:
            rest = [o for o in others if o != label]
            share = 0.3 / len(rest)
            return nlp_pb2.Classification(
                label=label,
                score=0.7,
                probabilities=[
                    nlp_pb2.LabelScore(label=label, probability=0.7),
                    *(nlp_pb2.LabelScore(label=o, probability=share) for o in rest),
                ],
            )

        sentiment = None
        if self.sentiment:
            probabilities = {k: 0.1 for k in _SENTIMENTS} | {self.sentiment: 0.8}
            sentiment = nlp_pb2.Sentiment(
                label=_SENTIMENTS[self.sentiment],
                score=0.8,
                negative=probabilities["NEGATIVE"],
                neutral=probabilities["NEUTRAL"],
                positive=probabilities["POSITIVE"],
            )
        return nlp_pb2.Analysis(
            language=nlp_pb2.Language(code=self.language, confidence=0.97),
            sentiment=sentiment,
            toxicity=classified(self.toxicity, ("clean", "offensive", "hate")),
            emotion=classified(self.emotion, ("enjoyment", "sadness", "anger", "other")),
            topic=classified(self.topic, ("politics_society", "lifestyle", "business")),
            sectors=[
                nlp_pb2.LabelScore(label=s, probability=0.9 - 0.1 * i)
                for i, s in enumerate(self.sectors)
            ],
            entities=[self._entity(kind, text) for kind, text in self.entities],
            localities=[
                nlp_pb2.Locality(
                    code=p.code,
                    name=p.name,
                    level=_LEVELS[p.level],
                    structure=(
                        nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025
                        if p.current
                        else nlp_pb2.ADMIN_STRUCTURE_SINCE_2025
                    ),
                    current_codes=p.current,
                    span=self._span(p.name),
                    mention=p.name,
                    score=0.9,
                )
                for p in self.places
            ],
            keywords=[
                nlp_pb2.Keyword(phrase=k, score=0.8 - 0.1 * i) for i, k in enumerate(self.keywords)
            ],
            embedding=[0.0625] * 384,
            models_version="test-analyses",
        )

    def _span(self, mention: str) -> nlp_pb2.Span:
        start = max(self.text.find(mention), 0)
        return nlp_pb2.Span(field=nlp_pb2.TEXT_FIELD_TEXT, start=start, end=start + len(mention))

    def _entity(self, kind: str, text: str) -> nlp_pb2.Entity:
        return nlp_pb2.Entity(type=_TYPES[kind], text=text, span=self._span(text), score=0.9)


async def store_analysed(db: AsyncDatabase, documents: list[Analysed]) -> list[ObjectId]:
    """Store each document as ingest does, then its analysis; returns their ids in order."""
    store = DocumentStore(db)
    now = datetime.now(UTC)
    ids = []
    for d in documents:
        stored = await store.add(
            validate_submission(text=d.text, title=d.title, published_at=d.published_at),
            now=now,
            # Far ahead, so that the stack's own analysis worker leaves it to this test.
            claim_until=now + timedelta(hours=1),
            origin=Origin(source_kind=d.source_kind, outlet=d.outlet),
            extra={**({"story_id": d.story_id} if d.story_id else {}), **d.extra},
        )
        ids.append(stored.id)
    await store.save_analyses(
        [
            AnalysisResult(i, analysis_fields(d.analysis()))
            for i, d in zip(ids, documents, strict=True)
        ],
        now=now,
    )
    return ids


def global_id(type_name: str, object_id: ObjectId | str) -> str:
    return base64.b64encode(f"{type_name}:{object_id}".encode()).decode()
