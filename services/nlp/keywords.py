"""Key phrases of a Vietnamese text: syllables grouped into words by a learnt phrase table,
ranked by TF × IDF with title and position boosts; numpy and pure Python only."""

import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from services.nlp.artifacts import ModelLoadError, read_description, read_verified

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
TABLE_FILE = "phrases.npz"
STOPWORDS_FILE = "stopwords.txt"
MAX_PHRASE_SYLLABLES = 3
# Every run of word characters is a syllable; anything else but spaces (punctuation, symbols)
# ends a phrase.
_PIECE = re.compile(r"\w+|[^\w\s]+")
_DIGIT = re.compile(r"\d")
# Distinct units whose candidacy is remembered; past this the memo starts again.
_MAX_REMEMBERED_UNITS = 100_000
# Syllables that join words but never begin or end a content phrase ("của các", "đã được").
# Phrases bordered by them are kept out of the table unless they are stopwords themselves
# ("có thể", "cho biết"), which are then recognised whole and dropped.
_NON_INITIAL_SYLLABLES = """
và của các những là được bị đã đang sẽ với thì mà rằng để từ tại ở trong về đến khi cũng
như nhưng hay hoặc này đó ấy kia rất một trên dưới nhằm giữa mỗi
"""
_NON_FINAL_SYLLABLES = _NON_INITIAL_SYLLABLES + " cho có theo vào ra lên xuống sau trước tới"
NON_INITIAL_SYLLABLES = frozenset(_NON_INITIAL_SYLLABLES.split())
NON_FINAL_SYLLABLES = frozenset(_NON_FINAL_SYLLABLES.split())


def has_function_edge(key: tuple[str, ...]) -> bool:
    """Whether a phrase starts or ends with a syllable that only joins words."""
    return key[0] in NON_INITIAL_SYLLABLES or key[-1] in NON_FINAL_SYLLABLES


# Nouns that name the kind of place or body a following proper name is: "đường" + "Nguyễn Hữu
# Cảnh" is kept as one phrase, as a reader would quote it.
HEAD_WORDS = frozenset(
    (
        "đường",
        "phố",
        "hẻm",
        "ngõ",
        "quận",
        "huyện",
        "phường",
        "xã",
        "thị xã",
        "thị trấn",
        "tỉnh",
        "thành phố",
        "tp",
        "cầu",
        "sông",
        "kênh",
        "rạch",
        "hồ",
        "chợ",
        "công viên",
        "bến",
        "cảng",
        "sân bay",
        "ga",
        "bệnh viện",
        "trường",
        "sở",
        "bộ",
        "ủy ban",
        "uỷ ban",
        "công ty",
        "tập đoàn",
        "ngân hàng",
        "khu",
        "vịnh",
        "đảo",
        "núi",
    )
)


@dataclass(frozen=True, slots=True)
class Keyword:
    phrase: str  # as first written in the text
    # The phrase's weight relative to the document's best phrase (which scores 1.0).
    score: float


@dataclass(frozen=True, slots=True)
class Unit:
    """A word or phrase found in a text: its lower-cased syllables and its surface form."""

    key: tuple[str, ...]
    surface: str
    proper: bool  # a run of capitalised syllables (a name), not a table phrase


# Heads of organisation names, whose later words are often lower case: "Sở Giao thông vận tải"
# runs on through the table's phrases after its capitalised part.
ORGANISATION_HEADS = frozenset(
    (
        "sở",
        "bộ",
        "ủy ban",
        "uỷ ban",
        "ban",
        "cục",
        "tổng cục",
        "chi cục",
        "công ty",
        "tổng công ty",
        "tập đoàn",
        "ngân hàng",
        "trung tâm",
        "viện",
        "học viện",
        "trường",
        "đại học",
        "bệnh viện",
        "hội",
        "hội đồng",
        "hiệp hội",
        "liên đoàn",
        "phòng",
        "văn phòng",
        "đài",
        "quỹ",
        "tòa án",
        "toà án",
        "công an",
        "thanh tra",
    )
)


