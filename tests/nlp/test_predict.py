"""``python -m services.nlp.predict``: JSON Lines in, one full analysis per line out, in order."""

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

LINES = [
    {"id": "a", "title": "Mưa lớn", "text": "Đường ngập sâu, xe chết máy la liệt, bực mình quá."},
    {"text": "Công viên mới mở rất đẹp, sạch sẽ, cả nhà mình rất thích."},
    {"id": 3, "text": "ko dc j het, ket xe tu sang toi gio"},
    {"text": "The road is flooded again after the storm."},
]
FIELDS = {
    "id",
    "language",
    "sentiment",
    "toxicity",
    "emotion",
    "topic",
    "sectors",
    "entities",
    "localities",
    "keywords",
    "embedding",
    "models_version",
}


def predict(stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.nlp.predict", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=REPO_ROOT,
    )


def test_every_line_gets_every_field_in_order(served_encoder_dir: Path) -> None:
    result = predict("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in LINES))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(LINES)
    assert [o["id"] for o in out] == ["a", "", "3", ""]
    for o in out:
        assert set(o) == FIELDS
        assert len(o["embedding"]) == 384
        assert o["models_version"]
    assert [o["language"]["code"] for o in out] == ["vi", "vi", "vi", "en"]
    negative, positive, unmarked, english = out
    assert negative["sentiment"]["label"] == "negative"
    assert positive["sentiment"]["label"] == "positive"
    for o in (negative, positive, unmarked):
        probabilities = o["sentiment"]["probabilities"]
        assert set(probabilities) == {"negative", "neutral", "positive"}
        assert abs(sum(probabilities.values()) - 1) < 1e-4
        assert o["sentiment"]["score"] == max(probabilities.values())
    # Not Vietnamese: the Vietnamese-only fields are empty rather than guessed.
    assert english["sentiment"] is None
    assert english["entities"] == english["keywords"] == english["localities"] == []


def test_bad_lines_are_named_and_the_good_ones_still_analysed(served_encoder_dir: Path) -> None:
    stdin = "\n".join(
        [
            json.dumps(LINES[0], ensure_ascii=False),
            "{not json",
            "",
            json.dumps(["a list"]),
            json.dumps({"title": "no text"}),
            json.dumps({"text": 42}),
            json.dumps(LINES[1], ensure_ascii=False),
        ]
    )
    result = predict(stdin, "--no-embedding")
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    # The blank line 3 is skipped; every other line has its answer, in order.
    assert [o.get("line") for o in out] == [None, 2, 4, 5, 6, None]
    assert out[0]["sentiment"]["label"] == "negative"
    assert out[-1]["sentiment"]["label"] == "positive"
    assert "embedding" not in out[0]
    for number in (2, 4, 5, 6):
        assert f"line {number}: " in result.stderr
    assert 'line 5: no "text"' in result.stderr
    assert 'line 6: "text" must be a string' in result.stderr
    assert "4 bad line(s)" in result.stderr
