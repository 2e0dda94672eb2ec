"""Vietnamese normalisation: NFC, tone placement, teencode, whitespace, offsets and folding."""

import unicodedata

import pytest

from services.nlp.normalize import (
    TEENCODE,
    Normalized,
    fold,
    normalize,
    normalize_text,
    place_tone,
)


def assert_offsets_valid(source: str, result: Normalized) -> None:
    assert len(result.offsets) == len(result.text) + 1
    assert all(0 <= offset <= len(source) for offset in result.offsets)
    assert result.offsets == sorted(result.offsets)  # nothing is reordered


def test_plain_text_is_unchanged_with_identity_offsets() -> None:
    text = "Đường Nguyễn Hữu Cảnh ngập sâu sau cơn mưa chiều nay."
    result = normalize(text)
    assert result.text == text
    assert result.offsets == list(range(len(text) + 1))


def test_decomposed_input_becomes_nfc_and_maps_back() -> None:
    text = unicodedata.normalize("NFD", "Mưa lớn ở Thủ Đức")
    assert len(text) > len("Mưa lớn ở Thủ Đức")
    result = normalize(text)
    assert result.text == "Mưa lớn ở Thủ Đức"
    assert_offsets_valid(text, result)
    # "Thủ" starts where its base letter starts in the decomposed input.
    start = result.text.index("Thủ")
    begin, end = result.source_span(start, start + 3)
    assert unicodedata.normalize("NFC", text[begin:end]) == "Thủ"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("hoà", "hòa"),
        ("Hoà", "Hòa"),
        ("HOÀ", "HÒA"),
        ("khoẻ", "khỏe"),
        ("thuý", "thúy"),
        ("hoá", "hóa"),
        ("toà", "tòa"),
        ("qúy", "quý"),
        ("qùy", "quỳ"),
        ("gìa", "già"),
        ("ngừơi", "người"),
        ("đựơc", "được"),
        ("hòan", "hoàn"),
        ("ngòai", "ngoài"),
    ],
)
def test_tone_marks_move_to_one_placement(given: str, expected: str) -> None:
    assert place_tone(given) == expected
    assert normalize(f"nói {given} nhé").text == f"nói {expected} nhé"


@pytest.mark.parametrize(
    "word",
    ["hòa", "khỏe", "thúy", "quý", "quỳ", "già", "gì", "người", "hoàn", "ngoài", "khuỷu", "mùa"],
)
def test_correctly_placed_tones_stay(word: str) -> None:
    assert place_tone(word) == word


@pytest.mark.parametrize(
    "word", ["café", "Zoë", "résumé", "naïve", "São", "dźwięk", "hello", "2025"]
)
def test_words_that_are_not_vietnamese_syllables_are_left_alone(word: str) -> None:
    assert place_tone(word) == word
    assert normalize(word).text == word


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ko bik j luôn", "không biết gì luôn"),
        ("Ko đc đâu", "Không được đâu"),
        ("KO DC", "KHÔNG ĐƯỢC"),
        ("mình k thích", "mình không thích"),
        ("hok sao", "không sao"),
        ("đi vs ng yêu", "đi với người yêu"),
        ("bít rồi", "biết rồi"),
        ("mn ơi cx đc", "mọi người ơi cũng được"),
        ("kh dc à", "không được à"),
    ],
)
def test_teencode_is_spelled_out(given: str, expected: str) -> None:
    assert normalize(given).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "giá 50 k thôi",  # thousand, after a number
        "Ng. Văn Hùng",  # an initial
        "Anh K. đến muộn",
        "đôi bít tất",  # the word itself
        "k-pop",
        "R&D",
        "nặng 3 kg",
        "kong, kok, jj, dcm",  # not whole tokens of the table
    ],
)
def test_teencode_leaves_look_alikes(text: str) -> None:
    assert normalize(text).text == text


def test_teencode_offsets_cover_the_short_form() -> None:
    text = "ko đc"
    result = normalize(text)
    assert result.text == "không được"
    assert_offsets_valid(text, result)
    assert result.source_span(0, 5) == (0, 2)  # "không" ← "ko"
    assert result.source_span(6, 10) == (3, 5)  # "được" ← "đc"


def test_teencode_table_is_lower_case_and_expands_to_words() -> None:
    for short, long in TEENCODE.items():
        assert short == short.lower()
        assert long == long.lower()
        assert short != long


def test_whitespace_is_tidied_and_offsets_follow() -> None:
    text = "  Kẹt xe \t\t ở   vòng xoay\n\n\n\nmột tiếng  "
    result = normalize(text)
    assert result.text == "Kẹt xe ở vòng xoay\n\nmột tiếng"
    assert_offsets_valid(text, result)
    start = result.text.index("vòng")
    begin, end = result.source_span(start, start + len("vòng xoay"))
    assert text[begin:end] == "vòng xoay"
    # The end of the text maps to just after its last kept character, not the trailing spaces.
    assert result.offsets[-1] == text.rindex("g") + 1


def test_invisible_characters_are_dropped() -> None:
    text = "ngập\u200b nước\ufeff"
    result = normalize(text)
    assert result.text == "ngập nước"
    assert_offsets_valid(text, result)


def test_every_stage_together_keeps_spans_mappable() -> None:
    text = unicodedata.normalize(
        "NFD", "  Trời ơi,  ko   hiểu sao nước ko thoát, hoà   mình vào dòng xe "
    )
    result = normalize(text)
    assert result.text == "Trời ơi, không hiểu sao nước không thoát, hòa mình vào dòng xe"
    assert_offsets_valid(text, result)
    start = result.text.index("nước")
    begin, end = result.source_span(start, start + len("nước"))
    assert unicodedata.normalize("NFC", text[begin:end]) == "nước"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_and_blank(text: str) -> None:
    result = normalize(text)
    assert result.text == ""
    assert len(result.offsets) == 1


def test_other_scripts_pass_through() -> None:
    for text in ("Hello world, no Vietnamese here.", "東京は雨です", "Привет, как дела?", "🙂👍"):
        result = normalize(text)
        assert result.text == text
        assert_offsets_valid(text, result)


def test_bad_input_type_and_span() -> None:
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        normalize("abc").source_span(2, 9)


def test_fold() -> None:
    assert fold("Đường Hoà Bình NGẬP") == "duong hoa binh ngap"
    assert fold(unicodedata.normalize("NFD", "Thủ Đức")) == "thu duc"
    assert fold("ko bik") == "ko bik"
    assert fold("") == ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \t\n ",
        "Đường Nguyễn Hữu Cảnh ngập sâu sau cơn mưa chiều nay.",
        "  ko dc j het,\r\n\r\nket xe o Q.7  may tieng roi\n",
        "Dòng một\r\nDòng hai\rDòng ba\u3000\u00a0hết\x1c\x1dcuối\u2028",
        unicodedata.normalize("NFD", "Thuý hoà\u200b với mn\u00ad ở Thủ Đức  "),
        "50 k một ly, K. Lan đi vs R&D \n\n\n ny",
        "👍 quá đã 👍 Trường học mới\t\t\txây ",
    ],
)
def test_the_text_alone_is_the_text_of_the_full_normalisation(text: str) -> None:
    assert normalize_text(text) == normalize(text).text


def test_the_text_alone_refuses_what_is_not_a_str() -> None:
    with pytest.raises(TypeError):
        normalize_text(b"ngap")  # type: ignore[arg-type]
