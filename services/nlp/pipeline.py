"""The whole analysis of a batch of texts: language, one encoder pass, every head, as proto."""

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from langnghe.nlp.v1 import nlp_pb2
from services.common.text import INVISIBLE_CHARACTERS
from services.nlp import localities, normalize, sectors
from services.nlp.classifiers import TaskHeads
from services.nlp.encoder import SentenceEncoder
from services.nlp.entities import EntityRecognizer as CrfEntityRecognizer
from services.nlp.keywords import KeywordExtractor as PhraseKeywordExtractor
from services.nlp.language import LanguageDetector, LanguageGuess
from services.nlp.settings import NlpSettings

# ----------------------------------------------------------------------------- component protocols
# Each component is duck-typed, so the modules of other branches plug in without importing these.


class ModelIdentity(Protocol):
    """What ModelInfo reports about a loaded model."""

    name: str
    version: str
    sha256: str


class ClassScores(Protocol):
    label: str
    score: float
    probabilities: Mapping[str, float]


class ClassificationHeads(ModelIdentity, Protocol):
    """Document classifiers; ``predict`` returns {task: one ClassScores per text}.

    An optional ``tasks`` attribute names the tasks for ModelInfo."""

    def predict(
        self, texts: Sequence[str], embeddings: np.ndarray
    ) -> Mapping[str, Sequence[ClassScores]]: ...


class EntityMention(Protocol):
    type: str  # "PER" | "ORG" | "LOC" | "MISC"
    start: int
    end: int
    text: str
    score: float


class EntityRecognizer(ModelIdentity, Protocol):
    def recognize(self, texts: Sequence[str]) -> Sequence[Sequence[EntityMention]]: ...


class Keyword(Protocol):
    phrase: str
    score: float


class KeywordExtractor(ModelIdentity, Protocol):
    def extract(self, text: str, limit: int = 10) -> Sequence[Keyword]: ...


class LocalityMention(Protocol):
    code: str
    name: str
    level: object  # a LocalityLevel value or its name ("district", "LOCALITY_LEVEL_DISTRICT")
    structure: object  # an AdminStructure value or its name ("before_2025", ...)
    current_codes: Sequence[str]
    start: int
    end: int
    mention: str
    score: float


class LocalityResolver(ModelIdentity, Protocol):
    def find(self, text: str) -> Sequence[LocalityMention]: ...


class SectorScorer(ModelIdentity, Protocol):
    def score(
        self, texts: Sequence[str], embeddings: np.ndarray
    ) -> Sequence[Sequence[tuple[str, float]]]: ...


class Normalized(Protocol):
    text: str
    # offsets[i]: index in the input of output character i; one more entry maps an end offset.
    offsets: Sequence[int]


type Normalizer = Callable[[str], Normalized]


# ----------------------------------------------------------------------------- documents

LABELS_SENTIMENT = {
    "negative": nlp_pb2.SENTIMENT_LABEL_NEGATIVE,
    "neutral": nlp_pb2.SENTIMENT_LABEL_NEUTRAL,
    "positive": nlp_pb2.SENTIMENT_LABEL_POSITIVE,
}
CLASSIFICATION_TASKS = ("toxicity", "emotion", "topic")
ENTITY_TYPES = {
    "PER": nlp_pb2.ENTITY_TYPE_PER,
    "ORG": nlp_pb2.ENTITY_TYPE_ORG,
    "LOC": nlp_pb2.ENTITY_TYPE_LOC,
    "MISC": nlp_pb2.ENTITY_TYPE_MISC,
}
# Each character the encoder could use is about a third of a token in Vietnamese; cutting the
# text at eight characters a token before tokenising never drops what truncation would keep.
CHARS_PER_TOKEN_BOUND = 8


