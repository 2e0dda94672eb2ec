"""Language identification: "vi", "en" or "other", including Vietnamese typed without marks."""

import hashlib
import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from services.common.text import fold_diacritics

# Bump when the rules below change, so that models_version changes with them.
RULES_VERSION = "1"
# Enough text to decide; a 100,000-character article needs no more than its start.
SAMPLE_CHARS = 1_000

# Letters only Vietnamese writes among Latin-script languages: ă đ ơ ư, and the tones that sit on
# them or are drawn with a hook, a dot below or a tilde on i, u, y, e. (á, à, ã, â, ê, ô ... are
# shared with French, Portuguese and others, so they prove nothing alone.)
_VIETNAMESE_LETTERS = frozenset("ăđơưắằẳẵặấầẩẫậếềểễệốồổỗộớờởỡợứừửữựảẻỉỏủỷạẹịọụỵĩũỹẽ")
_WORD = re.compile(r"[^\W\d_]+")


def _listed(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A Vietnamese syllable, marks removed: an optional onset, then one of the language's rhymes.
# Folding merges a/ă/â, e/ê, o/ô/ơ, u/ư, so the rhymes are listed in folded form.
_ONSETS = _listed("ngh ng nh ch gh gi kh ph th tr qu b c d g h k l m n p r s t v x")
_RHYMES = _listed(
    "a ai ao au ay ac ach am an ang anh ap at "
    "e eo ec ech em en eng enh ep et eu "
    "i ia iu ich im in inh ip it iec iem ien ieng iep iet ieu "
    "o oa oac oach oai oam oan oang oanh oao oap oat oay oe oen oeo oet "
    "oi oc om on ong op ot ooc oong "
    "u ua uan uang uat uay uc ui um un ung up ut ue uech uenh uy uya uych uyen uyet uynh "
    "uyt uyu uoc uoi uom uon uong uop uot uou uu uo "
    "y yen yet yeu yem"
)
_SYLLABLE = re.compile(
    "(?:" + "|".join(sorted(_ONSETS, key=lambda w: (-len(w), w))) + ")?"
    "(?:" + "|".join(sorted(_RHYMES, key=lambda w: (-len(w), w))) + ")"
)
# Social shorthand that is Vietnamese but not a syllable: "ko dc j het" = "không được gì hết".
_SHORTHAND = _listed(
    "ko k kh hok hem hk dc đc j bik bit z v r vs mn mng ae cx cg ck vk ny ntn bn "
    "ak uk ukm uh ah ui oke okie tl trl sdt đt dt hnay hqua"
)
# Frequent English words that are also Vietnamese syllables: they say nothing either way.
_AMBIGUOUS = _listed(
    "a i in on an at it to the be he me no so go do can man hi oh ok ten long then than"
)


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    code: str  # "vi", "en" or "other"
    confidence: float


def vietnamese_syllable(word: str) -> bool:
    """Whether ``word`` (any case, marks or not) has the shape of a Vietnamese syllable."""
    return _SYLLABLE.fullmatch(fold_diacritics(word)) is not None


class LanguageDetector:
    """py3langid's naive Bayes for text with its marks, plus a syllable-shape test that
    recognises Vietnamese typed without them, which py3langid scatters over other languages."""

    name = "langid-vi-syllables"

    def __init__(self, identifier, *, model_sha256: str, langid_version: str) -> None:
        self._identifier = identifier
        self.sha256 = model_sha256
        self.version = f"{langid_version}+rules{RULES_VERSION}"

    @classmethod
    def load(cls, model_file: str | Path | None = None) -> Self:
        """py3langid's own model (inside its wheel) unless ``model_file`` names another."""
        try:
            import py3langid.langid as py3langid
        except ImportError as exc:
            raise RuntimeError(f"language identification needs py3langid: {exc}") from exc
        path = Path(model_file or Path(py3langid.__file__).parent / py3langid.MODEL_FILE)
        try:
            data = path.read_bytes()
            identifier = py3langid.LanguageIdentifier.from_model_file(path, norm_probs=True)
        except Exception as exc:  # lzma, numpy and OS errors alike mean "unusable model"
            raise RuntimeError(f"cannot load the language model {path}: {exc!r}") from exc
        return cls(
            identifier,
            model_sha256=hashlib.sha256(data).hexdigest(),
            langid_version=importlib.metadata.version("py3langid"),
        )

    def detect(self, texts: Sequence[str]) -> list[LanguageGuess]:
        if isinstance(texts, str):
            raise TypeError("detect takes a sequence of strings, not one string")
        return [self.detect_one(text) for text in texts]

    def detect_one(self, text: str) -> LanguageGuess:
        sample = text[:SAMPLE_CHARS]
        words = _WORD.findall(sample.lower())
        if not words:
            # Emoji, numbers or nothing: no language to read, and no model should guess one.
            return LanguageGuess("other", 1.0)
        syllabic = self._syllable_evidence(words)
        if syllabic is not None:
            return syllabic
        probabilities = dict(self._identifier.rank(sample))
        vi = probabilities.get("vi", 0.0)
        en = probabilities.get("en", 0.0)
        other = max(0.0, 1.0 - vi - en)
        code, confidence = max((("vi", vi), ("en", en), ("other", other)), key=lambda p: p[1])
        return LanguageGuess(code, round(float(confidence), 6))

    @staticmethod
    def _syllable_evidence(words: list[str]) -> LanguageGuess | None:
        """Vietnamese when most words are Vietnamese syllables or shorthand, else None."""
        vietnamese = foreign = 0
        marked = False
        for word in words:
            if any(ch in _VIETNAMESE_LETTERS for ch in word):
                marked = True
                vietnamese += 1
            elif word in _AMBIGUOUS:
                continue
            elif word in _SHORTHAND or vietnamese_syllable(word):
                vietnamese += 1
            else:
                foreign += 1
        if vietnamese == 0 or (vietnamese < 2 and not marked):
            return None
        share = vietnamese / (vietnamese + foreign)
        if share < 0.75:
            return None
        # Heuristic, not calibrated: the share of Vietnamese words, discounted for few words.
        return LanguageGuess("vi", round(share * (1.0 - 0.5**vietnamese), 6))
