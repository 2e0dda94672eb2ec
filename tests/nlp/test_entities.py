"""Tests of the committed Vietnamese entity recogniser and of its numpy CRF decoding."""

import json
import re
import shutil
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import services.nlp.entities as entities_module
from services.nlp.classifiers import ModelLoadError
from services.nlp.entities import (
    LABELS,
    EntityMention,
    EntityRecognizer,
    Gazetteer,
    SyllableTables,
    nfc_with_offsets,
    organisation_head_features,
    sentence_spans,
    sequence_features,
    spans_from_tags,
    tokenize,
)

MODEL_DIR = Path(entities_module.__file__).parent / "models" / "entities"

# Written for these tests; none comes from a training corpus. The department is named with its
# city: VLSP 2018, which the model learns from, often leaves a bare "Sở Y tế" unannotated.
CITY_NEWS = (
    "Sáng nay, ông Nguyễn Văn Minh, Giám đốc Sở Giao thông vận tải TP.HCM, đã đến kiểm tra "
    "công trình cải tạo đường Nguyễn Hữu Cảnh ở Thành phố Hồ Chí Minh."
)
FLOOD_POST = "Bà Trần Thị Lan ở Đà Nẵng nói rằng Công ty Cấp nước Đà Nẵng chưa sửa ống vỡ."


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return EntityRecognizer.load(MODEL_DIR)


