from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SentimentLabel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENTIMENT_LABEL_UNSPECIFIED: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEGATIVE: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEUTRAL: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_POSITIVE: _ClassVar[SentimentLabel]

class TextField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_FIELD_UNSPECIFIED: _ClassVar[TextField]
    TEXT_FIELD_TEXT: _ClassVar[TextField]
    TEXT_FIELD_TITLE: _ClassVar[TextField]

class EntityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_TYPE_UNSPECIFIED: _ClassVar[EntityType]
    ENTITY_TYPE_PER: _ClassVar[EntityType]
    ENTITY_TYPE_ORG: _ClassVar[EntityType]
    ENTITY_TYPE_LOC: _ClassVar[EntityType]
    ENTITY_TYPE_MISC: _ClassVar[EntityType]

class LocalityLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCALITY_LEVEL_UNSPECIFIED: _ClassVar[LocalityLevel]
    LOCALITY_LEVEL_CITY: _ClassVar[LocalityLevel]
    LOCALITY_LEVEL_DISTRICT: _ClassVar[LocalityLevel]
    LOCALITY_LEVEL_COMMUNE: _ClassVar[LocalityLevel]

class AdminStructure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMIN_STRUCTURE_UNSPECIFIED: _ClassVar[AdminStructure]
    ADMIN_STRUCTURE_BEFORE_2025: _ClassVar[AdminStructure]
    ADMIN_STRUCTURE_SINCE_2025: _ClassVar[AdminStructure]
SENTIMENT_LABEL_UNSPECIFIED: SentimentLabel
SENTIMENT_LABEL_NEGATIVE: SentimentLabel
SENTIMENT_LABEL_NEUTRAL: SentimentLabel
SENTIMENT_LABEL_POSITIVE: SentimentLabel
TEXT_FIELD_UNSPECIFIED: TextField
TEXT_FIELD_TEXT: TextField
TEXT_FIELD_TITLE: TextField
ENTITY_TYPE_UNSPECIFIED: EntityType
ENTITY_TYPE_PER: EntityType
ENTITY_TYPE_ORG: EntityType
ENTITY_TYPE_LOC: EntityType
ENTITY_TYPE_MISC: EntityType
LOCALITY_LEVEL_UNSPECIFIED: LocalityLevel
LOCALITY_LEVEL_CITY: LocalityLevel
LOCALITY_LEVEL_DISTRICT: LocalityLevel
LOCALITY_LEVEL_COMMUNE: LocalityLevel
ADMIN_STRUCTURE_UNSPECIFIED: AdminStructure
ADMIN_STRUCTURE_BEFORE_2025: AdminStructure
ADMIN_STRUCTURE_SINCE_2025: AdminStructure

class AnalyzeRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedCompositeFieldContainer[TextInput]
    def __init__(self, texts: _Optional[_Iterable[_Union[TextInput, _Mapping]]] = ...) -> None: ...

class TextInput(_message.Message):
    __slots__ = ("id", "text", "title")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    title: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("analyses",)
    ANALYSES_FIELD_NUMBER: _ClassVar[int]
    analyses: _containers.RepeatedCompositeFieldContainer[Analysis]
    def __init__(self, analyses: _Optional[_Iterable[_Union[Analysis, _Mapping]]] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("label", "score", "negative", "neutral", "positive")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    NEUTRAL_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    label: SentimentLabel
    score: float
    negative: float
    neutral: float
    positive: float
    def __init__(self, label: _Optional[_Union[SentimentLabel, str]] = ..., score: _Optional[float] = ..., negative: _Optional[float] = ..., neutral: _Optional[float] = ..., positive: _Optional[float] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "probability")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    label: str
    probability: float
    def __init__(self, label: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("label", "score", "probabilities")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    probabilities: _containers.RepeatedCompositeFieldContainer[LabelScore]
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ..., probabilities: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ...) -> None: ...

class Language(_message.Message):
    __slots__ = ("code", "confidence")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    code: str
    confidence: float
    def __init__(self, code: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("field", "start", "end")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    field: TextField
    start: int
    end: int
    def __init__(self, field: _Optional[_Union[TextField, str]] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("type", "text", "span", "score")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SPAN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    type: EntityType
    text: str
    span: Span
    score: float
    def __init__(self, type: _Optional[_Union[EntityType, str]] = ..., text: _Optional[str] = ..., span: _Optional[_Union[Span, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class Locality(_message.Message):
    __slots__ = ("code", "name", "level", "structure", "current_codes", "span", "mention", "score")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CODES_FIELD_NUMBER: _ClassVar[int]
    SPAN_FIELD_NUMBER: _ClassVar[int]
    MENTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    level: LocalityLevel
    structure: AdminStructure
    current_codes: _containers.RepeatedScalarFieldContainer[str]
    span: Span
    mention: str
    score: float
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., level: _Optional[_Union[LocalityLevel, str]] = ..., structure: _Optional[_Union[AdminStructure, str]] = ..., current_codes: _Optional[_Iterable[str]] = ..., span: _Optional[_Union[Span, _Mapping]] = ..., mention: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Keyword(_message.Message):
    __slots__ = ("phrase", "score")
    PHRASE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    phrase: str
    score: float
    def __init__(self, phrase: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("id", "sentiment", "language", "toxicity", "emotion", "topic", "sectors", "entities", "localities", "keywords", "embedding", "models_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TOXICITY_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    LOCALITIES_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    MODELS_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    sentiment: Sentiment
    language: Language
    toxicity: Classification
    emotion: Classification
    topic: Classification
    sectors: _containers.RepeatedCompositeFieldContainer[LabelScore]
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    localities: _containers.RepeatedCompositeFieldContainer[Locality]
    keywords: _containers.RepeatedCompositeFieldContainer[Keyword]
    embedding: _containers.RepeatedScalarFieldContainer[float]
    models_version: str
    def __init__(self, id: _Optional[str] = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., language: _Optional[_Union[Language, _Mapping]] = ..., toxicity: _Optional[_Union[Classification, _Mapping]] = ..., emotion: _Optional[_Union[Classification, _Mapping]] = ..., topic: _Optional[_Union[Classification, _Mapping]] = ..., sectors: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., localities: _Optional[_Iterable[_Union[Locality, _Mapping]]] = ..., keywords: _Optional[_Iterable[_Union[Keyword, _Mapping]]] = ..., embedding: _Optional[_Iterable[float]] = ..., models_version: _Optional[str] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfoResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("task", "name", "version", "sha256")
    TASK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    task: str
    name: str
    version: str
    sha256: str
    def __init__(self, task: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...