@dataclass(slots=True)
class Document:
    """One input as the components see it: title and text normalised and joined by a newline,
    with the way back from every joined index to (field, index in the original field)."""

    title: str
    text: str
    title_norm: Normalized
    text_norm: Normalized
    joined: str = field(init=False)

    def __post_init__(self) -> None:
        if self.title_norm.text:
            self.joined = f"{self.title_norm.text}\n{self.text_norm.text}"
        else:
            self.joined = self.text_norm.text

    def span(self, start: int, end: int) -> nlp_pb2.Span:
        """The original field and code-point offsets of ``joined[start:end]``."""
        title_len = len(self.title_norm.text)
        if title_len and start <= title_len:
            norm, original, kind, base = self.title_norm, self.title, nlp_pb2.TEXT_FIELD_TITLE, 0
            end = min(end, title_len)
        else:
            norm, original, kind = self.text_norm, self.text, nlp_pb2.TEXT_FIELD_TEXT
            base = title_len + 1 if title_len else 0
        length = len(norm.text)
        lo = norm.offsets[min(max(start - base, 0), length)]
        hi = norm.offsets[min(max(end - base, 0), length)]
        # The mapped end may sit after white space or invisible characters that were removed.
        while hi > lo and (original[hi - 1].isspace() or original[hi - 1] in INVISIBLE_CHARACTERS):
            hi -= 1
        return nlp_pb2.Span(field=kind, start=lo, end=max(lo, hi))

    def original(self, span: nlp_pb2.Span) -> str:
        source = self.title if span.field == nlp_pb2.TEXT_FIELD_TITLE else self.text
        return source[span.start : span.end]


# ----------------------------------------------------------------------------- the analyzer


@dataclass
class Components:
    """Everything the analysis runs; the encoder and language ID are required, the rest optional
    (a missing one leaves its fields empty)."""

    encoder: SentenceEncoder
    language: LanguageDetector
    heads: Sequence[ClassificationHeads] = ()
    entities: EntityRecognizer | None = None
    keywords: KeywordExtractor | None = None
    localities: LocalityResolver | None = None
    sectors: SectorScorer | None = None
    normalizer: Normalizer = normalize.clean
    keyword_limit: int = 10


type StageObserver = Callable[[str, float], None]


