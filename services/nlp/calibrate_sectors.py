"""Fit the sector similarity calibration on labelled sentences, and evaluate the top sector."""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from services.nlp.encoder import SentenceEncoder
from services.nlp.sectors import TAXONOMY_PATH, SectorScorer, SectorTaxonomy

CALIBRATION_PATH = TAXONOMY_PATH.parent / "calibration.jsonl"
ENCODER_DIR = Path(".cache/models/e5-small")


def read_labelled(path: Path, ids: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """JSON Lines of {"text", "sectors": [ids]} (or "sector": id or null)."""
    texts, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        sectors = row["sectors"] if "sectors" in row else [s for s in [row["sector"]] if s]
        unknown = set(sectors) - set(ids)
        if unknown:
            raise ValueError(f"{path}:{number}: unknown sectors {sorted(unknown)}")
        texts.append(row["text"])
        labels.append(sectors)
    return texts, labels


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """(center, slope) of P(y=1) = 1 / (1 + exp(-slope * (x - center))), by Newton's method."""
    # Standardise x so that Newton steps are well scaled, then map back.
    mean, std = float(x.mean()), float(x.std()) or 1.0
    z = (x - mean) / std
    w = np.zeros(2)  # intercept, coefficient
    design = np.column_stack([np.ones_like(z), z])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        gradient = design.T @ (p - y) + l2 * w
        hessian = (design.T * (p * (1 - p))) @ design + l2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    slope = w[1] / std
    center = mean - w[0] * std / w[1]
    return float(center), float(slope)


def top_sector_counts(
    scores: np.ndarray, ids: tuple[str, ...], labels: list[list[str]], threshold: float
) -> tuple[int, int, int]:
    """(correct top sectors, texts with a prediction, texts with a label)."""
    correct = made = 0
    for row, gold in zip(scores, labels, strict=True):
        best = int(np.argmax(row))
        if row[best] >= threshold:
            made += 1
            correct += ids[best] in gold
    return correct, made, sum(bool(gold) for gold in labels)


def calibrate(scorer: SectorScorer, encoder: SentenceEncoder, path: Path) -> dict[str, float | int]:
    """The logistic on cosine (does this sector apply?) and the threshold with the best top-sector
    F1, both from the labelled sentences at ``path``."""
    ids = scorer.taxonomy.ids
    texts, labels = read_labelled(path, ids)
    cosine = scorer.cosine(encoder.encode(texts))
    truth = np.array([[sector in row for sector in ids] for row in labels], dtype=float)
    center, slope = fit_logistic(cosine.ravel(), truth.ravel())
    center, slope = round(center, 3), round(slope, 1)
    similarity = 1.0 / (1.0 + np.exp(-slope * (cosine - center)))
    combined = 1.0 - (1.0 - similarity) * (1.0 - scorer.keyword_evidence(texts))
    best = (-1.0, 0.5)
    for threshold in np.arange(0.10, 0.91, 0.05):
        correct, made, labelled = top_sector_counts(combined, ids, labels, threshold)
        precision, recall = correct / max(made, 1), correct / max(labelled, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        if f1 > best[0] + 1e-9:
            best = (f1, round(float(threshold), 2))
    return {
        "center": center,
        "slope": slope,
        "threshold": best[1],
        "calibration_top_sector_f1": round(best[0], 3),
        "texts": len(texts),
    }


def evaluate(scorer: SectorScorer, encoder: SentenceEncoder, path: Path) -> dict[str, float]:
    """Precision and recall of the top sector (a text with no sector above threshold predicts
    none; texts labelled with no sector count against precision when a sector is predicted)."""
    texts, labels = read_labelled(path, scorer.taxonomy.ids)
    embeddings = encoder.encode(texts)
    started = time.perf_counter()
    results = scorer.score(texts, embeddings)
    elapsed = time.perf_counter() - started
    predicted = [r[0][0] if r else None for r in results]
    correct = sum(p is not None and p in gold for p, gold in zip(predicted, labels, strict=True))
    made = sum(p is not None for p in predicted)
    labelled = sum(bool(gold) for gold in labels)
    flagged = sum(p is not None and not g for p, g in zip(predicted, labels, strict=True))
    return {
        "texts": len(texts),
        "precision": round(correct / made, 3) if made else 0.0,
        "recall": round(correct / labelled, 3) if labelled else 0.0,
        "predicted": made,
        "off_topic_flagged": flagged,
        "scoring_ms_per_text": round(elapsed / len(texts) * 1000, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["calibrate", "evaluate"])
    parser.add_argument("--taxonomy", type=Path, default=TAXONOMY_PATH)
    parser.add_argument("--data", type=Path, default=CALIBRATION_PATH)
    parser.add_argument("--encoder", type=Path, default=ENCODER_DIR)
    args = parser.parse_args(argv)
    encoder = SentenceEncoder.load(args.encoder, max_tokens=128)
    scorer = SectorScorer(SectorTaxonomy.load(args.taxonomy), encoder)
    if args.command == "calibrate":
        result = calibrate(scorer, encoder, args.data)
    else:
        result = evaluate(scorer, encoder, args.data)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
