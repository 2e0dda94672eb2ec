"""The Analyzer in-process: offsets back to the input, every field present, non-vi left empty."""

import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from langnghe.nlp.v1 import nlp_pb2
from services.common.text import normalize_text
from services.nlp.normalize import clean
from services.nlp.pipeline import (
    Analyzer,
    Document,
    encoder_threads,
    load_analyzer,
    usable_cores,
)
from services.nlp.settings import NlpSettings

POSTS = [
    ("Mưa lớn", "Đường Nguyễn Hữu Cảnh ngập sâu, xe chết máy la liệt, bực mình quá."),
    ("", "Công viên bờ sông mới mở rất đẹp, sạch sẽ, cả nhà mình rất thích."),
    ("", "ko dc j het, ket xe tu sang toi gio"),
    ("Storm", "The road is flooded again after the storm, avoid the main street."),
]


@pytest.fixture(scope="module")
def analyzer(served_encoder_dir: Path) -> Analyzer:
    return load_analyzer(NlpSettings(encoder_dir=served_encoder_dir))


def inputs(posts=POSTS) -> list[nlp_pb2.TextInput]:
    return [
        nlp_pb2.TextInput(id=str(i), title=title, text=text)
        for i, (title, text) in enumerate(posts)
    ]


def test_clean_text_maps_every_character_back() -> None:
    original = "\u200b  Nguye\u0302\u0303n  Hu\u031b\u0303u\u00adCa\u0309nh \n\n ngập  "
    cleaned = clean(original)
    # The soft hyphen goes (it is invisible), the decomposed marks compose, spaces fold, and
    # spelling is left alone (no tone moved, no teencode spelled out).
    assert cleaned.text == "Nguyễn HữuCảnh\n\nngập"
    assert cleaned.text == unicodedata.normalize("NFC", cleaned.text)
    assert len(cleaned.offsets) == len(cleaned.text) + 1
    for i, ch in enumerate(cleaned.text):
        source = original[cleaned.offsets[i]]
        if not ch.isspace():
            assert unicodedata.normalize("NFD", ch)[0] == unicodedata.normalize("NFD", source)[0]
    assert cleaned.offsets[-1] == original.index("ngập") + len("ngập")
    assert clean("hoà ko đc").text == "hoà ko đc"


def test_spans_of_the_joined_text_point_into_the_right_field() -> None:
    title = "Ngập ở  Qua\u0323\u0302n 7"  # decomposed marks and a double space
    text = "\u200bSáng nay  phường Tân Phong ngập  sâu."
    doc = Document(title, text, clean(title), clean(text))
    assert doc.joined == "Ngập ở Quận 7\nSáng nay phường Tân Phong ngập sâu."
    start = doc.joined.index("Quận 7")
    span = doc.span(start, start + len("Quận 7"))
    assert span.field == nlp_pb2.TEXT_FIELD_TITLE
    assert unicodedata.normalize("NFC", doc.original(span)) == "Quận 7"
    start = doc.joined.index("phường Tân Phong")
    span = doc.span(start, start + len("phường Tân Phong"))
    assert span.field == nlp_pb2.TEXT_FIELD_TEXT
    assert doc.original(span) == "phường Tân Phong"
    assert text[span.start : span.end] == "phường Tân Phong"


def test_every_field_of_this_build_is_filled(analyzer: Analyzer) -> None:
    analyses = analyzer.analyze(inputs())
    assert [a.id for a in analyses] == ["0", "1", "2", "3"]
    for analysis in analyses:
        assert len(analysis.embedding) == 384
        assert np.linalg.norm(analysis.embedding) == pytest.approx(1.0, abs=1e-4)
        assert analysis.models_version == analyzer.models_version
    negative, positive, unmarked, _ = analyses
    assert [a.language.code for a in analyses] == ["vi", "vi", "vi", "en"]
    assert negative.sentiment.label == nlp_pb2.SENTIMENT_LABEL_NEGATIVE
    assert positive.sentiment.label == nlp_pb2.SENTIMENT_LABEL_POSITIVE
    assert unmarked.HasField("sentiment")
    for a in (negative, positive, unmarked):
        s = a.sentiment
        assert s.negative + s.neutral + s.positive == pytest.approx(1.0, abs=1e-5)


