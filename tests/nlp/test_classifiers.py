"""The committed task heads, served as the service serves them: e5 embeddings plus n-grams."""

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from services.common.text import strip_marks
from services.nlp.build_encoder import build
from services.nlp.classifiers import (
    DOCUMENT_MAX_CHARS,
    MODEL_FILE,
    TASK_LABELS,
    ModelLoadError,
    TaskHeads,
    ngram_lead,
)
from services.nlp.encoder import SentenceEncoder
from services.nlp.settings import MODELS_DIR, NlpSettings

HEADS_DIR = MODELS_DIR / "heads"

# Written for these tests; none comes from a training corpus.
NEGATIVE_POSTS = (
    "Mưa có nửa tiếng mà đường ngập như sông, xe chết máy la liệt, thật quá tệ.",
    "Lên phường nộp hồ sơ phải chờ cả buổi, nhân viên thái độ rất khó chịu.",
    "Rác bốc mùi hôi thối cả tuần không ai dọn, thất vọng quá.",
)
POSITIVE_POSTS = (
    "Công viên mới rất đẹp, sạch sẽ và thoáng mát, cả nhà mình rất thích.",
    "Làm thủ tục ở phường giờ nhanh chóng quá, cán bộ hướng dẫn nhiệt tình, rất hài lòng.",
    "Tuyến xe buýt mới chạy đúng giờ, xe sạch sẽ, tài xế thân thiện, tuyệt vời.",
)
TOXIC_POSTS = (
    "Đồ ngu như chó, câm mồm lại đi thằng óc lợn.",
    "Mày là cái thá gì mà dám lên mặt, đồ khốn nạn mất dạy.",
)
CLEAN_POSTS = (
    "Chúc mọi người cuối tuần vui vẻ, nhớ mang áo mưa khi ra đường nhé.",
    "Cảm ơn bạn đã chia sẻ thông tin hữu ích về lịch cắt điện.",
)
TOPIC_ARTICLES = {
    "sports": "Đội tuyển bóng đá Việt Nam thắng 2-0 trong trận đấu vòng loại World Cup tối qua, "
    "huấn luyện viên khen các cầu thủ tiền đạo đã ghi bàn đẹp mắt.",
    "health": "Bác sĩ khuyến cáo người dân tiêm vắc xin phòng cúm, bệnh viện tiếp nhận nhiều "
    "bệnh nhân sốt cao, ho kéo dài và viêm phổi trong tuần qua.",
    "technology": "Phiên bản hệ điều hành mới cho máy tính và điện thoại thông minh vá lỗi "
    "bảo mật, "
    "tăng tốc phần mềm và hỗ trợ thêm chip xử lý đời mới.",
    "law": "Tòa án nhân dân thành phố tuyên phạt bị cáo 12 năm tù về tội lừa đảo chiếm đoạt tài "
    "sản, cơ quan công an đã khởi tố vụ án từ đầu năm.",
}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> SentenceEncoder:
    """The service's own encoder build when there is one, else a fresh build from the wheels."""
    directory = NlpSettings().encoder_dir
    if not (directory / "manifest.json").is_file():
        directory = tmp_path_factory.mktemp("models") / "e5-small"
        build(directory, install_missing=False)
    return SentenceEncoder.load(directory, verify=False)


@pytest.fixture(scope="module")
def heads() -> TaskHeads:
    return TaskHeads.load(HEADS_DIR)


def predict(heads: TaskHeads, encoder: SentenceEncoder, texts):
    return heads.predict(list(texts), encoder.encode(list(texts)))


def test_identity(heads: TaskHeads) -> None:
    assert heads.name
    assert heads.version
    assert len(heads.sha256) == 64
    description = json.loads((HEADS_DIR / MODEL_FILE).read_text(encoding="utf-8"))
    assert description["weights_sha256"] == heads.sha256
    assert heads.tasks == ("sentiment", "toxicity", "emotion", "topic")