def _by_type(mentions: list[EntityMention]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for mention in mentions:
        found.setdefault(mention.type, []).append(mention.text)
    return found


def test_model_identity(recognizer: EntityRecognizer) -> None:
    assert recognizer.name
    assert recognizer.version
    description = json.loads((MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert description["weights_sha256"] == recognizer.sha256
    assert (MODEL_DIR / "weights.npz").stat().st_size <= 12 * 1024 * 1024


def test_person_organisation_and_places(recognizer: EntityRecognizer) -> None:
    news, post = recognizer.recognize([CITY_NEWS, FLOOD_POST])
    found = _by_type(news)
    assert "Nguyễn Văn Minh" in found["PER"]
    assert any(name.startswith("Sở Giao thông vận tải") for name in found["ORG"])
    assert "Thành phố Hồ Chí Minh" in found["LOC"]
    found = _by_type(post)
    assert "Trần Thị Lan" in found["PER"]
    assert "Đà Nẵng" in found["LOC"]
    assert any(name.startswith("Công ty Cấp nước") for name in found["ORG"])


def test_offsets_are_exact_code_point_spans(recognizer: EntityRecognizer) -> None:
    texts = [CITY_NEWS, FLOOD_POST, "Tiêu đề\n\n" + FLOOD_POST + "\r\n" + CITY_NEWS]
    for text, mentions in zip(texts, recognizer.recognize(texts), strict=True):
        assert mentions
        for mention in mentions:
            assert text[mention.start : mention.end] == mention.text
            assert mention.type in {"PER", "ORG", "LOC", "MISC"}
            assert 0.0 < mention.score <= 1.0
        starts = [mention.start for mention in mentions]
        assert starts == sorted(starts)


def test_mentions_after_astral_characters_keep_code_point_offsets(
    recognizer: EntityRecognizer,
) -> None:
    text = "😡😡 Kẹt xe quá! " + FLOOD_POST
    (mentions,) = recognizer.recognize([text])
    assert any(mention.text == "Trần Thị Lan" for mention in mentions)
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.text


def test_decomposed_input_gets_the_same_entities_with_offsets_into_it(
    recognizer: EntityRecognizer,
) -> None:
    decomposed = unicodedata.normalize("NFD", CITY_NEWS)
    assert decomposed != CITY_NEWS
    composed_mentions, decomposed_mentions = recognizer.recognize([CITY_NEWS, decomposed])
    assert len(decomposed_mentions) == len(composed_mentions)
    for composed, mention in zip(composed_mentions, decomposed_mentions, strict=True):
        assert decomposed[mention.start : mention.end] == mention.text
        assert unicodedata.normalize("NFC", mention.text) == composed.text
        assert mention.type == composed.type
        assert mention.score == pytest.approx(composed.score)


def test_nfc_offsets_map_back() -> None:
    text = "Hoa\u0300 Bi\u0300nh 😀 ở\u0301"
    normalized, offsets = nfc_with_offsets(text)
    assert normalized == unicodedata.normalize("NFC", text)
    assert len(offsets) == len(normalized) + 1
    assert offsets[-1] == len(text)
    assert normalized[4:8] == "Bình"
    assert text[offsets[4] : offsets[8]] == "Bi\u0300nh"


@pytest.mark.parametrize("text", ["", " ", "\n\t \u3000", "...", "😀"])
def test_empty_and_blank_text_has_no_entities(recognizer: EntityRecognizer, text: str) -> None:
    assert recognizer.recognize([text]) == [[]]


def test_batches(recognizer: EntityRecognizer) -> None:
    assert recognizer.recognize([]) == []
    texts = [CITY_NEWS, "", FLOOD_POST]
    together = recognizer.recognize(texts)
    alone = [recognizer.recognize([text])[0] for text in texts]
    assert together == alone
    with pytest.raises(TypeError):
        recognizer.recognize(CITY_NEWS)


def test_very_long_input(recognizer: EntityRecognizer) -> None:
    # One line of about 30,000 syllables without a sentence break, and a long word.
    text = " ".join([FLOOD_POST.rstrip(".")] * 1500) + " " + "a" * 50_000
    started = time.perf_counter()
    (mentions,) = recognizer.recognize([text])
    assert time.perf_counter() - started < 30
    assert sum(mention.text == "Trần Thị Lan" for mention in mentions) >= 1000
    for mention in mentions[:50]:
        assert text[mention.start : mention.end] == mention.text


def test_fast_emissions_equal_the_sum_of_feature_weights(recognizer: EntityRecognizer) -> None:
    text = CITY_NEWS + "\n" + FLOOD_POST + " a | b || c <s> </s> ."
    tokens = tokenize(text)
    sequences = [[token.text for token in tokens[b:e]] for b, e in sentence_spans(tokens, text)]
    fast = recognizer.emissions(sequences)
    slow = []
    for sequence in sequences:
        for features in sequence_features(sequence, recognizer.tables, recognizer.gazetteer):
            row = np.zeros(len(LABELS))
            for feature in features:
                weights = recognizer.feature_weights(feature)
                if weights is not None:
                    row += weights
            slow.append(row)
    np.testing.assert_allclose(fast, np.asarray(slow), atol=1e-4)


def test_spans_from_tags() -> None:
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "B-ORG", "I-PER"]
    assert spans_from_tags(tags) == [
        (0, 2, "PER"),
        (3, 5, "LOC"),
        (5, 6, "ORG"),
        (6, 7, "ORG"),
        (7, 8, "PER"),
    ]


def test_sentences_do_not_break_after_abbreviations() -> None:
    text = "Ông đến TP. Hồ Chí Minh hôm qua. Sau đó ông về P. Bến Nghé.\nDòng mới"
    tokens = tokenize(text)
    pieces = [" ".join(t.text for t in tokens[b:e]) for b, e in sentence_spans(tokens, text)]
    assert pieces == [
        "Ông đến TP . Hồ Chí Minh hôm qua .",
        "Sau đó ông về P . Bến Nghé .",
        "Dòng mới",
    ]


def test_organisation_heads_reach_past_the_window() -> None:
    tokens = [t.text for t in tokenize("Giám đốc Sở Y tế TP.HCM, ông Minh, nói ở sở.")]
    lowered = [token.lower() for token in tokens]
    features: dict[str, list[str]] = {}
    for index, feature in organisation_head_features(tokens, lowered):
        features.setdefault(f"{index}:{tokens[index]}", []).append(feature)
    # "Sở" opens the name; every token up to the comma reads it, "TP.HCM" included; the
    # lower-case "sở" at the end is a common noun and opens nothing.
    assert features == {
        "2:Sở": ["oh.at=sở"],
        "3:Y": ["oh.h=sở", "oh.d=1A"],
        "4:tế": ["oh.h=sở", "oh.d=2a"],
        "5:TP": ["oh.h=sở", "oh.d=3A"],
        "6:.": ["oh.h=sở", "oh.d=4-50"],
        "7:HCM": ["oh.h=sở", "oh.d=4-5A"],
    }
    tokens = ["Ủy", "ban", "nhân", "dân", "Quận", "1"]
    pairs = organisation_head_features(tokens, [token.lower() for token in tokens])
    assert pairs[0] == (0, "oh.at=ủy ban nhân dân")
    assert [index for index, _ in pairs[1:]] == [4, 4, 5, 5]


def test_word_clusters_are_features() -> None:
    tables = SyllableTables({"huế": "42"}, {"huế": (3, 17, 400)})
    rows = sequence_features(["về", "Huế", "thăm", "mẹ"], tables, Gazetteer.from_mentions([]))
    assert {"k0=3", "k1=17", "k2=400"} <= set(rows[1])
    assert {"L1.k0=3", "L1.k2=400"} <= set(rows[2])
    assert {"L2.k1=17"} <= set(rows[3])
    assert {"R1.k1=17"} <= set(rows[0])
    assert not any(re.fullmatch(r"k\d=\d+", f) for f in rows[0] + rows[2] + rows[3])
    # Cluster n-grams read the middle granularity; an unclustered syllable reads "-".
    assert {"kb.L=-|17", "kb.R=17|-", "kt.C=-|17|-"} <= set(rows[1])
    assert "kb.L=<s>|-" in rows[0]


def test_committed_model_has_word_clusters(recognizer: EntityRecognizer) -> None:
    clusters = recognizer.tables.clusters
    assert len(clusters) == len(recognizer.tables.buckets)
    assert {len(ids) for ids in clusters.values()} == {3}
    # Syllables used alike share clusters: the commonest family names, even at the finest
    # granularity.
    assert clusters["nguyễn"] == clusters["trần"]


def test_gazetteer_longest_match() -> None:
    gazetteer = Gazetteer.from_mentions(
        [
            (("Hồ", "Chí", "Minh"), "PER"),
            (("Thành", "phố", "Hồ", "Chí", "Minh"), "LOC"),
            (("Hồ", "Chí", "Minh"), "PER"),
            (("Hồ", "Chí", "Minh"), "LOC"),
        ]
    )
    tokens = ["ở", "Thành", "phố", "Hồ", "Chí", "Minh", "và", "Hồ", "Chí", "Minh"]
    assert gazetteer.tags(tokens) == [
        None,
        "B-LOC",
        "I-LOC",
        "I-LOC",
        "I-LOC",
        "I-LOC",
        None,
        "B-PER",
        "I-PER",
        "I-PER",
    ]


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        EntityRecognizer.load(tmp_path / "no-such-model")


def test_load_of_corrupt_weights_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "entities"))
    weights = bytearray((copy / "weights.npz").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(weights))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        EntityRecognizer.load(copy)


