"""Train the entity CRF on VLSP 2018 with crfsuite and export it for numpy serving."""

import argparse
import gzip
import hashlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.nlp.entities import (
    FORMAT_VERSION,
    LABELS,
    MODEL_FILE,
    TOKEN_PATTERN,
    WEIGHTS_FILE,
    EntityRecognizer,
    Gazetteer,
    SyllableTables,
    encode_lines,
    evaluate_vlsp,
    sentence_spans,
    sequence_features,
    spans_from_tags,
    tokenize,
)

ENTITY_MODEL_NAME = "langnghe-entities-vi-syllable-crf"
ENTITY_MODEL_VERSION = "1.1.0"
GAZETTEER_FOLDS = 5
TUNING_FRACTION = 0.1
# (c1, c2): L1 and L2 strengths of crfsuite's L-BFGS. L1 also prunes features, which keeps the
# exported table small.
CRF_GRID: tuple[tuple[float, float], ...] = ((0.05, 0.01), (0.1, 0.1), (0.05, 0.3))
MAX_ITERATIONS = 100
# Syllables seen fewer times than this in VNTC get no table entry (they read as "unk").
MIN_SYLLABLE_COUNT = 3
# Word clusters: k-means of distributional vectors of VNTC syllables at three granularities,
# coarse to fine (SYLLABLE_CLUSTER_SIZES[i] clusters give features "k{i}=...").
SYLLABLE_CLUSTER_SIZES: tuple[int, ...] = (64, 256, 1024)
# The vectors: positive PMI of a syllable with the commonest syllables at each window offset,
# reduced by truncated SVD.
CLUSTER_CONTEXT_WORDS = 3000
CLUSTER_CONTEXT_OFFSETS = (-2, -1, 1, 2)
CLUSTER_VECTOR_SIZE = 100


@dataclass(frozen=True, slots=True)
class Paragraph:
    doc: str
    tokens: list[str]
    labels: list[str]
    # Token ranges decoded as one sequence each (see entities.sentence_spans).
    spans: list[tuple[int, int]]
    mentions: list[tuple[tuple[str, ...], str]]


def read_vlsp(path: Path) -> list[Paragraph]:
    if not path.is_file():
        raise FileNotFoundError(f"VLSP 2018 file not found: {path}")
    paragraphs = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            tokens = tokenize(row["text"])
            labels = ["O"] * len(tokens)
            mentions = []
            for entity in row["entities"]:
                inside = [
                    index
                    for index, token in enumerate(tokens)
                    if token.start >= entity["start"] and token.end <= entity["end"]
                ]
                if not inside:
                    continue
                labels[inside[0]] = f"B-{entity['type']}"
                for index in inside[1:]:
                    labels[index] = f"I-{entity['type']}"
                mentions.append((tuple(tokens[index].text for index in inside), entity["type"]))
            paragraphs.append(
                Paragraph(
                    doc=row["doc"],
                    tokens=[token.text for token in tokens],
                    labels=labels,
                    spans=sentence_spans(tokens, row["text"]),
                    mentions=mentions,
                )
            )
    return paragraphs


def syllable_tables(vntc_path: Path) -> SyllableTables:
    """Per lower-cased syllable of VNTC news: the share of its occurrences away from a sentence
    start written with a capital, and its frequency, both bucketed into one short code."""
    total: Counter[str] = Counter()
    capitalised: Counter[str] = Counter()
    with gzip.open(vntc_path, "rt", encoding="utf-8") as lines:
        for line in lines:
            tokens = TOKEN_PATTERN.findall(json.loads(line)["text"])
            for index, word in enumerate(tokens):
                if not word[0].isalpha():
                    continue
                if index == 0 or tokens[index - 1] in '.!?…:"“(-–':
                    continue
                lowered = word.lower()
                total[lowered] += 1
                if word[0].isupper():
                    capitalised[lowered] += 1
    buckets = {}
    for syllable, count in total.items():
        if count < MIN_SYLLABLE_COUNT:
            continue
        ratio = capitalised[syllable] / count
        cap_bucket = (
            0 if ratio == 0 else 1 if ratio < 0.1 else 2 if ratio < 0.5 else 3 if ratio < 0.9 else 4
        )
        frequency_bucket = min(int(math.log10(count)), 4)
        buckets[syllable] = f"{cap_bucket}{frequency_bucket}"
    return SyllableTables(buckets)