def test_non_vietnamese_leaves_the_vietnamese_fields_empty(analyzer: Analyzer) -> None:
    (english,) = analyzer.analyze(inputs(POSTS[3:]))
    assert english.language.code == "en"
    for name in ("sentiment", "toxicity", "emotion", "topic"):
        assert not english.HasField(name)
    assert not english.entities
    assert not english.localities
    assert not english.keywords
    assert len(english.embedding) == 384  # multilingual: present for every language


def test_an_article_is_embedded_from_its_title_and_lead(analyzer: Analyzer) -> None:
    lead = "Thành phố khởi công tuyến metro số 2 nối Bến Thành với Tham Lương."
    rest = " Người dân góp ý về tiến độ giải phóng mặt bằng và phương án phân luồng." * 200
    full, lead_only = analyzer.analyze(
        inputs([("Khởi công metro số 2", lead + rest), ("Khởi công metro số 2", lead + rest[:600])])
    )
    # Past the token budget the rest of the article cannot change the embedding.
    assert float(np.dot(full.embedding, lead_only.embedding)) > 0.999


def test_stages_are_timed(analyzer: Analyzer) -> None:
    stages: dict[str, float] = {}
    analyzer.analyze(inputs(), observe=lambda stage, seconds: stages.__setitem__(stage, seconds))
    assert {"normalize", "language", "encoder", "heads"} <= set(stages)
    assert all(seconds >= 0 for seconds in stages.values())


def test_model_list_names_every_loaded_model(analyzer: Analyzer) -> None:
    tasks = [task for task, _ in analyzer.models]
    assert tasks == [
        "embedding",
        "language",
        "sentiment+toxicity+emotion+topic",
        "entities",
        "keywords",
        "localities",
        "sectors",
    ]
    for _, model in analyzer.models:
        assert model.name
        assert model.version
        assert len(model.sha256) == 64
    assert len(analyzer.models_version) == 16


def test_empty_batch_and_empty_text(analyzer: Analyzer) -> None:
    assert analyzer.analyze([]) == []
    (empty,) = analyzer.analyze([nlp_pb2.TextInput(id="e", text="")])
    assert empty.language.code == "other"
    assert not empty.HasField("sentiment")
    assert len(empty.embedding) == 384


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Kẹt xe",
        "  Kẹt   xe\t\tở\n\n  Hàng Xanh  ",
        "Dòng một\r\nDòng hai \u3000 hết",
        "👍 quá đã 👍\n",
        " Kẹt xe \t ở\u00a0Hàng Xanh ",
        "\u3000Ngập\x1c sâu \r\n\r\n",
        "a\u0301",  # not NFC: the careful path alone
    ],
)
def test_the_analysed_text_is_the_text_ingest_stores(text: str) -> None:
    # One cleaning rule for the whole product: ingest hashes and stores normalize_text's output,
    # and the analyzer reads the same text, with offsets back into what it was given.
    cleaned = clean(text)
    assert cleaned.text == normalize_text(text)
    assert len(cleaned.offsets) == len(cleaned.text) + 1
    for i, ch in enumerate(cleaned.text):
        if not ch.isspace():
            base = unicodedata.normalize("NFD", ch)[0]
            assert unicodedata.normalize("NFD", text[cleaned.offsets[i]])[0] == base


def test_localities_and_sectors_come_out_of_the_analysis(analyzer: Analyzer) -> None:
    title = "Ngập sâu ở Q.7 sau cơn mưa chiều"
    text = "Triều cường dâng cao, nhiều tuyến đường ở phường Tân Phong ngập quá bánh xe."
    (analysis,) = analyzer.analyze([nlp_pb2.TextInput(id="a", title=title, text=text)])
    by_mention = {place.mention: place for place in analysis.localities}
    district = by_mention["Q.7"]
    assert (district.code, district.level) == ("778", nlp_pb2.LOCALITY_LEVEL_DISTRICT)
    assert district.structure == nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025
    assert district.current_codes, "an old district maps to the wards that took it over"
    assert district.span.field == nlp_pb2.TEXT_FIELD_TITLE
    assert title[district.span.start : district.span.end] == "Q.7"
    ward = by_mention["phường Tân Phong"]
    assert text[ward.span.start : ward.span.end] == "phường Tân Phong"
    assert ward.span.field == nlp_pb2.TEXT_FIELD_TEXT
    assert analysis.sectors[0].label == "flooding"
    assert list(analysis.sectors) == sorted(analysis.sectors, key=lambda s: -s.probability)


