"""Bytes become the text their author wrote, or a typed refusal: never mojibake in the store."""

import codecs
import unicodedata

import pytest

from services.ingest.parse.encoding import UndecodableContent, check_readable, decode_markup
from tests.ingest.parse.legacy import tcvn3, vni, windows_1258

TEXT = (
    "Người dân quận 8 phản ánh đường Phạm Thế Hiển ngập sâu sau mưa lớn, nhiều xe máy chết máy. "
    "Ủy ban nhân dân phường cho biết đã báo Công ty Thoát nước đô thị xử lý trong tuần."
)


def page(head: str = "", body: str = TEXT) -> str:
    return f"<html><head>{head}<title>Phản ánh</title></head><body><p>{body}</p></body></html>"


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_byte_order_mark_comes_first(bom: bytes, codec: str) -> None:
    # The BOM wins even over a header and a declaration that both say otherwise.
    data = bom + page('<meta charset="windows-1258">').encode(codec)
    decoded = decode_markup(data, "text/html; charset=iso-8859-1")
    assert (decoded.encoding, decoded.source) == (codec, "bom")
    assert TEXT in decoded.text


def test_http_charset_comes_before_the_document() -> None:
    data = windows_1258(page('<meta charset="utf-8">'))
    decoded = decode_markup(data, 'text/html; charset="Windows-1258"')
    assert (decoded.encoding, decoded.source) == ("cp1258", "http")
    assert TEXT in decoded.text


def test_meta_charset_when_http_names_none() -> None:
    data = windows_1258(
        page('<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">')
    )
    decoded = decode_markup(data, "text/html")
    assert (decoded.encoding, decoded.source) == ("cp1258", "document")
    assert TEXT in decoded.text


def test_xml_declaration() -> None:
    data = windows_1258(
        f'<?xml version="1.0" encoding="windows-1258"?><rss><title>{TEXT}</title></rss>'
    )
    decoded = decode_markup(data)
    assert (decoded.encoding, decoded.source) == ("cp1258", "document")
    assert TEXT in decoded.text


def test_windows_1258_tone_marks_are_composed_to_nfc() -> None:
    decoded = decode_markup(windows_1258(page('<meta charset="windows-1258">')))
    assert unicodedata.is_normalized("NFC", decoded.text)
    assert "Người" in decoded.text  # one code point per letter, as UTF-8 pages write it


def test_detection_when_nothing_is_declared() -> None:
    decoded = decode_markup(windows_1258(page(body=TEXT * 3)))
    assert (decoded.encoding, decoded.source) == ("cp1258", "detected")
    assert TEXT in decoded.text


def test_undeclared_utf8_and_ascii_need_no_detector() -> None:
    assert decode_markup(page().encode()).encoding == "utf-8"
    assert decode_markup(b"<rss><title>Tin moi</title></rss>").encoding == "ascii"


def test_valid_utf8_outvotes_a_legacy_label() -> None:
    # Servers that label everything iso-8859-1 send UTF-8 pages all the same.
    decoded = decode_markup(page().encode(), "text/html; charset=iso-8859-1")
    assert (decoded.encoding, decoded.source) == ("utf-8", "content")
    assert TEXT in decoded.text


def test_utf16_without_bom_named_by_http() -> None:
    decoded = decode_markup(page().encode("utf-16-le"), "text/html; charset=utf-16le")
    assert (decoded.encoding, decoded.source) == ("utf-16-le", "http")
    assert TEXT in decoded.text


def test_wrong_label_falls_through_to_the_next_clue() -> None:
    data = windows_1258(page('<meta charset="windows-1258">'))
    decoded = decode_markup(data, "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.source) == ("cp1258", "document")


def test_unknown_label_is_ignored() -> None:
    decoded = decode_markup(page('<meta charset="x-vietnamese-unknown">').encode())
    assert decoded.encoding == "utf-8"


def test_utf8_page_with_a_stray_byte_is_kept() -> None:
    data = page(body=TEXT * 20).encode() + b"\xff"
    decoded = decode_markup(data, "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.source) == ("utf-8", "http")
    assert decoded.text.count("\ufffd") == 1


@pytest.mark.parametrize("wrong_codec", ["cp1252", "latin-1"])
def test_mojibake_is_refused(wrong_codec: str) -> None:
    # A CMS that read UTF-8 as windows-1252 and stored the result: "đường" -> "Ä‘Æ°á»ng".
    garbled = page().encode("utf-8").decode(wrong_codec, "ignore")
    with pytest.raises(UndecodableContent) as refused:
        decode_markup(garbled.encode("utf-8"))
    assert refused.value.reason == "mojibake"


def test_mojibake_served_with_its_legacy_label_is_refused() -> None:
    data = page().encode("utf-8").decode("cp1252", "ignore").encode("cp1252")
    with pytest.raises(UndecodableContent) as refused:
        decode_markup(data, "text/html; charset=windows-1252")
    assert refused.value.reason in {"mojibake", "control-characters"}


def test_brief_example_of_mojibake() -> None:
    with pytest.raises(UndecodableContent):
        check_readable("Ä‘Æ°á»ng " * 5)


def test_tcvn3_font_encoding_is_refused() -> None:
    data = tcvn3(page('<meta charset="iso-8859-1">'))
    with pytest.raises(UndecodableContent) as refused:
        decode_markup(data)
    assert refused.value.reason == "tcvn3"


def test_vni_font_encoding_is_refused() -> None:
    data = vni(page('<meta charset="windows-1252">'))
    with pytest.raises(UndecodableContent) as refused:
        decode_markup(data)
    assert refused.value.reason == "vni"


def test_replacement_characters_are_refused() -> None:
    with pytest.raises(UndecodableContent) as refused:
        check_readable("Ng\ufffd\ufffdi d\ufffdn ph\ufffdn \ufffdnh \ufffd\ufffdng ng\ufffdp " * 3)
    assert refused.value.reason == "replacement-characters"


@pytest.mark.parametrize(
    "text",
    [
        TEXT,
        "“Nước ngập quá”, chị Lan nói và… lắc đầu. CẢNH BÁO NGÃ “ĐỪNG ĐI QUA”. " * 20,
        "Đoàn công tác của bà Müller, ông Bjørn Dæhlie và ông Peña thăm Thủ Thiêm. " * 10,
        "Nồng độ bụi mịn 45 µg/m³, nhiệt độ 30°C, giá 1.200 tỷ đồng © 2024 ® «Tin»" * 5,
        "English page: the mayor met Loïc Müller and Zoë about flood control. " * 10,
    ],
)
def test_real_text_is_readable(text: str) -> None:
    check_readable(text)


def test_bytes_nothing_can_decode_are_refused() -> None:
    with pytest.raises(UndecodableContent) as refused:
        decode_markup(codecs.BOM_UTF8 + b"\xff\xfe\xfd" * 50)
    assert refused.value.reason == "undetected"
