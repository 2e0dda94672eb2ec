"""Article pages to clean text and metadata, offline, with paywall, stub and boilerplate flags."""

from datetime import UTC, datetime

import pytest

from services.ingest.parse.encoding import UndecodableContent
from services.ingest.parse.extract import ExtractedArticle, extract_article, has_repeated_paragraphs
from tests.ingest.parse.legacy import windows_1258
from tests.ingest.parse.pages import article, with_site_chrome

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
FLOOD_URL = "https://thoisuthanhpho.vn/do-thi/mua-lon-keo-dai-nhieu-tuyen-duong-o-tp-hcm-ngap-sau-gio-tan-tam-4711.html"


def extract(name: str, url: str, **kwargs: object) -> ExtractedArticle:
    return extract_article(article(name), url=url, now=NOW, **kwargs)


def test_news_article() -> None:
    # Fetched through its mobile address from a link shared on Zalo.
    result = extract("article_ngap.html", "https://m.thoisuthanhpho.vn/do-thi/4711.html?zarsrc=30")
    assert result.title == "Mưa lớn kéo dài, nhiều tuyến đường ở TP.HCM ngập sâu giờ tan tầm"
    assert result.authors == ("Minh Hoàng",)
    assert result.published == datetime(2024, 2, 26, 12, 45, tzinfo=UTC)
    assert result.language == "vi"
    assert result.canonical_url == FLOOD_URL
    assert result.images == (
        "https://cdn.thoisuthanhpho.vn/2024/02/26/ngap-nguyen-huu-tho.jpg",
        "https://cdn.thoisuthanhpho.vn/2024/02/26/cong-nhan-thoat-nuoc.jpg",
    )
    assert result.method == "trafilatura"
    assert not result.paywalled
    assert not result.too_short
    assert not result.repeated_paragraphs
    lines = result.text.splitlines()
    # The sapo, set apart from the body by the layout, leads the text.
    assert lines[0].startswith("Cơn mưa lớn kéo dài gần hai giờ chiều 26/2")
    assert lines[1].startswith("Khoảng 16 giờ, mưa bắt đầu nặng hạt")
    assert lines[-1].startswith("Theo thống kê của Sở Xây dựng, năm 2023")
    assert len(lines) == 12
    for elsewhere in ("Tin liên quan", "Năm nào cũng ngập", "Giấy phép số", "Chia sẻ", "Trang chủ"):
        assert elsewhere not in result.text
    assert "  " not in result.text


def test_site_chrome_changes_nothing() -> None:
    plain = extract_article(article(), url=FLOOD_URL, now=NOW)
    heavy = extract_article(with_site_chrome(article()), url=FLOOD_URL, now=NOW)
    assert len(with_site_chrome(article())) > 100_000
    assert heavy == plain


def test_canonical_on_another_domain_is_ignored() -> None:
    spoofed = article().replace(
        b"https://thoisuthanhpho.vn/do-thi/mua-lon", b"https://tinnhanhsaigon.vn/do-thi/mua-lon"
    )
    result = extract_article(
        spoofed, url="https://thoisuthanhpho.vn/do-thi/4711.html?utm_source=fb", now=NOW
    )
    assert result.canonical_url == "https://thoisuthanhpho.vn/do-thi/4711.html"


def test_paywalled_article() -> None:
    result = extract(
        "article_paywall.html", "https://kinhtesaigonplus.vn/bat-dong-san/20240227.html"
    )
    assert result.paywalled
    # The subscription prompt is the site's, not the article's.
    assert "Đăng ký" not in result.text
    assert "Nội dung dành cho thành viên" not in result.text
    assert result.text.startswith("Năm 2023, thị trường TP.HCM")
    assert result.title == "Giá nhà ở TP.HCM: vì sao căn hộ bình dân gần như biến mất?"
    assert result.authors == ("Hoàng Yến",)
    assert result.published == datetime(2024, 2, 26, 22, 0, tzinfo=UTC)
    assert result.images == ("https://kinhtesaigonplus.vn/anh/2024/02/can-ho-binh-chanh.jpg",)
    assert (
        result.canonical_url
        == "https://kinhtesaigonplus.vn/bat-dong-san/gia-nha-can-ho-binh-dan-bien-mat-20240227.html"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"isAccessibleForFree": true', b'"isAccessibleForFree": false'),
        (
            b"</article>",
            "<p>Nội dung dành cho thành viên. Vui lòng đăng nhập.</p></article>".encode(),
        ),
        (b"</article>", b'<div class="premium-content locked"><p>Plus</p></div></article>'),
    ],
)
def test_each_paywall_sign_is_enough(old: bytes, new: bytes) -> None:
    page = article().replace(old, new, 1)
    assert extract_article(page, url=FLOOD_URL, now=NOW).paywalled