def test_every_task_returns_a_distribution_per_text(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    texts = [*NEGATIVE_POSTS, *CLEAN_POSTS, "Hôm nay trời nhiều mây."]
    result = predict(heads, encoder, texts)
    assert set(result) == set(TASK_LABELS)
    for task, rows in result.items():
        assert len(rows) == len(texts)
        for scores in rows:
            assert tuple(scores.probabilities) == TASK_LABELS[task]
            assert sum(scores.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
            assert all(0.0 <= p <= 1.0 for p in scores.probabilities.values())
            assert scores.label in TASK_LABELS[task]
            assert scores.score == scores.probabilities[scores.label]
            assert scores.score == max(scores.probabilities.values())


def test_sentiment_of_obvious_posts(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    result = predict(heads, encoder, [*NEGATIVE_POSTS, *POSITIVE_POSTS])["sentiment"]
    assert [s.label for s in result] == ["negative"] * 3 + ["positive"] * 3


def test_sentiment_without_diacritics(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    texts = [strip_marks(text) for text in (*NEGATIVE_POSTS, *POSITIVE_POSTS)]
    assert texts[0].startswith("Mua co nua tieng")
    labels = [s.label for s in predict(heads, encoder, texts)["sentiment"]]
    # Unmarked Vietnamese is ambiguous, so the bar is the majority of each side.
    assert labels[:3].count("negative") >= 2
    assert labels[3:].count("positive") >= 2


def test_toxicity_tells_insults_from_clean_posts(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    result = predict(heads, encoder, [*TOXIC_POSTS, *CLEAN_POSTS])["toxicity"]
    assert [s.label != "clean" for s in result] == [True, True, False, False]


def test_teencode_reads_like_the_spelled_out_post(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    short = "dịch vụ tệ quá, gọi mãi ko ai nghe, k bao giờ quay lại"
    result = predict(heads, encoder, [short])
    assert result["sentiment"][0].label == "negative"


def test_topic_of_obvious_articles(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    result = predict(heads, encoder, list(TOPIC_ARTICLES.values()))["topic"]
    assert [s.label for s in result] == list(TOPIC_ARTICLES)


def test_topic_of_articles_without_marks(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    texts = [strip_marks(text) for text in TOPIC_ARTICLES.values()]
    assert texts[0].startswith("Doi tuyen bong da")
    result = predict(heads, encoder, texts)["topic"]
    assert [s.label for s in result] == list(TOPIC_ARTICLES)


def test_ngram_lead_cuts_long_texts_between_words() -> None:
    assert ngram_lead("mưa to ngập đường", 100) == "mưa to ngập đường"
    assert ngram_lead("mưa to ngập đường", 9) == "mưa to"
    assert ngram_lead("mưa to ngập đường", 7) == "mưa to"
    assert ngram_lead("mưa\nto ngập", 5) == "mưa"
    # One word longer than the cap is cut inside: there is no boundary to cut at.
    assert ngram_lead("x" * 20, 8) == "x" * 8


def test_posts_heads_read_the_lead_and_topic_reads_the_article(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    article = TOPIC_ARTICLES["sports"]
    body = " ".join(
        "Bệnh viện tiếp nhận thêm bệnh nhân sốt xuất huyết, bác sĩ khuyên người dân diệt muỗi."
        for _ in range(40)
    )
    long_article = article + " " + "Trận đấu diễn ra trên sân vận động quốc gia. " * 25 + body
    lead = ngram_lead(long_article, heads.ngram_max_chars)
    assert len(lead) < len(long_article) < DOCUMENT_MAX_CHARS
    embeddings = encoder.encode([long_article])
    whole, lead_only = (heads.predict([text], embeddings) for text in (long_article, lead))
    # The heads of posts read the first NGRAM_MAX_CHARS characters alone...
    for task in ("sentiment", "toxicity", "emotion"):
        assert whole[task] == lead_only[task]
    assert lead_only["topic"][0].label == "sports"
    # ... the topic head reads on: an article that turns to a hospital's patients is health.
    assert whole["topic"][0].label == "health"


def test_topic_reads_up_to_its_cap(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    article = TOPIC_ARTICLES["sports"]
    padded = article + " " + "Trận đấu diễn ra trên sân vận động quốc gia. " * 300
    assert len(padded) > DOCUMENT_MAX_CHARS
    embeddings = encoder.encode([padded])
    cut = ngram_lead(padded, DOCUMENT_MAX_CHARS)
    with_tail, up_to_cap = (heads.predict([text], embeddings)["topic"][0] for text in (padded, cut))
    assert with_tail == up_to_cap
    assert with_tail.label == "sports"


def test_emotion_of_obvious_posts(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    texts = [
        "Hôm nay được tăng lương, vui quá trời luôn, hạnh phúc ghê 😍",
        "Buồn quá, con mèo nhà mình mất rồi, khóc cả đêm 😢",
    ]
    result = predict(heads, encoder, texts)["emotion"]
    assert [s.label for s in result] == ["enjoyment", "sadness"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_is_uniform(heads: TaskHeads, encoder: SentenceEncoder, text: str) -> None:
    result = predict(heads, encoder, [text])
    assert result["sentiment"][0].label == "neutral"
    assert result["toxicity"][0].label == "clean"
    for task, (scores,) in result.items():
        n = len(TASK_LABELS[task])
        assert scores.probabilities == pytest.approx(dict.fromkeys(TASK_LABELS[task], 1 / n))


def test_other_languages_and_odd_input_do_not_break(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    odd = [
        "The city council approved the new bus routes yesterday.",
        "東京では明日雨が降るでしょう。",
        "Привет, как дела?",
        "👍👍👍",
        "!!!",
        "https://example.vn/a?b=c",
        "ｘ" * 5_000,
    ]
    result = predict(heads, encoder, odd)
    for rows in result.values():
        assert len(rows) == len(odd)
        for scores in rows:
            assert sum(scores.probabilities.values()) == pytest.approx(1.0, abs=1e-9)


def test_batch_equals_one_by_one(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    texts = [*NEGATIVE_POSTS, "", *CLEAN_POSTS]
    embeddings = encoder.encode(texts)
    together = heads.predict(texts, embeddings)
    for i, text in enumerate(texts):
        alone = heads.predict([text], embeddings[i : i + 1])
        for task in TASK_LABELS:
            assert alone[task][0].label == together[task][i].label
            assert alone[task][0].score == pytest.approx(together[task][i].score, abs=1e-6)


def test_wrong_arguments(heads: TaskHeads) -> None:
    assert heads.predict([], np.zeros((0, 384), dtype=np.float32)) == {
        task: [] for task in TASK_LABELS
    }
    with pytest.raises(TypeError):
        heads.predict("một chuỗi", np.zeros((1, 384)))
    with pytest.raises(ValueError, match="embeddings"):
        heads.predict(["a", "b"], np.zeros((1, 384)))
    with pytest.raises(ValueError, match="embeddings"):
        heads.predict(["a"], np.zeros((1, 128)))


def copy_heads(tmp_path: Path) -> Path:
    return Path(shutil.copytree(HEADS_DIR, tmp_path / "heads"))


def test_load_of_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        TaskHeads.load(tmp_path / "nothing")


def test_load_of_missing_weights(tmp_path: Path) -> None:
    copy = copy_heads(tmp_path)
    (copy / "weights.npz").unlink()
    with pytest.raises(ModelLoadError, match="weights"):
        TaskHeads.load(copy)


def test_load_of_corrupt_weights(tmp_path: Path) -> None:
    copy = copy_heads(tmp_path)
    weights = bytearray((copy / "weights.npz").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(weights))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        TaskHeads.load(copy)


def test_load_of_corrupt_description(tmp_path: Path) -> None:
    copy = copy_heads(tmp_path)
    (copy / MODEL_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"heads\.json"):
        TaskHeads.load(copy)


def test_load_of_another_format_version(tmp_path: Path) -> None:
    copy = copy_heads(tmp_path)
    description = json.loads((copy / MODEL_FILE).read_text(encoding="utf-8"))
    description["format_version"] = 99
    (copy / MODEL_FILE).write_text(json.dumps(description), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="format_version"):
        TaskHeads.load(copy)


def test_load_of_a_head_on_an_unknown_view(tmp_path: Path) -> None:
    copy = copy_heads(tmp_path)
    description = json.loads((copy / MODEL_FILE).read_text(encoding="utf-8"))
    description["tasks"]["topic"]["view"] = "headline"
    (copy / MODEL_FILE).write_text(json.dumps(description), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="topic reads the unknown view 'headline'"):
        TaskHeads.load(copy)


def test_load_of_weights_without_a_head(tmp_path: Path) -> None:
    """A well-formed file whose hash checks out but lacks an array is still refused."""
    copy = copy_heads(tmp_path)
    with np.load(copy / "weights.npz") as archive:
        arrays = {k: archive[k] for k in archive.files if k != "emotion.embedding_coef"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, array, allow_pickle=False)
            archive.writestr(f"{name}.npy", entry.getvalue())
    (copy / "weights.npz").write_bytes(buffer.getvalue())
    description = json.loads((copy / MODEL_FILE).read_text(encoding="utf-8"))
    description["weights_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (copy / MODEL_FILE).write_text(json.dumps(description), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"emotion\.embedding_coef"):
        TaskHeads.load(copy)


def city_statements() -> list[dict]:
    """45 statements about city life written for this check (15 negative, 15 positive, 15
    neutral), never used to choose a model: the domain none of the training corpora covers."""
    path = Path(__file__).parent / "fixtures" / "sentiment_city.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sentiment_of_city_complaints_and_praise(
    heads: TaskHeads, encoder: SentenceEncoder
) -> None:
    polar = [row for row in city_statements() if row["label"] != "neutral"]
    labels = [s.label for s in predict(heads, encoder, [r["text"] for r in polar])["sentiment"]]
    right = sum(label == row["label"] for label, row in zip(labels, polar, strict=True))
    # heads 4.0.0: 26 of 30.
    assert right >= 24, list(zip(labels, (r["text"] for r in polar), strict=True))


@pytest.mark.xfail(
    strict=True,
    reason="known limit (heads MODEL_CARD): factual city statements come out negative or "
    "positive; the sentiment corpora are opinions, and in-domain neutral data is still to come",
)
def test_sentiment_of_neutral_city_statements(heads: TaskHeads, encoder: SentenceEncoder) -> None:
    neutral = [row["text"] for row in city_statements() if row["label"] == "neutral"]
    labels = [s.label for s in predict(heads, encoder, neutral)["sentiment"]]
    assert labels.count("neutral") >= len(neutral) // 2
