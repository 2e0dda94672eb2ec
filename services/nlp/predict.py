"""Analyse JSON Lines from stdin in-process: ``python -m services.nlp.predict < posts.jsonl``.

Each input line is an object with "text" (a string) and optionally "title" and "id". Each
non-blank input line gives exactly one output line, in the same order: the whole analysis (labels
as lower-case strings, probabilities as numbers; fields the language or the loaded models do not
give are null or []), or, for a bad line, {"line": N, "error": "..."} with the same message on
stderr. Blank lines are skipped. The exit status is 1 if any line was bad, after every good line
has been analysed.
"""

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from google.protobuf.message import Message

from langnghe.nlp.v1 import nlp_pb2
from services.nlp.pipeline import Analyzer, load_analyzer
from services.nlp.settings import NlpSettings

BATCH = 64


def _round(value: float) -> float:
    return round(float(value), 6)


def _classification(message: nlp_pb2.Classification, present: bool) -> dict | None:
    if not present:
        return None
    return {
        "label": message.label,
        "score": _round(message.score),
        "probabilities": {p.label: _round(p.probability) for p in message.probabilities},
    }


def _span(span: nlp_pb2.Span) -> dict:
    field = nlp_pb2.TextField.Name(span.field).removeprefix("TEXT_FIELD_").lower()
    return {"field": field, "start": span.start, "end": span.end}


def analysis_json(analysis: nlp_pb2.Analysis, *, embedding: bool = True) -> dict:
    """Every field of an Analysis as plain JSON values."""
    has = analysis.HasField
    sentiment = None
    if has("sentiment"):
        s = analysis.sentiment
        sentiment = {
            "label": nlp_pb2.SentimentLabel.Name(s.label).removeprefix("SENTIMENT_LABEL_").lower(),
            "score": _round(s.score),
            "probabilities": {
                "negative": _round(s.negative),
                "neutral": _round(s.neutral),
                "positive": _round(s.positive),
            },
        }
    out = {
        "id": analysis.id,
        "language": {
            "code": analysis.language.code,
            "confidence": _round(analysis.language.confidence),
        },
        "sentiment": sentiment,
        "toxicity": _classification(analysis.toxicity, has("toxicity")),
        "emotion": _classification(analysis.emotion, has("emotion")),
        "topic": _classification(analysis.topic, has("topic")),
        "sectors": [{"label": s.label, "score": _round(s.probability)} for s in analysis.sectors],
        "entities": [
            {
                "type": nlp_pb2.EntityType.Name(e.type).removeprefix("ENTITY_TYPE_").lower(),
                "text": e.text,
                **_span(e.span),
                "score": _round(e.score),
            }
            for e in analysis.entities
        ],
        "localities": [
            {
                "code": loc.code,
                "name": loc.name,
                "level": _enum_name(nlp_pb2.LocalityLevel, "LOCALITY_LEVEL_", loc.level),
                "structure": _enum_name(nlp_pb2.AdminStructure, "ADMIN_STRUCTURE_", loc.structure),
                "current_codes": list(loc.current_codes),
                "mention": loc.mention,
                **_span(loc.span),
                "score": _round(loc.score),
            }
            for loc in analysis.localities
        ],
        "keywords": [{"phrase": k.phrase, "score": _round(k.score)} for k in analysis.keywords],
        "models_version": analysis.models_version,
    }
    if embedding:
        out["embedding"] = [_round(v) for v in analysis.embedding]
    return out


def _enum_name(enum_type, prefix: str, value: int) -> str:
    return enum_type.Name(value).removeprefix(prefix).lower()


def parse_line(line: str, max_chars: int) -> nlp_pb2.TextInput:
    """A TextInput from one JSON line; ValueError says what is wrong with it."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    text = item.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string' if "text" in item else 'no "text"')
    title = item.get("title", "")
    if not isinstance(title, str):
        raise ValueError('"title" must be a string')
    identifier = item.get("id", "")
    if not isinstance(identifier, str | int):
        raise ValueError('"id" must be a string or an integer')
    if len(text) + len(title) > max_chars:
        raise ValueError(f"longer than {max_chars:,} characters")
    return nlp_pb2.TextInput(id=str(identifier), text=text, title=title)


def _chunks(lines: TextIO, max_chars: int) -> Iterator[list[tuple[int, Message | str]]]:
    """Batches of (line number, TextInput or error message), blank lines left out."""
    chunk: list[tuple[int, Message | str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            chunk.append((number, parse_line(line, max_chars)))
        except ValueError as exc:
            chunk.append((number, str(exc)))
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(analyzer: Analyzer, source: TextIO, sink: TextIO, errors: TextIO, **options) -> int:
    """Analyse every line of ``source``; returns the number of bad lines."""
    bad = 0
    for chunk in _chunks(source, options.get("max_chars", 100_000)):
        inputs = [item for _, item in chunk if isinstance(item, Message)]
        analyses = iter(analyzer.analyze(inputs))
        for number, item in chunk:
            if isinstance(item, Message):
                result = analysis_json(next(analyses), embedding=options.get("embedding", True))
            else:
                bad += 1
                print(f"line {number}: {item}", file=errors)
                result = {"line": number, "error": item}
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
        sink.flush()
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.nlp.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--no-embedding", action="store_true", help="leave the 384 numbers of the embedding out"
    )
    args = parser.parse_args(argv)
    # JSON Lines are UTF-8 whatever the locale says.
    sys.stdin.reconfigure(encoding="utf-8")
    sys.stdout.reconfigure(encoding="utf-8")
    settings = NlpSettings()
    try:
        analyzer = load_analyzer(settings)
    except Exception as exc:  # any loader's error: say it and stop, nothing has been read yet
        print(f"error: cannot load the models: {exc}", file=sys.stderr)
        return 2
    bad = run(
        analyzer,
        sys.stdin,
        sys.stdout,
        sys.stderr,
        embedding=not args.no_embedding,
        max_chars=settings.max_text_chars,
    )
    if bad:
        print(f"{bad} bad line(s); every other line was analysed", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
