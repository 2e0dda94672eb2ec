"""Vietnamese named entities (PER/ORG/LOC/MISC): a syllable CRF decoded with numpy alone."""

import itertools
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from services.common.text import strip_marks
from services.nlp.artifacts import ModelLoadError, read_description, read_verified

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
LABELS = ("O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")))
WINDOW = 2
# Longest entity (in syllables) the gazetteer looks up; longer names are rare and the CRF still
# tags them from context.
GAZETTEER_MAX_TOKENS = 10

# Syllables, numbers and words are runs of word characters; every other visible character is a
# token of its own, so "TP.HCM" and "(UBND)" split at the punctuation, as VLSP spans do.
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = frozenset(".!?…")
_OFFSET_TAGS = {-2: "L2.", -1: "L1.", 0: "", 1: "R1.", 2: "R2."}
# Lower-case syllables two names may have between them and still be linked by features.
_MAX_NAME_GAP = 4
_CLAUSE_BREAKS = frozenset(".,;:!?…()[]\"“”'‘’")
# Words that open an organisation's name when capitalised ("Sở Y tế TP.HCM", "Công ty cổ phần
# ..."), longest first where one extends another. Tokens after one, in the same clause, get
# features saying how far back it is, so that a place inside the name ("TP.HCM") can stay part
# of the organisation beyond the ±2 window.
_ORGANISATION_HEAD_WORDS = """
sở, bộ, ủy ban, uỷ ban, ubnd, hđnd, công ty, tổng công ty, tập đoàn, trường, đại học,
học viện, bệnh viện, ngân hàng, hội, hiệp hội, liên đoàn, viện, viện kiểm sát, vksnd,
công an, tòa án, toà án, tand, cục, tổng cục, chi cục, ban, phòng, văn phòng, trung tâm,
quỹ, đài, báo, đảng, đảng bộ, đoàn, thành ủy, thành uỷ, tỉnh ủy, tỉnh uỷ, huyện ủy,
huyện uỷ, quân khu, bộ tư lệnh, bộ chỉ huy, sư đoàn, câu lạc bộ, clb, hợp tác xã, htx,
nhà máy, quốc hội, chính phủ, mặt trận, liên hiệp, tổ chức, ủy ban nhân dân,
uỷ ban nhân dân, kho bạc, thanh tra, cảnh sát, bảo hiểm, đội, nhà xuất bản, nxb, khu,
ubmttq
"""
ORGANISATION_HEADS: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (tuple(head.split()) for head in _ORGANISATION_HEAD_WORDS.replace("\n", " ").split(",")),
        key=len,
        reverse=True,
    )
)
_ORGANISATION_HEAD_FIRSTS = frozenset(head[0] for head in ORGANISATION_HEADS)
# How many tokens after an organisation head still get its features.
_ORGANISATION_SCOPE = 10

# Distinct syllables whose feature sums are kept; past this the cache starts again.
_MAX_CACHED_TOKENS = 200_000


@dataclass(frozen=True, slots=True)
class EntityMention:
    type: str  # "PER" | "ORG" | "LOC" | "MISC"
    start: int  # code-point offsets into the text given to ``recognize``
    end: int
    text: str
    # Mean, over the mention's syllables, of the CRF's marginal probability of the label it was
    # given (forward-backward): 1.0 when the model sees no alternative.
    score: float


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int


def nfc_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFC ``text`` and, for each of its code points (plus one past the end), the offset in
    ``text`` it came from, so spans found in the NFC form map back onto the caller's string."""
    if unicodedata.is_normalized("NFC", text):
        return text, list(range(len(text) + 1))
    pieces: list[str] = []
    offsets: list[int] = []
    start = 0
    # A base character and the combining marks after it compose together; cut between such
    # clusters, normalise each one, and map every code point of its NFC form to its start.
    for position in range(1, len(text) + 1):
        if position < len(text) and unicodedata.combining(text[position]):
            continue
        cluster = unicodedata.normalize("NFC", text[start:position])
        pieces.append(cluster)
        offsets.extend([start] * len(cluster))
        start = position
    offsets.append(len(text))
    return "".join(pieces), offsets


def tokenize(text: str) -> list[Token]:
    return [
        Token(match.group(), match.start(), match.end()) for match in TOKEN_PATTERN.finditer(text)
    ]


