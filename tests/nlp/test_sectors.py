"""City sectors: the taxonomy file's validation and the scorer with the real e5 encoder."""

import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from services.nlp.build_encoder import build
from services.nlp.calibrate_sectors import evaluate, fit_logistic, read_labelled
from services.nlp.encoder import EncoderLoadError, SentenceEncoder
from services.nlp.sectors import TAXONOMY_PATH, SectorScorer, SectorTaxonomy, TaxonomyError
from services.nlp.settings import NlpSettings

ROOT = Path(__file__).resolve().parents[2]
EVAL_SET = Path(__file__).parent / "fixtures" / "sectors_eval.jsonl"
REQUIRED = {
    "transport",
    "flooding",
    "environment",
    "health",
    "education",
    "public_order",
    "construction",
    "public_services",
    "economy",
    "culture_tourism",
    "digital",
}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> SentenceEncoder:
    """The set-up's encoder in .cache; built into a temporary directory when it is missing."""
    try:
        return SentenceEncoder.load(ROOT / ".cache" / "models" / "e5-small", max_tokens=128)
    except EncoderLoadError:
        out = tmp_path_factory.mktemp("models") / "e5-small"
        assert build(out, install_missing=False) is True
        return SentenceEncoder.load(out, max_tokens=128)


@pytest.fixture(scope="module")
def scorer(encoder: SentenceEncoder) -> SectorScorer:
    return SectorScorer(SectorTaxonomy.load(NlpSettings().sectors_taxonomy), encoder)


def test_the_committed_taxonomy_has_every_sector() -> None:
    taxonomy = SectorTaxonomy.load(TAXONOMY_PATH)
    assert set(taxonomy.ids) >= REQUIRED
    for sector in taxonomy.sectors:
        assert sector.name
        assert len(sector.descriptions) >= 3
        assert len(sector.keywords) >= 5
    assert 0 < taxonomy.threshold < 1
    assert len(taxonomy.sha256) == 64


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "sectors.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _valid() -> dict:
    return {
        "version": 1,
        "threshold": 0.3,
        "similarity": {"center": 0.85, "slope": 50},
        "sectors": [
            {
                "id": "flooding",
                "name": "Ngập nước",
                "descriptions": ["Đường ngập sau mưa."],
                "keywords": [{"phrase": "ngập sâu", "weight": 0.7}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("sectors"), "sectors must be a non-empty list"),
        (lambda d: d.update(threshold=1.5), r"threshold must be in \(0.0, 1.0\)"),
        (lambda d: d.update(threshold="high"), "threshold must be a number"),
        (lambda d: d["similarity"].update(slope=-1), "similarity.slope"),
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d["sectors"][0].update(id="Ngập"), "lower-case ASCII identifier"),
        (lambda d: d["sectors"].append(dict(d["sectors"][0])), "used twice"),
        (lambda d: d["sectors"][0].update(descriptions=[]), "descriptions must be a list"),
        (lambda d: d["sectors"][0].update(name=" "), "name must be a non-empty string"),
        (lambda d: d["sectors"][0]["keywords"][0].update(weight=2), r"keywords\[0\].weight"),
        (lambda d: d["sectors"][0]["keywords"][0].update(phrase="!!"), "at least one word"),
        (lambda d: d["sectors"][0]["keywords"][0].update(wieght=1), "unknown keys"),
    ],
)
def test_a_broken_taxonomy_is_named_precisely(tmp_path: Path, change, message: str) -> None:
    data = _valid()
    SectorTaxonomy.load(_write(tmp_path, data))
    change(data)
    with pytest.raises(TaxonomyError, match=message):
        SectorTaxonomy.load(_write(tmp_path, data))


