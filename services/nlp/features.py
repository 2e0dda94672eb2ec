"""Deterministic hashed word and character n-gram features for Vietnamese short texts."""

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from services.common.text import strip_marks

# URLs would otherwise flood a post with meaningless character n-grams; one placeholder keeps
# the signal that a link was shared.
_URL_PATTERN = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Words, plus every other non-space character (punctuation, emoji) as its own token: "!" and
# "👍" carry sentiment in social posts.
_TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")

# Feature kinds are kept apart inside the hash input, so a word and an equal character n-gram
# never share a bucket by construction.
_WORD_PREFIX = "w\x1f"
_FOLDED_WORD_PREFIX = "f\x1f"
_CHAR_PREFIX = "c\x1f"

_MAX_CACHED_WORDS = 200_000

# (hash of the word, hash of its diacritic-folded form, buckets of its unigram features and
# character n-grams)
type _WordEntry = tuple[int, int, tuple[int, ...]]


def stable_hash(feature: str) -> int:
    """A 32-bit hash that is the same in every process and on every machine.

    Python's built-in ``hash`` of a str is salted per process (PYTHONHASHSEED), so it cannot
    index weights saved by another process. CRC-32 is fixed by its standard and runs in C; the
    multiply-xorshift finaliser spreads its linear structure over the low bits used as buckets.
    """
    value = zlib.crc32(feature.encode("utf-8"))
    value = (value * 0x9E3779B1) & 0xFFFFFFFF
    return value ^ (value >> 16)


def pair_hash(left: int, right: int) -> int:
    """Order-sensitive stable 32-bit hash of two 32-bit hashes (a word bigram from its words)."""
    value = (left * 0x9E3779B1 + right) & 0xFFFFFFFF
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & 0xFFFFFFFF
    return value ^ (value >> 13)


