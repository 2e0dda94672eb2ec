"""Language identification: Vietnamese with or without marks, English, and everything else."""

import pytest

from services.nlp.language import LanguageDetector, vietnamese_syllable


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector.load()


# Short social posts as people type them, marks and all.
VIETNAMESE_MARKED = [
    "Kẹt xe ở ngã tư Hàng Xanh từ sáng tới giờ.",
    "Hôm nay trời đẹp quá!",
    "Nước ngập tới đầu gối, xe chết máy hết rồi.",
    "Cảm ơn phường đã dọn rác nhanh.",
]
# The same habits without marks, with shorthand: "không được gì hết", "biết"...
VIETNAMESE_UNMARKED = [
    "ko dc j het",
    "hom nay troi dep qua",
    "duong ngap qua troi oi",
    "sao ko ai don rac vay",
    "k bik nua",
    "tren duong ve nha bi ket xe 2 tieng",
    "hom nay di cafe voi ban be",
    "deadline tuan nay nhieu qua",
]
ENGLISH = [
    "The road is flooded again after the storm.",
    "I can go to the market today if the rain stops.",
    "This is not ok, the bus was late for an hour.",
    "Flooding in Thu Duc again today, avoid the main street.",
]
OTHER = [
    "Das Wasser steht schon wieder auf der Straße.",
    "Le café est très bon dans ce quartier.",
    "saya suka makan nasi goreng",
    "今日はとても暑いです",
    "👍👍👍",
    "",
    "12345 !!!",
]


@pytest.mark.parametrize("text", VIETNAMESE_MARKED + VIETNAMESE_UNMARKED)
def test_vietnamese_is_vi(detector: LanguageDetector, text: str) -> None:
    guess = detector.detect_one(text)
    assert guess.code == "vi", guess
    assert 0.5 <= guess.confidence <= 1.0


@pytest.mark.parametrize("text", ENGLISH)
def test_english_is_en(detector: LanguageDetector, text: str) -> None:
    guess = detector.detect_one(text)
    assert guess.code == "en", guess
    assert 0.5 <= guess.confidence <= 1.0


@pytest.mark.parametrize("text", OTHER)
def test_other_languages_and_no_words_are_other(detector: LanguageDetector, text: str) -> None:
    assert detector.detect_one(text).code == "other"


def test_batch_matches_one_by_one(detector: LanguageDetector) -> None:
    texts = VIETNAMESE_UNMARKED + ENGLISH + OTHER
    assert detector.detect(texts) == [detector.detect_one(t) for t in texts]
    with pytest.raises(TypeError):
        detector.detect("một chuỗi")


def test_only_the_start_of_a_long_text_is_read(detector: LanguageDetector) -> None:
    # Scoring a whole 100,000-character article would be slow; its first 1,000 characters decide.
    english_start = " ".join(ENGLISH * 6)
    assert len(english_start) > 1_000
    article = english_start + " " + " ".join(VIETNAMESE_MARKED) * 500
    assert detector.detect_one(article).code == "en"
    assert detector.detect_one(article[len(english_start) :]).code == "vi"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("nghiêng", True),
        ("nghieng", True),
        ("khuya", True),
        ("quyen", True),
        ("truong", True),
        ("Đường", True),
        ("flooded", False),
        ("street", False),
        ("makan", False),
        ("road", False),
    ],
)
def test_syllable_shape(word: str, expected: bool) -> None:
    assert vietnamese_syllable(word) is expected


def test_identity_for_model_info(detector: LanguageDetector) -> None:
    assert detector.name
    assert detector.version.startswith("0.4.0+rules")
    assert len(detector.sha256) == 64


def test_missing_model_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="cannot load the language model"):
        LanguageDetector.load(tmp_path / "nothing.npz.xz")
