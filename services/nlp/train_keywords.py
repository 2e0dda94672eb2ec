"""Build the keyword phrase table and IDF from the VNTC news corpus (MIT)."""

import argparse
import gzip
import hashlib
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from services.nlp.keywords import (
    FORMAT_VERSION,
    MODEL_FILE,
    STOPWORDS_FILE,
    TABLE_FILE,
    KeywordExtractor,
    PhraseSegmenter,
    _chunks,
    has_function_edge,
    read_stopwords,
)

KEYWORD_MODEL_NAME = "langnghe-keywords-vi-vntc-phrases"
KEYWORD_MODEL_VERSION = "1.0.0"
MIN_PHRASE_COUNT = 5
# Normalised PMI a syllable pair must reach to count as one word; chosen by reading the table
# (0.3 admits "ngập nước", "giao thông", "triều cường" and keeps out "của các", "đã có").
MIN_NPMI = 0.3
# Words and phrases seen in fewer documents than this get no IDF entry (they read as seen once).
MIN_DOCUMENT_FREQUENCY = 2


def read_vntc(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"VNTC file not found: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def _lowered_chunks(texts: list[str]) -> Iterator[list[str]]:
    for text in texts:
        for chunk in _chunks(text):
            yield [syllable.lower() for syllable in chunk]


def _word_like(syllable: str) -> bool:
    return syllable.isalpha()


def collocations(texts: list[str], stopwords: frozenset[str]) -> dict[tuple[str, ...], float]:
    """Syllable bigrams and trigrams that behave as one word: seen at least MIN_PHRASE_COUNT
    times, with normalised PMI of at least MIN_NPMI between every split of them, and not
    bordered by a function syllable (unless the whole is a stopword, to be dropped whole)."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for chunk in _lowered_chunks(texts):
        unigrams.update(chunk)
        bigrams.update(itertools.pairwise(chunk))
    frequent_pairs = {pair for pair, count in bigrams.items() if count >= MIN_PHRASE_COUNT}
    # Trigrams are counted only where both their pairs are frequent, which keeps memory small.
    trigrams: Counter[tuple[str, str, str]] = Counter()
    for chunk in _lowered_chunks(texts):
        for index in range(len(chunk) - 2):
            first, second, third = chunk[index : index + 3]
            if (first, second) in frequent_pairs and (second, third) in frequent_pairs:
                trigrams[first, second, third] += 1
    total = sum(unigrams.values())

    def npmi(joint: int, left: int, right: int) -> float:
        probability = joint / total
        return math.log(probability / ((left / total) * (right / total))) / -math.log(probability)

    phrases: dict[tuple[str, ...], float] = {}
    for (first, second), count in bigrams.items():
        if count >= MIN_PHRASE_COUNT and _word_like(first) and _word_like(second):
            score = npmi(count, unigrams[first], unigrams[second])
            if score >= MIN_NPMI and admissible((first, second), stopwords):
                phrases[first, second] = score
    for (first, second, third), count in trigrams.items():
        if count < MIN_PHRASE_COUNT or not all(map(_word_like, (first, second, third))):
            continue
        score = min(
            npmi(count, bigrams[first, second], unigrams[third]),
            npmi(count, unigrams[first], bigrams[second, third]),
        )
        if score >= MIN_NPMI and admissible((first, second, third), stopwords):
            phrases[first, second, third] = score
    return phrases


def admissible(key: tuple[str, ...], stopwords: frozenset[str]) -> bool:
    return not has_function_edge(key) or " ".join(key) in stopwords


def train_keywords(args: argparse.Namespace) -> dict[str, object]:
    from services.nlp.train import write_npz

    started = time.perf_counter()
    texts = read_vntc(args.data / "topic" / "vntc" / "train.jsonl.gz")
    # Rounded as stored, so the document frequencies come from the very cuts served.
    stopwords = read_stopwords(args.out / STOPWORDS_FILE)
    phrases = {
        key: float(np.float16(value)) for key, value in collocations(texts, stopwords).items()
    }
    segmenter = PhraseSegmenter(phrases)
    document_frequency: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        document_frequency.update({unit.key for unit, _ in segmenter.units(text)})
    kept = {
        key: frequency
        for key, frequency in document_frequency.items()
        if frequency >= MIN_DOCUMENT_FREQUENCY
    }
    entries = sorted(set(kept) | set(phrases))
    args.out.mkdir(parents=True, exist_ok=True)
    table_path = args.out / TABLE_FILE
    write_npz(
        table_path,
        {
            "entries": np.frombuffer(
                "\n".join(" ".join(key) for key in entries).encode("utf-8"), dtype=np.uint8
            ),
            "document_frequency": np.asarray(
                [kept.get(key, 0) for key in entries], dtype=np.uint32
            ),
            "cohesion": np.asarray([phrases.get(key, 0.0) for key in entries], dtype=np.float16),
            "n_documents": np.asarray(len(texts), dtype=np.int64),
        },
    )
    description = {
        "format_version": FORMAT_VERSION,
        "task": "keywords",
        "name": KEYWORD_MODEL_NAME,
        "version": KEYWORD_MODEL_VERSION,
        "table_file": TABLE_FILE,
        "table_sha256": hashlib.sha256(table_path.read_bytes()).hexdigest(),
        "training_data": [
            {"name": "VNTC (train sample)", "use": "phrase table and IDF", "licence": "MIT"}
        ],
        "training": {
            "documents": len(texts),
            "min_phrase_count": MIN_PHRASE_COUNT,
            "min_npmi": MIN_NPMI,
            "min_document_frequency": MIN_DOCUMENT_FREQUENCY,
            "phrases": len(phrases),
            "idf_entries": len(kept),
        },
    }
    (args.out / MODEL_FILE).write_text(
        json.dumps(description, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    extractor = KeywordExtractor.load(args.out)
    return {
        "model": KEYWORD_MODEL_NAME,
        "phrases": len(phrases),
        "idf_entries": len(kept),
        "table_bytes": table_path.stat().st_size,
        "sha256": extractor.sha256,
        "seconds": round(time.perf_counter() - started),
    }


def add_parser(tasks) -> None:
    parser = tasks.add_parser("keywords", help="keyword phrase table and IDF: VNTC")
    parser.add_argument("--data", type=Path, required=True, help="root of shared data/vi")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="artefact directory (holds the hand-written stopwords.txt)",
    )
    parser.add_argument("--seed", type=int, default=0, help="unused: the build is deterministic")
    parser.set_defaults(run=train_keywords)
