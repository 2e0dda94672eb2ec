"""LocalityResolver on the committed data: every written form, both structures, the mapping."""

import json
import shutil
import time
import unicodedata
from pathlib import Path

import pytest

from langnghe.nlp.v1 import nlp_pb2
from services.nlp.localities import (
    BEFORE_2025,
    DATA_DIR,
    SINCE_2025,
    LocalityDataError,
    LocalityMention,
    LocalityResolver,
)


@pytest.fixture(scope="module")
def resolver() -> LocalityResolver:
    return LocalityResolver.load(DATA_DIR)


def only(resolver: LocalityResolver, text: str) -> LocalityMention:
    found = resolver.find(text)
    assert len(found) == 1, (text, found)
    mention = found[0]
    assert text[mention.start : mention.end] == mention.mention
    return mention


def test_the_data_covers_both_structures(resolver: LocalityResolver) -> None:
    data = json.loads((DATA_DIR / "localities.json").read_text(encoding="utf-8"))
    assert data["counts"] == {
        "current_units": 168,
        "old_provinces": 3,
        "old_districts": 38,
        "old_communes": 441,
        "old_hcmc_districts": 22,
        "old_hcmc_communes": 273,
    }
    current = {u["code"] for u in data["units"] if u["structure"] == SINCE_2025}
    old = [u for u in data["units"] if u["structure"] == BEFORE_2025]
    # Every old unit maps to current units that exist, and every current unit takes over some.
    for unit in old:
        assert unit["current"], unit["name"]
        assert set(unit["current"]) <= current, unit["name"]
    taken = {code for u in old for code in u["current"]}
    assert taken == current - {"79"}


@pytest.mark.parametrize(
    ("text", "mention", "name"),
    [
        ("Kẹt xe kéo dài ở Q.7 chiều nay", "Q.7", "Quận 7"),
        ("Kẹt xe kéo dài ở Q7 chiều nay", "Q7", "Quận 7"),
        ("Nhà tôi ở quận 7 gần cầu", "quận 7", "Quận 7"),
        ("Quận 7 sẽ có thêm công viên", "Quận 7", "Quận 7"),
        ("Cư dân Quận 10 phản ánh", "Quận 10", "Quận 10"),
        ("Trường học ở Q.Bình Thạnh", "Q.Bình Thạnh", "Quận Bình Thạnh"),
        ("Người dân P. Bến Nghé dọn rác", "P. Bến Nghé", "Phường Bến Nghé"),
        ("Người dân phường Bến Nghé dọn rác", "phường Bến Nghé", "Phường Bến Nghé"),
        ("Metro chạy qua TP Thủ Đức", "TP Thủ Đức", "Thành phố Thủ Đức"),
        ("Metro chạy qua TP. Thủ Đức", "TP. Thủ Đức", "Thành phố Thủ Đức"),
        ("Metro chạy qua thành phố Thủ Đức", "thành phố Thủ Đức", "Thành phố Thủ Đức"),
        ("Nông dân H. Củ Chi thu hoạch", "H. Củ Chi", "Huyện Củ Chi"),
        ("Rừng ngập mặn ở huyện Cần Giờ", "huyện Cần Giờ", "Huyện Cần Giờ"),
        ("Tin vui cho tỉnh Bình Dương", "tỉnh Bình Dương", "Tỉnh Bình Dương"),
    ],
)
def test_old_units_in_every_written_form(
    resolver: LocalityResolver, text: str, mention: str, name: str
) -> None:
    found = only(resolver, text)
    assert (found.mention, found.name, found.structure) == (mention, name, BEFORE_2025)
    assert found.current_codes
    assert all(resolver.unit(c, SINCE_2025) is not None for c in found.current_codes)


def test_text_without_diacritics(resolver: LocalityResolver) -> None:
    quan = only(resolver, "nha o quan 7 bi ngap")
    assert (quan.mention, quan.name) == ("quan 7", "Quận 7")
    ward = only(resolver, "dan phuong Ben Nghe phan anh")
    assert (ward.mention, ward.name) == ("phuong Ben Nghe", "Phường Bến Nghé")


def test_new_units(resolver: LocalityResolver) -> None:
    saigon = only(resolver, "UBND phường Sài Gòn họp dân")
    assert (saigon.name, saigon.structure, saigon.level) == (
        "Phường Sài Gòn",
        SINCE_2025,
        "commune",
    )
    assert saigon.current_codes == ()
    con_dao = only(resolver, "Du khách ra đặc khu Côn Đảo")
    assert (con_dao.name, con_dao.structure) == ("Đặc khu Côn Đảo", SINCE_2025)
    city = only(resolver, "Mưa lớn ở TP.HCM tối qua")
    assert (city.code, city.level, city.mention) == ("79", "city", "TP.HCM")