def test_entities_and_keywords_point_into_the_input(analyzer: Analyzer) -> None:
    title = "Sở Giao thông vận tải cấm xe tải vào trung tâm"
    text = (
        "Từ tuần sau, Sở Giao thông vận tải TP.HCM cấm xe tải lưu thông trên đường Điện Biên Phủ "
        "vào giờ cao điểm để giảm ùn tắc, ông Nguyễn Văn Minh cho biết."
    )
    (analysis,) = analyzer.analyze([nlp_pb2.TextInput(id="a", title=title, text=text)])
    for entity in analysis.entities:
        source = title if entity.span.field == nlp_pb2.TEXT_FIELD_TITLE else text
        assert source[entity.span.start : entity.span.end] == entity.text
        assert 0 < entity.score <= 1
    found = {(e.type, e.text) for e in analysis.entities}
    assert (nlp_pb2.ENTITY_TYPE_PER, "Nguyễn Văn Minh") in found
    assert any(t == nlp_pb2.ENTITY_TYPE_ORG and "Sở Giao thông vận tải" in s for t, s in found)
    phrases = [k.phrase.lower() for k in analysis.keywords]
    assert phrases
    assert any("xe tải" in p or "ùn tắc" in p for p in phrases)
    assert [k.score for k in analysis.keywords] == sorted(
        (k.score for k in analysis.keywords), reverse=True
    )


def test_sector_rules_read_only_what_the_encoder_read(analyzer: Analyzer) -> None:
    lead = (
        "Trường tiểu học Lê Văn Tám khai giảng năm học mới với hai phòng học thông minh, "
        "giáo viên và học sinh hào hứng đón chào ngày đầu tiên đến lớp. "
    ) * 4
    tail = "Cuối bài, người viết nhắc lại chuyện ngập nước, triều cường và cống thoát nước. "
    article = lead + tail * 3
    encoder = analyzer.components.encoder
    _, covered = encoder.encode_with_windows([article, "Kẹt xe ở Quận 7"])
    assert covered[0] < len(lead), "the lead alone fills the encoder's window"
    assert covered[1] == len("Kẹt xe ở Quận 7")
    (analysis,) = analyzer.analyze([nlp_pb2.TextInput(id="a", text=article)])
    sectors = [s.label for s in analysis.sectors]
    assert sectors[0] == "education"
    assert "flooding" not in sectors
    (whole,) = analyzer.analyze([nlp_pb2.TextInput(id="b", text=tail * 3)])
    assert "flooding" in [s.label for s in whole.sectors], "the tail alone is about flooding"


def test_analyses_from_several_threads_match_one_at_a_time(analyzer: Analyzer) -> None:
    # Posts and articles of my own, in batches that share words, so that the entity tagger's
    # and the featuriser's caches are read and grown by every thread at once.
    places = ["Quận 7", "phường Tân Phong", "cầu Sài Gòn", "chợ Bà Chiểu", "huyện Nhà Bè"]
    posts = [
        f"Sáng nay {place} kẹt xe {n} tiếng, ông Trần Văn Hùng nói chưa thấy ai phân luồng."
        for n, place in enumerate(places * 4)
    ]
    article = (
        "Ủy ban nhân dân thành phố vừa phê duyệt dự án cải tạo kênh Tàu Hũ. "
        "Bà Lê Thị Mai, người dân sống ven kênh, mong công trình sớm hoàn thành. "
    ) * 12
    batches = [
        [nlp_pb2.TextInput(id=f"{b}-{i}", text=t) for i, t in enumerate(posts[b::3])]
        for b in range(3)
    ]
    batches.append(
        [nlp_pb2.TextInput(id=f"art-{i}", title="Cải tạo kênh", text=article[i:]) for i in range(4)]
    )
    one_at_a_time = [analyzer.analyze(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            at_once = list(pool.map(analyzer.analyze, batches))
            assert at_once == one_at_a_time


def test_encoder_threads_share_the_usable_cores_among_the_batches_in_flight() -> None:
    cores = usable_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert encoder_threads(NlpSettings(intra_op_threads=3)) == 3  # as set, whatever the cores
    assert encoder_threads(NlpSettings(max_batches_in_flight=1)) == cores
    assert encoder_threads(NlpSettings(max_batches_in_flight=2)) == max(1, cores // 2)
    assert encoder_threads(NlpSettings(max_batches_in_flight=8)) == max(1, cores // 8)