def test_truncated_teaser_is_paywalled() -> None:
    teaser = (
        "<html><body><article><h1>Chung cư cũ chờ cải tạo</h1><p>Hơn 470 chung cư cũ ở TP.HCM "
        "đã xuống cấp, nhiều nơi nứt tường, bong tróc trần. Cư dân mong sớm được di dời nhưng "
        "các dự án cải tạo vẫn chậm vì vướng cơ chế bồi thường và tái định cư cho người dân…"
        "</p></article></body></html>"
    )
    result = extract_article(teaser, url="https://x.vn/a", now=NOW)
    assert result.paywalled
    assert result.too_short


def test_script_rendered_page_uses_its_structured_body() -> None:
    result = extract(
        "article_script_rendered.html", "https://nhipsongsaigon.vn/giao-thong/88123.html"
    )
    assert result.method == "json-ld"
    lines = result.text.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("Từ ngày 1/3, Ủy ban nhân dân quận 3 thí điểm thu phí")
    assert "Đang tải" not in result.text
    assert result.authors == ("Quốc Anh", "Bảo Trâm")
    assert result.published == datetime(2024, 2, 26, 8, 20, tzinfo=UTC)
    assert result.images == ("https://nhipsongsaigon.vn/anh/do-xe-quan-3.jpg",)
    assert (
        result.canonical_url
        == "https://nhipsongsaigon.vn/giao-thong/quan-3-thu-phi-do-xe-ung-dung-88123.html"
    )


def test_repeated_boilerplate_is_flagged() -> None:
    result = extract("article_boilerplate.html", "https://tinnhanhsaigon.vn/giao-duc/lop-1.html")
    assert result.repeated_paragraphs
    assert result.text.count("Mời bạn đọc tải ứng dụng") == 3
    # "Bài và ảnh:" is a credit line's label, not a name.
    assert result.authors == ("Thu Hà",)
    # The article's date, not the site header's "today" nor a sidebar item's.
    assert result.published == datetime(2024, 2, 26, 23, 43, tzinfo=UTC)
    assert not result.text.startswith("Nhiều trường học")  # the headline is the title


def test_has_repeated_paragraphs() -> None:
    body = "Người dân phản ánh rác thải tập kết sai giờ trên đường Lê Văn Sỹ."
    assert not has_repeated_paragraphs(f"{body}\nẢnh: Hữu Khoa\nẢnh: Hữu Khoa\nẢnh: Hữu Khoa")
    assert has_repeated_paragraphs(f"{body}\n{body}")
    assert not has_repeated_paragraphs("")


def test_short_notice() -> None:
    result = extract(
        "page_short_notice.html", "https://phuong12.quan3.hochiminhcity.gov.vn/thong-bao/1"
    )
    assert result.too_short
    assert result.published == datetime(
        2024, 2, 25, 17, 0, tzinfo=UTC
    )  # from "Ngày đăng: 26/02/2024"
    assert result.title == "Thông báo lịch tiếp công dân tháng 3"
    relaxed = extract_article(
        article("page_short_notice.html"), url="https://x.vn/a", now=NOW, min_chars=50
    )
    assert not relaxed.too_short


