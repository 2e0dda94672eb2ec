"""Linear task heads (sentiment, toxicity, emotion, topic) over e5 embeddings and hashed n-grams."""

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from services.nlp.artifacts import ModelLoadError, read_description, read_verified
from services.nlp.encoder import DIM
from services.nlp.features import HashedNgramFeaturizer, SparseBatch
from services.nlp.normalize import normalize_text

FORMAT_VERSION = 3
MODEL_FILE = "heads.json"
WEIGHTS_FILE = "weights.npz"
# The n-gram view reads at most this many characters of a text (cut at a word boundary): the
# character n-grams of a whole 600-word article cost about 14 ms, of its first 1,000 characters
# about 5 ms, and an article's topic is plain from its title and lead. Posts are shorter.
NGRAM_MAX_CHARS = 1000

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
    # Columns of this task in the shared n-gram weight table.
    columns: slice
    embedding_coef: np.ndarray  # (384, n_labels) float32
    intercept: np.ndarray  # (n_labels,) float32
    temperature: float
    # Added after the temperature: moves decisions towards rarer classes (tuned on dev for
    # macro-F1) while the probabilities stay a softmax of one logit vector.
    bias: np.ndarray  # (n_labels,) float32


class TaskHeads:
    """All classification heads; ``predict`` costs a featurisation and a few small products."""

    tasks: tuple[str, ...] = tuple(TASK_LABELS)

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sha256: str,
        featurizer: HashedNgramFeaturizer,
        bucket_rows: np.ndarray,
        ngram_table: np.ndarray,
        heads: dict[str, Head],
        ngram_max_chars: int = NGRAM_MAX_CHARS,
    ) -> None:
        if bucket_rows.shape != (featurizer.n_buckets,):
            raise ValueError("bucket_rows must map every bucket of the featurizer")
        if set(heads) != set(self.tasks):
            raise ValueError(f"heads for {sorted(heads)}, expected {sorted(self.tasks)}")
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.featurizer = featurizer
        self.ngram_max_chars = ngram_max_chars
        self._bucket_rows = bucket_rows
        self._ngram_table = ngram_table
        self.heads = heads

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

        config = description["featurizer"]
        n_buckets = int(config["n_buckets"])
        try:
            seen = arrays["bucket_index"].astype(np.int64)
            idf = np.full(n_buckets, float(arrays["unseen_idf"]), dtype=np.float32)
            idf[seen] = arrays["idf"]
            # Row 0 of the table is zeros: every bucket training never saw points there, so
            # scoring is one gather without a table of n_buckets x labels.
            bucket_rows = np.zeros(n_buckets, dtype=np.int32)
            bucket_rows[seen] = np.arange(1, len(seen) + 1, dtype=np.int32)
            n_columns = sum(len(TASK_LABELS[task]) for task in cls.tasks)
            ngram_table = np.zeros((len(seen) + 1, n_columns), dtype=np.float32)
            heads: dict[str, Head] = {}
            column = 0
            for task in cls.tasks:
                labels = TASK_LABELS[task]
                task_description = description["tasks"][task]
                if tuple(task_description["labels"]) != labels:
                    raise ModelLoadError(
                        f"{task} labels {task_description['labels']} differ from {list(labels)}"
                    )
                columns = slice(column, column + len(labels))
                ngram_table[1:, columns] = arrays[f"{task}.ngram_coef"]
                heads[task] = Head(
                    task=task,
                    labels=labels,
                    columns=columns,
                    embedding_coef=arrays[f"{task}.embedding_coef"].astype(np.float32),
                    intercept=arrays[f"{task}.intercept"].astype(np.float32),
                    temperature=float(task_description["temperature"]),
                    bias=np.asarray(task_description["bias"], dtype=np.float32),
                )
                if heads[task].embedding_coef.shape != (DIM, len(labels)):
                    raise ModelLoadError(f"{task}: embedding weights have the wrong shape")
                column = columns.stop
        except KeyError as error:
            raise ModelLoadError(f"{weights_path} lacks the array {error}") from error
        except ValueError as error:
            raise ModelLoadError(
                f"{weights_path} has arrays of the wrong shape: {error}"
            ) from error
        featurizer = HashedNgramFeaturizer(
            n_buckets,
            char_ngram_range=tuple(config["char_ngram_range"]),
            fold_diacritics=config["fold_diacritics"],
            idf=idf,
        )
        if featurizer.config() != config:
            raise ModelLoadError(
                f"{directory / MODEL_FILE} asks for featurizer {config}, "
                f"this code provides {featurizer.config()}"
            )
        return cls(
            name=description["name"],
            version=description["version"],
            sha256=sha256,
            featurizer=featurizer,
            bucket_rows=bucket_rows,
            ngram_table=ngram_table,
            heads=heads,
            ngram_max_chars=int(description["ngram_max_chars"]),
        )

    def uses_embedding(self, task: str) -> bool:
        """Whether the task's head reads the embedding at all (some were trained without)."""
        return bool(np.any(self.heads[task].embedding_coef))

    def ngram_features(self, texts: Sequence[str]) -> SparseBatch:
        """The hashed n-gram TF-IDF rows of ``texts``' leads, after Vietnamese normalisation."""
        return self.featurizer.transform(
            normalize_text(ngram_lead(text, self.ngram_max_chars)) for text in texts
        )

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
        batch = self.ngram_features(texts)
        has_features = np.diff(batch.indptr) > 0
        ngram_logits = np.zeros((len(texts), self._ngram_table.shape[1]), dtype=np.float32)
        if batch.indices.size:
            rows = self._ngram_table[self._bucket_rows[batch.indices]] * batch.values[:, None]
            # Rows without features add nothing, so the starts of the non-empty rows delimit
            # exactly their segments.
            ngram_logits[has_features] = np.add.reduceat(
                rows, batch.indptr[:-1][has_features], axis=0
            )
        out: dict[str, np.ndarray] = {}
        for task, head in self.heads.items():
            logits = ngram_logits[:, head.columns] + embeddings @ head.embedding_coef
            logits = (logits + head.intercept) / head.temperature + head.bias
            logits = logits.astype(np.float64)
            logits[~has_features] = 0.0
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
            "featurizer",
            "ngram_max_chars",
            "tasks",
            "weights_file",
            "weights_sha256",
        ),
        format_version=FORMAT_VERSION,
    )
