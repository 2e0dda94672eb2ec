"""Deterministic Vietnamese news for the demo web: outlets, stories, and syndicated copies.

Stories are built from templates written for this project about life in Ho Chi Minh City, so the
demo and the benchmarks exercise sentiment, places, sectors and near-duplicate detection. A story
"appears" at its publication time, so feeds grow while ``make run`` is running.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.common.text import fold_diacritics

PLACES = (
    ("phường Bến Nghé", "đường Nguyễn Huệ"),
    ("phường Thủ Đức", "đường Võ Văn Ngân"),
    ("phường Tân Định", "đường Hai Bà Trưng"),
    ("phường Tân Thuận", "đường Nguyễn Hữu Thọ"),
    ("phường Bình Thạnh", "đường Điện Biên Phủ"),
    ("phường Gò Vấp", "đường Quang Trung"),
    ("phường Chợ Lớn", "đường Hồng Bàng"),
    ("phường Bình Tân", "đường Tên Lửa"),
    ("xã Cần Giờ", "đường Rừng Sác"),
    ("phường Tân Sơn Nhất", "đường Trường Sơn"),
    ("phường Sài Gòn", "đường Lê Lợi"),
    ("phường Bàn Cờ", "đường Nguyễn Thiện Thuật"),
    ("phường Xóm Chiếu", "đường Tôn Đản"),
    ("phường Chánh Hưng", "đường Phạm Hùng"),
    ("phường Phú Nhuận", "đường Phan Đăng Lưu"),
    ("phường Hạnh Thông", "đường Nguyễn Oanh"),
    ("phường Tân Phú", "đường Lũy Bán Bích"),
    ("phường Linh Xuân", "đường Kha Vạn Cân"),
    ("phường Phước Long", "đường Đỗ Xuân Hợp"),
    ("phường An Khánh", "đường Mai Chí Thọ"),
    ("phường Tân Hưng", "đường Nguyễn Thị Thập"),
    ("xã Bình Chánh", "quốc lộ 1A"),
    ("xã Hóc Môn", "đường Lê Thị Hà"),
    ("phường Thủ Dầu Một", "đại lộ Bình Dương"),
    ("phường Vũng Tàu", "đường Thùy Vân"),
    ("phường Diên Hồng", "đường Ba Tháng Hai"),
    ("phường Hòa Hưng", "đường Cách Mạng Tháng Tám"),
    ("phường Thạnh Mỹ Tây", "đường Xô Viết Nghệ Tĩnh"),
    ("phường An Lạc", "đường Kinh Dương Vương"),
    ("phường Bình Đông", "đường Phạm Thế Hiển"),
    ("phường Tăng Nhơn Phú", "đường Lê Văn Việt"),
    ("phường Hiệp Bình", "đường Phạm Văn Đồng"),
    ("phường Tây Thạnh", "đường Tây Thạnh"),
    ("phường Đông Hưng Thuận", "đường Nguyễn Văn Quá"),
    ("xã Nhà Bè", "đường Huỳnh Tấn Phát"),
)

# (sector, sentiment, title template, paragraphs); {place} and {street} are filled per story.
TEMPLATES = (
    (
        "ngap_nuoc",
        "negative",
        "Mưa lớn, {street} ngập sâu, nhiều xe chết máy",
        (
            "Cơn mưa kéo dài hơn một giờ chiều qua khiến {street} thuộc {place} ngập sâu "
            "từ 30 đến 50 cm. Nhiều người đi xe máy phải dắt bộ, không ít xe chết máy giữa dòng nước.",
            "Người dân sống hai bên đường cho biết tình trạng này lặp lại gần như mỗi tuần trong mùa "
            'mưa. "Nước tràn vào nhà, đồ đạc hư hỏng, chúng tôi rất mệt mỏi", một chủ cửa hàng nói.',
            "Đại diện đơn vị thoát nước cho biết hệ thống cống trên tuyến đã xuống cấp và đang được "
            "khảo sát để cải tạo, nhưng chưa có thời gian hoàn thành cụ thể.",
        ),
    ),
    (
        "giao_thong",
        "negative",
        "Kẹt xe kéo dài trên {street} giờ cao điểm",
        (
            "Sáng nay, {street} thuộc {place} kẹt xe kéo dài hơn hai cây số. Dòng xe nhích từng "
            "mét, nhiều người đi làm trễ và tỏ ra bức xúc.",
            "Theo người dân, công trình rào chắn thi công chiếm gần nửa mặt đường nhiều tháng nay "
            "nhưng không thấy công nhân làm việc.",
            "Lực lượng cảnh sát giao thông đã được điều đến phân luồng, tuy vậy đến gần trưa "
            "tình hình mới tạm ổn.",
        ),
    ),
    (
        "moi_truong",
        "negative",
        "Rác thải chất đống, bốc mùi ở {place}",
        (
            "Một bãi rác tự phát trên {street} thuộc {place} đã tồn tại nhiều tuần, bốc mùi hôi "
            "nồng nặc, ruồi nhặng bu kín.",
            "Cư dân nhiều lần phản ánh qua tổng đài 1022 nhưng rác vẫn chưa được thu gom triệt để.",
            "Chính quyền địa phương cho biết sẽ tăng tần suất thu gom và xử phạt các trường hợp "
            "đổ rác không đúng nơi quy định.",
        ),
    ),
    (
        "thu_tuc_hanh_chinh",
        "positive",
        "Người dân {place} hài lòng với dịch vụ công trực tuyến",
        (
            "Từ đầu năm, người dân {place} có thể nộp hồ sơ đăng ký hộ tịch hoàn toàn trực tuyến. "
            "Nhiều người cho biết thủ tục nhanh gọn, không phải xếp hàng như trước.",
            '"Tôi nộp hồ sơ buổi tối, sáng hôm sau đã nhận được kết quả qua tin nhắn, rất tiện lợi", '
            "một người dân sống trên {street} chia sẻ.",
            "Bộ phận một cửa cho biết tỷ lệ hồ sơ trực tuyến đã vượt 80%, thời gian xử lý trung bình "
            "giảm một nửa.",
        ),
    ),
    (
        "van_hoa_du_lich",
        "positive",
        "Công viên mới bên {street} thu hút đông người dân",
        (
            "Công viên mới khánh thành trên {street} thuộc {place} có nhiều cây xanh, đường đi bộ "
            "và sân chơi cho trẻ em.",
            "Mỗi chiều, hàng trăm người dân đến tập thể dục, đi dạo. Nhiều gia đình cho biết rất vui "
            "vì khu phố có thêm không gian xanh sạch đẹp.",
            "Ban quản lý kêu gọi người dân cùng giữ gìn vệ sinh và bảo vệ cây xanh.",
        ),
    ),
    (
        "y_te",
        "neutral",
        "{place} tổ chức tiêm chủng mở rộng cho trẻ em",
        (
            "Trạm y tế {place} thông báo lịch tiêm chủng mở rộng trong tháng này dành cho trẻ dưới "
            "năm tuổi.",
            "Phụ huynh mang theo sổ tiêm chủng và đến trạm y tế trên {street} theo khung giờ đã "
            "đăng ký.",
            "Trạm y tế khuyến cáo phụ huynh theo dõi sức khỏe của trẻ sau tiêm và liên hệ cơ sở y tế "
            "khi cần.",
        ),
    ),
    (
        "giao_duc",
        "neutral",
        "Trường học ở {place} chuẩn bị cho học kỳ mới",
        (
            "Các trường tiểu học và trung học cơ sở tại {place} đang sửa chữa phòng học, kiểm tra "
            "thiết bị để chuẩn bị cho học kỳ mới.",
            "Phòng giáo dục cho biết năm nay số học sinh tăng nhẹ, một số trường trên {street} sẽ "
            "bố trí thêm lớp học.",
            "Phụ huynh có thể tra cứu thông tin tuyển sinh trên cổng thông tin của địa phương.",
        ),
    ),
    (
        "an_ninh_trat_tu",
        "negative",
        "Trộm xe máy liên tiếp ở khu dân cư {place}",
        (
            "Trong một tuần, ít nhất bốn vụ trộm xe máy xảy ra tại khu dân cư gần {street} thuộc "
            "{place}, khiến người dân lo lắng.",
            "Camera an ninh ghi lại cảnh đối tượng bẻ khóa xe chỉ trong vài giây rồi tẩu thoát.",
            "Công an địa phương đã tiếp nhận tin báo và tăng cường tuần tra vào ban đêm.",
        ),
    ),
)

OUTLET_NAMES = (
    "Tin Phố Sài Gòn",
    "Nhịp Sống Thành Phố",
    "Báo Đô Thị Mới",
    "Tin Nhanh Phường Xã",
    "Người Dân Hỏi",
    "Thời Báo Kênh Rạch",
)


@dataclass(frozen=True, slots=True)
class Story:
    """One article as an outlet publishes it."""

    outlet: str
    slug: str
    number: int
    title: str
    paragraphs: tuple[str, ...]
    author: str
    published_at: datetime
    sector: str
    sentiment: str
    # Stories that share a wire origin have the same wire id across outlets.
    wire_id: int


def _pick(seed: str, n: int) -> int:
    return int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest()) % n


PEOPLE = (
    "ông Nguyễn Văn Tâm",
    "bà Trần Thị Hoa",
    "anh Lê Minh Khoa",
    "chị Phạm Ngọc Trâm",
    "ông Võ Thành Lộc",
    "bà Huỳnh Thị Mai",
    "anh Đặng Quốc Việt",
    "chị Bùi Thanh Thảo",
    "ông Phan Văn Hùng",
    "bà Lý Thị Sen",
    "anh Trương Gia Bảo",
    "chị Đỗ Kim Ngân",
    "ông Hồ Văn Phúc",
    "bà Châu Thị Lan",
    "anh Mai Xuân Trường",
    "chị Vũ Hồng Nhung",
)
ACTORS = (
    "tổ dân phố",
    "lực lượng dân quân",
    "công nhân thoát nước",
    "cảnh sát khu vực",
    "nhân viên công ty môi trường",
    "cán bộ phường",
    "tình nguyện viên",
    "người dân trong hẻm",
    "tài xế xe công nghệ",
    "chủ tiệm tạp hóa",
    "bảo vệ chung cư",
    "đội cứu hộ",
)
# What people around an event did, by the event's tone, so that details agree with the lead.
ACTIONS = {
    "negative": (
        "ghi nhận sự việc",
        "báo cáo lên phường",
        "gọi tổng đài 1022",
        "chụp ảnh gửi lên mạng",
        "đặt biển cảnh báo",
        "khơi thông một đoạn cống",
        "phân luồng xe",
        "dọn một phần khu vực",
        "lập biên bản",
        "hỗ trợ người đi đường",
        "kiểm tra hiện trường",
        "thông báo cho cư dân",
    ),
    "positive": (
        "trồng thêm cây xanh",
        "dọn vệ sinh sạch sẽ",
        "hướng dẫn người dân tận tình",
        "tặng quà cho các em nhỏ",
        "sơn lại lối đi",
        "khen ngợi cách làm mới",
        "chụp ảnh lưu niệm",
        "mở thêm ghế nghỉ",
        "cảm ơn chính quyền",
        "giới thiệu cho hàng xóm",
        "tổ chức sinh hoạt chung",
        "chia sẻ niềm vui",
    ),
    "neutral": (
        "thông báo lịch làm việc",
        "kiểm tra danh sách",
        "phát tờ hướng dẫn",
        "ghi nhận ý kiến",
        "sắp xếp chỗ ngồi",
        "hướng dẫn đăng ký",
        "dán thông báo",
        "kiểm đếm hồ sơ",
        "trả lời câu hỏi",
        "cập nhật danh sách",
        "nhắc lịch hẹn",
        "chuẩn bị phòng",
    ),
}
# What the person asked says, by tone: {w} witness, {a} age, {s} street, {n} households.
WITNESS = {
    "negative": (
        "{W}, {a} tuổi, sống gần {s}, cho biết khoảng {n} hộ dân quanh khu vực chịu ảnh hưởng.",
        "Theo {w} ({a} tuổi), đã có {n} hộ gia đình lên tiếng phản ánh.",
        "{n} hộ dân ký đơn gửi phường, {w} ({a} tuổi) đại diện cho biết.",
    ),
    "positive": (
        "{W}, {a} tuổi, sống gần {s}, nói rất vui vì khoảng {n} hộ dân được hưởng lợi.",
        "Theo {w} ({a} tuổi), {n} hộ gia đình quanh đây đều hài lòng.",
        "{n} hộ dân đã gửi thư cảm ơn phường, {w} ({a} tuổi) cho biết.",
    ),
    "neutral": (
        "{W}, {a} tuổi, sống gần {s}, cho biết khoảng {n} hộ dân đã nhận thông báo.",
        "Theo {w} ({a} tuổi), {n} hộ gia đình trong khu phố đã đăng ký.",
        "{n} hộ dân đã được hướng dẫn, {w} ({a} tuổi) cho biết.",
    ),
}


def _timeline(seed: str, tone: str) -> str:
    """What happened when, and at which houses: what makes one event's text its own."""
    hour = 6 + _pick(seed + "h", 14)
    entries = []
    minutes = sorted((_pick(f"{seed}m{k}", 12) * 5 + k * 7) % 60 for k in range(4))
    for k, minute in enumerate(minutes):
        actor = ACTORS[_pick(f"{seed}a{k}", len(ACTORS))]
        action = ACTIONS[tone][_pick(f"{seed}x{k}", len(ACTIONS[tone]))]
        entries.append(f"Lúc {hour} giờ {minute:02d}, {actor} {action}.")
    alleys = []
    for k in range(5):
        alley = 1 + _pick(f"{seed}l{k}", 180)
        houses = sorted({2 + _pick(f"{seed}n{k}-{m}", 300) for m in range(4)})
        alleys.append(f"số {', '.join(map(str, houses))} hẻm {alley}")
    entries.append(f"{'; '.join(alleys)}.".capitalize())
    return " ".join(entries)


