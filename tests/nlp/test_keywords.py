"""Tests of the committed Vietnamese keyword extractor."""

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

import services.nlp.keywords as keywords_module
from services.nlp.classifiers import ModelLoadError
from services.nlp.keywords import KeywordExtractor, PhraseSegmenter

MODEL_DIR = Path(keywords_module.__file__).parent / "models" / "keywords"

# Written for these tests; none comes from a corpus.
FLOOD_ARTICLE = (
    "Đường Nguyễn Hữu Cảnh lại ngập nước sau cơn mưa chiều qua\n"
    "Chỉ sau khoảng một giờ mưa lớn kết hợp triều cường, nhiều đoạn trên đường Nguyễn Hữu Cảnh "
    "ngập nước sâu tới đầu gối. Hàng trăm xe máy chết máy giữa dòng, người dân phải dắt bộ qua "
    "chỗ ngập. Tình trạng ngập nước ở tuyến đường này đã kéo dài nhiều năm dù thành phố đầu tư "
    "nhiều dự án chống ngập. Trung tâm Chống ngập cho biết sẽ lắp thêm máy bơm và nạo vét cống "
    "thoát nước trước mùa mưa năm sau."
)
TRAFFIC_POST = (
    "Sở Giao thông vận tải vừa đề xuất cấm xe tải vào giờ cao điểm trên các tuyến đường dẫn "
    "vào sân bay Tân Sơn Nhất để giảm ùn tắc giao thông."
)
WASTE_POST = "Rác thải ứ đọng trong hẻm cả tuần không ai thu gom, mùi hôi thối bốc lên nồng nặc."


@pytest.fixture(scope="module")
def extractor() -> KeywordExtractor:
    return KeywordExtractor.load(MODEL_DIR)


def _phrases(extractor: KeywordExtractor, text: str, limit: int = 10) -> list[str]:
    return [keyword.phrase for keyword in extractor.extract(text, limit)]


def test_model_identity(extractor: KeywordExtractor) -> None:
    assert extractor.name
    assert extractor.version
    description = json.loads((MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert description["table_sha256"] == extractor.sha256
    total = sum(path.stat().st_size for path in MODEL_DIR.iterdir())
    assert total <= 3 * 1024 * 1024


def test_flood_article_yields_its_subject_not_stopwords(extractor: KeywordExtractor) -> None:
    keywords = extractor.extract(FLOOD_ARTICLE, limit=5)
    phrases = [keyword.phrase.lower() for keyword in keywords]
    assert "ngập nước" in phrases
    assert any("nguyễn hữu cảnh" in phrase for phrase in phrases)
    every = [phrase.lower() for phrase in _phrases(extractor, FLOOD_ARTICLE, 30)]
    for stopword in ("và", "của", "cho biết", "sau", "nhiều", "những", "đã", "một"):
        assert stopword not in every
    assert keywords[0].score == 1.0
    scores = [keyword.score for keyword in keywords]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score <= 1.0 for score in scores)


def test_multi_syllable_words_stay_whole(extractor: KeywordExtractor) -> None:
    phrases = [phrase.lower() for phrase in _phrases(extractor, WASTE_POST)]
    assert "rác thải" in phrases
    assert "thu gom" in phrases
    assert "thải" not in phrases
    assert "gom" not in phrases


def test_organisation_and_place_names(extractor: KeywordExtractor) -> None:
    phrases = _phrases(extractor, TRAFFIC_POST)
    assert "Sở Giao thông vận tải" in phrases
    assert any("Tân Sơn Nhất" in phrase for phrase in phrases)
    assert "ùn tắc" in [phrase.lower() for phrase in phrases] or "ùn tắc giao thông" in phrases


def test_phrases_are_written_as_in_the_text(extractor: KeywordExtractor) -> None:
    for keyword in extractor.extract(FLOOD_ARTICLE, 20):
        assert keyword.phrase in FLOOD_ARTICLE


def test_limit(extractor: KeywordExtractor) -> None:
    assert len(extractor.extract(FLOOD_ARTICLE, 3)) == 3
    assert extractor.extract(FLOOD_ARTICLE, 0) == []


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "và của là những", "!!! ... 123 456"])
def test_empty_blank_or_stopword_only_text(extractor: KeywordExtractor, text: str) -> None:
    assert extractor.extract(text) == []


def test_decomposed_input_gives_the_same_keywords(extractor: KeywordExtractor) -> None:
    composed = extractor.extract(FLOOD_ARTICLE)
    decomposed = extractor.extract(unicodedata.normalize("NFD", FLOOD_ARTICLE))
    assert composed == decomposed


def test_very_long_input(extractor: KeywordExtractor) -> None:
    keywords = extractor.extract(" ".join([WASTE_POST] * 2000) + " " + "x" * 100_000)
    assert "rác thải" in [keyword.phrase.lower() for keyword in keywords]


def test_segmenter_prefers_the_most_cohesive_cut() -> None:
    segmenter = PhraseSegmenter(
        {("tình", "trạng"): 0.7, ("ngập", "nước"): 0.6, ("tình", "trạng", "ngập"): 0.3}
    )
    units = [unit.surface for unit, _ in segmenter.units("tình trạng ngập nước kéo dài")]
    assert units == ["tình trạng", "ngập nước", "kéo", "dài"]


def test_segmenter_keeps_names_with_their_head_noun() -> None:
    segmenter = PhraseSegmenter({("giao", "thông"): 0.6, ("vận", "tải"): 0.7})
    units = [
        unit.surface
        for unit, _ in segmenter.units("hôm qua đường Lê Lợi và Sở Giao thông vận tải họp")
    ]
    assert "đường Lê Lợi" in units
    assert "Sở Giao thông vận tải" in units


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        KeywordExtractor.load(tmp_path / "nothing")


def test_load_of_corrupt_table_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "keywords"))
    table = bytearray((copy / "phrases.npz").read_bytes())
    table[len(table) // 2] ^= 0xFF
    (copy / "phrases.npz").write_bytes(bytes(table))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        KeywordExtractor.load(copy)


def test_load_without_stopwords_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "keywords"))
    (copy / "stopwords.txt").unlink()
    with pytest.raises(ModelLoadError, match="stopwords"):
        KeywordExtractor.load(copy)
