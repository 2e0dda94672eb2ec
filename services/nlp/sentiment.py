"""Vietnamese 3-class sentiment model, served with numpy only (trained by services.nlp.train)."""

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from services.nlp.features import HashedNgramFeaturizer

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
LABELS = ("negative", "neutral", "positive")
_NEUTRAL = LABELS.index("neutral")


class ModelLoadError(RuntimeError):
    """A model directory is missing, incomplete, corrupt or of an unknown format."""


@dataclass(frozen=True, slots=True)
class SentimentPrediction:
    label: str
    # Probability of ``label``.
    score: float
    # Probability of every label; the values sum to 1.
    probabilities: dict[str, float]


class SentimentModel:
    """Multinomial logistic regression over hashed n-gram TF-IDF features."""

    labels: ClassVar[tuple[str, ...]] = LABELS

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sha256: str,
        featurizer: HashedNgramFeaturizer,
        weights: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        n_labels = len(self.labels)
        if weights.shape != (featurizer.n_buckets, n_labels):
            raise ValueError(f"weights shape {weights.shape} does not match the featurizer")
        if intercept.shape != (n_labels,):
            raise ValueError(f"intercept shape {intercept.shape}, expected ({n_labels},)")
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.featurizer = featurizer
        self._weights = weights
        self._intercept = intercept

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load ``model.json`` and the weights it names from ``directory``.

        Raises ModelLoadError when anything is missing or does not check out (including a
        weights file whose SHA-256 differs from the one recorded at training time).
        """
        directory = Path(directory)
        description = _read_description(directory / MODEL_FILE)
        weights_path = directory / description["weights_file"]
        try:
            weights_bytes = weights_path.read_bytes()
        except OSError as error:
            raise ModelLoadError(f"cannot read weights {weights_path}: {error}") from error
        sha256 = hashlib.sha256(weights_bytes).hexdigest()
        if sha256 != description["weights_sha256"]:
            raise ModelLoadError(
                f"{weights_path} has SHA-256 {sha256}, but {MODEL_FILE} records "
                f"{description['weights_sha256']}: the file is corrupt or from another model"
            )
        featurizer_config = description["featurizer"]
        n_buckets = featurizer_config["n_buckets"]
        arrays = _read_weights(weights_path, n_buckets, len(cls.labels))

        # Dense tables cost 16 MB at 2**20 buckets but make scoring a single gather.
        idf = np.full(n_buckets, arrays["unseen_idf"], dtype=np.float32)
        idf[arrays["bucket_index"]] = arrays["idf"]
        weights = np.zeros((n_buckets, len(cls.labels)), dtype=np.float32)
        weights[arrays["bucket_index"]] = arrays["coef"]
        featurizer = HashedNgramFeaturizer(
            n_buckets,
            char_ngram_range=tuple(featurizer_config["char_ngram_range"]),
            fold_diacritics=featurizer_config["fold_diacritics"],
            idf=idf,
        )
        if featurizer.config() != featurizer_config:
            raise ModelLoadError(
                f"{directory / MODEL_FILE} asks for featurizer {featurizer_config}, "
                f"this code provides {featurizer.config()}"
            )
        return cls(
            name=description["name"],
            version=description["version"],
            sha256=sha256,
            featurizer=featurizer,
            weights=weights,
            intercept=arrays["intercept"].astype(np.float32),
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(texts), 3), columns in ``labels`` order.

        A text without a single token (empty, whitespace) carries no evidence and gets the
        uniform distribution rather than the training prior.
        """
        probabilities, _ = self._probabilities(texts)
        return probabilities

    def predict(self, texts: Sequence[str]) -> list[SentimentPrediction]:
        probabilities, has_features = self._probabilities(texts)
        chosen = probabilities.argmax(axis=1)
        # argmax would break the uniform tie of a featureless text towards "negative".
        chosen[~has_features] = _NEUTRAL
        return [
            _prediction(row, int(label_index))
            for row, label_index in zip(probabilities, chosen, strict=True)
        ]

    def _probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, not a single str")
        batch = self.featurizer.transform(texts)
        logits = np.zeros((len(batch), len(self.labels)), dtype=np.float64)
        has_features = np.diff(batch.indptr) > 0
        if batch.indices.size:
            contributions = self._weights[batch.indices] * batch.values[:, None]
            # Rows without features add nothing to ``contributions``, so the start offsets of
            # the non-empty rows delimit exactly their segments.
            logits[has_features] = np.add.reduceat(
                contributions, batch.indptr[:-1][has_features], axis=0
            )
            logits[has_features] += self._intercept
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities, has_features


def _prediction(row: np.ndarray, label_index: int) -> SentimentPrediction:
    probabilities = {label: float(value) for label, value in zip(LABELS, row, strict=True)}
    label = LABELS[label_index]
    return SentimentPrediction(label=label, score=probabilities[label], probabilities=probabilities)


def _read_description(path: Path) -> dict:
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelLoadError(f"sentiment model description not found: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read sentiment model description {path}: {error}") from error
    if not isinstance(description, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    required = ("format_version", "name", "version", "labels", "featurizer", "weights_file")
    missing = [key for key in (*required, "weights_sha256") if key not in description]
    if missing:
        raise ModelLoadError(f"{path} lacks {', '.join(missing)}")
    if description["format_version"] != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path} has format_version {description['format_version']}, "
            f"this code reads {FORMAT_VERSION}"
        )
    if tuple(description["labels"]) != LABELS:
        raise ModelLoadError(f"{path} has labels {description['labels']}, expected {LABELS}")
    if Path(description["weights_file"]).name != description["weights_file"]:
        raise ModelLoadError(f"{path}: weights_file must be a plain file name")
    return description


def _read_weights(path: Path, n_buckets: int, n_labels: int) -> dict[str, np.ndarray]:
    expected_keys = {"bucket_index", "coef", "intercept", "idf", "unseen_idf"}
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = expected_keys - set(archive.files)
            if missing:
                raise ModelLoadError(f"{path} lacks arrays {sorted(missing)}")
            arrays = {key: archive[key] for key in expected_keys}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelLoadError(f"cannot read sentiment weights {path}: {error}") from error
    bucket_index = arrays["bucket_index"]
    n_seen = bucket_index.shape[0] if bucket_index.ndim == 1 else -1
    if (
        n_seen < 0
        or arrays["coef"].shape != (n_seen, n_labels)
        or arrays["idf"].shape != (n_seen,)
        or arrays["intercept"].shape != (n_labels,)
        or arrays["unseen_idf"].shape != ()
    ):
        raise ModelLoadError(f"{path} holds arrays of inconsistent shapes")
    if n_seen and (bucket_index.min() < 0 or bucket_index.max() >= n_buckets):
        raise ModelLoadError(f"{path} indexes buckets outside 0..{n_buckets - 1}")
    if not all(np.isfinite(arrays[key]).all() for key in ("coef", "intercept", "idf")):
        raise ModelLoadError(f"{path} holds non-finite weights")
    return arrays