def test_page_laid_out_in_tables_reads_as_lines() -> None:
    result = extract(
        "page_table_layout.html", "https://phuong12.quan3.hochiminhcity.gov.vn/thong-bao/2"
    )
    assert "|" not in result.text
    lines = result.text.splitlines()
    assert "Kế hoạch phun thuốc phòng chống sốt xuất huyết đợt 2" in lines
    assert any(line.startswith("Thời gian phun thuốc từ 7 giờ 30") for line in lines)
    assert result.published is None  # "năm 2024" in the text is not a publication date


def test_fallback_extraction_when_the_fast_one_finds_nothing() -> None:
    result = extract(
        "page_joomla_module.html", "https://phuong14.quan10.hochiminhcity.gov.vn/thong-bao/3"
    )
    assert result.method == "trafilatura-fallback"
    assert result.text.startswith("Ủy ban nhân dân Phường 14 thông báo tổ chức thu gom")
    assert not result.too_short


def test_windows_1258_page() -> None:
    page = windows_1258(
        article().decode("utf-8").replace('<meta charset="utf-8">', '<meta charset="windows-1258">')
    )
    result = extract_article(page, url=FLOOD_URL, now=NOW)
    assert result == extract_article(article(), url=FLOOD_URL, now=NOW)


def test_mojibake_page_is_refused() -> None:
    garbled = article().decode("utf-8").encode("utf-8").decode("cp1252", "ignore").encode("utf-8")
    with pytest.raises(UndecodableContent):
        extract_article(garbled, url=FLOOD_URL, now=NOW)


@pytest.mark.parametrize(
    "page", [b"", b"   ", "<html></html>", b"<html><body><script>render()</script></body></html>"]
)
def test_page_without_text(page: bytes | str) -> None:
    result = extract_article(page, url="https://X.vn/a#b", now=NOW)
    assert (result.text, result.method, result.too_short) == ("", "none", True)
    assert result.canonical_url == "https://x.vn/a"


def test_future_structured_date_gives_way_to_the_next_clue() -> None:
    page = article().replace(
        b'"datePublished": "2024-02-26T19:45:00+07:00"',
        b'"datePublished": "2034-02-26T19:45:00+07:00"',
    )
    # The meta tag still says 26 February 2024, 19:45.
    assert extract_article(page, url=FLOOD_URL, now=NOW).published == datetime(
        2024, 2, 26, 12, 45, tzinfo=UTC
    )


def test_visible_date_when_there_is_no_metadata() -> None:
    page = (
        "<html><body><div class='top-bar'><span class='date'>Chủ nhật, 10/03/2024</span></div>"
        "<article><h1>Kẹt xe trên cầu Sài Gòn</h1>"
        "<div class='detail-time'>Thứ ba, 27/02/2024 - 06:43</div>"
        "<p>Khoảng 7 giờ sáng, xe container va chạm với xe khách trên cầu Sài Gòn.</p></article>"
        "<aside><span class='time'>2 giờ trước</span></aside></body></html>"
    )
    result = extract_article(page, url="https://x.vn/a", now=NOW)
    assert result.published == datetime(2024, 2, 26, 23, 43, tzinfo=UTC)


ENGLISH = (
    "<p>Heavy rain on Monday afternoon flooded dozens of streets in Ho Chi Minh City, leaving "
    "motorbikes stalled and commuters stuck in traffic until late evening. The drainage company "
    "sent two hundred workers to clear the grates.</p>"
)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("vi", None),  # a Vietnamese template around English text says nothing true
        ("en", "en"),
        ("en-US", "en"),
    ],
)
def test_language_of_english_text(lang: str, expected: str | None) -> None:
    page = (
        f"<html lang='{lang}'><body><article><h1>Floods</h1>{ENGLISH * 2}</article></body></html>"
    )
    assert extract_article(page, url="https://x.vn/en/a", now=NOW).language == expected


def test_vietnamese_text_outvotes_a_wrong_declaration() -> None:
    page = (
        article()
        .replace(b'<html lang="vi">', b'<html lang="en">')
        .replace(b'content="vi_VN"', b'content="en_US"')
    )
    assert extract_article(page, url=FLOOD_URL, now=NOW).language == "vi"