def story(
    outlet: str,
    number: int,
    *,
    outlet_index: int,
    outlets: int,
    epoch: datetime,
    period_s: float,
    wire_group_size: int = 8,
) -> Story:
    """The ``number``-th story of ``outlet``; every fourth is a wire copy that the outlets of
    its wire group (``wire_group_size`` neighbours) all publish.

    Consecutive stories walk through the (template, place) pairs, so that two different events
    in one feed window never share a headline, as two different real events would not.
    """
    syndicated = number % 4 == 0
    groups = -(-outlets // wire_group_size)
    group = outlet_index // wire_group_size
    # Wire stories count up from 0; an outlet's own stories count down from -1.
    wire_id = number * groups + group if syndicated else -(number * outlets + outlet_index + 1)
    seed = f"wire-{wire_id}"
    pair = number * (outlets + groups) + (group if syndicated else groups + outlet_index)
    sector, sentiment, title, paragraphs = TEMPLATES[pair % len(TEMPLATES)]
    place, street = PLACES[(pair // len(TEMPLATES)) % len(PLACES)]
    fill = {"place": place, "street": street}
    title = title.format(**fill)
    witness = PEOPLE[_pick(seed + "w", len(PEOPLE))]
    age = 25 + _pick(seed + "g", 50)
    households = 3 + _pick(seed + "c", 120)
    body = [
        paragraphs[_pick(seed + "lead", len(paragraphs))].format(**fill),
        WITNESS[sentiment][_pick(seed + "v", 3)].format(
            W=witness[0].upper() + witness[1:], w=witness, a=age, s=street, n=households
        ),
        _timeline(seed, sentiment),
        _timeline(seed + "sau", sentiment),
    ]
    if syndicated:
        # Wire copy: each outlet retitles it a little and adds its own line.
        variants = ("", " (cập nhật)", " — phản ánh của người dân", " hôm nay")
        title = title + variants[_pick(outlet, len(variants))]
        body.append(f"Theo {outlet}, thông tin sẽ tiếp tục được cập nhật.")
    return Story(
        outlet=outlet,
        slug=f"{_slug(title)}-{number}",
        number=number,
        title=title,
        paragraphs=tuple(body),
        author=("Minh Anh", "Thu Hà", "Quốc Bảo", "Ngọc Lan")[_pick(seed + "a", 4)],
        published_at=epoch + timedelta(seconds=number * period_s + _pick(outlet, 1000) / 1000),
        sector=sector,
        sentiment=sentiment,
        wire_id=wire_id,
    )


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in fold_diacritics(title)).split()
    return "-".join(words)[:80]


def published_numbers(*, now: datetime, epoch: datetime, period_s: float, last: int) -> range:
    """The story numbers of an outlet that are out by ``now`` (newest ``last`` of them)."""
    newest = int((now - epoch).total_seconds() // period_s)
    return range(max(0, newest - last + 1), newest + 1) if newest >= 0 else range(0)


def epoch_of_today() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)