class PhraseSegmenter:
    """Groups a text's syllables into words and phrases: runs of capitalised syllables are names
    (with a head noun before them); the rest is cut into the table's phrases so that the summed
    cohesion of the cut is greatest (dynamic programming), single syllables where none fits."""

    def __init__(self, phrases: dict[tuple[str, ...], float]) -> None:
        # phrase -> cohesion (normalised PMI of its weakest split)
        self.phrases = phrases

    def units(self, text: str) -> Iterator[tuple[Unit, int]]:
        """Units of ``text`` in order, each with the index of its first syllable."""
        position = 0
        for chunk in _chunks(unicodedata.normalize("NFC", text)):
            yield from ((unit, position + index) for unit, index in self._chunk_units(chunk))
            position += len(chunk)

    def _chunk_units(self, syllables: list[str]) -> Iterator[tuple[Unit, int]]:
        lowered = [syllable.lower() for syllable in syllables]
        n = len(syllables)
        index = 0
        plain_start = 0
        while index < n:
            length = self._capital_run(syllables, index)
            if not length:
                index += 1
                continue
            start = index
            # A head noun just before the name belongs to it ("đường Nguyễn Hữu Cảnh").
            for head_length in (2, 1):
                if index - head_length >= plain_start and (
                    " ".join(lowered[index - head_length : index]) in HEAD_WORDS
                ):
                    start = index - head_length
                    break
            end = index + length
            if self._names_organisation(lowered, start, end):
                end = self._extend_organisation(lowered, syllables, end)
            yield from self._plain_units(syllables, lowered, plain_start, start)
            yield Unit(tuple(lowered[start:end]), " ".join(syllables[start:end]), True), start
            index = plain_start = end
        yield from self._plain_units(syllables, lowered, plain_start, n)

    def _names_organisation(self, lowered: list[str], start: int, end: int) -> bool:
        return any(
            " ".join(lowered[start : start + size]) in ORGANISATION_HEADS for size in (1, 2, 3)
        )

    def _extend_organisation(self, lowered: list[str], syllables: list[str], end: int) -> int:
        """Extend an organisation's name over the lower-case table phrases that follow it,
        starting with one that joins its last capitalised syllable ("Giao" + "thông")."""
        # Two-syllable words first: "giao thông" + "vận tải" rather than "giao thông vận".
        for size in (2, 3):
            if tuple(lowered[end - 1 : end - 1 + size]) in self.phrases and all(
                syllable.islower() for syllable in syllables[end : end - 1 + size]
            ):
                end += size - 1
                break
        while end < len(lowered):
            for size in (2, 3):
                candidate = syllables[end : end + size]
                if (
                    len(candidate) == size
                    and all(syllable.islower() for syllable in candidate)
                    and tuple(lowered[end : end + size]) in self.phrases
                ):
                    end += size
                    break
            else:
                return end
        return end

    def _plain_units(
        self, syllables: list[str], lowered: list[str], begin: int, end: int
    ) -> Iterator[tuple[Unit, int]]:
        if begin >= end:
            return
        # best[i]: greatest total cohesion of a cut of lowered[begin:begin + i]
        size_of = [0] * (end - begin + 1)
        best = [0.0] * (end - begin + 1)
        for stop in range(1, end - begin + 1):
            best[stop] = best[stop - 1]
            size_of[stop] = 1
            for size in range(2, min(MAX_PHRASE_SYLLABLES, stop) + 1):
                cohesion = self.phrases.get(tuple(lowered[begin + stop - size : begin + stop]))
                if cohesion is not None and best[stop - size] + (size - 1) * cohesion > best[stop]:
                    best[stop] = best[stop - size] + (size - 1) * cohesion
                    size_of[stop] = size
        cuts = []
        stop = end - begin
        while stop > 0:
            cuts.append((stop - size_of[stop], stop))
            stop -= size_of[stop]
        for first, last in reversed(cuts):
            yield (
                Unit(
                    tuple(lowered[begin + first : begin + last]),
                    " ".join(syllables[begin + first : begin + last]),
                    False,
                ),
                begin + first,
            )

    @staticmethod
    def _capital_run(syllables: list[str], index: int) -> int:
        """Length of the name starting at ``index``: capitalised syllables, two or more, or
        one if it is not the first of its chunk (a sentence usually starts a chunk)."""
        end = index
        while end < len(syllables) and syllables[end][:1].isupper():
            end += 1
        length = end - index
        if length >= 2 or (length == 1 and index > 0):
            return length
        return 0


def _chunks(text: str) -> Iterator[list[str]]:
    """Runs of syllables not broken by punctuation or a line break."""
    for line in text.split("\n"):
        chunk: list[str] = []
        for piece in _PIECE.findall(line):
            if piece[0].isalnum() or piece[0] == "_":
                chunk.append(piece)
            elif chunk:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def is_candidate(unit: Unit, stopwords: frozenset[str]) -> bool:
    """Whether a unit can be a key phrase at all: not a stopword, not made of stopwords, not a
    number, not bordered by a function syllable."""
    phrase = " ".join(unit.key)
    if phrase in stopwords or _DIGIT.search(phrase):
        return False
    if all(syllable in stopwords for syllable in unit.key):
        return False
    if not unit.proper and len(unit.key) > 1 and has_function_edge(unit.key):
        return False
    return len(phrase) >= 2


