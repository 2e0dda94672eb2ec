"""Ho Chi Minh City administrative units mentioned in text, resolved to GSO codes, old and new."""

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from langnghe.nlp.v1 import nlp_pb2

DATA_FILE = "localities.json"
DATA_DIR = Path(__file__).parent / "data"
FORMAT = 1

BEFORE_2025 = "before_2025"
SINCE_2025 = "since_2025"
STRUCTURES = (BEFORE_2025, SINCE_2025)
CITY, DISTRICT, COMMUNE = "city", "district", "commune"

DISTRICT_KINDS = frozenset({"quan", "huyen", "thanh_pho", "thi_xa"})
COMMUNE_KINDS = frozenset({"phuong", "xa", "thi_tran", "dac_khu"})
# Unit words as folded text (lower case, no diacritics) → the kinds of unit they name.
UNIT_WORDS = {
    "thanh pho": frozenset({"thanh_pho"}),
    "thi tran": frozenset({"thi_tran"}),
    "thi xa": frozenset({"thi_xa"}),
    "dac khu": frozenset({"dac_khu"}),
    "quan": frozenset({"quan"}),
    "huyen": frozenset({"huyen"}),
    "phuong": frozenset({"phuong"}),
    "xa": frozenset({"xa"}),
    "tinh": frozenset({"tinh"}),
}
ABBREVIATIONS = {
    "t.p": UNIT_WORDS["thanh pho"],
    "tp": UNIT_WORDS["thanh pho"],
    "tt": UNIT_WORDS["thi tran"],
    "tx": UNIT_WORDS["thi xa"],
    "q": UNIT_WORDS["quan"],
    "h": UNIT_WORDS["huyen"],
    "p": UNIT_WORDS["phuong"],
}
# Unit words are found with str.find on the folded text (a regex alternation scanning every
# position costs several times more on an article); boundaries are checked after.
_UNIT_ANCHORS = (*UNIT_WORDS, "t.p", "tp", "tt", "tx", "q.", "h.", "p.")
# "Q7", "p14", "Q 7": a one-letter abbreviation right before a number.
_NUMBERED_RE = re.compile(r"[qp] ?[0-9]")
# A unit word written with diacritics must be written right: "quán", "quân" and "tình" are not.
UNIT_WORD_SPELLINGS = frozenset(
    {"thành phố", "thị trấn", "thị xã", "đặc khu", "quận", "huyện", "phường", "xã", "tỉnh"}
)
_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+|-")
_CLUSTER_RE = re.compile(r"[^\u0300-\u036f]?[\u0300-\u036f]*", re.DOTALL)
_SPACES_RE = re.compile(r"[ \t]+")
_GAP_NONE = re.compile(r"")
_GAP_SPACE_OR_NONE = re.compile(r"[ \t]{0,2}")
_GAP_AFTER_DOT = re.compile(r"[ \t]{0,2}")
_GAP_AFTER_WORD = re.compile(r"\s{1,3}")
_SEPARATORS_RE = re.compile(r"[\s,;:()/–—-]{0,6}")
# Two capitalised words in a row (folded text keeps case): where bare names are looked for.
_CAPITALISED_PAIR_RE = re.compile(r"[A-Z][a-z]*[ \t]+[A-Z]")
_WORD_RE = re.compile(r"[a-z]+")

# Words after which a capitalised name is a street, market, bridge, school... and not a unit.
_HEADS = "duong pho hem ngo kiet cho cau song kenh rach ben cang bay khu truong vien cong nha ga"
_PEOPLE = "ong ba anh chi em co thay chu bac di tuong ten so to ap lo tuyen dai hoc toa tru"
NON_UNIT_HEADS = frozenset(f"{_HEADS} {_PEOPLE}".split())
# Bare names that mostly mean something else: the old city name, areas, an airport, a president.
NOT_BARE = frozenset(
    {"sai gon", "cho lon", "thu thiem", "tan son nhat", "ho chi minh", "phu my hung"}
)
# Ward names taken from people's names are also street names: bare, they are never units.
_SURNAMES = "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly truong dinh"
PERSON_NAME_STARTS = frozenset(
    f"{_SURNAMES} mai cao ton thai la ha lam luong trinh doan co".split()
)
# Names written without a unit word that need their own pattern: (unit, anchor, folded pattern).
BARE_PATTERNS = (
    ((SINCE_2025, "79"), "tphcm", re.compile(r"tphcm")),
    ((SINCE_2025, "79"), "hcmc", re.compile(r"hcmc")),
    ((BEFORE_2025, "77"), "ba ria", re.compile(r"ba ria ?- ?vung tau")),
    ((BEFORE_2025, "77"), "br", re.compile(r"br ?- ?vt|brvt")),
)

