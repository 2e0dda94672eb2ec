"""What nlp found in a document: toxicity, emotion, topic, sectors, entities, places, key phrases.

Each type reads the stored shape ingest writes (services/ingest/analysis.py); a value the API
does not know (a label added to a model before the schema) reads as null rather than failing
the whole document.
"""

from enum import Enum
from typing import Any, Self

import strawberry


@strawberry.enum(description="Toxicity of a text's language.")
class ToxicityLabel(Enum):
    CLEAN = "CLEAN"
    OFFENSIVE = "OFFENSIVE"
    HATE = "HATE"


@strawberry.enum(description="The emotion a text expresses most.")
class EmotionLabel(Enum):
    ENJOYMENT = "ENJOYMENT"
    SADNESS = "SADNESS"
    ANGER = "ANGER"
    FEAR = "FEAR"
    DISGUST = "DISGUST"
    SURPRISE = "SURPRISE"
    OTHER = "OTHER"


@strawberry.enum(description="A news topic, as newspapers file their sections.")
class TopicLabel(Enum):
    POLITICS_SOCIETY = "POLITICS_SOCIETY"
    LIFESTYLE = "LIFESTYLE"
    SCIENCE = "SCIENCE"
    BUSINESS = "BUSINESS"
    LAW = "LAW"
    HEALTH = "HEALTH"
    WORLD = "WORLD"
    SPORTS = "SPORTS"
    CULTURE = "CULTURE"
    TECHNOLOGY = "TECHNOLOGY"


@strawberry.enum(description="PER a person, ORG an organisation, LOC a place, MISC anything else.")
class EntityType(Enum):
    PER = "PER"
    ORG = "ORG"
    LOC = "LOC"
    MISC = "MISC"


@strawberry.enum(description="The level of an administrative unit.")
class LocalityLevel(Enum):
    CITY = "CITY"
    DISTRICT = strawberry.enum_value(
        "DISTRICT", description="A district or town: the level abolished on 1 July 2025."
    )
    COMMUNE = strawberry.enum_value("COMMUNE", description="A ward, commune or special zone.")


@strawberry.enum(description="Which administrative map a unit belongs to.")
class AdminStructure(Enum):
    BEFORE_2025 = strawberry.enum_value(
        "BEFORE_2025", description="City, districts and wards, until 30 June 2025."
    )
    SINCE_2025 = strawberry.enum_value(
        "SINCE_2025", description="City and communes/wards, since 1 July 2025."
    )


@strawberry.enum(description="The part of a document a span points into.")
class TextField(Enum):
    TEXT = "text"
    TITLE = "title"


def known[E: Enum](enum: type[E], value: Any) -> E | None:
    try:
        # The enum's own value map: a dict lookup, where calling the enum costs a microsecond
        # or two, several times for every document of a page.
        return enum._value2member_map_.get(value)
    except TypeError:  # unhashable: no member has it
        return None


def member[E: Enum](enum: type[E], value: Any) -> E:
    """``enum(value)``, quicker for the values that exist; ValueError for others as before."""
    found = known(enum, value)
    return enum(value) if found is None else found


@strawberry.type(description="One label's probability.")
class LabelProbability:
    label: str = strawberry.field(description="Lower-case, e.g. offensive.")
    probability: float


def _probabilities(stored: dict[str, float]) -> list[LabelProbability]:
    ordered = sorted(stored.items(), key=lambda item: -item[1])
    return [LabelProbability(label=label, probability=p) for label, p in ordered]


@strawberry.type(description="Whether a text is clean, offensive or hateful.")
class Toxicity:
    label: ToxicityLabel
    score: float = strawberry.field(description="Probability of the label, 0 to 1.")
    probabilities: list[LabelProbability] = strawberry.field(description="Most probable first.")


@strawberry.type(description="The emotion a text expresses.")
class Emotion:
    label: EmotionLabel
    score: float = strawberry.field(description="Probability of the label, 0 to 1.")
    probabilities: list[LabelProbability] = strawberry.field(description="Most probable first.")