def vntc_token_lines(vntc_path: Path) -> Iterator[list[str]]:
    """The tokens (as ``entities.tokenize`` cuts them) of each line of each VNTC article."""
    with gzip.open(vntc_path, "rt", encoding="utf-8") as lines:
        for line in lines:
            for text_line in json.loads(line)["text"].split("\n"):
                tokens = TOKEN_PATTERN.findall(text_line)
                if tokens:
                    yield tokens


def syllable_clusters(
    vntc_path: Path, syllables: Sequence[str], seed: int
) -> dict[str, tuple[int, ...]]:
    """A cluster id per granularity (``SYLLABLE_CLUSTER_SIZES``) for each of ``syllables``
    (lower-cased), from their contexts in VNTC news: syllables used alike ("hà", "huế", "vinh";
    "sở", "bộ", "viện") share a cluster, which tells the CRF about syllables it saw rarely or
    never in VLSP 2018."""
    from scipy import sparse
    from sklearn.cluster import KMeans
    from sklearn.utils.extmath import randomized_svd

    row_of = {syllable: index for index, syllable in enumerate(syllables)}
    lines = [[token.lower() for token in tokens] for tokens in vntc_token_lines(vntc_path)]
    counts = Counter(token for tokens in lines for token in tokens)
    context_of = {
        word: index for index, (word, _) in enumerate(counts.most_common(CLUSTER_CONTEXT_WORDS))
    }
    n_contexts = CLUSTER_CONTEXT_WORDS + 1  # the last column: any other syllable
    rows_list: list[np.ndarray] = []
    columns_list: list[np.ndarray] = []
    for tokens in lines:
        rows = np.fromiter((row_of.get(token, -1) for token in tokens), np.int64, len(tokens))
        contexts = np.fromiter(
            (context_of.get(token, CLUSTER_CONTEXT_WORDS) for token in tokens),
            np.int64,
            len(tokens),
        )
        for slot, offset in enumerate(CLUSTER_CONTEXT_OFFSETS):
            if offset > 0:
                source, target = rows[:-offset], contexts[offset:]
            else:
                source, target = rows[-offset:], contexts[:offset]
            kept = source >= 0
            rows_list.append(source[kept])
            columns_list.append(target[kept] + slot * n_contexts)
    row_ids = np.concatenate(rows_list)
    cooccurrence = sparse.coo_matrix(
        (np.ones(len(row_ids), dtype=np.float64), (row_ids, np.concatenate(columns_list))),
        shape=(len(syllables), n_contexts * len(CLUSTER_CONTEXT_OFFSETS)),
    ).tocsr()
    # Positive PMI, with the context distribution smoothed (power 0.75) as is usual, so rare
    # contexts do not dominate.
    total = cooccurrence.sum()
    row_sums = np.asarray(cooccurrence.sum(axis=1)).ravel()
    column_sums = np.asarray(cooccurrence.sum(axis=0)).ravel() ** 0.75
    column_share = column_sums / column_sums.sum()
    coo = cooccurrence.tocoo()
    pmi = np.log(coo.data / total / ((row_sums[coo.row] / total) * column_share[coo.col]))
    kept = pmi > 0
    ppmi = sparse.csr_matrix((pmi[kept], (coo.row[kept], coo.col[kept])), shape=cooccurrence.shape)
    vectors, singular_values, _ = randomized_svd(ppmi, CLUSTER_VECTOR_SIZE, random_state=seed)
    vectors = vectors * np.sqrt(singular_values)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    assignments = []
    for size in SYLLABLE_CLUSTER_SIZES:
        kmeans = KMeans(n_clusters=size, n_init=1, random_state=seed, max_iter=100)
        assignments.append(kmeans.fit_predict(vectors))
        print(f"k-means {size}: inertia {kmeans.inertia_:.1f}", file=sys.stderr)
    return {
        syllable: tuple(int(column[index]) for column in assignments)
        for index, syllable in enumerate(syllables)
    }


