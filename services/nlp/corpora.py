"""Readers of the labelled Vietnamese corpora the task heads are trained and evaluated on."""

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from services.common.text import strip_marks
from services.nlp.classifiers import TASK_LABELS

# VNTC names its topics in unaccented Vietnamese; the service speaks the contract's labels.
VNTC_TOPICS = {
    "Chinh tri Xa hoi": "politics_society",
    "Doi song": "lifestyle",
    "Khoa hoc": "science",
    "Kinh doanh": "business",
    "Phap luat": "law",
    "Suc khoe": "health",
    "The gioi": "world",
    "The thao": "sports",
    "Van hoa": "culture",
    "Vi tinh": "technology",
}
# Corpora without a dev split get one carved from train with a seeded permutation.
HELD_OUT_DEV_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class Corpus:
    """One corpus split: texts and label indices into TASK_LABELS[task]."""

    name: str
    task: str
    texts: list[str]
    labels: np.ndarray  # int64
    # Row number of each text in its file, so seeded selections refer to the published rows.
    origin: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows: np.ndarray, name: str | None = None) -> Self:
        return type(self)(
            name or self.name,
            self.task,
            [self.texts[row] for row in rows],
            self.labels[rows],
            self.origin[rows],
        )

    def without_marks(self) -> Self:
        return type(self)(
            f"{self.name}_without_marks",
            self.task,
            [strip_marks(text) for text in self.texts],
            self.labels,
            self.origin,
        )


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """Where a corpus lives under the data root and how its rows name the label."""

    key: str  # the evaluator's prefix, e.g. "sentiment_uit_vsfc"
    task: str
    path: str
    label_field: str
    splits: tuple[str, ...]  # "train", "dev", "test" files present
    compressed: bool = False
    # Every text is embedded as the service embeds it: from its first 128 tokens
    # (NlpSettings.encoder_max_tokens), i.e. a whole post, or an article's title and lead.
    max_tokens: int = 128


SPECS = (
    CorpusSpec(
        "sentiment_uit_vsfc",
        "sentiment",
        "sentiment/uit-vsfc",
        "sentiment",
        ("train", "dev", "test"),
    ),
    CorpusSpec("sentiment_aivivn", "sentiment", "sentiment/aivivn", "sentiment", ("train", "test")),
    CorpusSpec("toxicity_vihsd", "toxicity", "toxicity/vihsd", "label", ("train", "dev", "test")),
    CorpusSpec("emotion_vsmec", "emotion", "emotion/vsmec", "emotion", ("train", "dev", "test")),
    CorpusSpec(
        "topic_vntc",
        "topic",
        "topic/vntc",
        "topic",
        ("train", "test"),
        compressed=True,
    ),
)


def read_split(data_root: Path, spec: CorpusSpec, split: str) -> Corpus:
    suffix = ".jsonl.gz" if spec.compressed else ".jsonl"
    path = Path(data_root) / spec.path / f"{split}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    labels = TASK_LABELS[spec.task]
    texts: list[str] = []
    indices: list[int] = []
    opener = gzip.open if spec.compressed else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            label = row[spec.label_field]
            label = VNTC_TOPICS.get(label, label) if spec.task == "topic" else label
            if label not in labels:
                raise ValueError(f"{path}:{number}: label {label!r} is not one of {labels}")
            texts.append(row["text"])
            indices.append(labels.index(label))
    return Corpus(
        f"{spec.key}_{split}",
        spec.task,
        texts,
        np.asarray(indices, dtype=np.int64),
        np.arange(len(texts), dtype=np.int64),
    )


def read_splits(data_root: Path, spec: CorpusSpec, seed: int) -> dict[str, Corpus]:
    """train, dev and test of a corpus; dev is a seeded share of train where none is published."""
    splits = {split: read_split(data_root, spec, split) for split in spec.splits}
    if "dev" not in splits:
        train = splits["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        n_dev = round(len(train) * HELD_OUT_DEV_FRACTION)
        splits["train"] = train.take(np.sort(order[n_dev:]))
        splits["dev"] = train.take(np.sort(order[:n_dev]), f"{spec.key}_dev")
    return splits
