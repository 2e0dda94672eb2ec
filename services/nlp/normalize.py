"""Vietnamese text normalisation with a map from every output character back to the input."""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from services.common.text import (
    INVISIBLE_CHARACTERS,
    WHITESPACE_TO_TIDY,
    fold_diacritics,
    whitespace_replacement,
)
from services.common.text import normalize_text as clean_text

# The five tone marks as combining characters (NFD form).
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Vowels with a quality mark: the tone sits on one of them whenever the syllable has one.
_MARKED_VOWELS = frozenset("ăâêôơư")
_VOWELS = frozenset("aăâeêioôơuưy")
_ONSETS = frozenset(
    (
        "",
        *"bcdđghklmnpqrstvx",
        *("ch", "gh", "gi", "kh", "ng", "ngh", "nh", "ph", "qu", "th", "tr"),
    )
)
_CODAS = frozenset(("", "c", "ch", "m", "n", "ng", "nh", "p", "t"))
# Syllables that people spell with "k", "dz", "w" or "f" are not Vietnamese spelling; those
# tokens are left as they are rather than guessed at.
_SYLLABLE = re.compile(r"^([bcdđghklmnpqrstvx]*)([aăâeêioôơuưy]+)([cmnpthg]*)$")

# Unambiguous social-media shorthand, matched as whole tokens, case-insensitively. Left out on
# purpose, because each also stands for something else: "kg" (kilogram), "dk"/"đk" (điều kiện,
# đăng ký), "bn" (bạn, bao nhiêu), "h" (giờ, hours), "e" (em, the letter), "bt" (biết, bình
# thường), "ck" (chồng, chuyển khoản), "bh" (bao giờ, bảo hành), "đt" (điện thoại, đội tuyển).
TEENCODE: dict[str, str] = {
    "ko": "không",
    "k": "không",
    "kh": "không",
    "khg": "không",
    "kô": "không",
    "hok": "không",
    "khum": "không",
    "dc": "được",
    "đc": "được",
    "j": "gì",
    "bik": "biết",
    "bít": "biết",
    "bjk": "biết",
    "vs": "với",
    "ng": "người",
    "mn": "mọi người",
    "mng": "mọi người",
    "ntn": "như thế nào",
    "cx": "cũng",
    "cg": "cũng",
    "r": "rồi",
    "ms": "mới",
    "trc": "trước",
    "thik": "thích",
    "iu": "yêu",
    "nhìu": "nhiều",
    "vk": "vợ",
    "ny": "người yêu",
    "sđt": "số điện thoại",
    "lm": "làm",
    "kbh": "không bao giờ",
    "hnay": "hôm nay",
    "hqua": "hôm qua",
    "bjo": "bây giờ",
    "sv": "sinh viên",
    "gv": "giáo viên",
    "z": "vậy",
    "zậy": "vậy",
}
# A token after a number is a unit, not shorthand: "50 k" is fifty thousand, "3 r" a size.
_AFTER_NUMBER_KEEP = frozenset(("k", "r", "z"))
# Capitalised, these are initials or names ("K.", "R&D", "NY"): expanded in lower case only.
_LOWER_CASE_ONLY = frozenset(("k", "j", "r", "z", "ny"))
# "bít tất" (socks) is the one common phrase where "bít" is the word itself.
_NOT_BEFORE = {"bít": frozenset(("tất",))}

