"""RSS 0.9x/1.0/2.0, Atom, YouTube and JSON Feed to items; broken feeds give what they hold."""

import json
from datetime import UTC, datetime

import pytest

from services.ingest.parse.encoding import UndecodableContent
from services.ingest.parse.feeds import FeedItem, InvalidFeed, ParsedFeed, parse_feed
from tests.ingest.parse.legacy import windows_1258
from tests.ingest.parse.pages import DATA, rss_feed

NOW = datetime(2024, 2, 27, 12, 0, tzinfo=UTC)


def parse(name: str, **kwargs: object) -> ParsedFeed:
    return parse_feed((DATA / name).read_bytes(), now=NOW, **kwargs)


def test_rss_2() -> None:
    feed = parse("rss2_thoisu.xml", feed_url="https://thoisuthanhpho.vn/rss/do-thi.rss")
    assert (feed.kind, feed.title, feed.error) == ("rss20", "Thời sự Thành phố - Đô thị", None)
    assert feed.site_url == "https://thoisuthanhpho.vn/do-thi"
    flood, traffic, hospital = feed.items
    assert flood == FeedItem(
        # Tracking parameters gone, so the article is known by one address.
        url="https://thoisuthanhpho.vn/do-thi/mua-lon-keo-dai-nhieu-tuyen-duong-o-tp-hcm-ngap-sau-gio-tan-tam-4711.html",
        guid="tstp-4711",
        title="Mưa lớn kéo dài, nhiều tuyến đường ở TP.HCM ngập sâu giờ tan tầm",
        summary="Cơn mưa lớn kéo dài gần hai giờ chiều 26/2 khiến hàng loạt tuyến đường ở quận 7, "
        "Bình Thạnh, Thủ Đức ngập sâu 30-50 cm.",
        content="",
        authors=("Minh Hoàng",),
        published=datetime(2024, 2, 26, 12, 45, tzinfo=UTC),
        image_urls=("https://cdn.thoisuthanhpho.vn/2024/02/26/ngap-nguyen-huu-tho_thumb.jpg",),
    )
    # content:encoded as text, one line per paragraph; the "email (name)" author form.
    assert traffic.content.splitlines() == [
        "Từ ngày 4/3, Sở Giao thông vận tải TP.HCM tổ chức lại giao thông tại nút giao Hàng Xanh, "
        "quận Bình Thạnh.",
        "Xe tải trên 2,5 tấn không được đi qua khu vực này từ 6 giờ đến 20 giờ.",
    ]
    assert traffic.authors == ("Thanh Tùng",)
    # A day-first date that feedparser cannot read, in Ho Chi Minh City time.
    assert traffic.published == datetime(2024, 2, 26, 23, 43, tzinfo=UTC)
    # The enclosure, and the content's relative image resolved against the feed.
    assert traffic.image_urls == (
        "https://cdn.thoisuthanhpho.vn/2024/02/hang-xanh-lon.jpg",
        "https://thoisuthanhpho.vn/anh/2024/02/hang-xanh.jpg",
    )
    # Dated 2030: no publication time rather than a wrong one.
    assert hospital.published is None
    assert hospital.guid is None
    assert (
        hospital.url
        == "https://thoisuthanhpho.vn/suc-khoe/benh-vien-quan-8-kham-ngoai-gio-4720.html"
    )
    assert hospital.image_urls == ("https://cdn.thoisuthanhpho.vn/2024/02/27/benh-vien-q8.jpg",)


def test_atom() -> None:
    feed = parse("atom_sotnmt.xml")
    assert (feed.kind, feed.error) == ("atom10", None)
    canal, land = feed.items
    # type="html" titles are markup: their entities become characters.
    assert canal.title == "Thu gom rác thải tại kênh Tàu Hủ – Bến Nghé sau Tết"
    assert (
        canal.url
        == "https://sotainguyen.hochiminhcity.gov.vn/tin-tuc/thu-gom-rac-kenh-tau-hu-ben-nghe"
    )
    assert canal.guid == "tag:sotainguyen.hochiminhcity.gov.vn,2024:tin-1893"
    assert canal.summary == "Hơn 40 tấn rác được vớt trên kênh trong đợt ra quân đầu năm."
    assert canal.content.startswith("Sáng 26/2, lực lượng công nhân vệ sinh đã vớt hơn 40 tấn rác")
    assert canal.published == datetime(2024, 2, 26, 2, 30, tzinfo=UTC)
    assert canal.image_urls == ("https://sotainguyen.hochiminhcity.gov.vn/anh/kenh-tau-hu.jpg",)
    # Only <updated>: it stands in for the publication time. Two authors, xhtml summary.
    assert land.published == datetime(2024, 2, 27, 7, 0, tzinfo=UTC)
    assert land.authors == ("Văn phòng Sở", "Phòng Kinh tế đất")
    assert land.summary == "Dự thảo được công khai đến hết ngày 15/3."


