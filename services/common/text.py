"""Vietnamese text rules every service applies alike: normalisation, hashing, search terms."""

import hashlib
import itertools
import re
import unicodedata

_WORD = re.compile(r"\w+")
# Invisible characters that copy-paste from the web and social apps leaves behind.
INVISIBLE_CHARACTERS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_DROP_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE_CHARACTERS))
# White space other than one plain space between words (re's \s on str is str.isspace()'s
# class): the only runs that tidying changes, so the common single space is never visited.
WHITESPACE_TO_TIDY = re.compile(r"[^\S ]\s*| \s+")


def whitespace_replacement(run: re.Match[str]) -> str:
    """What a run of white space becomes: a space, or one line break, or one blank line."""
    newlines = run[0].count("\n") + run[0].count("\r") - run[0].count("\r\n")
    return " " if newlines == 0 else ("\n" if newlines == 1 else "\n\n")


def normalize_text(text: str) -> str:
    """NFC, invisible characters removed, runs of spaces folded, at most one blank line in a row.

    Vietnamese arrives both precomposed and as base letter + combining marks; NFC makes the two
    one string, so hashing, search and models see the same text. The nlp service's
    ``services.nlp.normalize.clean`` gives this same text with offsets into the input.
    """
    if not unicodedata.is_normalized("NFC", text) or not INVISIBLE_CHARACTERS.isdisjoint(text):
        text = unicodedata.normalize("NFC", text).translate(_DROP_INVISIBLE)
    return WHITESPACE_TO_TIDY.sub(whitespace_replacement, text.strip())


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text: the same words, however encoded or spaced, hash the same."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def _mark_stripping_table() -> dict[int, str]:
    """Every precomposed Latin letter with marks to its bare letter, and đ to d."""
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "D"}
    for code_point in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFD", chr(code_point))[0]
        if base != chr(code_point) and base.isascii() and base.isalpha():
            table[code_point] = base
    return table


_STRIP_MARKS = _mark_stripping_table()


def strip_marks(text: str) -> str:
    """NFC text without tone and vowel marks, case kept: "Đường Ngập" -> "Duong Ngap"."""
    return text.translate(_STRIP_MARKS)


def fold_diacritics(text: str) -> str:
    """Lower-case without tone and vowel marks: "Ngập nước Quận 7" -> "ngap nuoc quan 7"."""
    return strip_marks(unicodedata.normalize("NFC", text).lower())


def folded_phrase(text: str) -> str:
    """How entities and key phrases are grouped and looked up: folded, single-spaced
    ("Nguyễn  Văn A" and "nguyen van a" are one key)."""
    return " ".join(fold_diacritics(text).split())


def search_terms(*texts: str) -> list[str]:
    """Distinct diacritic-folded words, the keys of the documents' search index."""
    terms: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(fold_diacritics(text)):
            terms[word] = None
    return list(terms)


def search_keys(*texts: str) -> list[str]:
    """What a document is indexed by: its search terms, and each pair of adjacent words
    ("ngap nuoc"), so that a quoted phrase finds its words side by side."""
    keys: dict[str, None] = {}
    for text in texts:
        words = _WORD.findall(fold_diacritics(text))
        keys.update(dict.fromkeys(words))
        keys.update(dict.fromkeys(f"{a} {b}" for a, b in itertools.pairwise(words)))
    return list(keys)