class Analyzer:
    """Runs every component over a batch and builds one ``Analysis`` per input, in order."""

    def __init__(self, components: Components, *, encoder_batch_size: int = 32) -> None:
        self.components = components
        self._encoder_batch_size = encoder_batch_size
        self.models = self._model_list()
        digest = hashlib.sha256()
        for task, model in self.models:
            digest.update(f"{task}\0{model.name}\0{model.version}\0{model.sha256}\n".encode())
        self.models_version = digest.hexdigest()[:16]
        self._python_stages = threading.Lock()

    def _model_list(self) -> list[tuple[str, ModelIdentity]]:
        c = self.components
        models: list[tuple[str, ModelIdentity]] = [
            ("embedding", c.encoder),
            ("language", c.language),
        ]
        for head in c.heads:
            tasks = getattr(head, "tasks", None)
            models.append(("+".join(tasks) if tasks else "classification", head))
        for task, model in (
            ("entities", c.entities),
            ("keywords", c.keywords),
            ("localities", c.localities),
            ("sectors", c.sectors),
        ):
            if model is not None:
                models.append((task, model))
        return [(task, _identity(task, model)) for task, model in models]

    def analyze(
        self,
        inputs: Sequence[nlp_pb2.TextInput],
        observe: StageObserver | None = None,
    ) -> list[nlp_pb2.Analysis]:
        """One Analysis per input; ``observe(stage, seconds)`` hears how long each stage took.

        Safe to call from several threads at once: their encoder runs overlap (onnxruntime and
        the tokenizer release the GIL), while the stages in Python take turns, because some
        components keep caches that are not thread-safe and the GIL would serialise them
        anyway. So one batch's Python work runs while another's encoder keeps the cores busy.
        """
        c = self.components
        clock = _StageClock(observe)
        with self._python_stages:
            clock.restart()
            documents = [
                Document(t.title, t.text, c.normalizer(t.title), c.normalizer(t.text))
                for t in inputs
            ]
            joined = [d.joined for d in documents]
            clock.lap("normalize")
            languages = c.language.detect(joined)
            clock.lap("language")
        bound = c.encoder.max_tokens * CHARS_PER_TOKEN_BOUND
        bounded = [t[:bound] for t in joined]
        # The sectors' keyword rules look at the part of each text the encoder read: over a
        # whole article, rules of many sectors fire on passing mentions (on the demo web, 2.9
        # sectors an article and the right one first in 73 %; with the window, 2.2 and 78 %).
        # The same tokenisation gives the encoder its ids and the window its end.
        if c.sectors is not None:
            embeddings, covered = c.encoder.encode_with_windows(bounded, self._encoder_batch_size)
        else:
            embeddings = c.encoder.encode(bounded, self._encoder_batch_size)
        clock.lap("encoder")

        with self._python_stages:
            clock.restart()
            analyses = [
                nlp_pb2.Analysis(
                    id=t.id,
                    language=nlp_pb2.Language(code=g.code, confidence=g.confidence),
                    embedding=e.tolist(),
                    models_version=self.models_version,
                )
                for t, g, e in zip(inputs, languages, embeddings, strict=True)
            ]
            if c.sectors is not None:
                windows = [t[:n] for t, n in zip(bounded, covered, strict=True)]
                for analysis, sectors in zip(
                    analyses, c.sectors.score(windows, embeddings), strict=True
                ):
                    analysis.sectors.extend(
                        nlp_pb2.LabelScore(label=s, probability=p) for s, p in sectors
                    )
                clock.lap("sectors")

            # The models behind the Vietnamese fields were trained on Vietnamese: others would
            # guess.
            vi = [i for i, g in enumerate(languages) if _is_vietnamese(g)]
            if vi:
                vi_texts = [joined[i] for i in vi]
                self._classify(analyses, vi, vi_texts, embeddings[vi], clock)
                self._find_spans(analyses, vi, [documents[i] for i in vi], vi_texts, clock)
        return analyses

    def _classify(
        self,
        analyses: list[nlp_pb2.Analysis],
        rows: list[int],
        texts: list[str],
        embeddings: np.ndarray,
        clock: "_StageClock",
    ) -> None:
        seen: set[str] = set()
        for head in self.components.heads:
            predictions = head.predict(texts, embeddings)
            for task, scores in predictions.items():
                if task in seen:
                    raise ValueError(f"two classification heads both predict {task!r}")
                seen.add(task)
                if len(scores) != len(rows):
                    raise ValueError(f"{task}: {len(scores)} predictions for {len(rows)} texts")
                for row, prediction in zip(rows, scores, strict=True):
                    _set_classification(analyses[row], task, prediction)
            clock.lap("heads")

    def _find_spans(
        self,
        analyses: list[nlp_pb2.Analysis],
        rows: list[int],
        documents: list[Document],
        texts: list[str],
        clock: "_StageClock",
    ) -> None:
        c = self.components
        if c.entities is not None:
            for row, doc, mentions in zip(
                rows, documents, c.entities.recognize(texts), strict=True
            ):
                for m in mentions:
                    span = doc.span(m.start, m.end)
                    analyses[row].entities.append(
                        nlp_pb2.Entity(
                            type=ENTITY_TYPES[m.type.upper()],
                            text=doc.original(span),
                            span=span,
                            score=m.score,
                        )
                    )
            clock.lap("entities")
        if c.localities is not None:
            for row, doc, text in zip(rows, documents, texts, strict=True):
                for m in c.localities.find(text):
                    span = doc.span(m.start, m.end)
                    analyses[row].localities.append(
                        nlp_pb2.Locality(
                            code=m.code,
                            name=m.name,
                            level=_enum(nlp_pb2.LocalityLevel, "LOCALITY_LEVEL_", m.level),
                            structure=_enum(
                                nlp_pb2.AdminStructure, "ADMIN_STRUCTURE_", m.structure
                            ),
                            current_codes=list(m.current_codes),
                            span=span,
                            mention=doc.original(span),
                            score=m.score,
                        )
                    )
            clock.lap("localities")
        if c.keywords is not None:
            for row, text in zip(rows, texts, strict=True):
                analyses[row].keywords.extend(
                    nlp_pb2.Keyword(phrase=k.phrase, score=k.score)
                    for k in c.keywords.extract(text, limit=c.keyword_limit)
                )
            clock.lap("keywords")