def test_rss_1_rdf() -> None:
    feed = parse("rss1_quan1.xml")
    assert feed.kind == "rss10"
    (item,) = feed.items
    assert item.title == "Tạm cấm xe qua phố đi bộ Nguyễn Huệ dịp lễ hội hoa"
    assert item.authors == ("Văn phòng UBND Quận 1",)
    assert item.published == datetime(2024, 2, 27, 1, 0, tzinfo=UTC)  # dc:date


def test_rss_091_in_windows_1258() -> None:
    feed_text = """<?xml version="1.0" encoding="windows-1258"?>
<rss version="0.91"><channel>
<title>Phường Bến Thành</title><link>https://benthanh.quan1.hochiminhcity.gov.vn/</link>
<description>Tin hoạt động phường</description><language>vi</language>
<item><title>Lịch tiếp công dân tháng 3</title>
<link>https://benthanh.quan1.hochiminhcity.gov.vn/tiep-cong-dan-thang-3</link>
<description>Chủ tịch Ủy ban nhân dân phường tiếp công dân vào sáng thứ năm hằng tuần.</description>
</item></channel></rss>"""
    feed = parse_feed(windows_1258(feed_text), now=NOW)
    assert (feed.kind, feed.title) == ("rss091u", "Phường Bến Thành")
    (item,) = feed.items
    assert item.title == "Lịch tiếp công dân tháng 3"
    assert (
        item.summary == "Chủ tịch Ủy ban nhân dân phường tiếp công dân vào sáng thứ năm hằng tuần."
    )
    assert item.published is None


def test_youtube_channel() -> None:
    feed = parse("youtube_channel.xml")
    assert (feed.kind, feed.title) == ("youtube", "Truyền hình Thành phố")
    (video,) = feed.items
    assert video.guid == "yt:video:Xa1b2C3d4E5"
    assert video.url == "https://www.youtube.com/watch?v=Xa1b2C3d4E5"
    assert video.title == "Bản tin trưa 27/2: Kẹt xe kéo dài trên cầu Sài Gòn"
    assert video.summary.startswith("Sáng nay, một vụ va chạm giữa xe container và xe khách")
    assert video.image_urls == ("https://i2.ytimg.com/vi/Xa1b2C3d4E5/hqdefault.jpg",)
    assert video.published == datetime(2024, 2, 27, 5, 30, 1, tzinfo=UTC)
    assert video.authors == ("Truyền hình Thành phố",)


def test_json_feed_1_1() -> None:
    feed = parse("jsonfeed_bandoc.json")
    assert (feed.kind, feed.title) == ("json11", "Bạn đọc phản ánh")
    # Two entries break the specification (a string, an object without id): skipped, reported.
    assert feed.error == "2 items without an id or not objects"
    lights, licence = feed.items
    assert (
        lights.url == "https://nhipsongsaigon.vn/ban-doc/den-duong-hong-hem-60-lac-long-quan.html"
    )
    assert lights.guid == "bd-20240227-01"
    assert lights.content.splitlines()[1] == "Phường cho biết đã báo công ty chiếu sáng công cộng."
    assert lights.summary == "Người dân lo mất an toàn khi đi lại buổi tối."
    assert lights.authors == ("Ngọc Trâm",)
    assert lights.published == datetime(2024, 2, 27, 1, 15, tzinfo=UTC)
    assert lights.image_urls == ("https://nhipsongsaigon.vn/anh/hem-60.jpg",)
    # Numeric id, external_url, version 1.0 "author", image attachments only.
    assert licence.guid == "2024022702"
    assert (
        licence.url == "https://dichvucong.hochiminhcity.gov.vn/thong-bao/cap-doi-giay-phep-lai-xe"
    )
    assert licence.authors == ("Biên tập viên",)
    assert licence.content.startswith("Từ tháng 3, người dân có thể nộp hồ sơ")
    assert licence.image_urls == ("https://nhipsongsaigon.vn/anh/gplx.png",)