def doc_folds(paragraphs: Sequence[Paragraph], n_folds: int, seed: int) -> dict[str, int]:
    docs = sorted({paragraph.doc for paragraph in paragraphs})
    order = np.random.default_rng(seed).permutation(len(docs))
    return {docs[position]: int(rank % n_folds) for rank, position in enumerate(order)}


def out_of_fold_gazetteers(
    paragraphs: Sequence[Paragraph], seed: int
) -> tuple[list[Gazetteer], dict[str, int]]:
    """One gazetteer per fold of documents, built from the other folds' annotations: a training
    sentence never looks itself up, so the CRF learns how far a gazetteer hit can be trusted on
    text it has not seen."""
    folds = doc_folds(paragraphs, GAZETTEER_FOLDS, seed)
    gazetteers = [
        Gazetteer.from_mentions(
            mention
            for paragraph in paragraphs
            if folds[paragraph.doc] != fold
            for mention in paragraph.mentions
        )
        for fold in range(GAZETTEER_FOLDS)
    ]
    return gazetteers, folds


def sequences(
    paragraphs: Sequence[Paragraph],
    tables: SyllableTables,
    gazetteer_of: dict[str, Gazetteer],
) -> Iterator[tuple[list[list[str]], list[str]]]:
    for paragraph in paragraphs:
        gazetteer = gazetteer_of[paragraph.doc]
        for start, end in paragraph.spans:
            tokens = paragraph.tokens[start:end]
            yield sequence_features(tokens, tables, gazetteer), paragraph.labels[start:end]


def fit_crf(
    paragraphs: Sequence[Paragraph],
    tables: SyllableTables,
    gazetteer_of: dict[str, Gazetteer],
    c1: float,
    c2: float,
    max_iterations: int,
    verbose: bool = False,
):
    import sklearn_crfsuite

    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs",
        c1=c1,
        c2=c2,
        max_iterations=max_iterations,
        all_possible_transitions=True,
        # crfsuite's own log (one block per L-BFGS iteration) goes to stdout.
        verbose=verbose,
    )
    pairs = list(sequences(paragraphs, tables, gazetteer_of))
    crf.fit([features for features, _ in pairs], [labels for _, labels in pairs])
    return crf