_PROTO_LEVELS = {
    CITY: nlp_pb2.LOCALITY_LEVEL_CITY,
    DISTRICT: nlp_pb2.LOCALITY_LEVEL_DISTRICT,
    COMMUNE: nlp_pb2.LOCALITY_LEVEL_COMMUNE,
}
_PROTO_STRUCTURES = {
    BEFORE_2025: nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025,
    SINCE_2025: nlp_pb2.ADMIN_STRUCTURE_SINCE_2025,
}

SCORE_UNIT_WORD = 0.95
SCORE_ABBREVIATION = 0.9
SCORE_OTHER_KIND = 0.8
SCORE_ALIAS = 0.75
SCORE_PREFERRED_CURRENT = 0.7
SCORE_BARE = 0.6


class LocalityDataError(RuntimeError):
    """The localities data file is missing, unreadable or not in the expected format."""


def _fold_table() -> np.ndarray:
    """Code point → one ASCII byte: the letter without diacritics (case kept), space or "#"."""
    table = np.full(0x10000, ord("#"), dtype=np.uint8)
    table[:0x80] = np.arange(0x80, dtype=np.uint8)
    for c in (*range(0x80, 0x250), *range(0x1E00, 0x1F00), *range(0x2000, 0x2070), 0x3000):
        ch = chr(c)
        base = "".join(x for x in unicodedata.normalize("NFD", ch) if not unicodedata.combining(x))
        if ch in "đĐ":
            table[c] = ord("d" if ch == "đ" else "D")
        elif ch in "‐‑‒–—":
            table[c] = ord("-")
        elif ch.isspace():
            table[c] = ord(" ")
        elif len(base) == 1 and base.isascii() and base.isalpha():
            table[c] = ord(base)
        elif ch.isalnum():
            table[c] = ord("x")  # a letter all the same: names never match inside its word
    return table


_FOLD = _fold_table()


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _fold_cased(codepoints: np.ndarray) -> str:
    """One ASCII character per code point: diacritics removed, đ → d, case kept."""
    return _FOLD[np.minimum(codepoints, 0xFFFF)].tobytes().decode("ascii")


def fold(text: str) -> str:
    """Lower case, diacritics removed, đ → d; one character out for each NFC character in."""
    return _fold_cased(_codepoints(text)).lower()