class KeywordExtractor:
    """TF × IDF of candidate phrases, IDF from the VNTC news corpus."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sha256: str,
        segmenter: PhraseSegmenter,
        document_frequency: dict[tuple[str, ...], int],
        n_documents: int,
        stopwords: frozenset[str],
    ) -> None:
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.segmenter = segmenter
        self.stopwords = stopwords
        self._document_frequency = document_frequency
        self._n_documents = n_documents
        self._candidates: dict[tuple[tuple[str, ...], bool], bool] = {}

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read ``model.json``, ``phrases.npz`` and ``stopwords.txt``; ModelLoadError when one
        is missing, corrupt (SHA-256 of the table differs from the recorded one) or foreign."""
        directory = Path(directory)
        description = _read_description(directory / MODEL_FILE)
        table_path = directory / TABLE_FILE
        read_verified(
            table_path, description["table_sha256"], what="keyword table", recorded_in=MODEL_FILE
        )
        sha256 = description["table_sha256"]
        try:
            stopword_lines = (directory / STOPWORDS_FILE).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ModelLoadError(
                f"cannot read keyword model files in {directory}: {error}"
            ) from error
        try:
            with np.load(table_path, allow_pickle=False) as archive:
                entries = archive["entries"].tobytes().decode("utf-8").split("\n")
                document_frequency = archive["document_frequency"]
                cohesion = archive["cohesion"]
                n_documents = int(archive["n_documents"])
        except (OSError, KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as error:
            raise ModelLoadError(f"cannot read keyword table {table_path}: {error}") from error
        if not len(entries) == len(document_frequency) == len(cohesion):
            raise ModelLoadError(f"{table_path}: table columns differ in length")
        keys = [tuple(entry.split(" ")) for entry in entries]
        stopwords = parse_stopwords(stopword_lines)
        return cls(
            name=description["name"],
            version=description["version"],
            sha256=sha256,
            # Entries with zero cohesion are words kept for their IDF only.
            segmenter=PhraseSegmenter(
                {
                    key: value
                    for key, value in zip(keys, cohesion.astype(float).tolist(), strict=True)
                    if value > 0
                }
            ),
            document_frequency=dict(zip(keys, document_frequency.tolist(), strict=True)),
            n_documents=n_documents,
            stopwords=stopwords,
        )

    def idf(self, key: tuple[str, ...]) -> float:
        # Phrases the corpus never had (new names, rare words) count as seen once.
        frequency = max(self._document_frequency.get(key, 1), 1)
        return math.log((1 + self._n_documents) / (1 + frequency)) + 1.0

    def extract(self, text: str, limit: int = 10) -> list[Keyword]:
        """The ``limit`` best key phrases of ``text``, best first.

        The first line counts as a title when the text has more than one line; phrases in it,
        and phrases first met early in the text, weigh more. Single syllables weigh less than
        phrases: alone, most Vietnamese syllables are fragments of words.
        """
        if limit <= 0:
            return []
        lines = text.strip().split("\n", 1)
        title = lines[0] if len(lines) == 2 and len(lines[0]) <= 200 else ""
        title_keys = {unit.key for unit, _ in self.segmenter.units(title)} if title else set()
        counts: dict[tuple[str, ...], int] = {}
        first_seen: dict[tuple[str, ...], tuple[int, str]] = {}
        total = 0
        for unit, position in self.segmenter.units(text):
            total = position + len(unit.key)
            memo_key = (unit.key, unit.proper)
            candidate = self._candidates.get(memo_key)
            if candidate is None:
                if len(self._candidates) > _MAX_REMEMBERED_UNITS:
                    self._candidates.clear()
                candidate = self._candidates[memo_key] = is_candidate(unit, self.stopwords)
            if not candidate:
                continue
            counts[unit.key] = counts.get(unit.key, 0) + 1
            first_seen.setdefault(unit.key, (position, unit.surface))
        if not counts:
            return []
        scored = []
        for key, count in counts.items():
            position, surface = first_seen[key]
            weight = (1.0 + math.log(count)) * self.idf(key)
            if len(key) == 1:
                weight *= 0.5
            if key in title_keys:
                weight *= 1.5
            # Phrases met in the first fifth of the text (the lead) get up to 30 % more.
            weight *= 1.0 + 0.3 * max(0.0, 1.0 - position / max(1, 0.2 * total))
            scored.append((weight, position, surface))
        scored.sort(key=lambda item: (-item[0], item[1]))
        best = scored[0][0]
        return [Keyword(surface, round(weight / best, 4)) for weight, _, surface in scored[:limit]]


def parse_stopwords(lines: Iterable[str]) -> frozenset[str]:
    """One word or phrase a line, lower case; blank lines and "#" comments skipped."""
    return frozenset(
        unicodedata.normalize("NFC", line.strip().lower())
        for line in lines
        if line.strip() and not line.startswith("#")
    )


def read_stopwords(path: Path) -> frozenset[str]:
    return parse_stopwords(path.read_text(encoding="utf-8").splitlines())


def _read_description(path: Path) -> dict:
    return read_description(
        path,
        what="keyword model",
        required=("name", "version", "table_sha256"),
        format_version=FORMAT_VERSION,
    )
