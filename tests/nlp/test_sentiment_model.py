"""Tests of the committed Vietnamese sentiment model and of its hashed n-gram featurizer."""

import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import services.nlp.sentiment as sentiment_module
from services.common.text import strip_marks
from services.nlp.features import HashedNgramFeaturizer, stable_hash
from services.nlp.sentiment import ModelLoadError, SentimentModel

MODEL_DIR = Path(sentiment_module.__file__).parent / "models" / "sentiment"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Written for these tests about city life; none of them comes from a training corpus.
NEGATIVE_POSTS = (
    "Mưa có nửa tiếng mà đường ngập như sông, xe chết máy la liệt, thật quá tệ.",
    "Kẹt xe kinh khủng ở vòng xoay, đứng cả tiếng không nhúc nhích, bực mình vô cùng.",
    "Lên phường nộp hồ sơ phải chờ cả buổi, nhân viên thái độ rất khó chịu.",
    "Rác bốc mùi hôi thối cả tuần không ai dọn, thất vọng quá.",
)
POSITIVE_POSTS = (
    "Công viên mới rất đẹp, sạch sẽ và thoáng mát, cả nhà mình rất thích.",
    "Làm thủ tục ở phường giờ nhanh chóng quá, cán bộ hướng dẫn nhiệt tình, rất hài lòng.",
    "Tuyến xe buýt mới chạy đúng giờ, xe sạch sẽ, tài xế thân thiện, tuyệt vời.",
    "Cảm ơn thành phố đã sửa đường rất nhanh, giờ đi lại thuận tiện hơn nhiều.",
)


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load(MODEL_DIR)


def test_model_identity(model: SentimentModel) -> None:
    assert model.labels == ("negative", "neutral", "positive")
    assert model.name
    assert model.version
    assert len(model.sha256) == 64
    description = json.loads((MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    assert description["weights_sha256"] == model.sha256


@pytest.mark.parametrize("text", NEGATIVE_POSTS)
def test_clearly_negative_posts_are_negative(model: SentimentModel, text: str) -> None:
    assert model.predict([text])[0].label == "negative"


@pytest.mark.parametrize("text", POSITIVE_POSTS)
def test_clearly_positive_posts_are_positive(model: SentimentModel, text: str) -> None:
    assert model.predict([text])[0].label == "positive"


def test_posts_without_diacritics_keep_their_polarity(model: SentimentModel) -> None:
    negative = [strip_marks(text) for text in NEGATIVE_POSTS]
    positive = [strip_marks(text) for text in POSITIVE_POSTS]
    assert negative[0].startswith("Mua co nua tieng ma duong ngap nhu song")
    negative_predictions = model.predict(negative)
    positive_predictions = model.predict(positive)
    # Unmarked Vietnamese is ambiguous, so the bar is the majority, not every post.
    assert sum(p.label == "negative" for p in negative_predictions) >= 3
    assert sum(p.label == "positive" for p in positive_predictions) >= 3
    # And on average the right pole still wins clearly.
    assert np.mean([p.probabilities["negative"] for p in negative_predictions]) > 0.6
    assert np.mean([p.probabilities["positive"] for p in positive_predictions]) > 0.6


def test_probabilities_are_a_distribution_over_all_labels(model: SentimentModel) -> None:
    predictions = model.predict([*NEGATIVE_POSTS, *POSITIVE_POSTS, "Hôm nay trời nhiều mây."])
    for prediction in predictions:
        assert set(prediction.probabilities) == {"negative", "neutral", "positive"}
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= value <= 1.0 for value in prediction.probabilities.values())
        assert prediction.score == prediction.probabilities[prediction.label]
        assert prediction.score == max(prediction.probabilities.values())


def test_batch_and_single_predictions_agree(model: SentimentModel) -> None:
    texts = [*NEGATIVE_POSTS, "", *POSITIVE_POSTS]
    batched = model.predict(texts)
    one_by_one = [model.predict([text])[0] for text in texts]
    for together, alone in zip(batched, one_by_one, strict=True):
        assert together.label == alone.label
        assert together.score == pytest.approx(alone.score, abs=1e-6)


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u3000"])
def test_empty_or_blank_text_is_neutral_and_uniform(model: SentimentModel, text: str) -> None:
    (prediction,) = model.predict([text])
    assert prediction.label == "neutral"
    assert prediction.probabilities == pytest.approx(
        {"negative": 1 / 3, "neutral": 1 / 3, "positive": 1 / 3}
    )


def test_empty_batch_and_odd_inputs(model: SentimentModel) -> None:
    assert model.predict([]) == []
    odd = ["👍👍👍", "!!!", "https://example.vn/a?b=c", "x" * 20_000, "Ｆｕｌｌ　ｗｉｄｔｈ"]
    assert len(model.predict(odd)) == len(odd)
    with pytest.raises(TypeError):
        model.predict("một chuỗi, không phải danh sách")


def test_decomposed_unicode_gives_the_same_answer(model: SentimentModel) -> None:
    text = POSITIVE_POSTS[0]
    composed, decomposed = model.predict([text, unicodedata.normalize("NFD", text)])
    assert composed.probabilities == pytest.approx(decomposed.probabilities)


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        SentimentModel.load(tmp_path / "no-such-model")


def test_load_of_missing_weights_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "sentiment"))
    (copy / "weights.npz").unlink()
    with pytest.raises(ModelLoadError, match="weights"):
        SentimentModel.load(copy)


def test_load_of_corrupt_weights_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "sentiment"))
    weights = bytearray((copy / "weights.npz").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(weights))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        SentimentModel.load(copy)


def test_load_of_corrupt_description_raises(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(MODEL_DIR, tmp_path / "sentiment"))
    (copy / "model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"model\.json"):
        SentimentModel.load(copy)


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
