"""City sectors of a text, without labelled data: description similarity plus keyword rules."""

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import yaml

from services.nlp.localities import fold

TAXONOMY_PATH = Path(__file__).parent / "taxonomy" / "sectors.yaml"
_SECTOR_ID = re.compile(r"[a-z][a-z0-9_]*")
_WORDS = re.compile(r"[a-z0-9]+")


class TaxonomyError(ValueError):
    """The taxonomy file is missing, not YAML, or breaks a rule of its format."""


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class KeywordRule:
    phrase: str
    weight: float
    # Folded words ("kẹt xe" → "ket xe"): matching ignores case and diacritics.
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sector:
    id: str
    name: str
    descriptions: tuple[str, ...]
    keywords: tuple[KeywordRule, ...]


@dataclass(frozen=True, slots=True)
class SectorTaxonomy:
    """The sectors and how their evidence is weighed; see taxonomy/sectors.yaml."""

    version: str
    threshold: float
    center: float
    slope: float
    sectors: tuple[Sector, ...]
    sha256: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sectors)

    @classmethod
    def load(cls, path: str | Path = TAXONOMY_PATH) -> Self:
        """Read and validate a taxonomy file; every broken rule is named with its place."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TaxonomyError(f"cannot read the sector taxonomy {path}: {exc}") from exc
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise TaxonomyError(f"{path} is not valid YAML: {exc}") from exc
        try:
            return cls._parse(data, hashlib.sha256(raw).hexdigest())
        except TaxonomyError as exc:
            raise TaxonomyError(f"{path}: {exc}") from exc

    @classmethod
    def _parse(cls, data: Any, sha256: str) -> Self:
        top = _mapping(data, "the file", {"version", "threshold", "similarity", "sectors"})
        similarity = _mapping(top.get("similarity"), "similarity", {"center", "slope"})
        threshold = _number(top.get("threshold"), "threshold", 0.0, 1.0)
        center = _number(similarity.get("center"), "similarity.center", -1.0, 1.0)
        slope = _number(similarity.get("slope"), "similarity.slope", 0.0, 1000.0)
        entries = top.get("sectors")
        if not isinstance(entries, list) or not entries:
            raise TaxonomyError("sectors must be a non-empty list")
        sectors = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            where = f"sectors[{index}]"
            item = _mapping(entry, where, {"id", "name", "descriptions", "keywords"})
            sector_id = item.get("id")
            if not isinstance(sector_id, str) or not _SECTOR_ID.fullmatch(sector_id):
                raise TaxonomyError(f"{where}.id must be a lower-case ASCII identifier")
            if sector_id in seen:
                raise TaxonomyError(f"{where}.id {sector_id!r} is used twice")
            seen.add(sector_id)
            where = f"sector {sector_id!r}"
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise TaxonomyError(f"{where}: name must be a non-empty string")
            descriptions = item.get("descriptions")
            if (
                not isinstance(descriptions, list)
                or not descriptions
                or not all(isinstance(d, str) and d.strip() for d in descriptions)
            ):
                raise TaxonomyError(f"{where}: descriptions must be a list of non-empty strings")
            rules = []
            for k, rule in enumerate(item.get("keywords") or []):
                spot = f"{where} keywords[{k}]"
                rule = _mapping(rule, spot, {"phrase", "weight"})
                phrase = rule.get("phrase")
                words = tuple(_WORDS.findall(fold(phrase))) if isinstance(phrase, str) else ()
                if not words:
                    raise TaxonomyError(f"{spot}: phrase must hold at least one word")
                weight = _number(rule.get("weight"), f"{spot}.weight", 0.0, 1.0, closed=True)
                rules.append(KeywordRule(phrase, weight, words))
            sectors.append(Sector(sector_id, name, tuple(descriptions), tuple(rules)))
        return cls(str(top.get("version", "")), threshold, center, slope, tuple(sectors), sha256)


def _mapping(value: Any, where: str, allowed: set[str]) -> dict:
    if not isinstance(value, dict):
        raise TaxonomyError(f"{where} must be a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise TaxonomyError(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return value


def _number(value: Any, where: str, low: float, high: float, *, closed: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TaxonomyError(f"{where} must be a number")
    if not (low < value < high or (closed and value == high)):
        raise TaxonomyError(f"{where} must be in ({low}, {high}{']' if closed else ')'}")
    return float(value)


class SectorScorer:
    """Scores texts against a taxonomy with embeddings from the shared e5 encoder."""

    name = "city-sectors"

    def __init__(self, taxonomy: SectorTaxonomy, encoder: Encoder) -> None:
        self.taxonomy = taxonomy
        # For ModelInfo: the taxonomy file is this model's "weights".
        self.version = taxonomy.version
        self.sha256 = taxonomy.sha256
        texts = [d for s in taxonomy.sectors for d in s.descriptions]
        self._descriptions = np.ascontiguousarray(encoder.encode(texts).T)  # (dim, m)
        # Descriptions are grouped by sector: reduceat takes each group's best similarity.
        sizes = [len(s.descriptions) for s in taxonomy.sectors]
        self._group_starts = np.cumsum([0, *sizes[:-1]])
        # Keyword rules by their first word: a text's word set rules most of them out at once.
        self._rules: dict[str, list[tuple[str, int, float]]] = {}
        for index, sector in enumerate(taxonomy.sectors):
            for rule in sector.keywords:
                self._rules.setdefault(rule.words[0], []).append(
                    (" " + " ".join(rule.words) + " ", index, rule.weight)
                )

    def cosine(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, sectors): the best cosine between each text and each sector's descriptions."""
        return np.maximum.reduceat(embeddings @ self._descriptions, self._group_starts, axis=1)

    def similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, sectors): the best cosine calibrated to 0..1 by the taxonomy's logistic."""
        t = self.taxonomy
        return 1.0 / (1.0 + np.exp(-t.slope * (self.cosine(embeddings) - t.center)))

    def keyword_evidence(self, texts: Sequence[str]) -> np.ndarray:
        """(n, sectors): 1 - Π(1 - weight) over each sector's phrases found in each text."""
        out = np.zeros((len(texts), len(self.taxonomy.sectors)))
        for row, text in enumerate(texts):
            words = _WORDS.findall(fold(text))
            present = set(words).intersection(self._rules)
            if not present:
                continue
            joined = " " + " ".join(words) + " "
            miss = np.ones(len(self.taxonomy.sectors))
            for first in present:
                for phrase, index, weight in self._rules[first]:
                    if phrase in joined:
                        miss[index] *= 1.0 - weight
            out[row] = 1.0 - miss
        return out

    def score(self, texts: Sequence[str], embeddings: np.ndarray) -> list[list[tuple[str, float]]]:
        """Per text, (sector id, score) at or above the threshold, best first."""
        if isinstance(texts, str):
            raise TypeError("score takes a sequence of texts, not one string")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(texts):
            raise ValueError(
                f"expected one embedding per text: {len(texts)} texts, shape {embeddings.shape}"
            )
        combined = 1.0 - (1.0 - self.similarity(embeddings)) * (1.0 - self.keyword_evidence(texts))
        ids = self.taxonomy.ids
        order = np.argsort(-combined, axis=1, kind="stable")
        ranked = np.take_along_axis(combined, order, axis=1)
        kept = (ranked >= self.taxonomy.threshold).sum(axis=1)
        # Plain lists: per-element numpy access would cost more than the scoring itself.
        return [
            [(ids[j], round(s, 4)) for j, s in zip(o[:k], r[:k], strict=True)]
            for o, r, k in zip(order.tolist(), ranked.tolist(), kept.tolist(), strict=True)
        ]