def test_json_feed_1_0() -> None:
    data = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Tin phường",
        "items": [
            {
                "id": "1",
                "content_text": "Phun thuốc diệt muỗi <khu phố 3> & 4.",
                "date_published": "2024-02-26T08:00:00+07:00",
            }
        ],
    }
    feed = parse_feed(json.dumps(data, ensure_ascii=False).encode(), now=NOW)
    assert feed.kind == "json1"
    assert feed.items[0].content == "Phun thuốc diệt muỗi <khu phố 3> & 4."
    assert feed.items[0].published == datetime(2024, 2, 26, 1, 0, tzinfo=UTC)


def test_broken_feed_keeps_what_parses_and_says_why() -> None:
    feed = parse("rss2_broken.xml")
    assert "not well-formed" in (feed.error or "")
    assert [item.title for item in feed.items] == [
        "Xe buýt số 19 & 150 đổi lộ trình vì sửa đường",
        "Cắt điện luân phiên ở Thủ Đức ngày 28/2",
    ]
    assert feed.items[0].published == datetime(2024, 2, 27, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        "<!DOCTYPE html><html><head><title>404</title></head>"
        "<body><p>Không tìm thấy trang</p></body></html>".encode(),
        b"",
        b"https://thoisuthanhpho.vn/rss/do-thi.rss",  # never fetched: bytes are the feed
        b"/etc/passwd",  # never opened as a file
        b"{not json",
        b'{"title": "no version", "items": []}',
        b"[1, 2, 3]",
    ],
)
def test_not_a_feed(data: bytes) -> None:
    with pytest.raises(InvalidFeed):
        parse_feed(data, now=NOW)


def test_mojibake_feed_is_refused() -> None:
    garbled = (
        (DATA / "rss2_thoisu.xml").read_text("utf-8").encode("utf-8").decode("cp1252", "ignore")
    )
    with pytest.raises(UndecodableContent):
        parse_feed(garbled.encode("utf-8"), now=NOW)


def test_entity_expansion_bomb_stays_small() -> None:
    entities = (
        '<!ENTITY a "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx">'
    )
    for level in range(1, 10):
        entities += f'<!ENTITY {"a" * (level + 1)} "{("&" + "a" * level + ";") * 10}">'
    bomb = f"""<?xml version="1.0"?><!DOCTYPE rss [{entities}]>
<rss version="2.0"><channel><title>Bom</title>
<item><title>&{"a" * 10};</title><link>https://x.vn/a</link></item></channel></rss>"""
    feed = parse_feed(bomb.encode(), now=NOW)
    assert all(len(item.title) < 10_000 for item in feed.items)


def test_relative_links_and_markup_in_items() -> None:
    data = """<rss version="2.0"><channel><title>Phường 14</title>
<item><title>Lịch cắt nước</title><link>/thong-bao/cat-nuoc.html</link>
<description><![CDATA[<p>Tạm ngưng cấp nước <b>từ 22 giờ</b>.</p><script>track()</script>
<img src="anh/cat-nuoc.png"><style>p{color:red}</style>]]></description></item>
</channel></rss>""".encode()
    feed = parse_feed(
        data, feed_url="https://phuong14.quan10.hochiminhcity.gov.vn/rss.xml", now=NOW
    )
    (item,) = feed.items
    assert item.url == "https://phuong14.quan10.hochiminhcity.gov.vn/thong-bao/cat-nuoc.html"
    assert item.summary == "Tạm ngưng cấp nước từ 22 giờ."
    assert item.image_urls == (
        "https://phuong14.quan10.hochiminhcity.gov.vn/thong-bao/anh/cat-nuoc.png",
    )


def test_fifty_item_feed() -> None:
    feed = parse_feed(rss_feed(50), now=datetime(2024, 3, 1, tzinfo=UTC))
    assert len(feed.items) == 50
    assert all(item.url and item.published and item.image_urls for item in feed.items)
    assert len({item.guid for item in feed.items}) == 50