def pair_hashes(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``pair_hash`` of each pair of two uint64 arrays of 32-bit hashes, at numpy's speed: a
    600-word article has over a thousand bigrams."""
    value = (left * 0x9E3779B1 + right) & 0xFFFFFFFF
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & 0xFFFFFFFF
    return value ^ (value >> 13)


def normalize_text(text: str) -> str:
    """NFC-normalise and lower-case, so composed and decomposed input give the same features."""
    return _URL_PATTERN.sub(" url ", unicodedata.normalize("NFC", text)).lower()


def tokenize(text: str) -> list[str]:
    return _TOKEN_PATTERN.findall(normalize_text(text))


@dataclass(frozen=True, slots=True)
class SparseBatch:
    """Rows of a sparse matrix in CSR layout, so callers need not depend on scipy."""

    indptr: np.ndarray  # int64, len(rows) + 1
    indices: np.ndarray  # int32
    values: np.ndarray  # float32
    n_columns: int

    def __len__(self) -> int:
        return len(self.indptr) - 1


class HashedNgramFeaturizer:
    """Word 1-2-grams, diacritic-folded word 1-2-grams and character 2-5-grams inside word
    boundaries, hashed into ``n_buckets`` columns; values are sublinear tf, optionally times IDF,
    then l2-normalised. ``char_ngram_range=None`` leaves character n-grams out (words only: a
    fraction of the cost on long texts)."""

    def __init__(
        self,
        n_buckets: int = 2**20,
        *,
        char_ngram_range: tuple[int, int] | None = (2, 5),
        fold_diacritics: bool = True,
        idf: np.ndarray | None = None,
    ) -> None:
        if n_buckets <= 0 or n_buckets & (n_buckets - 1):
            raise ValueError(f"n_buckets must be a power of two, got {n_buckets}")
        if char_ngram_range is not None:
            min_n, max_n = char_ngram_range
            if not 1 <= min_n <= max_n:
                raise ValueError(f"invalid char_ngram_range {char_ngram_range}")
            char_ngram_range = (min_n, max_n)
        if idf is not None and idf.shape != (n_buckets,):
            raise ValueError(f"idf must have shape ({n_buckets},), got {idf.shape}")
        self.n_buckets = n_buckets
        self.char_ngram_range = char_ngram_range
        self.fold_diacritics = fold_diacritics
        self.idf = None if idf is None else idf.astype(np.float32, copy=False)
        self._bucket_mask = n_buckets - 1
        self._word_cache: dict[str, _WordEntry] = {}

    def config(self) -> dict[str, object]:
        """The parameters that must match between training and serving (saved in model.json)."""
        return {
            "type": "hashed_ngram",
            "hash": "crc32_mix32",
            "n_buckets": self.n_buckets,
            "char_ngram_range": (
                None if self.char_ngram_range is None else list(self.char_ngram_range)
            ),
            "fold_diacritics": self.fold_diacritics,
            "tf": "sublinear",
            "idf": self.idf is not None,
            "norm": "l2",
        }

    def with_idf(self, idf: np.ndarray | None) -> Self:
        return type(self)(
            self.n_buckets,
            char_ngram_range=self.char_ngram_range,
            fold_diacritics=self.fold_diacritics,
            idf=idf,
        )

    def _bucket(self, feature: str) -> int:
        return stable_hash(feature) & self._bucket_mask

    def _word_entry(self, word: str) -> _WordEntry:
        # Posts reuse a small vocabulary, so caching each word's hashes removes most hashing
        # from the hot path.
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        mask = self._bucket_mask
        word_hash = stable_hash(_WORD_PREFIX + word)
        folded_hash = stable_hash(_FOLDED_WORD_PREFIX + strip_marks(word))
        buckets = [word_hash & mask]
        if word[0].isalnum() or word[0] == "_":
            if self.fold_diacritics:
                buckets.append(folded_hash & mask)
            if self.char_ngram_range is not None:
                padded = f" {word} "
                min_n, max_n = self.char_ngram_range
                for n in range(min_n, min(max_n, len(padded)) + 1):
                    buckets.extend(
                        stable_hash(_CHAR_PREFIX + padded[start : start + n]) & mask
                        for start in range(len(padded) - n + 1)
                    )
        entry = (word_hash, folded_hash, tuple(buckets))
        if len(self._word_cache) >= _MAX_CACHED_WORDS:
            self._word_cache.clear()
        self._word_cache[word] = entry
        return entry

    def bucket_ids(self, text: str) -> list[int]:
        """The bucket of every feature occurrence in ``text``, repeats included."""
        entries = [self._word_entry(token) for token in tokenize(text)]
        ids: list[int] = []
        for _, _, buckets in entries:
            ids.extend(buckets)
        if len(entries) > 1:
            mask = self._bucket_mask
            word_hashes = np.fromiter((entry[0] for entry in entries), np.uint64, len(entries))
            ids.extend((pair_hashes(word_hashes[:-1], word_hashes[1:]) & mask).tolist())
            if self.fold_diacritics:
                folded = np.fromiter((entry[1] for entry in entries), np.uint64, len(entries))
                ids.extend((pair_hashes(folded[:-1], folded[1:]) & mask).tolist())
        return ids

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse feature vector of one text: (bucket indices int32, values float32)."""
        counts = Counter(self.bucket_ids(text))
        if not counts:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        indices = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        np.log(values, out=values)
        values += 1.0
        if self.idf is not None:
            values *= self.idf[indices]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0.0:
            values /= norm
        return indices, values

    def transform(self, texts: Iterable[str]) -> SparseBatch:
        """Sparse feature vectors of many texts, as CSR arrays."""
        rows = [self.transform_one(text) for text in texts]
        return _stack_rows(rows, self.n_buckets)


def _stack_rows(rows: Sequence[tuple[np.ndarray, np.ndarray]], n_columns: int) -> SparseBatch:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(indices) for indices, _ in rows], out=indptr[1:])
    if rows:
        indices = np.concatenate([indices for indices, _ in rows])
        values = np.concatenate([values for _, values in rows])
    else:
        indices = np.empty(0, dtype=np.int32)
        values = np.empty(0, dtype=np.float32)
    return SparseBatch(indptr=indptr, indices=indices, values=values, n_columns=n_columns)