@strawberry.type(description="The news topic of a text.")
class Topic:
    label: TopicLabel
    score: float = strawberry.field(description="Probability of the label, 0 to 1.")
    probabilities: list[LabelProbability] = strawberry.field(description="Most probable first.")


def classification[T: (Toxicity, Emotion, Topic)](
    kind: type[T], labels: type[Enum], stored: dict[str, Any] | None
) -> T | None:
    """The stored {label, score, probabilities}, or None when absent or of an unknown label."""
    if not stored or (label := known(labels, stored.get("label"))) is None:
        return None
    return kind(
        label=label,
        score=stored.get("score", 0.0),
        probabilities=_probabilities(stored.get("probabilities") or {}),
    )


@strawberry.type(description="A city sector the text concerns, with the classifier's score.")
class SectorScore:
    id: str = strawberry.field(description="The sector taxonomy's id, e.g. transport.")
    score: float


@strawberry.type(description="Where in the document a mention is, in Unicode code points.")
class Span:
    field: TextField
    start: int
    end: int

    @classmethod
    def from_record(cls, stored: dict[str, Any]) -> Self:
        return cls(
            field=known(TextField, stored.get("field")) or TextField.TEXT,
            start=stored.get("start", 0),
            end=stored.get("end", 0),
        )


@strawberry.type(description="A person, organisation, place or other name found in a document.")
class NamedEntity:
    type: EntityType
    text: str = strawberry.field(description="As written in the document.")
    key: str = strawberry.field(
        description="Lower-case without diacritics: the form entities are grouped and filtered by."
    )
    span: Span
    score: float

    @classmethod
    def from_record(cls, stored: dict[str, Any]) -> Self | None:
        kind = known(EntityType, stored.get("type"))
        if kind is None:
            return None
        return cls(
            type=kind,
            text=stored.get("text", ""),
            key=stored.get("key", ""),
            span=Span.from_record(stored),
            score=stored.get("score", 0.0),
        )


@strawberry.type(description="An administrative unit of Ho Chi Minh City a document mentions.")
class Locality:
    code: str = strawberry.field(description="The official (GSO) code in its structure.")
    name: str
    level: LocalityLevel | None
    structure: AdminStructure | None
    current_codes: list[str] = strawberry.field(
        description="For a unit of the old map: the codes of today's units that took over its "
        "area. Empty for today's units."
    )
    mention: str = strawberry.field(description='As written, e.g. "Q.7".')
    span: Span
    score: float | None

    @classmethod
    def from_record(cls, stored: dict[str, Any]) -> Self:
        return cls(
            code=stored["code"],
            name=stored.get("name", ""),
            level=known(LocalityLevel, stored.get("level")),
            structure=known(AdminStructure, stored.get("structure")),
            current_codes=list(stored.get("current_codes") or ()),
            mention=stored.get("mention", ""),
            span=Span.from_record(stored),
            score=stored.get("score"),
        )


@strawberry.type(description="A key phrase of a document.")
class Keyword:
    phrase: str
    score: float


def language_of(record: dict[str, Any]) -> tuple[str | None, float | None]:
    """(code, confidence) of a stored document: nlp stores {code, confidence}; a collected
    page not analysed yet carries the code its source declared, and no confidence."""
    language = record.get("language")
    if isinstance(language, dict):
        return language.get("code"), language.get("confidence")
    return language, None


def sectors(stored: list[dict[str, Any]] | None) -> list[SectorScore]:
    return [SectorScore(id=s["id"], score=s.get("score", 0.0)) for s in stored or ()]


def entities(stored: list[dict[str, Any]] | None) -> list[NamedEntity]:
    found = (NamedEntity.from_record(e) for e in stored or ())
    return [e for e in found if e is not None]


def localities(stored: list[dict[str, Any]] | None) -> list[Locality]:
    return [Locality.from_record(place) for place in stored or () if place.get("code")]


def keywords(stored: list[dict[str, Any]] | None) -> list[Keyword]:
    return [Keyword(phrase=k["phrase"], score=k.get("score", 0.0)) for k in stored or ()]
