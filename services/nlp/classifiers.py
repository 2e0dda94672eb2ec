"""Linear task heads (sentiment, toxicity, emotion, topic) over e5 embeddings and hashed n-grams."""

import functools
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from services.nlp.artifacts import ModelLoadError, read_description, read_verified
from services.nlp.encoder import DIM
from services.nlp.features import HashedNgramFeaturizer, SparseBatch
from services.nlp.normalize import normalize_text

FORMAT_VERSION = 4
MODEL_FILE = "heads.json"
WEIGHTS_FILE = "weights.npz"
# The lead view (every head but topic) reads at most this many characters of a text (cut at a
# word boundary): the character n-grams of a whole 600-word article cost about 14 ms, of its
# first 1,000 characters about 5 ms. Posts are shorter.
NGRAM_MAX_CHARS = 1000
# The document view (the topic head) reads words alone, of a whole article: what an article is
# about shows all through it (1,000 characters of n-grams: VNTC dev accuracy 0.904; the words
# of whole articles: 0.930). The cap only bounds the cost of pathological inputs.
DOCUMENT_MAX_CHARS = 10_000
# The views a head can read; "lead" is the shared one.
VIEWS = ("lead", "document")

# The label sets of the contract, in the order of every probability vector.
TASK_LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "toxicity": ("clean", "offensive", "hate"),
    "emotion": ("enjoyment", "sadness", "anger", "fear", "disgust", "surprise", "other"),
    "topic": (
        "politics_society",
        "lifestyle",
        "science",
        "business",
        "law",
        "health",
        "world",
        "sports",
        "culture",
        "technology",
    ),
}
# The label a text with no evidence at all (empty, only spaces) gets alongside uniform
# probabilities: argmax of a uniform row would pick the first label, which says something.
_NO_EVIDENCE_LABEL = {
    "sentiment": "neutral",
    "toxicity": "clean",
    "emotion": "other",
    "topic": "politics_society",
}


@dataclass(frozen=True, slots=True)
class ClassScores:
    label: str
    # Probability of ``label``, the largest of ``probabilities``.
    score: float
    # Probability of every label of the task; the values sum to 1.
    probabilities: dict[str, float]


@dataclass(frozen=True, slots=True)
class Head:
    """One task's linear layer: logits = (ngram · W_ngram + embedding · W_emb + b) / T + bias."""

    task: str
    labels: tuple[str, ...]
    # The n-gram view the head reads ("lead" or "document"), and its columns in that view's
    # weight table.
    view: str
    columns: slice
    embedding_coef: np.ndarray  # (384, n_labels) float32
    intercept: np.ndarray  # (n_labels,) float32
    temperature: float
    # Added after the temperature: moves decisions towards rarer classes (tuned on dev for
    # macro-F1) while the probabilities stay a softmax of one logit vector.
    bias: np.ndarray  # (n_labels,) float32


