"""Near duplicates across outlets: syndicated variants cluster together, different stories never.

The stories and their variants below are written for this test: each story as one outlet runs
it, and as others do with a new title, a dateline and byline, a footer, a sentence rewritten,
one added and one dropped, or only its first part.
"""

import itertools
import os
import random
import subprocess
import sys
import unicodedata
from dataclasses import dataclass

import pytest

from services.ingest.dedup import (
    NUM_HASHES,
    SIMILARITY_THRESHOLD,
    NearDuplicateIndex,
    closest_duplicate,
    minhash,
    minhash_bands,
    similarity,
)


@dataclass(frozen=True)
class Story:
    title: str
    other_title: str
    sentences: tuple[str, ...]
    # (index of a sentence, how another outlet rewrites it)
    rewrite: tuple[int, str]
    added: str


STORIES: dict[str, Story] = {
    "ngap-mua-thu-duc": Story(
        title="Mưa lớn kéo dài, nhiều tuyến đường ở TP.HCM ngập sâu giờ tan tầm",
        other_title="TP.HCM: Mưa trái mùa gây ngập nặng ở quận 7, Bình Thạnh, Thủ Đức",
        sentences=(
            "Cơn mưa lớn kéo dài gần hai giờ chiều 26/2 khiến hàng loạt tuyến đường ở quận 7, "
            "Bình Thạnh, Thủ Đức ngập sâu 30-50 cm.",
            "Lượng mưa đo được tại trạm Tân Sơn Hòa đạt 87 mm, cao nhất kể từ đầu mùa khô.",
            "Trên đường Nguyễn Hữu Thọ, nước tràn lên vỉa hè, nhiều xe máy chết máy giữa đường.",
            "Tại nút giao Hàng Xanh, dòng xe nối đuôi nhau nhích từng mét đến tối muộn.",
            "Công ty Thoát nước đô thị huy động hơn 200 công nhân mở nắp hố ga, vớt rác tại "
            "miệng cống để nước rút nhanh hơn.",
            "Đến khoảng 19 giờ, phần lớn các tuyến đường đã hết ngập, riêng đường Huỳnh Tấn Phát "
            "vẫn còn đọng nước.",
            "Theo lãnh đạo công ty, lượng mưa lớn trong thời gian ngắn vượt quá năng lực tiêu "
            "thoát của hệ thống cống hiện hữu.",
            "Trung tâm Khí tượng thủy văn dự báo trong ba ngày tới thành phố tiếp tục có mưa rào "
            "và dông vào chiều tối.",
        ),
        rewrite=(
            2,
            "Ghi nhận trên đường Nguyễn Hữu Thọ, nước ngập tràn vỉa hè, không ít xe máy bị chết "
            "máy giữa dòng nước.",
        ),
        added="Người dân được khuyến cáo hạn chế di chuyển qua các điểm thường xuyên ngập.",
    ),
    "trieu-cuong-quan-8": Story(
        title="Triều cường đạt đỉnh, nhiều tuyến đường quận 8 và Nhà Bè ngập sâu",
        other_title="Đỉnh triều 1,7 m gây ngập diện rộng ở quận 8, Nhà Bè",
        sentences=(
            "Sáng 18/10, triều cường trên sông Sài Gòn đạt đỉnh 1,7 m, vượt báo động ba.",
            "Nước từ kênh Đôi, kênh Tẻ tràn qua bờ bao làm ngập các tuyến đường Phạm Thế Hiển, "
            "Bến Bình Đông ở quận 8.",
            "Tại huyện Nhà Bè, đường Huỳnh Tấn Phát và Lê Văn Lương ngập sâu 40 cm, nhiều học sinh "
            "phải nghỉ học.",
            "Người dân sống ven kênh phải kê cao đồ đạc, dùng bao cát chắn trước cửa nhà.",
            "Ủy ban nhân dân quận 8 cho biết đã vận hành các cống ngăn triều và trạm bơm cục bộ.",
            "Theo Đài Khí tượng thủy văn Nam Bộ, triều cường sẽ còn duy trì ở mức cao đến hết "
            "tuần.",
            "Thành phố đang đẩy nhanh dự án chống ngập do triều với sáu cống kiểm soát triều lớn.",
        ),
        rewrite=(
            3,
            "Nhiều hộ dân ven kênh phải kê đồ đạc lên cao và đặt bao cát trước cửa để ngăn nước.",
        ),
        added="Các trường học trong khu vực được phép cho học sinh nghỉ nếu đường ngập quá sâu.",
    ),
    "du-an-chong-ngap": Story(
        title="Đề xuất 1.200 tỷ đồng nâng cấp hệ thống thoát nước chống ngập khu Thảo Điền",
        other_title="TP.HCM sẽ xây cống hộp và hồ điều tiết chống ngập ở Thảo Điền",
        sentences=(
            "Sở Xây dựng TP.HCM vừa trình Ủy ban nhân dân thành phố dự án nâng cấp hệ thống thoát "
            "nước khu vực Thảo Điền.",
            "Tổng mức đầu tư dự kiến hơn 1.200 tỷ đồng từ ngân sách thành phố.",
            "Dự án gồm tuyến cống hộp dài 4,5 km trên đường Quốc Hương, Xuân Thủy và một hồ điều "
            "tiết rộng 2 ha.",
            "Khu vực Thảo Điền thường xuyên ngập sâu mỗi khi mưa lớn trùng với triều cường.",
            "Nếu được phê duyệt, công trình sẽ khởi công trong quý III và hoàn thành sau hai năm.",
            "Các chuyên gia cho rằng cần kết hợp giữ lại kênh rạch tự nhiên thay vì chỉ mở rộng "
            "cống.",
        ),
        rewrite=(
            4,
            "Theo kế hoạch, dự án khởi công quý III năm nay nếu được duyệt và sẽ xong trong hai "
            "năm.",
        ),
        added="Người dân khu vực mong dự án sớm triển khai để chấm dứt cảnh ngập kéo dài.",
    ),
    "ket-xe-cau-sai-gon": Story(
        title="Xe container va chạm xe khách, cầu Sài Gòn kẹt xe hơn 3 km",
        other_title="Tai nạn trên cầu Sài Gòn, giao thông ùn tắc kéo dài buổi sáng",
        sentences=(
            "Khoảng 7 giờ sáng 27/2, xe container chạy hướng từ TP Thủ Đức về trung tâm va chạm "
            "với xe khách 29 chỗ trên cầu Sài Gòn.",
            "Vụ tai nạn không gây thương vong nhưng khiến hai làn xe bị chắn hoàn toàn.",
            "Dòng xe ùn ứ kéo dài hơn 3 km đến ngã ba Cát Lái, nhiều người đi làm trễ giờ.",
            "Cảnh sát giao thông được điều động đến hiện trường để phân luồng và kéo các phương "
            "tiện vào lề.",
            "Đến 9 giờ 30, giao thông qua cầu mới trở lại bình thường.",
            "Cơ quan chức năng đang làm rõ nguyên nhân vụ va chạm.",
        ),
        rewrite=(
            2,
            "Xe cộ ùn tắc hơn 3 km, kéo dài tới ngã ba Cát Lái, khiến không ít người đi làm muộn.",
        ),
        added="Tài xế được khuyến cáo đi đường Mai Chí Thọ để tránh khu vực cầu.",
    ),
    "phan-luong-hang-xanh": Story(
        title="Phân luồng giao thông nút giao Hàng Xanh để xây cầu vượt thép",
        other_title="Cấm xe tải qua nút giao Hàng Xanh từ ngày 4/3",
        sentences=(
            "Từ ngày 4/3, Sở Giao thông vận tải TP.HCM tổ chức lại giao thông tại nút giao Hàng "
            "Xanh, quận Bình Thạnh.",
            "Xe tải trên 2,5 tấn không được đi qua khu vực này từ 6 giờ đến 20 giờ hằng ngày.",
            "Xe buýt và xe khách đi theo lộ trình vòng qua đường Nguyễn Xí và Đinh Bộ Lĩnh.",
            "Việc phân luồng nhằm phục vụ thi công cầu vượt thép trên đường Điện Biên Phủ, dự "
            "kiến kéo dài chín tháng.",
            "Đây là một trong những nút giao thường xuyên kẹt xe nhất thành phố vào giờ cao điểm.",
            "Sở đề nghị người dân chủ động lựa chọn lộ trình phù hợp để tránh ùn tắc.",
        ),
        rewrite=(
            3,
            "Mục đích của việc phân luồng là để thi công cầu vượt thép trên đường Điện Biên Phủ "
            "trong khoảng chín tháng.",
        ),
        added="Lực lượng thanh niên xung phong sẽ hỗ trợ điều tiết tại các ngã tư lân cận.",
    ),
    "gplx-truc-tuyen": Story(
        title="Người dân TP.HCM có thể cấp đổi giấy phép lái xe trực tuyến hoàn toàn",
        other_title="Từ tháng 3, đổi bằng lái xe không cần đến trụ sở",
        sentences=(
            "Từ tháng 3, Sở Giao thông vận tải TP.HCM triển khai dịch vụ công trực tuyến toàn "
            "trình cấp đổi giấy phép lái xe.",
            "Người dân chỉ cần đăng nhập cổng dịch vụ công, khai báo thông tin và nộp lệ phí qua "
            "ngân hàng.",
            "Giấy phép lái xe mới được gửi về nhà qua bưu điện trong vòng năm ngày làm việc.",
            "Hồ sơ sức khỏe được liên thông điện tử từ các bệnh viện đủ điều kiện.",
            "Trước đây, mỗi ngày trụ sở cấp đổi bằng lái tiếp nhận hơn 1.500 hồ sơ, người dân phải "
            "xếp hàng nhiều giờ.",
            "Sở kỳ vọng dịch vụ mới giảm tải cho bộ phận một cửa và tiết kiệm chi phí đi lại.",
        ),
        rewrite=(
            2,
            "Sau năm ngày làm việc, bằng lái mới sẽ được bưu điện chuyển đến tận nhà người dân.",
        ),
        added="Tổng đài 1022 hỗ trợ hướng dẫn người chưa quen thao tác trên điện thoại.",
    ),
    "benh-vien-ngoai-gio": Story(
        title="Bệnh viện quận 8 mở thêm phòng khám ngoài giờ để giảm quá tải",
        other_title="Khám bệnh buổi tối và sáng thứ bảy tại bệnh viện quận 8",
        sentences=(
            "Bệnh viện quận 8 vừa mở thêm sáu phòng khám ngoài giờ hoạt động từ 17 giờ đến 20 giờ "
            "các ngày trong tuần.",
            "Ngoài ra, bệnh viện tiếp nhận khám bệnh vào sáng thứ bảy cho người có bảo hiểm y tế.",
            "Người dân có thể đặt lịch trước qua ứng dụng của bệnh viện hoặc tổng đài.",
            "Thời gian qua, lượng bệnh nhân tăng mạnh, có ngày vượt 2.000 lượt khám.",
            "Giám đốc bệnh viện cho biết khám ngoài giờ giúp người lao động không phải nghỉ làm "
            "để đi khám.",
            "Chi phí khám ngoài giờ được áp dụng theo bảng giá dịch vụ đã niêm yết.",
        ),
        rewrite=(
            3,
            "Gần đây số người đến khám tăng cao, nhiều ngày bệnh viện tiếp nhận hơn 2.000 lượt.",
        ),
        added="Bệnh viện cũng bố trí thêm chỗ gửi xe miễn phí cho người bệnh.",
    ),
    "rac-kenh-tau-hu": Story(
        title="Vớt hơn 40 tấn rác trên kênh Tàu Hủ - Bến Nghé sau Tết",
        other_title="Ra quân dọn rác, lục bình trên kênh Tàu Hủ - Bến Nghé",
        sentences=(
            "Sáng 26/2, hơn 100 công nhân vệ sinh và đoàn viên thanh niên ra quân vớt rác trên "
            "kênh Tàu Hủ - Bến Nghé.",
            "Sau ba ngày, lực lượng đã thu gom hơn 40 tấn rác và lục bình.",
            "Rác chủ yếu là túi nylon, chai nhựa và xốp do người dân vứt xuống kênh.",
            "Sở Tài nguyên và Môi trường kêu gọi người dân không xả rác xuống kênh rạch.",
            "Thành phố sẽ lắp thêm camera giám sát để xử phạt hành vi xả rác bừa bãi.",
        ),
        rewrite=(
            2,
            "Phần lớn rác thải là túi nylon, chai nhựa, hộp xốp mà người dân ném xuống kênh.",
        ),
        added="Mức phạt với hành vi xả rác xuống kênh rạch có thể lên đến 3 triệu đồng.",
    ),
    "cat-dien-thu-duc": Story(
        title="Cắt điện luân phiên ở nhiều phường TP Thủ Đức ngày 28/2",
        other_title="Lịch tạm ngừng cấp điện tại TP Thủ Đức cuối tháng 2",
        sentences=(
            "Công ty Điện lực Thủ Đức thông báo tạm ngừng cung cấp điện để bảo trì lưới điện "
            "ngày 28/2.",
            "Khu vực bị ảnh hưởng gồm các phường Linh Trung, Linh Chiểu và Hiệp Phú.",
            "Thời gian cắt điện từ 8 giờ đến 16 giờ, có thể đóng điện sớm nếu hoàn thành.",
            "Điện lực đề nghị doanh nghiệp và hộ dân chủ động sắp xếp sản xuất, sinh hoạt.",
            "Thông tin chi tiết được đăng trên ứng dụng chăm sóc khách hàng của ngành điện.",
        ),
        rewrite=(
            2,
            "Điện sẽ bị cắt trong khoảng từ 8 giờ tới 16 giờ và được đóng lại sớm khi xong việc.",
        ),
        added="Khách hàng cần hỗ trợ có thể gọi tổng đài chăm sóc khách hàng 1900 545454.",
    ),
    "metro-chay-thu": Story(
        title="Metro số 1 chạy thử toàn tuyến Bến Thành - Suối Tiên",
        other_title="Tàu metro số 1 lần đầu chạy thử từ Bến Thành đến Suối Tiên",
        sentences=(
            "Sáng 27/2, đoàn tàu metro số 1 chạy thử toàn tuyến dài gần 20 km từ ga Bến Thành "
            "đến depot Long Bình.",
            "Tàu đi qua 14 nhà ga, gồm ba ga ngầm và 11 ga trên cao.",
            "Ban quản lý đường sắt đô thị cho biết tốc độ tối đa trên đoạn trên cao đạt 110 km/h.",
            "Nhiều người dân đứng dọc xa lộ Hà Nội quay phim, chụp ảnh đoàn tàu.",
            "Tuyến metro dự kiến vận hành thương mại trước cuối năm nay.",
            "Thành phố đang nghiên cứu kết nối xe buýt gom khách đến các nhà ga.",
        ),
        rewrite=(
            3,
            "Dọc xa lộ Hà Nội, không ít người dân dừng lại quay phim, chụp ảnh đoàn tàu chạy qua.",
        ),
        added="Vé tàu dự kiến có giá từ 12.000 đến 20.000 đồng mỗi lượt.",
    ),
}