def test_unreadable_taxonomy_files(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        SectorTaxonomy.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sectors: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        SectorTaxonomy.load(bad)


def test_keywords_ignore_case_and_diacritics_and_match_whole_words(scorer: SectorScorer) -> None:
    ids = scorer.taxonomy.ids
    evidence = scorer.keyword_evidence(
        ["KẸT XE ở cầu", "ket xe o cau", "Sáng nay bị kẹt xe và tai nạn giao thông", "ketxe"]
    )
    transport = ids.index("transport")
    assert evidence[0, transport] == pytest.approx(0.6)
    assert evidence[1, transport] == pytest.approx(0.6)
    # Several phrases add up, noisy-or: 1 - (1 - 0.6)(1 - 0.7)(1 - 0.4) for "giao thông" too.
    assert evidence[2, transport] == pytest.approx(1 - 0.4 * 0.3 * 0.6)
    assert evidence[3].sum() == 0


def test_scores_are_above_threshold_and_best_first(
    scorer: SectorScorer, encoder: SentenceEncoder
) -> None:
    texts = [
        "Mưa lớn chiều nay khiến đường trước chợ ngập sâu, xe chết máy hàng loạt.",
        "Hôm qua tôi xem một bộ phim hoạt hình rất vui cùng các con.",
    ]
    results = scorer.score(texts, encoder.encode(texts))
    assert len(results) == 2
    assert results[0][0][0] == "flooding"
    scores = [s for _, s in results[0]]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= scorer.taxonomy.threshold for s in scores)
    assert results[1] == []
    assert (scorer.name, scorer.version) == ("city-sectors", "1")
    assert scorer.sha256 == scorer.taxonomy.sha256
    with pytest.raises(ValueError, match="one embedding per text"):
        scorer.score(texts, encoder.encode(texts[:1]))
    with pytest.raises(TypeError):
        scorer.score(texts[0], encoder.encode(texts[:1]))


def test_top_sector_on_our_own_labelled_texts(
    scorer: SectorScorer, encoder: SentenceEncoder
) -> None:
    # 64 texts written for this test (5-6 a sector, 8 off-topic), never used to tune constants.
    result = evaluate(scorer, encoder, EVAL_SET)
    assert result["texts"] == 64
    # Measured, no off-topic text given a sector in either: encoder builder 3, precision 0.870
    # and recall 0.839; builder 4 (recalibrated), 0.849 and 0.804 — two texts changed, each
    # near a threshold (one text is 0.02 here), so the bars sit a text or two below.
    assert result["precision"] >= 0.82
    assert result["recall"] >= 0.77
    assert result["off_topic_flagged"] <= 1


def test_an_article_costs_well_under_a_millisecond(
    scorer: SectorScorer, encoder: SentenceEncoder
) -> None:
    sentence = (
        "Mưa lớn kéo dài khiến nhiều tuyến đường ngập sâu, người dân phải dắt xe qua đoạn "
        "ngập trong khi đơn vị thoát nước đang nạo vét cống và lắp thêm máy bơm dọc tuyến. "
    )
    articles = [sentence * 20] * 16  # about 600 words each
    embeddings = np.repeat(encoder.encode([sentence]), len(articles), axis=0)
    scorer.score(articles, embeddings)
    started = time.process_time()
    for _ in range(5):
        results = scorer.score(articles, embeddings)
    per_article = (time.process_time() - started) / (5 * len(articles))
    assert results[0][0][0] == "flooding"
    assert per_article < 0.003, per_article


def test_calibration_fits_a_logistic() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.7, 1.0, 4000)
    y = (rng.uniform(size=x.size) < 1 / (1 + np.exp(-60 * (x - 0.88)))).astype(float)
    center, slope = fit_logistic(x, y)
    assert center == pytest.approx(0.88, abs=0.01)
    assert slope == pytest.approx(60, rel=0.2)


def test_labelled_files_name_only_known_sectors(tmp_path: Path) -> None:
    ids = SectorTaxonomy.load(TAXONOMY_PATH).ids
    texts, labels = read_labelled(EVAL_SET, ids)
    assert len(texts) == len(labels) == 64
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "sector": "weather"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown sectors"):
        read_labelled(bad, ids)