def _nfc_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFC ``text`` and, for each output index (and the end), the input index it came from."""
    parts: list[str] = []
    offsets: list[int] = []
    for match in _CLUSTER_RE.finditer(text):
        cluster = match.group()
        if not cluster:
            continue
        composed = unicodedata.normalize("NFC", cluster)
        parts.append(composed)
        offsets.extend([match.start()] * len(composed))
    offsets.append(len(text))
    return "".join(parts), offsets


def _marks(word: str) -> tuple[str, ...]:
    """Diacritics of a word, whatever their placement ("hoà" and "hòa" give the same)."""
    return tuple(sorted(c for c in unicodedata.normalize("NFD", word.lower()) if ord(c) > 0x7F))


def _name_key(words: Iterable[str]) -> str:
    return " ".join(str(int(w)) if w.isdigit() else w for w in words)


@dataclass(frozen=True, slots=True)
class Unit:
    """One administrative unit of one structure."""

    code: str
    name: str
    short: str
    kind: str
    level: str
    structure: str
    province: str = ""
    district: str = ""
    current_codes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalityMention:
    """A unit found in text; fields follow proto ``Locality`` (offsets are code points)."""

    code: str
    name: str
    level: str
    structure: str
    current_codes: tuple[str, ...]
    start: int
    end: int
    mention: str
    score: float
    # Other readings of an ambiguous mention, as (structure, code), when one was preferred.
    alternatives: tuple[tuple[str, str], ...] = ()

    def to_proto(self, field: int = nlp_pb2.TEXT_FIELD_TEXT) -> nlp_pb2.Locality:
        """The proto message; ``field`` says whether the offsets point into the text or title."""
        return nlp_pb2.Locality(
            code=self.code,
            name=self.name,
            level=_PROTO_LEVELS[self.level],
            structure=_PROTO_STRUCTURES[self.structure],
            current_codes=self.current_codes,
            span=nlp_pb2.Span(field=field, start=self.start, end=self.end),
            mention=self.mention,
            score=self.score,
        )


@dataclass(slots=True)
class _Candidate:
    start: int
    end: int
    name_start: int
    units: list[Unit]
    score: float
    by_alias: bool = False
    # Units that carry this number as a ward merged into them (1 January 2025): they apply when
    # the district named with the mention has no ward of that number any more.
    aliased: list[Unit] = field(default_factory=list)
    context: Unit | None = field(default=None)


class LocalityResolver:
    """Finds unit mentions ("Q.7", "P. Bến Nghé", "phường Sài Gòn") and resolves them to codes."""

    name = "hcmc-localities"

    def __init__(self, units: list[Unit], *, version: str, sha256: str) -> None:
        self.version = version
        self.sha256 = sha256
        self._by_code: dict[tuple[str, str], Unit] = {}
        self._names: dict[str, list[Unit]] = {}
        self._aliases: dict[str, list[Unit]] = {}
        for unit in units:
            key = (unit.structure, unit.code)
            if key in self._by_code:
                raise LocalityDataError(f"unit {unit.structure}:{unit.code} appears twice")
            self._by_code[key] = unit
            names = [unit.short]
            if unit.level == CITY and unit.code == "79":
                names.append("HCM")
            if "-" in unit.short:  # "Bà Rịa - Vũng Tàu" is also written without the dash
                names.append(unit.short.replace("-", " "))
            for name in names:
                self._names.setdefault(_name_key(fold(name).split()), []).append(unit)
            for alias in unit.aliases:
                self._aliases.setdefault(_name_key([alias]), []).append(unit)
        # Every word-prefix of a name, so that a scan stops at the first word no name continues.
        self._prefixes = {
            " ".join(k.split()[:n])
            for k in (*self._names, *self._aliases)
            for n in range(1, len(k.split()) + 1)
        }
        # Bare names: unique over every unit and structure, several words, not a person's name.
        self._bare: dict[str, Unit] = {}
        for key, found in self._names.items():
            words = key.split()
            if (
                len(found) == 1
                and len(words) >= 2
                and key not in NOT_BARE
                and words[0] not in PERSON_NAME_STARTS
                and not any(w.isdigit() or w == "-" for w in words)
            ):
                self._bare[key] = found[0]
        self._bare_prefixes = {
            " ".join(k.split()[:n]) for k in self._bare for n in range(1, len(k.split()) + 1)
        }

    @classmethod
    def load(cls, directory: str | Path = DATA_DIR) -> Self:
        """Read ``localities.json`` from ``directory`` (built by services.nlp.build_localities)."""
        path = Path(directory) / DATA_FILE
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
        except FileNotFoundError as exc:
            raise LocalityDataError(
                f"{path} is missing: run python -m services.nlp.build_localities"
            ) from exc
        except (OSError, ValueError) as exc:
            raise LocalityDataError(f"{path} is unreadable: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LocalityDataError(f"{path}: expected format {FORMAT}")
        try:
            units = [
                Unit(
                    code=str(u["code"]),
                    name=u["name"],
                    short=u["short"],
                    kind=u["kind"],
                    level=u["level"],
                    structure=u["structure"],
                    province=u.get("province", ""),
                    district=u.get("district", ""),
                    current_codes=tuple(u.get("current", ())),
                    aliases=tuple(u.get("aliases", ())),
                )
                for u in data["units"]
            ]
            version = f"{data['source']['package']}-{data['source']['version']}"
        except (KeyError, TypeError) as exc:
            raise LocalityDataError(f"{path}: a unit or the source is malformed: {exc!r}") from exc
        for unit in units:
            if unit.structure not in STRUCTURES or unit.level not in (CITY, DISTRICT, COMMUNE):
                raise LocalityDataError(f"{path}: unit {unit.code} has a bad structure or level")
        return cls(units, version=version, sha256=hashlib.sha256(raw).hexdigest())

    # Lookups by code -------------------------------------------------------------------------

    def units(self, code: str) -> list[Unit]:
        """Every unit with this code: GSO reuses codes, so an old and a new unit may share one."""
        return [u for s in STRUCTURES if (u := self._by_code.get((s, str(code)))) is not None]

    def unit(self, code: str, structure: str | None = None) -> Unit | None:
        """The unit with this code in ``structure``; without it, the current unit comes first."""
        if structure is not None:
            if structure not in STRUCTURES:
                raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
            return self._by_code.get((structure, str(code)))
        found = self.units(code)
        return found[-1] if found else None

    def current_codes(self, code: str) -> tuple[str, ...]:
        """Codes of the current units that took over the old unit ``code`` (itself if current)."""
        old = self._by_code.get((BEFORE_2025, str(code)))
        if old is not None:
            return old.current_codes
        if (SINCE_2025, str(code)) in self._by_code:
            return (str(code),)
        raise KeyError(f"no unit has the code {code!r}")

    # Finding mentions ------------------------------------------------------------------------

    def find(self, text: str) -> list[LocalityMention]:
        """The first mention of each unit in ``text``, in text order."""
        offsets = None
        work = text
        codepoints = _codepoints(text)
        if ((codepoints >= 0x300) & (codepoints < 0x370)).any():
            # Decomposed input: compose, find, then map the spans back to the input.
            work, offsets = _nfc_with_offsets(text)
            codepoints = _codepoints(work)
        cased = _fold_cased(codepoints)
        folded = cased.lower()
        candidates = self._unit_word_candidates(work, folded)
        candidates.extend(self._bare_candidates(work, cased, folded, candidates))
        candidates.sort(key=lambda c: c.start)
        self._attach_district_context(work, folded, candidates)

        mentions: list[LocalityMention] = []
        seen: set[tuple[str, str]] = set()
        for candidate in candidates:
            resolved = self._resolve(candidate, work)
            if resolved is None:
                continue
            unit, score, alternatives = resolved
            if (unit.structure, unit.code) in seen:
                continue
            seen.add((unit.structure, unit.code))
            start, end = candidate.start, candidate.end
            if offsets is not None:
                start, end = offsets[start], offsets[end]
            mentions.append(
                LocalityMention(
                    code=unit.code,
                    name=unit.name,
                    level=unit.level,
                    structure=unit.structure,
                    current_codes=unit.current_codes,
                    start=start,
                    end=end,
                    mention=text[start:end],
                    score=score,
                    alternatives=alternatives,
                )
            )
        return mentions

    def _name_at(
        self, folded: str, pos: int, *, first_gap: re.Pattern[str] | None = None
    ) -> list[tuple[int, int, str]]:
        """(name start, name end, key) for each name length that could start at ``pos``."""
        if first_gap is not None:
            gap = first_gap.match(folded, pos)
            if gap is None:
                return []
            pos = gap.end()
        token = _TOKEN_RE.match(folded, pos)
        out = []
        key = ""
        previous = None
        while token is not None:
            if previous is not None:
                between = folded[previous.end() : token.start()]
                dash = token.group() == "-" or previous.group() == "-"
                if not (between.isspace() or (dash and between == "")):
                    break
            word = token.group()
            if word.isdigit():
                word = str(int(word))
            key = f"{key} {word}" if key else word
            if key not in self._prefixes:
                break
            end = token.end()
            if end >= len(folded) or not folded[end].isalnum():
                out.append((pos, end, key))
            previous = token
            token = _TOKEN_RE.search(folded, end)
            if token is not None and token.start() - end > 3:
                break
        return out[::-1]  # longest first

    def _unit_word_candidates(self, work: str, folded: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        last_end = -1
        for start, word, dot in _unit_word_hits(folded):
            if start < last_end:  # "xã" inside "thị xã"
                continue
            end = start + len(word) + len(dot)
            abbreviation = word in ABBREVIATIONS
            written = work[start : start + len(word)]
            if not (abbreviation or written.isascii() or written.lower() in UNIT_WORD_SPELLINGS):
                continue
            kinds = ABBREVIATIONS[word] if abbreviation else UNIT_WORDS[word]
            if abbreviation and not dot:
                # "Q7", "p14": digits right after; "TP Thủ Đức": two letters or upper case, a space.
                gap = _GAP_SPACE_OR_NONE if (len(word) > 1 or written.isupper()) else _GAP_NONE
            elif abbreviation:
                gap = _GAP_AFTER_DOT
            else:
                gap = _GAP_AFTER_WORD
            for name_start, name_end, key in self._name_at(folded, end, first_gap=gap):
                units = [u for u in self._names.get(key, ()) if u.kind in kinds]
                score = SCORE_ABBREVIATION if abbreviation else SCORE_UNIT_WORD
                by_alias = False
                if not units and kinds != UNIT_WORDS["tinh"]:
                    # "quận Thủ Đức", "xã Côn Đảo": the right level with another unit word.
                    group = DISTRICT_KINDS if kinds <= DISTRICT_KINDS else COMMUNE_KINDS
                    units = [u for u in self._names.get(key, ()) if u.kind in group]
                    score = SCORE_OTHER_KIND
                aliased = []
                if kinds & {"quan", "phuong"}:
                    aliased = [
                        u
                        for u in self._aliases.get(key, ())
                        if u.kind in (DISTRICT_KINDS if "quan" in kinds else COMMUNE_KINDS)
                    ]
                if not units and aliased:
                    units, aliased = aliased, []
                    score, by_alias = SCORE_ALIAS, True
                if units:
                    found.append(
                        _Candidate(start, name_end, name_start, units, score, by_alias, aliased)
                    )
                    last_end = name_end
                    break
        return found

    def _bare_candidates(
        self, work: str, cased: str, folded: str, taken: list[_Candidate]
    ) -> list[_Candidate]:
        found: list[_Candidate] = []
        spans = [(c.start, c.end) for c in taken]
        for key, anchor, pattern in BARE_PATTERNS:
            unit = self._by_code.get(key)
            start = folded.find(anchor)
            while unit is not None and start != -1:
                m = pattern.match(folded, start)
                if (
                    m is not None
                    and _word_bounded(folded, start, m.end())
                    and cased[start].isupper()
                    and not _overlaps(start, m.end(), spans)
                ):
                    found.append(_Candidate(start, m.end(), start, [unit], SCORE_ABBREVIATION))
                    break
                start = folded.find(anchor, start + 1)
        pos = 0
        while (pair := _CAPITALISED_PAIR_RE.search(cased, pos)) is not None:
            # The run of capitalised words that starts here.
            words: list[re.Match[str]] = []
            cursor = pair.start()
            if cursor > 0 and cased[cursor - 1].isalnum():
                pos = cursor + 1
                continue
            while (word := _WORD_RE.match(folded, cursor)) is not None and cased[cursor].isupper():
                words.append(word)
                gap = _SPACES_RE.match(folded, word.end())
                if gap is None or (word.end() < len(folded) and folded[word.end()].isdigit()):
                    break
                cursor = gap.end()
            pos = words[-1].end() if words else pair.end()
            i = 0
            while i < len(words) - 1:
                hit = None
                key = words[i].group()
                for j in range(i + 1, len(words)):
                    key = f"{key} {words[j].group()}"
                    if key not in self._bare_prefixes:
                        break
                    if key in self._bare:
                        hit = j + 1
                if hit is None:
                    i += 1
                    continue
                start, end = words[i].start(), words[hit - 1].end()
                before = _WORD_RE.findall(folded, max(0, start - 12), start)
                if (before and before[-1] in NON_UNIT_HEADS) or _overlaps(start, end, spans):
                    i = hit
                    continue
                unit = self._bare[" ".join(w.group() for w in words[i:hit])]
                found.append(_Candidate(start, end, start, [unit], SCORE_BARE))
                i = hit
        return found

    def _attach_district_context(
        self, work: str, folded: str, candidates: list[_Candidate]
    ) -> None:
        """A ward followed (or preceded) by its district: "P.14, Q. Gò Vấp", "Quận 1, P. Đa Kao"."""
        named_after: list[_Candidate] = []
        for index, candidate in enumerate(candidates):
            if not any(u.level == COMMUNE for u in candidate.units):
                continue
            neighbours = []
            if index + 1 < len(candidates):
                neighbours.append(
                    (candidates[index + 1], candidate.end, candidates[index + 1].start)
                )
            if index > 0:
                neighbours.append(
                    (candidates[index - 1], candidates[index - 1].end, candidate.start)
                )
            for other, gap_start, gap_end in neighbours:
                districts = [u for u in other.units if u.level == DISTRICT]
                if districts and _SEPARATORS_RE.fullmatch(work, gap_start, gap_end):
                    candidate.context = districts[0] if len(districts) == 1 else None
                    break
            if candidate.context is None:
                # "P.14, Gò Vấp": a bare district name right after the ward
                sep = _SEPARATORS_RE.match(work, candidate.end)
                if sep and sep.end() > candidate.end:
                    for start, end, key in self._name_at(folded, sep.end()):
                        districts = [u for u in self._names.get(key, ()) if u.level == DISTRICT]
                        if len(districts) == 1 and work[sep.end()].isupper():
                            candidate.context = districts[0]
                            named_after.append(_Candidate(start, end, start, districts, SCORE_BARE))
                            break
        if named_after:
            candidates.extend(named_after)
            candidates.sort(key=lambda c: c.start)

    def _resolve(
        self, candidate: _Candidate, work: str
    ) -> tuple[Unit, float, tuple[tuple[str, str], ...]] | None:
        units = candidate.units
        written = work[candidate.name_start : candidate.end]
        # Text written with diacritics tells "Thanh An" from "Thạnh An"; without, both stay.
        window = work[max(0, candidate.start - 40) : candidate.end + 40]
        if len({u.short for u in units}) > 1 and not window.isascii():
            marks = [_marks(w) for w in written.split()]
            exact = [u for u in units if [_marks(w) for w in u.short.split()] == marks]
            units = exact or units
        score = candidate.score
        if candidate.context is not None:
            district = candidate.context
            in_district = [u for u in units if u.district == district.code]
            if not in_district:
                in_district = [u for u in candidate.aliased if u.district == district.code]
                score = min(score, SCORE_ALIAS) if in_district else score
            units = in_district or [u for u in units if u.structure == SINCE_2025] or units
        elif len(units) > 1 and any(u.level == COMMUNE for u in units):
            current = [u for u in units if u.structure == SINCE_2025]
            if len(current) == 1:
                others = tuple((u.structure, u.code) for u in units if u is not current[0])
                return current[0], min(score, SCORE_PREFERRED_CURRENT), others
        # Old numbered wards exist in many districts: without their district they stay unresolved.
        units = [
            u
            for u in units
            if not (
                u.level == COMMUNE
                and u.structure == BEFORE_2025
                and (u.short.isdigit() or candidate.by_alias)
                and candidate.context is None
            )
        ]
        if len(units) != 1:
            return None
        return units[0], score, ()


def _unit_word_hits(folded: str) -> list[tuple[int, str, str]]:
    """(start, unit word, "." or "") of each unit word standing as a word, in text order."""
    hits = []
    size = len(folded)
    for anchor in _UNIT_ANCHORS:
        start = folded.find(anchor)
        while start != -1:
            end = start + len(anchor)
            if start == 0 or not folded[start - 1].isalnum():
                if anchor.endswith(".") and anchor != "t.p":
                    hits.append((start, anchor[:-1], "."))
                elif end == size or not folded[end].isalnum():
                    dotted = end < size and folded[end] == "." and anchor in ABBREVIATIONS
                    hits.append((start, anchor, "." if dotted else ""))
                elif anchor in ABBREVIATIONS and folded[end].isdigit():
                    hits.append((start, anchor, ""))
            start = folded.find(anchor, end)
    for match in _NUMBERED_RE.finditer(folded):
        start = match.start()
        if start == 0 or not folded[start - 1].isalnum():
            hits.append((start, match.group()[0], ""))
    hits.sort()
    return hits


def _word_bounded(folded: str, start: int, end: int) -> bool:
    return (start == 0 or not folded[start - 1].isalnum()) and (
        end == len(folded) or not folded[end].isalnum()
    )


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)
