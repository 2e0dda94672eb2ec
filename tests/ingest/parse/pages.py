"""Test pages: the fixture articles, and the same wrapped in the weight of a real news site."""

from pathlib import Path

DATA = Path(__file__).parent / "data"

_SECTIONS = [
    "Thời sự",
    "Đô thị",
    "Giao thông",
    "Kinh tế",
    "Giáo dục",
    "Sức khỏe",
    "Pháp luật",
    "Văn hóa",
    "Thể thao",
    "Bạn đọc",
]
_HEADLINES = [
    "Khởi công cầu Thủ Thiêm 4 nối quận 7 với TP Thủ Đức",
    "Metro số 1 chạy thử toàn tuyến, người dân háo hức trải nghiệm",
    "Bệnh viện Nhi đồng thành phố tăng giường điều trị sốt xuất huyết",
    "Giá điện sinh hoạt tăng từ tháng sau, hộ nghèo được hỗ trợ",
    "Học sinh lớp 10 công lập thi ba môn, công bố điểm chuẩn tháng 7",
    "Lắp thêm 300 camera giám sát giao thông tại các nút giao trọng điểm",
    "Chợ Bến Thành được đề xuất cải tạo, giữ nguyên kiến trúc mặt tiền",
    "Người dân quận 8 mong sớm có công viên ven kênh Đôi",
    "Xử phạt hơn 2.000 trường hợp vi phạm nồng độ cồn trong tháng",
    "Nhà ở xã hội tại Bình Chánh mở bán, giá từ 18 triệu đồng mỗi mét vuông",
]


def article(name: str = "article_ngap.html") -> bytes:
    return (DATA / name).read_bytes()


def with_site_chrome(page: bytes) -> bytes:
    """The page with what a Vietnamese news site adds around an article: inline CSS and
    scripts, a mega menu, "most read" sidebars and a long footer (about 120 KB in all)."""
    html = page.decode("utf-8")
    style = "<style>" + "".join(
        f".box-{i}{{margin:{i % 7}px 0;padding:4px {i % 5}px;color:#{i:06x}}}" for i in range(600)
    )
    style += "</style>"
    script = "<script>" + "".join(
        f"window.ads_{i}=function(s){{return s.replace(/x/g,'{i}')+{i};}};" for i in range(900)
    )
    script += "</script>"
    menu = "<nav class='mega-menu'><ul>" + "".join(
        f"<li><a href='/{s}/{j}'>{s} {j}</a></li>" for s in _SECTIONS for j in range(15)
    )
    menu += "</ul></nav>"
    most_read = "".join(
        f"<aside class='most-read'><h3>Đọc nhiều {k}</h3><ul>"
        + "".join(
            f"<li class='box-{i}'><a href='/tin/{k}-{i}.html'><img src='/thumb/{k}-{i}.jpg'>"
            f"{_HEADLINES[(i + k) % len(_HEADLINES)]}</a><span class='time'>{i + 1} giờ trước"
            "</span></li>"
            for i in range(20)
        )
        + "</ul></aside>"
        for k in range(4)
    )
    footer = "<div class='footer-links'>" + "".join(
        f"<a href='/lien-ket/{i}'>{_HEADLINES[i % len(_HEADLINES)]}</a>" for i in range(120)
    )
    footer += "</div>"
    html = html.replace("</head>", style + script + "</head>", 1)
    html = html.replace('<main class="container">', menu + '<main class="container">', 1)
    html = html.replace("</main>", most_read + "</main>", 1)
    html = html.replace("</footer>", footer + "</footer>", 1)
    return html.encode("utf-8")


def rss_feed(items: int) -> bytes:
    """An RSS 2.0 feed as Vietnamese outlets publish it: thumbnail and sapo in each description."""
    entries = []
    for i in range(items):
        section = _SECTIONS[i % len(_SECTIONS)]
        link = f"https://thoisuthanhpho.vn/{section.lower().replace(' ', '-')}/tin-{5000 + i}.html"
        description = (
            f'<a href="{link}"><img src="https://cdn.thoisuthanhpho.vn/2024/02/thumb-{i}.jpg" '
            f'width="180"></a></br>{_HEADLINES[(i + 3) % len(_HEADLINES)]}. Người dân và chính '
            "quyền địa phương đang theo dõi sát diễn biến, cơ quan chức năng cho biết sẽ công bố "
            "kết quả xử lý trong tuần tới."
        )
        entries.append(
            f"<item><title>{_HEADLINES[i % len(_HEADLINES)]} ({i})</title>"
            f"<link>{link}?utm_source=rss</link><guid isPermaLink='false'>tstp-{5000 + i}</guid>"
            f"<description><![CDATA[{description}]]></description>"
            f"<dc:creator>Phóng viên {i % 7}</dc:creator>"
            f"<pubDate>Tue, 27 Feb 2024 {i % 24:02d}:{i % 60:02d}:00 +0700</pubDate>"
            f"<category>{section}</category></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Thời sự Thành phố - Tin mới</title><link>https://thoisuthanhpho.vn/</link>"
        f"<description>Tin mới nhất</description>{''.join(entries)}</channel></rss>"
    ).encode()
