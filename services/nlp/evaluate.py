"""Score the served models on the test splits: python -m services.nlp.evaluate --data DIR --json.

Runs the serving path — the committed TaskHeads over the e5 encoder's embeddings — never the
training library, and prints one JSON object: a row per benchmark of the project's quality bars.
"""

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from services.nlp.classifiers import TASK_LABELS, TaskHeads
from services.nlp.corpora import SPECS, CorpusSpec, read_split
from services.nlp.embedding_cache import EmbeddingCache
from services.nlp.encoder import DIM, SentenceEncoder
from services.nlp.settings import MODELS_DIR

DEFAULT_ENCODER_DIR = Path(".cache/models/e5-small")

# Benchmarks scored by other modules: key -> (module, function, file under the data root).
# A row whose module is not there yet is left out, with a note on stderr, never guessed.
EXTERNAL_EVALUATORS: dict[str, tuple[str, str, str]] = {
    "ner_vlsp2018": ("services.nlp.entities", "evaluate_vlsp", "ner/vlsp2018/dev.jsonl"),
}


def accuracy_and_macro_f1(
    gold: np.ndarray, predicted: np.ndarray, labels: Sequence[int]
) -> dict[str, float]:
    """Accuracy, and F1 averaged over ``labels`` (a label never predicted nor true scores 0)."""
    f1s = []
    for label in labels:
        true_positive = np.sum((predicted == label) & (gold == label))
        predicted_count = np.sum(predicted == label)
        gold_count = np.sum(gold == label)
        denominator = predicted_count + gold_count
        f1s.append(0.0 if denominator == 0 else 2.0 * true_positive / denominator)
    return {
        "accuracy": round(float(np.mean(gold == predicted)), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
    }


def score_corpus(
    heads: TaskHeads, spec: CorpusSpec, texts: list[str], gold: np.ndarray, embed
) -> dict[str, float]:
    if heads.uses_embedding(spec.task):
        embeddings = embed(texts, spec.max_tokens)
    else:
        # This head's embedding weights are all zero, so any vector gives the same scores:
        # encoding thousands of texts would change nothing but the run time.
        embeddings = np.zeros((len(texts), DIM), dtype=np.float32)
    labels = TASK_LABELS[spec.task]
    if spec.key == "sentiment_aivivn":
        # AIVIVN labels only negative and positive: scored, as the benchmark is, on the
        # decision between those two.
        probabilities, _ = heads.probabilities(texts, embeddings)
        polar = np.asarray([labels.index("negative"), labels.index("positive")])
        predicted = polar[probabilities[spec.task][:, polar].argmax(axis=1)]
        return accuracy_and_macro_f1(gold, predicted, polar)
    predictions = heads.predict(texts, embeddings)[spec.task]
    predicted = np.asarray([labels.index(p.label) for p in predictions])
    return accuracy_and_macro_f1(gold, predicted, range(len(labels)))


def external_rows(data_root: Path, log: Callable[[str], None]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for key, (module_name, function_name, relative) in EXTERNAL_EVALUATORS.items():
        try:
            evaluator = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError):
            log(f"{key} left out: {module_name}.{function_name} is not in this tree yet")
            continue
        rows[key] = evaluator(data_root / relative)
    return rows


class Embedder:
    """The served encoder at each truncation length, optionally through the disk cache."""

    def __init__(self, encoder_dir: Path, cache_dir: Path | None) -> None:
        manifest = json.loads((encoder_dir / "manifest.json").read_text(encoding="utf-8"))
        self._sha = manifest["files"][manifest["model_file"]]
        self._encoder_dir = encoder_dir
        self._cache_dir = cache_dir
        self._by_length: dict[int, Callable[[Sequence[str]], np.ndarray]] = {}

    def __call__(self, texts: Sequence[str], max_tokens: int) -> np.ndarray:
        encode = self._by_length.get(max_tokens)
        if encode is None:
            encoder = SentenceEncoder.load(self._encoder_dir, max_tokens=max_tokens)
            encode = encoder.encode
            if self._cache_dir is not None:
                encode = EmbeddingCache(encoder, self._sha, self._cache_dir / "embeddings").encode
            self._by_length[max_tokens] = encode
        return encode(texts)


def evaluate(args: argparse.Namespace) -> dict[str, dict]:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    heads = TaskHeads.load(args.models_dir / "heads")
    embed = Embedder(args.encoder_dir, None if args.no_cache else args.cache_dir)
    results: dict[str, dict] = {}
    for spec in SPECS:
        started = time.perf_counter()
        test = read_split(args.data, spec, "test")
        results[spec.key] = score_corpus(heads, spec, test.texts, test.labels, embed)
        if args.without_marks:
            folded = test.without_marks()
            results[f"{spec.key}_without_marks"] = score_corpus(
                heads, spec, folded.texts, folded.labels, embed
            )
        log(f"{spec.key}: {results[spec.key]} ({time.perf_counter() - started:.0f} s)")
    results |= external_rows(args.data, log)
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.nlp.evaluate", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="root of the shared data/vi")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--encoder-dir", type=Path, default=DEFAULT_ENCODER_DIR)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".work"),
        help="reuse embeddings this encoder build computed before (keyed by text and build)",
    )
    parser.add_argument("--no-cache", action="store_true", help="embed every text afresh")
    parser.add_argument(
        "--without-marks", action="store_true", help="also score test sets with marks removed"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = evaluate(args)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for key, row in results.items():
            print(f"{key:40s} " + "  ".join(f"{name} {value:.4f}" for name, value in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
