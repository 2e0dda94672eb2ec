"""The hashed n-gram featurizer: stable across processes, batch equal to single rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.nlp.features import HashedNgramFeaturizer, pair_hash, pair_hashes, stable_hash

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_stable_hash_has_fixed_values() -> None:
    # Pinned values: if they change, every committed model silently scores garbage.
    assert [stable_hash(feature) for feature in ("a", "kẹt xe", "w\x1fngập")] == [
        4_200_451_342,
        543_041_341,
        10_327_646,
    ]


def test_featurizer_is_not_pythons_salted_hash() -> None:
    featurizer = HashedNgramFeaturizer(2**20)
    indices, _ = featurizer.transform_one("công viên")
    salted = {hash(feature) & (2**20 - 1) for feature in ("w\x1fcông", "công", "c\x1f c")}
    assert not salted & set(indices.tolist())
    assert stable_hash("công") != hash("công") & 0xFFFFFFFF


_FEATURIZE_IN_CHILD = """
import json, sys
from services.nlp.features import HashedNgramFeaturizer
indices, values = HashedNgramFeaturizer(2**20).transform_one(sys.argv[1])
print(json.dumps({"indices": indices.tolist(), "values": values.tolist()}))
"""


def test_featurizer_is_deterministic_across_processes() -> None:
    text = "Đường ngập nặng, kẹt xe từ sáng! 😡 https://vd.vn/x"
    indices, values = HashedNgramFeaturizer(2**20).transform_one(text)
    assert indices.dtype == np.int32
    assert values.dtype == np.float32
    assert float(np.dot(values, values)) == pytest.approx(1.0, rel=1e-5)
    for hash_seed in ("1", "2"):
        child = subprocess.run(
            [sys.executable, "-c", _FEATURIZE_IN_CHILD, text],
            capture_output=True,
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            text=True,
            timeout=60,
        )
        features = json.loads(child.stdout)
        assert features["indices"] == indices.tolist()
        assert features["values"] == values.tolist()


def test_featurizer_batch_matches_single_rows() -> None:
    featurizer = HashedNgramFeaturizer(2**18)
    texts = ["kẹt xe", "", "công viên mới đẹp quá"]
    batch = featurizer.transform(texts)
    assert len(batch) == 3
    assert batch.n_columns == 2**18
    for row, text in enumerate(texts):
        indices, values = featurizer.transform_one(text)
        start, end = batch.indptr[row], batch.indptr[row + 1]
        assert batch.indices[start:end].tolist() == indices.tolist()
        assert batch.values[start:end].tolist() == values.tolist()


def test_words_only_featurizer_has_the_word_features_and_nothing_else() -> None:
    full = HashedNgramFeaturizer(2**18)
    words = HashedNgramFeaturizer(2**18, char_ngram_range=None)
    text = "ngập nước đường phố"
    # 4 words, their 4 forms without marks, 3 bigrams of each form.
    assert len(words.bucket_ids(text)) == 4 + 4 + 3 + 3
    assert set(words.bucket_ids(text)) < set(full.bucket_ids(text))
    assert words.config()["char_ngram_range"] is None
    assert full.config()["char_ngram_range"] == [2, 5]
    with pytest.raises(ValueError, match="char_ngram_range"):
        HashedNgramFeaturizer(2**18, char_ngram_range=(3, 2))


def test_pair_hashes_of_arrays_equal_pair_hash_of_each_pair() -> None:
    rng = np.random.default_rng(7)
    left = rng.integers(0, 2**32, 2_000, dtype=np.uint64)
    right = rng.integers(0, 2**32, 2_000, dtype=np.uint64)
    left[0] = right[0] = 2**32 - 1  # the largest products must not overflow
    expected = [pair_hash(int(a), int(b)) for a, b in zip(left, right, strict=True)]
    assert pair_hashes(left, right).tolist() == expected
