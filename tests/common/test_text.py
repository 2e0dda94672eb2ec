"""Normalisation, hashing and search terms behave the same for every way Vietnamese is typed."""

import unicodedata

from services.common.text import content_hash, fold_diacritics, normalize_text, search_terms


def test_normalize_text_composes_and_folds_whitespace() -> None:
    decomposed = unicodedata.normalize("NFD", "Mưa  lớn\u200b ở\r\n\r\n\r\nThủ Đức  ")
    assert normalize_text(decomposed) == "Mưa lớn ở\n\nThủ Đức"


def test_content_hash_ignores_encoding_and_spacing() -> None:
    composed = "Cầu Thủ Thiêm 2 đã thông xe."
    decomposed = unicodedata.normalize("NFD", "  Cầu Thủ  Thiêm 2 đã thông xe. ")
    assert content_hash(composed) == content_hash(decomposed)
    assert content_hash(composed) != content_hash("Cầu Thủ Thiêm 2 chưa thông xe.")


def test_fold_diacritics_handles_d_with_stroke() -> None:
    assert fold_diacritics("Đường Điện Biên Phủ") == "duong dien bien phu"


def test_search_terms_are_distinct_and_folded() -> None:
    assert search_terms("Ngập nước", "ngập NƯỚC ở quận 7") == ["ngap", "nuoc", "o", "quan", "7"]