def sentence_ranges(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Token ranges of the sentences of one line, each decoded as one sequence.

    A sentence ends at . ! ? … after a lower-case word, a number or a bracket, when the next
    token starts with a capital; after a capital ("TP. Hồ Chí Minh", "P. Bến Nghé") a full stop
    is an abbreviation and does not end the sentence.
    """
    ranges: list[tuple[int, int]] = []
    begin = 0
    for index in range(2, len(tokens)):
        if (
            tokens[index - 1] in _SENTENCE_END
            and not tokens[index - 2][:1].isupper()
            and tokens[index][:1].isupper()
        ):
            ranges.append((begin, index))
            begin = index
    if tokens:
        ranges.append((begin, len(tokens)))
    return ranges


def sentence_spans(tokens: Sequence[Token], text: str) -> list[tuple[int, int]]:
    """``sentence_ranges`` of every line of ``text``, as ranges of ``tokens``."""
    spans: list[tuple[int, int]] = []
    line_begin = 0
    for index in range(1, len(tokens) + 1):
        if index == len(tokens) or "\n" in text[tokens[index - 1].end : tokens[index].start]:
            line = [token.text for token in tokens[line_begin:index]]
            spans.extend(
                (line_begin + begin, line_begin + end) for begin, end in sentence_ranges(line)
            )
            line_begin = index
    return spans


def shape(token: str) -> str:
    first = token[0]
    if first.isalpha() or first == "_":
        if token.isupper():
            return "AA" if len(token) > 1 else "A"
        if first.isupper():
            return "Aa" if token[1:].islower() or len(token) == 1 else "AaA"
        if any(character.isdigit() for character in token):
            return "a0"
        return "a" if token.islower() else "aA"
    if first.isdigit():
        return "0" if token.isdigit() else "0a"
    return "p"


@dataclass(frozen=True, slots=True)
class SyllableTables:
    """What the model knows about a syllable from a large unlabelled corpus: how often it is
    written with a capital away from the start of a sentence, and how frequent it is (bucketed);
    and its word clusters, coarse to fine (syllables used in like contexts share one). Built at
    training time from VNTC news (MIT) and shipped with the model."""

    buckets: dict[str, str]
    clusters: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def attribute(self, lowered: str) -> str:
        return self.buckets.get(lowered, "unk")

    def cluster_attributes(self, lowered: str) -> tuple[str, ...]:
        """One feature per granularity ("k0=12", "k1=200", ...); none for an unclustered
        syllable (its other features speak for it)."""
        ids = self.clusters.get(lowered)
        if ids is None:
            return ()
        return tuple(f"k{level}={cluster}" for level, cluster in enumerate(ids))

    def cluster_part(self, lowered: str) -> str:
        """The syllable in the cluster n-grams: its cluster at CLUSTER_NGRAM_LEVEL, or "-"."""
        ids = self.clusters.get(lowered)
        return str(ids[CLUSTER_NGRAM_LEVEL]) if ids is not None else "-"


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Entity syllable sequences seen in the training annotations, with their commonest type."""

    entries: dict[tuple[str, ...], str]
    first_tokens: frozenset[str]

    @classmethod
    def from_mentions(cls, mentions: Iterable[tuple[tuple[str, ...], str]]) -> Self:
        counts: dict[tuple[str, ...], dict[str, int]] = {}
        for tokens, kind in mentions:
            if 0 < len(tokens) <= GAZETTEER_MAX_TOKENS:
                per_type = counts.setdefault(tokens, {})
                per_type[kind] = per_type.get(kind, 0) + 1
        # Ties go to the type listed first in ENTITY_TYPES, so the choice is reproducible.
        entries = {
            tokens: max(
                ENTITY_TYPES, key=lambda kind: (per_type.get(kind, 0), -ENTITY_TYPES.index(kind))
            )
            for tokens, per_type in counts.items()
        }
        return cls(entries, frozenset(tokens[0] for tokens in entries))

    def tags(self, tokens: Sequence[str]) -> list[str | None]:
        """Greedy longest match from left to right: "B-LOC", "I-LOC", ... or None per token."""
        tags: list[str | None] = [None] * len(tokens)
        first_tokens = self.first_tokens
        covered = 0
        for index in [i for i, token in enumerate(tokens) if token in first_tokens]:
            if index < covered:
                continue
            for length in range(min(GAZETTEER_MAX_TOKENS, len(tokens) - index), 0, -1):
                kind = self.entries.get(tuple(tokens[index : index + length]))
                if kind is not None:
                    tags[index] = f"B-{kind}"
                    for inside in range(index + 1, index + length):
                        tags[inside] = f"I-{kind}"
                    covered = index + length
                    break
        return tags


def local_attributes(token: str, tables: SyllableTables) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Attributes of a syllable on its own: (those used at every window offset, those used only
    for the syllable itself)."""
    lowered = token.lower()
    windowed = (
        f"w={lowered}",
        f"s={shape(token)}",
        f"c={tables.attribute(lowered)}",
        *tables.cluster_attributes(lowered),
    )
    own = (
        f"f={strip_marks(lowered)}",
        f"x2={lowered[-2:]}",
        f"x3={lowered[-3:]}",
        f"p2={lowered[:2]}",
        f"n={min(len(token), 8)}",
    )
    return windowed, own


def windowed_local_features(token: str, tables: SyllableTables) -> list[tuple[int, str]]:
    """(offset, feature) pairs a syllable contributes to the syllables around it (and itself)."""
    windowed, own = local_attributes(token, tables)
    pairs = [
        (offset, _OFFSET_TAGS[-offset] + attribute)
        for offset in _OFFSET_TAGS
        for attribute in windowed
    ]
    pairs.extend((0, attribute) for attribute in own)
    return pairs


# Features over two or three neighbouring syllables: (name, what they read, offsets). They read
# the lower-cased syllable ("w"), its shape ("s") or its word cluster ("k"); outside the
# sequence, "<s>" and "</s>".
NGRAM_FAMILIES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("b.L", "w", (-1, 0)),
    ("b.R", "w", (0, 1)),
    ("b.LL", "w", (-2, -1)),
    ("b.RR", "w", (1, 2)),
    ("t.C", "w", (-1, 0, 1)),
    ("t.L", "w", (-2, -1, 0)),
    ("t.R", "w", (0, 1, 2)),
    ("sb.L", "s", (-1, 0)),
    ("sb.R", "s", (0, 1)),
    ("st.C", "s", (-1, 0, 1)),
    ("kb.L", "k", (-1, 0)),
    ("kb.R", "k", (0, 1)),
    ("kt.C", "k", (-1, 0, 1)),
)
# The word-cluster granularity the "k" n-grams read (see SyllableTables.cluster_part).
CLUSTER_NGRAM_LEVEL = 1
BEGIN, END = "<s>", "</s>"


def context_features(
    tokens: Sequence[str], tables: SyllableTables, gazetteer: Gazetteer
) -> list[list[str]]:
    """Features of each syllable that depend on more than one syllable of the sequence."""
    lowered = [token.lower() for token in tokens]
    padded = {
        "w": [BEGIN, BEGIN, *lowered, END, END],
        "s": [BEGIN, BEGIN, *(shape(token) for token in tokens), END, END],
        "k": [BEGIN, BEGIN, *(tables.cluster_part(word) for word in lowered), END, END],
    }
    features = sequence_level_features(tokens, lowered, gazetteer)
    for index, row in enumerate(features):
        p = index + WINDOW
        for name, reads, offsets in NGRAM_FAMILIES:
            values = padded[reads]
            row.append(f"{name}=" + "|".join(values[p + offset] for offset in offsets))
    return features


NO_GAZETTEER_MATCH = "g=-"


def sequence_level_features(
    tokens: Sequence[str], lowered: Sequence[str], gazetteer: Gazetteer
) -> list[list[str]]:
    """Edges of the sequence, gazetteer matches and runs of capitalised syllables."""
    features: list[list[str]] = [[] for _ in tokens]
    for index, feature in sparse_sequence_level_features(tokens, lowered, gazetteer):
        features[index].append(feature)
    for row in features:
        if not row or not row[0].startswith("g="):
            row.insert(0, NO_GAZETTEER_MATCH)
    return features


def sparse_sequence_level_features(
    tokens: Sequence[str], lowered: Sequence[str], gazetteer: Gazetteer
) -> list[tuple[int, str]]:
    """``sequence_level_features`` as (token index, feature) pairs, gazetteer matches first,
    leaving out NO_GAZETTEER_MATCH (every token without a match has it): most tokens have no
    other, so the serving path adds that one in bulk."""
    n = len(tokens)
    pairs = [
        (index, f"g={tag}") for index, tag in enumerate(gazetteer.tags(tokens)) if tag is not None
    ]
    if not n:
        return pairs
    pairs.append((0, "bos"))
    pairs.append((n - 1, "eos"))
    pairs.extend(
        (index + 1, "after_end") for index in range(n - 1) if tokens[index] in _SENTENCE_END
    )
    runs = _capital_runs(tokens)
    # The head of the first name of a chain of linked names ("Sở" in "Sở LĐ-TB-XH Bình Định").
    chain_head = lowered[runs[0][0]] if runs else ""
    for (previous_start, previous_end), (start, end) in itertools.pairwise(runs):
        # Two names close together in one clause are often one name with lower-case words in
        # between ("Hội Chữ thập đỏ Việt Nam", "Sở LĐ-TB-XH Bình Định"): each side learns the
        # other's head, beyond the ±2 window.
        gap = start - previous_end
        if gap > _MAX_NAME_GAP or any(
            tokens[index] in _CLAUSE_BREAKS for index in range(previous_end, start)
        ):
            chain_head = lowered[start]
            continue
        head, next_head = lowered[previous_start], lowered[start]
        before = lowered[previous_start - 1] if previous_start > 0 else BEGIN
        for index in range(start, end):
            pairs.append((index, f"pr.h={head}"))
            pairs.append((index, f"pr.b={before}"))
            pairs.append((index, f"pr.g={gap}"))
            pairs.append((index, f"pr.c={chain_head}"))
        for index in range(previous_end, start):
            pairs.append((index, f"gp.h={head}"))
            pairs.append((index, f"gp.n={next_head}"))
    pairs.extend(organisation_head_features(tokens, lowered))
    for start, end in runs:
        length = end - start
        before = lowered[start - 1] if start > 0 else BEGIN
        before2 = lowered[start - 2] if start > 1 else BEGIN
        shared = (
            f"r.p1={before}",
            f"r.p2={before2}|{before}",
            f"r.h={lowered[start]}",
            f"r.a={lowered[end] if end < n else END}",
        )
        size = min(length, 5)
        for index in range(start, end):
            position = (
                "S" if length == 1 else "B" if index == start else "E" if index == end - 1 else "I"
            )
            pairs.append((index, f"r={position}{size}"))
            pairs.extend((index, feature) for feature in shared)
    return pairs


def organisation_head_features(
    tokens: Sequence[str], lowered: Sequence[str]
) -> list[tuple[int, str]]:
    """(token index, feature) for the tokens after a capitalised organisation head
    (``ORGANISATION_HEADS``) up to a clause break or the next head: the head, and the distance
    to it (bucketed) with whether the token is capitalised."""
    pairs: list[tuple[int, str]] = []
    n = len(tokens)
    index = 0
    while index < n:
        if lowered[index] not in _ORGANISATION_HEAD_FIRSTS or not tokens[index][:1].isupper():
            index += 1
            continue
        head = next(
            (
                candidate
                for candidate in ORGANISATION_HEADS
                if tuple(lowered[index : index + len(candidate)]) == candidate
            ),
            None,
        )
        if head is None:
            index += 1
            continue
        name = " ".join(head)
        pairs.append((index, f"oh.at={name}"))
        position = index + len(head)
        limit = min(n, index + len(head) + _ORGANISATION_SCOPE)
        while position < limit:
            token = tokens[position]
            if token in _CLAUSE_BREAKS and not (
                # "TP.HCM", "TP. Hồ Chí Minh": a full stop between capitals stays inside.
                token == "."
                and tokens[position - 1][:1].isupper()
                and position + 1 < n
                and tokens[position + 1][:1].isupper()
            ):
                break
            if lowered[position] in _ORGANISATION_HEAD_FIRSTS and token[:1].isupper():
                break
            distance = position - index - len(head) + 1
            bucket = distance if distance <= 3 else "4-5" if distance <= 5 else "6+"
            case = "A" if token[:1].isupper() else "a" if token[:1].isalpha() else "0"
            pairs.append((position, f"oh.h={name}"))
            pairs.append((position, f"oh.d={bucket}{case}"))
            position += 1
        index = position if position > index + len(head) else index + len(head)
    return pairs


def _capital_runs(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of every run of capitalised syllables; a number continues a run ("Quận 7")
    but does not start one."""
    runs: list[tuple[int, int]] = []
    n = len(tokens)
    end = 0
    for index in [i for i, token in enumerate(tokens) if token[:1].isupper()]:
        if index < end:
            continue
        end = index + 1
        while end < n and (tokens[end][:1].isupper() or tokens[end].isdigit()):
            end += 1
        runs.append((index, end))
    return runs


def sequence_features(
    tokens: Sequence[str], tables: SyllableTables, gazetteer: Gazetteer
) -> list[list[str]]:
    """Every feature string of every syllable: what crfsuite trains on. The serving path sums
    the same features' weights, in a faster arrangement."""
    rows = context_features(tokens, tables, gazetteer)
    n = len(tokens)
    for index, token in enumerate(tokens):
        for offset, feature in windowed_local_features(token, tables):
            target = index + offset
            if 0 <= target < n:
                rows[target].append(feature)
    return rows


def spans_from_tags(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first token, end token, type) of each entity in a BIO sequence; an I- tag that does not
    continue an entity of its type starts one."""
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    kind = ""
    for index, tag in enumerate((*tags, "O")):
        continues = tag.startswith("I-") and start is not None and tag[2:] == kind
        if start is not None and not continues:
            spans.append((start, index, kind))
            start = None
        if tag != "O" and not continues:
            start, kind = index, tag[2:]
    return spans


class EntityRecognizer:
    """Tags syllables with a linear-chain CRF trained by crfsuite, exported to numpy arrays."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sha256: str,
        vocabulary: dict[str, int],
        state_weights: np.ndarray,
        transitions: np.ndarray,
        tables: SyllableTables,
        gazetteer: Gazetteer,
    ) -> None:
        n_labels = len(LABELS)
        if state_weights.shape != (len(vocabulary) + 1, n_labels):
            raise ValueError(f"state weights of shape {state_weights.shape} do not match")
        if transitions.shape != (n_labels, n_labels):
            raise ValueError(f"transitions of shape {transitions.shape}, expected {n_labels}²")
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.tables = tables
        self.gazetteer = gazetteer
        self._vocabulary = vocabulary
        # The last row is all zeros: features never seen in training point there.
        self._state_weights = state_weights
        self._missing = len(vocabulary)
        self._transitions = transitions
        self._exp_transitions = np.exp(transitions)
        self._ngrams = _NgramIndex(vocabulary)
        # Per distinct syllable: its lower-cased form, its ids in the n-gram index and the row of
        # ``_local_table`` that holds the summed weights of its own features at every window
        # offset (text repeats syllables a lot).
        self._token_cache: dict[str, tuple[str, int, int, int, int]] = {}
        self._local_table = np.zeros((4096, 2 * WINDOW + 1, len(LABELS)))
        self._local_rows = 0

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read ``model.json`` and ``weights.npz``; ModelLoadError when either is missing,
        corrupt (SHA-256 differs from the recorded one) or of another format."""
        directory = Path(directory)
        description = _read_description(directory / MODEL_FILE)
        weights_path = directory / description["weights_file"]
        read_verified(
            weights_path,
            description["weights_sha256"],
            what="entity weights",
            recorded_in=MODEL_FILE,
        )
        sha256 = description["weights_sha256"]
        arrays = _read_weights(weights_path)
        features = _lines(arrays["features"])
        state = arrays["state_weights"].astype(np.float32)
        if state.shape != (len(features), len(LABELS)):
            raise ModelLoadError(f"{weights_path}: {len(features)} features, weights {state.shape}")
        syllables = _lines(arrays["syllables"])
        syllable_buckets = _lines(arrays["syllable_buckets"])
        gazetteer_lines = _lines(arrays["gazetteer"])
        if not len(syllables) == len(syllable_buckets) == len(arrays["syllable_clusters"]):
            raise ModelLoadError(f"{weights_path}: syllable table columns differ in length")
        try:
            gazetteer = Gazetteer.from_mentions(
                (tuple(entry.split(" ")), kind)
                for entry, kind in (line.rsplit("\t", 1) for line in gazetteer_lines)
            )
        except ValueError as error:
            raise ModelLoadError(f"{weights_path}: malformed gazetteer: {error}") from error
        return cls(
            name=description["name"],
            version=description["version"],
            sha256=sha256,
            vocabulary={feature: index for index, feature in enumerate(features)},
            state_weights=np.vstack([state, np.zeros((1, len(LABELS)), dtype=np.float32)]),
            transitions=arrays["transitions"].astype(np.float64),
            tables=SyllableTables(
                dict(zip(syllables, syllable_buckets, strict=True)),
                {
                    syllable: tuple(int(cluster) for cluster in ids)
                    for syllable, ids in zip(syllables, arrays["syllable_clusters"], strict=True)
                    if len(ids)
                },
            ),
            gazetteer=gazetteer,
        )

    def recognize(self, texts: Sequence[str]) -> list[list[EntityMention]]:
        """Entities of each text, in order, with code-point offsets into that text.

        Text is NFC-normalised for the model, and spans are mapped back, so decomposed input
        gets the same entities with offsets into the string as given (a mention's ``text`` is
        then the caller's own, decomposed, slice). Lines are tagged separately, and so are the
        sentences of a line (``sentence_ranges``).
        """
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, not a single str")
        # (text number, offsets, line, line start, first token, end token) per sequence
        units: list[tuple[int, list[int], str, int, int, int]] = []
        sequences: list[list[str]] = []
        for number, text in enumerate(texts):
            normalized, offsets = nfc_with_offsets(text)
            line_start = 0
            for line in normalized.split("\n"):
                tokens = TOKEN_PATTERN.findall(line)
                for begin, end in sentence_ranges(tokens):
                    units.append((number, offsets, line, line_start, begin, end))
                    sequences.append(tokens[begin:end])
                line_start += len(line) + 1
        results: list[list[EntityMention]] = [[] for _ in texts]
        token_spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for unit, (labels, confidence) in zip(units, self.tag_sequences(sequences), strict=True):
            entities = spans_from_tags(labels)
            if not entities:
                continue
            number, offsets, line, line_start, begin, _ = unit
            # Token positions are only needed around entities, so they are found only then.
            positions = token_spans.get((number, line_start))
            if positions is None:
                positions = [match.span() for match in TOKEN_PATTERN.finditer(line)]
                token_spans[number, line_start] = positions
            text = texts[number]
            for first, end, kind in entities:
                start = offsets[line_start + positions[begin + first][0]]
                finish = offsets[line_start + positions[begin + end - 1][1]]
                results[number].append(
                    EntityMention(
                        type=kind,
                        start=start,
                        end=finish,
                        text=text[start:finish],
                        score=round(float(confidence[first:end].mean()), 4),
                    )
                )
        return results

    def tag_sequences(
        self, sequences: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], np.ndarray]]:
        """Best labels (Viterbi) of each token sequence, and each label's marginal probability."""
        lengths = np.asarray([len(sequence) for sequence in sequences], dtype=np.int64)
        if not len(sequences) or not lengths.max():
            return [([], np.empty(0)) for _ in sequences]
        emissions = self.emissions(sequences)
        results: list[tuple[list[str], np.ndarray]] = [([], np.empty(0))] * len(sequences)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        for group in _decoding_groups(lengths):
            group_lengths = lengths[group]
            if not group_lengths.max():
                continue
            padded = np.zeros((len(group), int(group_lengths.max()), len(LABELS)))
            for row, sequence in enumerate(group):
                padded[row, : lengths[sequence]] = emissions[
                    starts[sequence] : starts[sequence + 1]
                ]
            best = self._viterbi(padded, group_lengths)
            marginals = self._marginals(padded, group_lengths)
            for row, sequence in enumerate(group):
                length = lengths[sequence]
                labels = best[row, :length]
                confidence = marginals[row, np.arange(length), labels]
                results[sequence] = ([LABELS[label] for label in labels], confidence)
        return results

    def feature_weights(self, feature: str) -> np.ndarray | None:
        """The learnt weight of ``feature`` for every label, or None if training dropped it."""
        index = self._vocabulary.get(feature)
        return None if index is None else self._state_weights[index].copy()

    def emissions(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """State scores of every token of every sequence, concatenated: (total tokens, labels).

        The sum of the weights of ``sequence_features`` per token, computed in bulk: features of
        a syllable on its own come from a per-syllable cache, n-grams from sorted integer keys,
        and only edge, gazetteer and capital-run features are looked up as strings."""
        lengths = [len(sequence) for sequence in sequences]
        total = sum(lengths)
        emissions = np.zeros((total, len(LABELS)))
        if not total:
            return emissions
        if len(self._token_cache) > _MAX_CACHED_TOKENS:
            self._token_cache.clear()
            self._local_rows = 0
        cached = self._token_cache.get
        entries = [
            cached(token) or self._cache_token(token)
            for sequence in sequences
            for token in sequence
        ]
        local = self._local_table[
            np.fromiter((entry[4] for entry in entries), dtype=np.int64, count=total)
        ]
        sequence_ids = np.repeat(np.arange(len(sequences)), lengths)
        for offset in _OFFSET_TAGS:
            # Token i sends its offset-``offset`` contribution to token i + offset, when both
            # are in the same sequence.
            if offset == 0:
                emissions += local[:, WINDOW]
                continue
            if offset > 0:
                sources, targets = slice(0, total - offset), slice(offset, total)
            else:
                sources, targets = slice(-offset, total), slice(0, total + offset)
            same = (sequence_ids[sources] == sequence_ids[targets])[:, None]
            emissions[targets] += np.where(same, local[sources, offset + WINDOW], 0.0)

        rows = self._ngrams.rows(
            {
                reads: np.fromiter((entry[1 + column] for entry in entries), np.int64, total)
                for column, reads in enumerate(_NgramIndex.READS)
            },
            sequence_ids,
            np.asarray(lengths),
            self._missing,
        )
        emissions += self._state_weights[rows].sum(axis=1)

        vocabulary = self._vocabulary
        missing = self._missing
        targets_list: list[int] = []
        ids: list[int] = []
        matched: list[int] = []
        position = 0
        for sequence, length in zip(sequences, lengths, strict=True):
            lowered = [entry[0] for entry in entries[position : position + length]]
            for index, feature in sparse_sequence_level_features(sequence, lowered, self.gazetteer):
                targets_list.append(position + index)
                ids.append(vocabulary.get(feature, missing))
                if feature[1] == "=" and feature[0] == "g":
                    matched.append(position + index)
            position += length
        unmatched = np.ones(total, dtype=bool)
        unmatched[matched] = False
        emissions[unmatched] += self._state_weights[vocabulary.get(NO_GAZETTEER_MATCH, missing)]
        targets = np.asarray(targets_list, dtype=np.int64)
        weights = self._state_weights[ids]
        for label in range(len(LABELS)):
            emissions[:, label] += np.bincount(targets, weights[:, label], minlength=total)
        return emissions

    def _cache_token(self, token: str) -> tuple[str, int, int, int, int]:
        row = self._local_rows
        if row == len(self._local_table):
            grown = np.zeros((2 * len(self._local_table), *self._local_table.shape[1:]))
            grown[:row] = self._local_table
            self._local_table = grown
        contributions = self._local_table[row]
        contributions[:] = 0.0
        for offset, feature in windowed_local_features(token, self.tables):
            index = self._vocabulary.get(feature)
            if index is not None:
                contributions[offset + WINDOW] += self._state_weights[index]
        self._local_rows = row + 1
        lowered = token.lower()
        parts = (lowered, shape(token), self.tables.cluster_part(lowered))
        entry = (lowered, *self._ngrams.ids(parts), row)
        self._token_cache[token] = entry
        return entry

    def _viterbi(self, emissions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        n_sequences, n_steps, _ = emissions.shape
        scores = np.empty_like(emissions)
        scores[:, 0] = emissions[:, 0]
        back = np.zeros((n_sequences, n_steps, len(LABELS)), dtype=np.int64)
        for step in range(1, n_steps):
            candidates = scores[:, step - 1, :, None] + self._transitions
            back[:, step] = candidates.argmax(axis=1)
            scores[:, step] = candidates.max(axis=1) + emissions[:, step]
        rows = np.arange(n_sequences)
        final = scores[rows, lengths - 1].argmax(axis=1)
        best = np.zeros((n_sequences, n_steps), dtype=np.int64)
        current = final
        for step in range(n_steps - 1, -1, -1):
            current = np.where(lengths == step + 1, final, current)
            best[:, step] = current
            if step:
                current = back[rows, step, current]
        return best

    def _marginals(self, emissions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        # Scaled forward-backward: each position's emissions shifted by their maximum (a
        # constant that cancels) and every step renormalised, so nothing overflows.
        potentials = np.exp(emissions - emissions.max(axis=2, keepdims=True))
        n_sequences, n_steps, n_labels = emissions.shape
        forward = np.empty_like(potentials)
        alpha = potentials[:, 0] / potentials[:, 0].sum(axis=1, keepdims=True)
        forward[:, 0] = alpha
        for step in range(1, n_steps):
            alpha = (alpha @ self._exp_transitions) * potentials[:, step]
            alpha /= alpha.sum(axis=1, keepdims=True)
            forward[:, step] = alpha
        backward = np.empty_like(potentials)
        beta = np.full((n_sequences, n_labels), 1.0 / n_labels)
        for step in range(n_steps - 1, -1, -1):
            # Past a sequence's end the backward message stays uniform (no more evidence).
            beyond = (lengths <= step + 1)[:, None]
            backward[:, step] = np.where(beyond, 1.0 / n_labels, beta)
            if step:
                beta = (potentials[:, step] * backward[:, step]) @ self._exp_transitions.T
                beta /= beta.sum(axis=1, keepdims=True)
        marginals = forward * backward
        marginals /= marginals.sum(axis=2, keepdims=True)
        return marginals


# Padded cells (sequences × steps) decoded at once: one group keeps numpy's per-step overhead
# to the longest sequence, while a bound keeps a long document from padding every short one.
_MAX_GROUP_CELLS = 1 << 12


def _decoding_groups(lengths: np.ndarray) -> list[np.ndarray]:
    """Sequence indices in groups of similar length, longest first."""
    order = np.argsort(-lengths, kind="stable")
    groups: list[np.ndarray] = []
    begin = 0
    while begin < len(order):
        longest = max(int(lengths[order[begin]]), 1)
        size = max(1, _MAX_GROUP_CELLS // longest)
        groups.append(order[begin : begin + size])
        begin += size
    return groups


class _NgramIndex:
    """The n-gram features of the model (``NGRAM_FAMILIES``) as sorted integer keys, so that
    every n-gram of a batch is looked up at once with ``np.searchsorted``."""

    # What a syllable is read as in an n-gram, in the order ``ids`` gives them.
    READS = ("w", "s", "k")

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self._part_ids: dict[str, dict[str, int]] = {reads: {} for reads in self.READS}
        collected: dict[str, tuple[list[tuple[int, ...]], list[int]]] = {
            name: ([], []) for name, _, _ in NGRAM_FAMILIES
        }
        families = {name: (reads, len(offsets)) for name, reads, offsets in NGRAM_FAMILIES}
        for feature, row in vocabulary.items():
            name, separator, value = feature.partition("=")
            if not separator or name not in families:
                continue
            reads, arity = families[name]
            parts = _split_parts(value, arity)
            if parts is None:
                continue
            ids = self._part_ids[reads]
            collected[name][0].append(tuple(ids.setdefault(part, len(ids) + 1) for part in parts))
            collected[name][1].append(row)
        # Id 0 is "not in any n-gram": keys holding it match nothing.
        self._base = {reads: len(ids) + 1 for reads, ids in self._part_ids.items()}
        self._tables: list[tuple[str, tuple[int, ...], np.ndarray, np.ndarray]] = []
        for name, reads, offsets in NGRAM_FAMILIES:
            tuples, rows = collected[name]
            keys = np.asarray(
                [self._key(parts, self._base[reads]) for parts in tuples], dtype=np.int64
            )
            order = np.argsort(keys)
            self._tables.append(
                (reads, offsets, keys[order], np.asarray(rows, dtype=np.int64)[order])
            )

    @staticmethod
    def _key(parts: Sequence[int], base: int) -> int:
        key = 0
        for part in parts:
            key = key * base + part
        return key

    def ids(self, parts: Sequence[str]) -> tuple[int, ...]:
        """Ids of a syllable's lower-cased form, shape and cluster (``READS``), 0 if unseen."""
        return tuple(
            self._part_ids[reads].get(part, 0)
            for reads, part in zip(self.READS, parts, strict=True)
        )

    def rows(
        self,
        part_ids: dict[str, np.ndarray],
        sequence_ids: np.ndarray,
        lengths: np.ndarray,
        missing: int,
    ) -> np.ndarray:
        """Weight row of every n-gram feature of every token: (tokens, families)."""
        total = len(sequence_ids)
        # Each sequence gets two "<s>" before and two "</s>" after it.
        position = np.arange(total) + WINDOW * (2 * sequence_ids + 1)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]) + 2 * WINDOW * np.arange(
            len(lengths)
        )
        padded_size = total + 2 * WINDOW * len(lengths)
        padded: dict[str, np.ndarray] = {}
        for reads, ids in part_ids.items():
            values = np.full(padded_size, self._part_ids[reads].get(END, 0), dtype=np.int64)
            values[position] = ids
            for pad in range(WINDOW):
                values[first + pad] = self._part_ids[reads].get(BEGIN, 0)
            padded[reads] = values
        rows = np.full((total, len(self._tables)), missing, dtype=np.int64)
        for column, (reads, offsets, keys, table_rows) in enumerate(self._tables):
            if not len(keys):
                continue
            base = self._base[reads]
            values = padded[reads]
            query = np.zeros(total, dtype=np.int64)
            present = np.ones(total, dtype=bool)
            for offset in offsets:
                part = values[position + offset]
                present &= part > 0
                query = query * base + part
            found = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
            hit = present & (keys[found] == query)
            rows[hit, column] = table_rows[found[hit]]
        return rows


_WORD_PART = re.compile(r"\w+")


def _split_parts(value: str, arity: int) -> list[str] | None:
    """The syllables of an n-gram feature value: joined by "|", where a syllable may itself be
    "|" (every syllable is a run of word characters, "<s>", "</s>" or one other character)."""
    parts = value.split("|")
    if len(parts) == arity:
        return parts
    parts = []
    index = 0
    while index < len(value):
        for edge in (BEGIN, END):
            if value.startswith(edge, index) and value[
                index + len(edge) : index + len(edge) + 1
            ] in ("", "|"):
                part = edge
                break
        else:
            match = _WORD_PART.match(value, index)
            part = match.group() if match else value[index]
        parts.append(part)
        index += len(part) + 1
    return parts if len(parts) == arity else None


def evaluate_vlsp(path: Path, recognizer: EntityRecognizer | None = None) -> dict[str, float]:
    """Entity-level precision, recall and F1 on a VLSP 2018 JSON Lines file (outermost entities,
    exact span and type), through ``recognize`` exactly as the service calls it."""
    if recognizer is None:
        recognizer = EntityRecognizer.load(Path(__file__).parent / "models" / "entities")
    texts: list[str] = []
    gold: list[set[tuple[int, int, str]]] = []
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                gold.append({(e["start"], e["end"], e["type"]) for e in row["entities"]})
    true_positives = n_predicted = n_gold = 0
    batch = 64
    for begin in range(0, len(texts), batch):
        predicted = recognizer.recognize(texts[begin : begin + batch])
        for mentions, expected in zip(predicted, gold[begin : begin + batch], strict=True):
            found = {(m.start, m.end, m.type) for m in mentions}
            true_positives += len(found & expected)
            n_predicted += len(found)
            n_gold += len(expected)
    precision = true_positives / n_predicted if n_predicted else 0.0
    recall = true_positives / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _lines(array: np.ndarray) -> list[str]:
    """UTF-8 text stored as a uint8 array, one entry a line (npz holds no object arrays)."""
    text = array.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def encode_lines(lines: Iterable[str]) -> np.ndarray:
    return np.frombuffer("\n".join(lines).encode("utf-8"), dtype=np.uint8)


def _read_description(path: Path) -> dict:
    description = read_description(
        path,
        what="entity model",
        required=("name", "version", "labels", "weights_file", "weights_sha256"),
        format_version=FORMAT_VERSION,
    )
    if tuple(description["labels"]) != LABELS:
        raise ModelLoadError(f"{path} has labels {description['labels']}, expected {LABELS}")
    if Path(description["weights_file"]).name != description["weights_file"]:
        raise ModelLoadError(f"{path}: weights_file must be a plain file name")
    return description


_WEIGHT_ARRAYS = (
    "features",
    "state_weights",
    "transitions",
    "syllables",
    "syllable_buckets",
    "gazetteer",
)


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = set(_WEIGHT_ARRAYS) - set(archive.files)
            if missing:
                raise ModelLoadError(f"{path} lacks arrays {sorted(missing)}")
            arrays = {key: archive[key] for key in _WEIGHT_ARRAYS}
            # Models without word clusters (before 1.1.0) have no cluster array.
            arrays["syllable_clusters"] = (
                archive["syllable_clusters"]
                if "syllable_clusters" in archive.files
                else np.zeros((len(_lines(arrays["syllables"])), 0), dtype=np.uint16)
            )
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelLoadError(f"cannot read entity weights {path}: {error}") from error
    for key in ("features", "syllables", "syllable_buckets", "gazetteer"):
        if arrays[key].dtype != np.uint8 or arrays[key].ndim != 1:
            raise ModelLoadError(f"{path}: {key} must be a 1-d uint8 array of UTF-8 text")
    if arrays["syllable_clusters"].ndim != 2 or arrays["syllable_clusters"].dtype != np.uint16:
        raise ModelLoadError(f"{path}: syllable_clusters must be a 2-d uint16 array")
    if arrays["transitions"].shape != (len(LABELS), len(LABELS)):
        raise ModelLoadError(f"{path}: transitions must be {len(LABELS)}×{len(LABELS)}")
    if not all(np.isfinite(arrays[key]).all() for key in ("state_weights", "transitions")):
        raise ModelLoadError(f"{path} holds non-finite weights")
    return arrays