@dataclass(frozen=True, slots=True)
class NgramView:
    """A featurizer, the part of a text it reads, and the heads' weights of its buckets."""

    featurizer: HashedNgramFeaturizer
    max_chars: int
    # Row of every bucket in ``table``; buckets training never saw point at row 0, all zeros,
    # so scoring is one gather without a table of n_buckets x labels.
    bucket_rows: np.ndarray
    table: np.ndarray  # (seen buckets + 1, columns of the heads that read this view)

    def features(
        self, texts: Sequence[str], normalized: Callable[[str], str] | None = None
    ) -> SparseBatch:
        """The hashed n-gram TF-IDF rows of the part of ``texts`` this view reads, after
        Vietnamese normalisation (``normalized``, when given, normalises: views share it)."""
        normalized = normalized or normalize_text
        return self.featurizer.transform(
            normalized(ngram_lead(text, self.max_chars)) for text in texts
        )

    def logits(
        self, texts: Sequence[str], normalized: Callable[[str], str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, columns) n-gram logits of ``texts``, and which texts had any feature."""
        batch = self.features(texts, normalized)
        has_features = np.diff(batch.indptr) > 0
        logits = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        if batch.indices.size:
            rows = self.table[self.bucket_rows[batch.indices]] * batch.values[:, None]
            # Rows without features add nothing, so the starts of the non-empty rows delimit
            # exactly their segments.
            logits[has_features] = np.add.reduceat(rows, batch.indptr[:-1][has_features], axis=0)
        return logits, has_features


class TaskHeads:
    """All classification heads; ``predict`` costs a featurisation per view and a few small
    products."""

    tasks: tuple[str, ...] = tuple(TASK_LABELS)

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sha256: str,
        views: dict[str, NgramView],
        heads: dict[str, Head],
    ) -> None:
        if set(heads) != set(self.tasks):
            raise ValueError(f"heads for {sorted(heads)}, expected {sorted(self.tasks)}")
        for view in views.values():
            if view.bucket_rows.shape != (view.featurizer.n_buckets,):
                raise ValueError("bucket_rows must map every bucket of the featurizer")
        if missing := {head.view for head in heads.values()} - set(views):
            raise ValueError(f"heads read views {sorted(missing)} that are not given")
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.views = views
        self.heads = heads

    @property
    def ngram_max_chars(self) -> int:
        """How much of a text the lead view (every head but topic) reads."""
        return self.views["lead"].max_chars

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Load ``heads.json`` and the weights it names, checking the weights' SHA-256."""
        directory = Path(directory)
        description = _read_description(directory / MODEL_FILE)
        weights_path = directory / description["weights_file"]
        weights_bytes = read_verified(
            weights_path, description["weights_sha256"], what="weights", recorded_in=MODEL_FILE
        )
        sha256 = description["weights_sha256"]
        try:
            with np.load(io.BytesIO(weights_bytes), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ModelLoadError(f"cannot read {weights_path}: {error}") from error

        try:
            tasks_of_view: dict[str, list[str]] = {view: [] for view in VIEWS}
            for task in cls.tasks:
                task_description = description["tasks"][task]
                labels = TASK_LABELS[task]
                if tuple(task_description["labels"]) != labels:
                    raise ModelLoadError(
                        f"{task} labels {task_description['labels']} differ from {list(labels)}"
                    )
                view = task_description["view"]
                if view not in VIEWS:
                    raise ModelLoadError(f"{task} reads the unknown view {view!r}")
                tasks_of_view[view].append(task)
            views: dict[str, NgramView] = {}
            heads: dict[str, Head] = {}
            for view, tasks in tasks_of_view.items():
                if not tasks:
                    continue
                n_columns = sum(len(TASK_LABELS[task]) for task in tasks)
                views[view] = _load_view(
                    directory, description["views"][view], view, arrays, n_columns
                )
                seen = len(views[view].table) - 1
                column = 0
                for task in tasks:
                    labels = TASK_LABELS[task]
                    columns = slice(column, column + len(labels))
                    views[view].table[1:, columns] = arrays[f"{task}.ngram_coef"]
                    heads[task] = Head(
                        task=task,
                        labels=labels,
                        view=view,
                        columns=columns,
                        embedding_coef=arrays[f"{task}.embedding_coef"].astype(np.float32),
                        intercept=arrays[f"{task}.intercept"].astype(np.float32),
                        temperature=float(description["tasks"][task]["temperature"]),
                        bias=np.asarray(description["tasks"][task]["bias"], dtype=np.float32),
                    )
                    if heads[task].embedding_coef.shape != (DIM, len(labels)):
                        raise ModelLoadError(f"{task}: embedding weights have the wrong shape")
                    if arrays[f"{task}.ngram_coef"].shape != (seen, len(labels)):
                        raise ModelLoadError(f"{task}: n-gram weights have the wrong shape")
                    column = columns.stop
        except KeyError as error:
            raise ModelLoadError(f"{directory} lacks {error}") from error
        except ValueError as error:
            raise ModelLoadError(
                f"{weights_path} has arrays of the wrong shape: {error}"
            ) from error
        return cls(
            name=description["name"],
            version=description["version"],
            sha256=sha256,
            views=views,
            heads={task: heads[task] for task in cls.tasks},
        )

    def uses_embedding(self, task: str) -> bool:
        """Whether the task's head reads the embedding at all (some were trained without)."""
        return bool(np.any(self.heads[task].embedding_coef))

    def probabilities(
        self, texts: Sequence[str], embeddings: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per task an (n, labels) float64 probability array; and which texts had any token."""
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, not a single str")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape != (len(texts), DIM):
            raise ValueError(
                f"embeddings have shape {embeddings.shape}, expected ({len(texts)}, {DIM})"
            )
        # A post is shorter than either view's cut: both views read the same text, and it is
        # normalised once.
        normalized = functools.lru_cache(maxsize=2 * len(texts) + 1)(normalize_text)
        view_logits = {name: view.logits(texts, normalized) for name, view in self.views.items()}
        has_features = np.logical_or.reduce([seen for _, seen in view_logits.values()])
        out: dict[str, np.ndarray] = {}
        for task, head in self.heads.items():
            ngram_logits, seen = view_logits[head.view]
            logits = ngram_logits[:, head.columns] + embeddings @ head.embedding_coef
            logits = (logits + head.intercept) / head.temperature + head.bias
            logits = logits.astype(np.float64)
            logits[~seen] = 0.0
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            out[task] = probabilities
        return out, has_features

    def predict(self, texts: Sequence[str], embeddings: np.ndarray) -> dict[str, list[ClassScores]]:
        """Every task's label and probabilities for each text, in the order given.

        ``embeddings`` are the encoder's vectors of the same texts. A text without a single
        token gets uniform probabilities and its task's no-evidence label.
        """
        probabilities, has_features = self.probabilities(texts, embeddings)
        result: dict[str, list[ClassScores]] = {}
        for task, rows in probabilities.items():
            labels = self.heads[task].labels
            chosen = rows.argmax(axis=1)
            chosen[~has_features] = labels.index(_NO_EVIDENCE_LABEL[task])
            result[task] = [
                _scores(labels, row, int(index)) for row, index in zip(rows, chosen, strict=True)
            ]
        return result


def ngram_lead(text: str, max_chars: int) -> str:
    """The part of ``text`` the n-gram view reads: all of it up to ``max_chars`` characters,
    else its first ``max_chars`` characters without the word the cut would split."""
    if len(text) <= max_chars:
        return text
    lead = text[:max_chars]
    if not text[max_chars].isspace():
        cut = max(lead.rfind(" "), lead.rfind("\n"))
        if cut > 0:
            lead = lead[:cut]
    return lead


def _scores(labels: tuple[str, ...], row: np.ndarray, index: int) -> ClassScores:
    probabilities = {label: float(value) for label, value in zip(labels, row, strict=True)}
    return ClassScores(
        label=labels[index], score=probabilities[labels[index]], probabilities=probabilities
    )


def _read_description(path: Path) -> dict:
    return read_description(
        path,
        what="task heads",
        required=(
            "name",
            "version",
            "views",
            "tasks",
            "weights_file",
            "weights_sha256",
        ),
        format_version=FORMAT_VERSION,
    )


def _load_view(
    directory: Path, description: dict, view: str, arrays: dict, n_columns: int
) -> NgramView:
    """A view's featurizer (IDF included) and an empty weight table for its heads' columns."""
    config = description["featurizer"]
    n_buckets = int(config["n_buckets"])
    seen = arrays[f"{view}.bucket_index"].astype(np.int64)
    idf = np.full(n_buckets, float(arrays[f"{view}.unseen_idf"]), dtype=np.float32)
    idf[seen] = arrays[f"{view}.idf"]
    bucket_rows = np.zeros(n_buckets, dtype=np.int32)
    bucket_rows[seen] = np.arange(1, len(seen) + 1, dtype=np.int32)
    char_range = config["char_ngram_range"]
    featurizer = HashedNgramFeaturizer(
        n_buckets,
        char_ngram_range=None if char_range is None else tuple(char_range),
        fold_diacritics=config["fold_diacritics"],
        idf=idf,
    )
    if featurizer.config() != config:
        raise ModelLoadError(
            f"{directory / MODEL_FILE} asks for featurizer {config} in the {view} view, "
            f"this code provides {featurizer.config()}"
        )
    return NgramView(
        featurizer=featurizer,
        max_chars=int(description["max_chars"]),
        bucket_rows=bucket_rows,
        table=np.zeros((len(seen) + 1, n_columns), dtype=np.float32),
    )