_DATELINE = "TP.HCM - "
_BYLINE = "Theo Thông tấn xã Việt Nam"
_FOOTER = "Mời bạn đọc theo dõi thêm tin tức thời sự trên ứng dụng và các kênh mạng xã hội của báo."


def original(story: Story) -> str:
    return story.title + "\n" + " ".join(story.sentences)


def variants(story: Story) -> dict[str, str]:
    """The story as other outlets run it; each is a near duplicate of ``original``."""
    rewritten = list(story.sentences)
    index, sentence = story.rewrite
    rewritten[index] = sentence
    body = " ".join(story.sentences)
    return {
        "new-title": story.other_title + "\n" + body,
        "byline-footer": story.title + "\n" + _DATELINE + body + "\n" + _BYLINE + "\n" + _FOOTER,
        "one-sentence-rewritten": story.title + "\n" + " ".join(rewritten),
        "sentence-added-one-dropped": story.title
        + "\n"
        + " ".join([*story.sentences[:-1], story.added]),
        "first-part-only": story.title
        + "\n"
        + " ".join(story.sentences[: (len(story.sentences) * 2 + 2) // 3])
        + "\n"
        + _BYLINE,
        "wire-copy": story.other_title
        + "\n"
        + _DATELINE
        + " ".join([*rewritten, story.added])
        + "\n"
        + _BYLINE,
    }


def corpus() -> list[tuple[str, str]]:
    """(story key, text) for every story and every variant of it."""
    documents = []
    for key, story in STORIES.items():
        documents.append((key, original(story)))
        documents.extend((key, text) for text in variants(story).values())
    return documents


def pairwise_precision_recall() -> tuple[float, float]:
    documents = corpus()
    signatures = [minhash(text) for _, text in documents]
    bands = [set(minhash_bands(s)) for s in signatures]
    true_positives = false_positives = false_negatives = 0
    for i, j in itertools.combinations(range(len(documents)), 2):
        same_story = documents[i][0] == documents[j][0]
        # What a lookup finds: a shared band key, then a similar enough signature.
        found = bool(bands[i] & bands[j]) and (
            similarity(signatures[i], signatures[j]) >= SIMILARITY_THRESHOLD
        )
        true_positives += same_story and found
        false_positives += found and not same_story
        false_negatives += same_story and not found
    return (
        true_positives / max(true_positives + false_positives, 1),
        true_positives / (true_positives + false_negatives),
    )


def test_pairs_precision_and_recall() -> None:
    # Measured: precision 1.000, recall 0.976 over 210 same-story and 2,205 other pairs.
    precision, recall = pairwise_precision_recall()
    assert precision == 1.0
    assert recall >= 0.95


def test_clusters_in_any_arrival_order() -> None:
    # Measured over 30 orders: precision 1.000, recall 0.997 of same-story pairs clustered.
    documents = corpus()
    signatures = [minhash(text) for _, text in documents]
    true_positives = false_positives = false_negatives = 0
    for seed in range(10):
        order = list(range(len(documents)))
        random.Random(seed).shuffle(order)
        index = NearDuplicateIndex()
        cluster = {i: index.add(str(i), signatures[i]) for i in order}
        for i, j in itertools.combinations(range(len(documents)), 2):
            same_story = documents[i][0] == documents[j][0]
            together = cluster[i] == cluster[j]
            true_positives += same_story and together
            false_positives += together and not same_story
            false_negatives += same_story and not together
    assert false_positives == 0
    assert true_positives / (true_positives + false_negatives) >= 0.98


def test_different_stories_on_one_topic_are_not_even_candidates() -> None:
    floods = [
        original(STORIES[key])
        for key in ("ngap-mua-thu-duc", "trieu-cuong-quan-8", "du-an-chong-ngap")
    ]
    signatures = [minhash(text) for text in floods]
    for a, b in itertools.combinations(signatures, 2):
        assert not set(minhash_bands(a)) & set(minhash_bands(b))
        assert similarity(a, b) < SIMILARITY_THRESHOLD


def test_variants_find_their_original() -> None:
    index = NearDuplicateIndex()
    for key, story in STORIES.items():
        assert index.add(key, minhash(original(story))) == key
    missed = [
        (key, name)
        for key, story in STORIES.items()
        for name, text in variants(story).items()
        if index.near_duplicate_of(minhash(text)) != key
    ]
    # Measured: 59 of 60. The one miss is the heaviest rewrite of the shortest story (new title,
    # dateline, byline, a sentence rewritten and one added to five), which still joins its
    # cluster through the other variants (see the arrival-order test).
    assert len(missed) <= 2
    assert all(name == "wire-copy" for _, name in missed)


def test_signature_ignores_tone_marks_case_and_normal_form() -> None:
    text = "Ngập nước Quận 7 sau cơn mưa lớn chiều qua"
    assert minhash(text) == minhash(unicodedata.normalize("NFD", text.upper()))
    assert minhash(text) == minhash("ngap nuoc quan 7 sau con mua lon chieu qua")
    assert minhash(text) != minhash("Ngập nước Quận 8 sau cơn mưa lớn chiều qua")


def test_signature_is_stable_across_processes_and_releases() -> None:
    text = "Mưa lớn kéo dài, nhiều tuyến đường ở TP.HCM ngập sâu giờ tan tầm"
    signature = minhash(text)
    assert len(signature) == 4 * NUM_HASHES
    # Stored signatures and band keys must keep matching new ones: these values are pinned.
    assert signature[:12].hex() == "680c921b9e3e350b3a7f5811"
    assert minhash_bands(signature)[:3] == ["00:24db93757b3a", "01:b5d1b60ed4b3", "02:239274ec12c6"]
    code = f"from services.ingest.dedup import minhash; print(minhash({text!r}).hex())"
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert other.stdout.strip() == signature.hex()


@pytest.mark.parametrize("text", ["", "   ", "— … —"])
def test_text_without_words_is_nobodys_duplicate(text: str) -> None:
    signature = minhash(text)
    assert minhash_bands(signature) == []
    index = NearDuplicateIndex()
    assert index.add("a", signature) == "a"
    assert index.add("b", minhash("")) == "b"


def test_short_texts() -> None:
    assert minhash("Kẹt xe") == minhash("kẹt  xe")
    assert similarity(minhash("Kẹt xe"), minhash("Kẹt xe")) == 1.0
    assert len(minhash_bands(minhash("Kẹt xe"))) > 0


def test_closest_duplicate_takes_the_most_similar_above_the_threshold() -> None:
    story = STORIES["ket-xe-cau-sai-gon"]
    signature = minhash(original(story))
    candidates = [
        ("other-story", minhash(original(STORIES["metro-chay-thu"]))),
        ("wire", minhash(variants(story)["wire-copy"])),
        ("retitled", minhash(variants(story)["new-title"])),
    ]
    assert closest_duplicate(signature, candidates) == "retitled"
    assert closest_duplicate(signature, candidates[:1]) is None
    assert closest_duplicate(signature, []) is None