def _identity(task: str, component: object) -> ModelIdentity:
    """The component itself, or the data it was built from (a scorer built from a taxonomy
    file names that file), whichever carries name, version and sha256."""
    for candidate in (component, getattr(component, "taxonomy", None)):
        if all(isinstance(getattr(candidate, a, None), str) for a in ("name", "version", "sha256")):
            return candidate
    raise TypeError(f"the {task} component {component!r} lacks name, version and sha256")


def _is_vietnamese(guess: LanguageGuess) -> bool:
    return guess.code == "vi"


def _set_classification(analysis: nlp_pb2.Analysis, task: str, prediction: ClassScores) -> None:
    probabilities = dict(prediction.probabilities)
    if task == "sentiment":
        analysis.sentiment.CopyFrom(
            nlp_pb2.Sentiment(
                label=LABELS_SENTIMENT[prediction.label],
                score=prediction.score,
                negative=probabilities["negative"],
                neutral=probabilities["neutral"],
                positive=probabilities["positive"],
            )
        )
    elif task in CLASSIFICATION_TASKS:
        ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
        getattr(analysis, task).CopyFrom(
            nlp_pb2.Classification(
                label=prediction.label,
                score=prediction.score,
                probabilities=[nlp_pb2.LabelScore(label=k, probability=p) for k, p in ranked],
            )
        )
    else:
        raise ValueError(f"no Analysis field for the task {task!r}")


def _enum(enum_type, prefix: str, value: object) -> int:
    """A proto enum value from an int or a name such as "district" or "LOCALITY_LEVEL_DISTRICT"."""
    if isinstance(value, int):
        return value
    name = str(value).upper()
    return enum_type.Value(name if name.startswith(prefix) else prefix + name)


class _StageClock:
    def __init__(self, observe: StageObserver | None) -> None:
        self._observe = observe
        self._last = time.perf_counter()

    def restart(self) -> None:
        """Start the next stage now: time spent waiting for a turn is no stage's."""
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self._observe is not None:
            self._observe(stage, now - self._last)
        self._last = now


# ----------------------------------------------------------------------------- loading

WARM_UP = (nlp_pb2.TextInput(id="warm-up", title="Khởi động", text="Mô hình đã sẵn sàng phục vụ."),)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU limit (a
    Kubernetes pod's), which onnxruntime's own default (every physical core) does not see."""
    cores = os.process_cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to read: the affinity is the limit
    return cores


def encoder_threads(settings: NlpSettings) -> int:
    """onnxruntime threads for one batch: as set, or the usable cores shared among the batches
    in flight. On 2 cores, two batches of one thread each did the same work in 10-25 % less CPU
    than one batch on two threads, whose threads wait for each other at every operator."""
    if settings.intra_op_threads:
        return settings.intra_op_threads
    return max(1, usable_cores() // settings.max_batches_in_flight)


def load_analyzer(settings: NlpSettings) -> Analyzer:
    """Load every model the settings name; raises with a clear message if one is missing."""
    encoder = SentenceEncoder.load(
        settings.encoder_dir,
        max_tokens=settings.encoder_max_tokens,
        intra_op_threads=encoder_threads(settings),
        spinning=settings.intra_op_spinning,
    )
    components = Components(
        encoder=encoder,
        language=LanguageDetector.load(),
        heads=[TaskHeads.load(settings.models_dir / "heads")],
        entities=CrfEntityRecognizer.load(settings.models_dir / "entities"),
        keywords=PhraseKeywordExtractor.load(settings.models_dir / "keywords"),
        localities=localities.LocalityResolver.load(settings.localities_dir),
        sectors=sectors.SectorScorer(
            sectors.SectorTaxonomy.load(settings.sectors_taxonomy), encoder
        ),
    )
    analyzer = Analyzer(components)
    # The first run allocates onnxruntime's buffers; pay for it before reporting SERVING.
    analyzer.analyze(WARM_UP)
    return analyzer


def model_entries(analyzer: Analyzer) -> Iterable[nlp_pb2.Model]:
    for task, model in analyzer.models:
        yield nlp_pb2.Model(task=task, name=model.name, version=model.version, sha256=model.sha256)