def test_an_old_ward_maps_to_the_new_ward_that_took_it_over(resolver: LocalityResolver) -> None:
    ben_nghe = only(resolver, "phường Bến Nghé")
    saigon = only(resolver, "phường Sài Gòn")
    assert ben_nghe.current_codes == (saigon.code,)
    assert resolver.current_codes(ben_nghe.code) == (saigon.code,)
    # A district maps to every new unit covering it.
    district_1 = resolver.unit("760", BEFORE_2025)
    assert district_1 is not None
    assert district_1.name == "Quận 1"
    assert saigon.code in resolver.current_codes("760")
    assert len(resolver.current_codes("760")) > 1
    # Côn Đảo had no communes: the old district maps straight to the special zone.
    assert resolver.current_codes("755") == (only(resolver, "đặc khu Côn Đảo").code,)


def test_codes_are_shared_between_structures(resolver: LocalityResolver) -> None:
    # GSO gave each new ward the code of one of the wards it merged: a code needs its structure.
    both = resolver.units("26740")
    assert {(u.structure, u.name) for u in both} == {
        (BEFORE_2025, "Phường Bến Nghé"),
        (SINCE_2025, "Phường Sài Gòn"),
    }
    current = resolver.unit("26740")
    assert current is not None
    assert current.name == "Phường Sài Gòn"
    old = resolver.unit("26740", BEFORE_2025)
    assert old is not None
    assert old.name == "Phường Bến Nghé"
    assert resolver.unit("99999") is None
    with pytest.raises(KeyError):
        resolver.current_codes("99999")
    with pytest.raises(ValueError, match="structure"):
        resolver.unit("760", "2024")


def test_a_numbered_ward_needs_its_district(resolver: LocalityResolver) -> None:
    text = "Ngập nặng ở P.14, Q. Gò Vấp sau cơn mưa"
    ward, district = resolver.find(text)
    assert (ward.mention, ward.name, ward.structure) == ("P.14", "Phường 14", BEFORE_2025)
    assert (district.mention, district.name) == ("Q. Gò Vấp", "Quận Gò Vấp")
    gv = resolver.unit(ward.code, BEFORE_2025)
    assert gv is not None
    assert gv.district == district.code
    # The same number in another district is another ward.
    other = resolver.find("Phường 14, Quận 3")[0]
    assert other.name == "Phường 14"
    assert other.code != ward.code
    # A bare district name after the ward also places it.
    assert resolver.find("P.14, Gò Vấp")[0].code == ward.code
    # Alone, "P.14" could be in a dozen districts: it is not resolved.
    assert resolver.find("Ngập nặng ở P.14 sau cơn mưa") == []


def test_a_shared_name_prefers_the_current_ward_unless_a_district_says_old(
    resolver: LocalityResolver,
) -> None:
    alone = only(resolver, "Dân xã Bình Chánh trồng rau")
    assert (alone.name, alone.structure) == ("Xã Bình Chánh", SINCE_2025)
    assert (BEFORE_2025, alone.code) in alone.alternatives
    assert alone.score < 0.9
    with_district = resolver.find("Dân xã Bình Chánh, huyện Bình Chánh trồng rau")
    assert [(m.name, m.structure) for m in with_district] == [
        ("Xã Bình Chánh", BEFORE_2025),
        ("Huyện Bình Chánh", BEFORE_2025),
    ]
    assert with_district[0].score > alone.score
    old_ben_thanh = resolver.find("chợ ở phường Bến Thành, Q.1")[0]
    assert (old_ben_thanh.name, old_ben_thanh.structure) == ("Phường Bến Thành", BEFORE_2025)


def test_diacritics_tell_apart_names_that_fold_alike(resolver: LocalityResolver) -> None:
    assert only(resolver, "xã Thạnh An ngoài đảo").name == "Xã Thạnh An"
    assert only(resolver, "xã Thanh An của Dầu Tiếng").name == "Xã Thanh An"
    # Without diacritics both communes fit: nothing is guessed.
    assert resolver.find("xa Thanh An") == []


def test_bare_names_only_when_unambiguous_and_capitalised(resolver: LocalityResolver) -> None:
    bare = only(resolver, "Bến Nghé hôm nay đông người")
    assert (bare.name, bare.score) == ("Phường Bến Nghé", 0.6)
    assert resolver.find("bến nghé hôm nay đông người") == []
    # "Gò Vấp" is an old district and a new ward: bare, it is not resolved.
    assert resolver.find("Gò Vấp hôm nay đông người") == []


@pytest.mark.parametrize(
    "text",
    [
        "Sửa đường Nguyễn Văn Cừ suốt tháng",
        "Trần Hưng Đạo ngập sau mưa",
        "Quán cà phê trên đường Nguyễn Cư Trinh rất đông",
        "Ông Nguyễn Cư Trinh là một danh tướng",
        "chợ Bến Thành mở cửa đến khuya",
        "Chuyến bay hạ cánh ở sân bay Tân Sơn Nhất",
        "Sài Gòn vào mùa mưa",
        "cơ quan chức năng vào cuộc, xã hội quan tâm",
        "Tôi về lúc 7h. Củ Chi thì xa",
        "Tầng P2 còn chỗ đậu xe",
        "Khu Phú Mỹ Hưng có nhiều cây xanh",
        "Phường Bến Nghéa không có thật",
    ],
)
def test_no_false_positives(resolver: LocalityResolver, text: str) -> None:
    assert resolver.find(text) == []