def test_load_of_missing_weights_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "entities"))
    (copy / "weights.npz").unlink()
    with pytest.raises(ModelLoadError, match="weights"):
        EntityRecognizer.load(copy)


# Hand-annotated sentences for a tiny CRF that crfsuite and the numpy decoder must agree on.
_ANNOTATED = (
    "[PER Nguyễn Văn An] làm việc tại [ORG Sở Y tế] [LOC Đà Nẵng] .",
    "Chị [PER Lê Thị Hoa] về [LOC Huế] thăm mẹ .",
    "[ORG Công ty Cấp nước Sài Gòn] sửa ống nước ở [LOC Quận 3] .",
    "Ông [PER Trần Minh] nói [ORG Ủy ban nhân dân] sẽ họp .",
    "Mưa lớn làm ngập đường [LOC Lê Lợi] và [LOC Hai Bà Trưng] .",
    "Đội [ORG Hoàng Anh Gia Lai] thắng ở [LOC Pleiku] tối qua .",
    "[PER Phạm Thu Trang] đọc báo [MISC Tuổi Trẻ] mỗi sáng .",
    "Người dân [LOC Cần Thơ] góp ý cho [ORG Sở Xây dựng] .",
    "Hôm nay trời nắng , đường phố đông xe .",
    "Anh [PER Võ Nam] chuyển từ [LOC Hà Nội] vào [LOC Nha Trang] .",
)


def _parse_annotated(line: str) -> tuple[list[str], list[str]]:
    tokens: list[str] = []
    labels: list[str] = []
    for match in re.finditer(r"\[(\w+) ([^\]]+)\]|(\S+)", line):
        if match.group(3):
            tokens.append(match.group(3))
            labels.append("O")
            continue
        kind, words = match.group(1), match.group(2).split()
        tokens.extend(words)
        labels.extend([f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1))
    return tokens, labels


def test_numpy_decoder_matches_crfsuite(tmp_path: Path) -> None:
    sklearn_crfsuite = pytest.importorskip("sklearn_crfsuite")
    from services.nlp.train import write_npz
    from services.nlp.train_entities import save_entity_model

    data = [_parse_annotated(line) for line in _ANNOTATED]
    tables = SyllableTables(
        {"đà": "42", "nẵng": "42", "làm": "01", "sở": "23", "huế": "42"},
        {"đà": (1, 5), "nẵng": (1, 6), "làm": (0, 2), "sở": (2, 7), "huế": (1, 6)},
    )
    gazetteer = Gazetteer.from_mentions(
        (tuple(tokens[start:end]), kind)
        for tokens, labels in data
        for start, end, kind in spans_from_tags(labels)
    )
    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs", c1=0.01, c2=0.05, max_iterations=60, all_possible_transitions=True
    )
    crf.fit(
        [sequence_features(tokens, tables, gazetteer) for tokens, _ in data],
        [labels for _, labels in data],
    )
    save_entity_model(
        tmp_path, crf=crf, tables=tables, gazetteer=gazetteer, write_npz=write_npz, training={}
    )
    recognizer = EntityRecognizer.load(tmp_path)
    assert recognizer.tables == tables
    unseen = (
        "Bà Lê Thị Hoa làm việc tại Sở Xây dựng Đà Nẵng .",
        "Mưa lớn ở Huế và Quận 3 , ông Trần Minh nói .",
        "không có ai cả",
        "Hà",
    )
    probes = [tokens for tokens, _ in data] + [[t.text for t in tokenize(s)] for s in unseen]
    ours = recognizer.tag_sequences(probes)
    theirs = crf.predict([sequence_features(tokens, tables, gazetteer) for tokens in probes])
    assert [labels for labels, _ in ours] == [list(labels) for labels in theirs]
    tagger = crf.tagger_
    for tokens, (labels, confidence) in zip(probes, ours, strict=True):
        tagger.set(sequence_features(tokens, tables, gazetteer))
        expected = [tagger.marginal(label, index) for index, label in enumerate(labels)]
        np.testing.assert_allclose(confidence, expected, atol=1e-4)