def tune_regularisation(
    fit_pairs: list[tuple[list[list[str]], list[str]]],
    tune_pairs: list[tuple[list[list[str]], list[str]]],
    grid: Sequence[tuple[float, float]],
    max_iterations: int,
) -> list[dict[str, float]]:
    """Entity F1 on the held-out part for each (c1, c2), fit on the rest. The data is handed to
    crfsuite once (that alone takes minutes) and its trainer refit per setting, with the
    parameters ``fit_crf`` gives sklearn-crfsuite."""
    import tempfile

    import pycrfsuite

    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    for features, labels in fit_pairs:
        trainer.append(features, labels)
    trials = []
    with tempfile.TemporaryDirectory() as directory:
        for c1, c2 in grid:
            started = time.perf_counter()
            trainer.set_params(
                {
                    "c1": c1,
                    "c2": c2,
                    "max_iterations": max_iterations,
                    "feature.possible_transitions": True,
                }
            )
            model_path = str(Path(directory) / f"c1-{c1}-c2-{c2}.crfsuite")
            trainer.train(model_path)
            tagger = pycrfsuite.Tagger()
            tagger.open(model_path)
            predicted = [tagger.tag(features) for features, _ in tune_pairs]
            tagger.close()
            scores = span_f1([labels for _, labels in tune_pairs], predicted)
            trial = {"c1": c1, "c2": c2, **scores, "seconds": round(time.perf_counter() - started)}
            print(json.dumps(trial), file=sys.stderr)
            trials.append(trial)
    return trials


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    true_positives = n_gold = n_predicted = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        expected = set(spans_from_tags(gold_tags))
        found = set(spans_from_tags(predicted_tags))
        true_positives += len(expected & found)
        n_gold += len(expected)
        n_predicted += len(found)
    precision = true_positives / n_predicted if n_predicted else 0.0
    recall = true_positives / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def train_entities(args: argparse.Namespace) -> dict[str, object]:
    from services.nlp.train import write_npz

    started = time.perf_counter()
    data_root: Path = args.data
    vlsp = data_root / "ner" / "vlsp2018"
    train = read_vlsp(vlsp / "train.jsonl")
    vntc = data_root / "topic" / "vntc" / "train.jsonl.gz"
    tables = syllable_tables(vntc)
    if args.clusters:
        tables = SyllableTables(
            tables.buckets, syllable_clusters(vntc, sorted(tables.buckets), args.seed)
        )
    print(f"syllable table: {len(tables.buckets)} entries", file=sys.stderr)

    # Tuning: hold out a seeded tenth of the training documents.
    folds = doc_folds(train, round(1 / TUNING_FRACTION), args.seed)
    fit_part = [paragraph for paragraph in train if folds[paragraph.doc] != 0]
    tune_part = [paragraph for paragraph in train if folds[paragraph.doc] == 0]
    grid = [(args.c1, args.c2)] if args.c1 is not None else list(CRF_GRID)
    trials = []
    if len(grid) > 1 or args.holdout:
        gazetteers, gazetteer_folds = out_of_fold_gazetteers(fit_part, args.seed)
        gazetteer_of = {doc: gazetteers[fold] for doc, fold in gazetteer_folds.items()}
        full_fit_gazetteer = Gazetteer.from_mentions(
            mention for paragraph in fit_part for mention in paragraph.mentions
        )
        gazetteer_of |= {paragraph.doc: full_fit_gazetteer for paragraph in tune_part}
        trials = tune_regularisation(
            list(sequences(fit_part, tables, gazetteer_of)),
            list(sequences(tune_part, tables, gazetteer_of)),
            grid,
            args.max_iterations,
        )
        best = max(trials, key=lambda trial: trial["f1"])
        c1, c2 = best["c1"], best["c2"]
        if args.holdout:
            return {"tuning": trials, "seconds": round(time.perf_counter() - started)}
    else:
        c1, c2 = grid[0]

    gazetteers, gazetteer_folds = out_of_fold_gazetteers(train, args.seed)
    gazetteer_of = {doc: gazetteers[fold] for doc, fold in gazetteer_folds.items()}
    fit_started = time.perf_counter()
    crf = fit_crf(train, tables, gazetteer_of, c1, c2, args.max_iterations, args.verbose)
    fit_seconds = time.perf_counter() - fit_started
    serving_gazetteer = Gazetteer.from_mentions(
        mention for paragraph in train for mention in paragraph.mentions
    )
    save_entity_model(
        args.out,
        crf=crf,
        tables=tables,
        gazetteer=serving_gazetteer,
        write_npz=write_npz,
        training={
            "seed": args.seed,
            "c1": c1,
            "c2": c2,
            "max_iterations": args.max_iterations,
            "grid": [list(setting) for setting in grid],
            "tuning": trials,
            "tuning_split": f"{TUNING_FRACTION:.0%} of train documents held out "
            f"(numpy default_rng({args.seed}).permutation of sorted doc ids)",
            "gazetteer_folds": GAZETTEER_FOLDS,
            "final_fit_seconds": round(fit_seconds),
            "train_paragraphs": len(train),
        },
    )
    recognizer = EntityRecognizer.load(args.out)
    dev = evaluate_vlsp(vlsp / "dev.jsonl", recognizer)
    description_path = args.out / MODEL_FILE
    description = json.loads(description_path.read_text(encoding="utf-8"))
    description["metrics"] = {"vlsp2018_dev_serving_path": dev}
    description_path.write_text(
        json.dumps(description, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return {
        "model": ENTITY_MODEL_NAME,
        "c1": c1,
        "c2": c2,
        "tuning": trials,
        "dev": dev,
        "sha256": recognizer.sha256,
        "weights_bytes": (args.out / WEIGHTS_FILE).stat().st_size,
        "final_fit_seconds": round(fit_seconds),
        "seconds": round(time.perf_counter() - started),
    }


def save_entity_model(
    out: Path,
    *,
    crf,
    tables: SyllableTables,
    gazetteer: Gazetteer,
    write_npz,
    training: dict[str, object],
) -> None:
    label_index = {label: index for index, label in enumerate(LABELS)}
    state = crf.state_features_
    features = sorted({attribute for (attribute, _), weight in state.items() if weight != 0.0})
    feature_index = {feature: index for index, feature in enumerate(features)}
    weights = np.zeros((len(features), len(LABELS)), dtype=np.float32)
    for (attribute, label), weight in state.items():
        if weight != 0.0:
            weights[feature_index[attribute], label_index[label]] = weight
    transitions = np.zeros((len(LABELS), len(LABELS)), dtype=np.float32)
    for (source, target), weight in crf.transition_features_.items():
        transitions[label_index[source], label_index[target]] = weight
    syllables = sorted(tables.buckets)
    gazetteer_lines = sorted(
        f"{' '.join(tokens)}\t{kind}" for tokens, kind in gazetteer.entries.items()
    )
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / WEIGHTS_FILE
    write_npz(
        weights_path,
        {
            "features": encode_lines(features),
            "state_weights": weights,
            "transitions": transitions,
            "syllables": encode_lines(syllables),
            "syllable_buckets": encode_lines(tables.buckets[s] for s in syllables),
            # One row per syllable of the table, one column per granularity (none without
            # clusters).
            "syllable_clusters": np.asarray(
                [tables.clusters.get(s, ()) for s in syllables], dtype=np.uint16
            ).reshape(len(syllables), -1),
            "gazetteer": encode_lines(gazetteer_lines),
        },
    )
    description = {
        "format_version": FORMAT_VERSION,
        "task": "entities",
        "name": ENTITY_MODEL_NAME,
        "version": ENTITY_MODEL_VERSION,
        "labels": list(LABELS),
        "architecture": "linear-chain CRF over syllable features (crfsuite L-BFGS), decoded by "
        "numpy Viterbi, scores from numpy forward-backward marginals",
        "n_features": len(features),
        "n_syllables": len(syllables),
        "n_gazetteer_entries": len(gazetteer_lines),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        "training_data": [
            {
                "name": "VLSP 2018 NER (train split)",
                "use": "entity annotations (outermost), gazetteer",
                "licence": "research use",
            },
            {
                "name": "VNTC (train sample)",
                "use": "syllable capitalisation and frequency table; syllable word clusters",
                "licence": "MIT",
            },
        ],
        "training": training,
    }
    (out / MODEL_FILE).write_text(
        json.dumps(description, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def add_parser(tasks) -> None:
    parser = tasks.add_parser("entities", help="PER/ORG/LOC/MISC CRF: VLSP 2018 + VNTC")
    parser.add_argument("--data", type=Path, required=True, help="root of shared data/vi")
    parser.add_argument("--out", type=Path, required=True, help="artefact directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--c1", type=float, default=None, help="skip tuning: use this c1")
    parser.add_argument("--c2", type=float, default=0.01, help="c2 when --c1 is given")
    parser.add_argument("--max-iterations", type=int, default=MAX_ITERATIONS)
    parser.add_argument(
        "--no-clusters",
        dest="clusters",
        action="store_false",
        help="leave out the VNTC word-cluster features",
    )
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="only score the grid (or --c1/--c2) on the held-out tenth of train; write nothing",
    )
    parser.add_argument("--verbose", action="store_true", help="print crfsuite's training log")
    parser.set_defaults(run=train_entities)