def test_street_named_like_a_ward_resolves_only_with_a_unit_word(
    resolver: LocalityResolver,
) -> None:
    text = "Đường Nguyễn Cư Trinh thuộc phường Nguyễn Cư Trinh, quận 1"
    found = resolver.find(text)
    assert [m.mention for m in found] == ["phường Nguyễn Cư Trinh", "quận 1"]


def test_first_mention_of_each_unit_with_code_point_offsets(resolver: LocalityResolver) -> None:
    text = "🌧️ Mưa ở Q.1, rồi lại mưa ở Quận 1 và phường Sài Gòn"
    found = resolver.find(text)
    assert [(m.mention, m.start) for m in found] == [
        ("Q.1", text.index("Q.1")),
        ("phường Sài Gòn", text.index("phường")),
    ]
    # Decomposed (NFD) input: offsets still point into the string as given.
    nfd = unicodedata.normalize("NFD", "Ngập ở phường Bến Nghé, quận 1")
    mentions = resolver.find(nfd)
    assert [m.name for m in mentions] == ["Phường Bến Nghé", "Quận 1"]
    assert all(nfd[m.start : m.end] == m.mention for m in mentions)


def test_merged_numbered_wards_and_the_districts_thu_duc_absorbed(
    resolver: LocalityResolver,
) -> None:
    # Gò Vấp's Phường 13 was merged into its Phường 15 on 1 January 2025.
    merged = resolver.find("Nhà tôi ở Phường 13, Quận Gò Vấp")[0]
    assert (merged.mention, merged.name, merged.score) == ("Phường 13", "Phường 15", 0.75)
    unit = resolver.unit(merged.code, BEFORE_2025)
    assert unit is not None
    assert unit.district == "764"
    # Quận 10 still had its own Phường 13.
    kept = resolver.find("Nhà tôi ở Phường 13, Quận 10")[0]
    assert (kept.name, kept.score) == ("Phường 13", 0.95)
    district_2 = only(resolver, "căn hộ ở quận 2 cũ")
    assert (district_2.name, district_2.mention) == ("Thành phố Thủ Đức", "quận 2")
    assert district_2.score < 0.9


def test_an_article_costs_about_a_millisecond(resolver: LocalityResolver) -> None:
    paragraph = (
        "Sáng nay mưa lớn khiến nhiều tuyến đường ở Quận 7 và TP Thủ Đức ngập sâu, người dân "
        "phường Bến Nghé cho biết nước dâng nhanh trên đường Nguyễn Huệ. Theo đơn vị quản lý, "
        "hệ thống cống trên đường Trần Hưng Đạo đang được nạo vét để kịp mùa mưa năm nay. "
        "Một cư dân ở P.14, Q. Gò Vấp nói rằng tình trạng này lặp lại nhiều năm liền. "
    )
    article = paragraph * 8  # about 600 words
    resolver.find(article)
    runs = 20
    started = time.process_time()
    for _ in range(runs):
        found = resolver.find(article)
    per_article = (time.process_time() - started) / runs
    assert len(found) == 5
    assert per_article < 0.005, per_article  # about 1 ms here; the bar leaves room for CI noise


def test_mentions_become_proto_localities(resolver: LocalityResolver) -> None:
    old, new = resolver.find("phường Bến Nghé nay thuộc phường Sài Gòn")
    message = old.to_proto(nlp_pb2.TEXT_FIELD_TITLE)
    assert message.level == nlp_pb2.LOCALITY_LEVEL_COMMUNE
    assert message.structure == nlp_pb2.ADMIN_STRUCTURE_BEFORE_2025
    assert list(message.current_codes) == [new.code]
    assert (message.span.field, message.span.start, message.span.end) == (
        nlp_pb2.TEXT_FIELD_TITLE,
        0,
        len("phường Bến Nghé"),
    )
    assert new.to_proto().structure == nlp_pb2.ADMIN_STRUCTURE_SINCE_2025


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(LocalityDataError, match="build_localities"):
        LocalityResolver.load(tmp_path)
    (tmp_path / "localities.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(LocalityDataError, match="unreadable"):
        LocalityResolver.load(tmp_path)
    (tmp_path / "localities.json").write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(LocalityDataError, match="format"):
        LocalityResolver.load(tmp_path)
    shutil.copy(DATA_DIR / "localities.json", tmp_path / "localities.json")
    loaded = LocalityResolver.load(tmp_path)
    assert loaded.version == "vietnamadminunits-1.0.4"
    assert len(loaded.sha256) == 64