_TOKEN = re.compile(r"\w+", re.UNICODE)
# Any token that could be shorthand, in lower-cased text (a quick test before the full pass).
_TEENCODE_TOKEN = re.compile(
    r"(?<!\w)(?:" + "|".join(sorted(map(re.escape, TEENCODE), key=len, reverse=True)) + r")(?!\w)"
)
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text and, for each of its characters and its end, the index in the input."""

    text: str
    # offsets[i] = index in the input of output character i; offsets[len(text)] = the input
    # index just after the last character kept, so a span [s, e) maps to [offsets[s],
    # offsets[e]).
    offsets: list[int]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The input span of the output span [start, end)."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is outside 0..{len(self.text)}")
        if start == end:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end]


# A stage returns its output text, the index in its own input of each output character (None
# when output character i is input character i: most stages change nothing in most texts),
# and the index in its input that the end of its output stands for.
type _Stage = Callable[[str], tuple[str, list[int] | None, int]]


def _compose(text: str, stages: tuple[_Stage, ...]) -> Normalized:
    offsets = list(range(len(text) + 1))
    for stage in stages:
        text, sources, end = stage(text)
        if sources is not None:
            offsets = [offsets[source] for source in sources] + [offsets[end]]
    return Normalized(text, offsets)


def _nfc(text: str) -> tuple[str, list[int] | None, int]:
    """NFC, and characters that copy-paste leaves behind (zero-width, soft hyphen) removed."""
    if unicodedata.is_normalized("NFC", text) and INVISIBLE_CHARACTERS.isdisjoint(text):
        return text, None, len(text)
    pieces: list[str] = []
    sources: list[int] = []
    start = 0
    # A starter with its combining marks composes on its own; every output character of such
    # a cluster maps to the cluster's first input character.
    for index in range(1, len(text) + 1):
        if index < len(text) and unicodedata.combining(text[index]):
            continue
        cluster = "".join(ch for ch in text[start:index] if ch not in INVISIBLE_CHARACTERS)
        composed = unicodedata.normalize("NFC", cluster)
        pieces.append(composed)
        sources.extend([start] * len(composed))
        start = index
    return "".join(pieces), sources, len(text)


def _whitespace(text: str) -> tuple[str, list[int] | None, int]:
    """Runs of spaces become one space, at most one blank line in a row, edges trimmed."""
    stop = len(text.rstrip())
    start = stop - len(text[:stop].lstrip())
    out: list[str] = []
    sources: list[int] = []
    kept = start  # where the text not yet copied starts
    # A single space between words is kept as it is, so only other runs are visited.
    for run in WHITESPACE_TO_TIDY.finditer(text, start, stop):
        run_start, run_end = run.span()
        out.append(text[kept:run_start])
        sources.extend(range(kept, run_start))
        replacement = whitespace_replacement(run)
        out.append(replacement)
        sources.extend([run_start] * len(replacement))
        kept = run_end
    if kept == 0 and stop == len(text):
        return text, None, len(text)  # nothing to tidy
    out.append(text[kept:stop])
    sources.extend(range(kept, stop))
    end = sources[-1] + 1 if sources else 0
    return "".join(out), sources, end


def _apply_case(pattern: str, word: str) -> str:
    if len(pattern) > 1 and pattern.isupper():
        return word.upper()
    if pattern[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


@lru_cache(maxsize=100_000)
def place_tone(word: str) -> str:
    """One Vietnamese syllable with its tone mark where this project puts it.

    The traditional placement is used ("hòa", "khỏe", "thúy"): it is the more frequent in the
    project's corpora (about 6 to 1), so models see the form they learnt. A misplaced tone
    ("hoà", "qúy", "gìa", "ngừơi") moves; anything that does not parse as one Vietnamese
    syllable with one tone comes back unchanged, so foreign words and names are safe.
    """
    decomposed = unicodedata.normalize("NFD", word)
    tones = [char for char in decomposed if char in _TONES]
    if len(tones) != 1:
        return word
    bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
    lowered = bare.lower()
    if len(lowered) != len(bare):
        return word
    match = _SYLLABLE.match(lowered)
    if match is None:
        return word
    onset, vowels, coda = match.groups()
    # In "qu" and in "gi" before another vowel, u and i belong to the consonant.
    if onset == "q" and vowels.startswith("u") and len(vowels) > 1:
        onset, vowels = "qu", vowels[1:]
    elif onset == "g" and vowels.startswith("i") and len(vowels) > 1:
        onset, vowels = "gi", vowels[1:]
    if onset not in _ONSETS or coda not in _CODAS or len(vowels) > 3:
        return word
    marked = [i for i, vowel in enumerate(vowels) if vowel in _MARKED_VOWELS]
    if marked:
        target = marked[-1]  # "ươ" carries it on ơ: "người", "được"
    elif len(vowels) == 1:
        target = 0
    elif coda:
        target = len(vowels) - 1  # "hoàn", "toán", "hoạch"
    elif len(vowels) == 3:
        target = 1  # "ngoài", "khuỷu"
    else:
        target = 0  # "hòa", "mùa", "thúy"
    position = len(onset) + target
    toned = unicodedata.normalize("NFC", bare[position] + tones[0])
    fixed = bare[:position] + toned + bare[position + 1 :]
    # Same length by construction: one precomposed letter swaps places with another.
    return fixed if len(fixed) == len(word) else word


def _tone_marks(text: str) -> tuple[str, list[int] | None, int]:
    # Most texts have no misplaced tone: each distinct word is looked at once to find out.
    if all(place_tone(word) == word for word in set(_TOKEN.findall(text))):
        return text, None, len(text)
    pieces: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        word = match.group()
        fixed = place_tone(word)
        if fixed != word:
            pieces.append(text[last : match.start()])
            pieces.append(fixed)
            last = match.end()
    if not pieces:
        return text, None, len(text)
    pieces.append(text[last:])
    # A re-placed tone swaps one letter for another: every character stays where it was.
    return "".join(pieces), None, len(text)


def _teencode(text: str) -> tuple[str, list[int] | None, int]:
    if not _TEENCODE_TOKEN.search(text.lower()):
        return text, None, len(text)  # no shorthand at all: news articles, most posts
    matches = list(_TOKEN.finditer(text))
    out: list[str] = []
    sources: list[int] = []
    last = 0
    for position, match in enumerate(matches):
        token = match.group()
        key = token.lower()
        expansion = TEENCODE.get(key)
        if expansion is None:
            continue
        previous = matches[position - 1].group() if position else ""
        following = matches[position + 1].group().lower() if position + 1 < len(matches) else ""
        if key in _AFTER_NUMBER_KEEP and _NUMBER.match(previous):
            continue
        if key in _LOWER_CASE_ONLY and token != key:
            continue
        if following in _NOT_BEFORE.get(key, ()):
            continue
        start, end = match.span()
        # Only a token standing alone: not part of "k-pop", "@vs", "a.k", or an initial "Ng.".
        if start > 0 and text[start - 1] in "-'./@#&_":
            continue
        if end < len(text) and (text[end] in "-'@&" or (text[end] == "." and token[0].isupper())):
            continue
        out.append(text[last:start])
        sources.extend(range(last, start))
        replacement = _apply_case(token, expansion)
        out.append(replacement)
        sources.extend(start + min(i, len(token) - 1) for i in range(len(replacement)))
        last = end
    if not out:
        return text, None, len(text)
    out.append(text[last:])
    sources.extend(range(last, len(text)))
    return "".join(out), sources, len(text)


_CLEANING_STAGES: tuple[_Stage, ...] = (_nfc, _whitespace)
_STAGES: tuple[_Stage, ...] = (*_CLEANING_STAGES, _tone_marks, _teencode)


def normalize(text: str) -> Normalized:
    """NFC, one tone placement, teencode spelled out, whitespace tidied; offsets into ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"normalize takes a str, not {type(text).__name__}")
    return _compose(text, _STAGES)


def normalize_text(text: str) -> str:
    """``normalize(text).text`` without building the offsets, for callers that read only the
    text (the classification heads): 0.55 of the time on a post, 0.62 on an article's lead."""
    if not isinstance(text, str):
        raise TypeError(f"normalize takes a str, not {type(text).__name__}")
    return _teencode(_tone_marks(clean_text(text))[0])[0]


def clean(text: str) -> Normalized:
    """NFC, invisible characters dropped and white space tidied, spelling left as it is: the
    text that entities, keywords and localities read, with offsets into ``text``. Its text is
    ``services.common.text.normalize_text(text)``, what ingest stores and hashes."""
    if not isinstance(text, str):
        raise TypeError(f"clean takes a str, not {type(text).__name__}")
    return _compose(text, _CLEANING_STAGES)


def fold(text: str) -> str:
    """Lower-case, diacritics removed, đ → d: for matching text typed with or without marks."""
    # Marks with no precomposed letter (a combining mark after a consonant) survive NFC.
    return "".join(char for char in fold_diacritics(text) if not unicodedata.combining(char))
