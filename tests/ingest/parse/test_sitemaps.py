"""Sitemaps to entries: index, urlset, Google News, gzip, plain text; bombs stay small."""

import gzip
import resource
import time
from datetime import UTC, datetime

import pytest

from services.ingest.parse.sitemaps import InvalidSitemap, SitemapEntry, parse_sitemap
from tests.ingest.parse.pages import DATA

NOW = datetime(2024, 2, 27, 12, 0, tzinfo=UTC)
FLOOD = "https://thoisuthanhpho.vn/do-thi/mua-lon-keo-dai-nhieu-tuyen-duong-o-tp-hcm-ngap-sau-gio-tan-tam-4711.html"


def test_google_news_sitemap() -> None:
    sitemap = parse_sitemap((DATA / "sitemap_news.xml").read_bytes(), now=NOW)
    assert (sitemap.kind, sitemap.errors) == ("urlset", ())
    flood, traffic = sitemap.entries  # the javascript: entry is dropped
    assert flood == SitemapEntry(
        loc=FLOOD,
        lastmod=datetime(2024, 2, 26, 14, 10, tzinfo=UTC),
        news_title="Mưa lớn kéo dài, nhiều tuyến đường ở TP.HCM ngập sâu giờ tan tầm",
        news_published=datetime(2024, 2, 26, 12, 45, tzinfo=UTC),
        news_language="vi",
        image_urls=("https://cdn.thoisuthanhpho.vn/2024/02/26/ngap-nguyen-huu-tho.jpg",),
    )
    # A raw "&" in the URL is repaired, utm_source dropped, ref kept; a date without time is
    # midnight in Ho Chi Minh City.
    assert (
        traffic.loc
        == "https://thoisuthanhpho.vn/giao-thong/phan-luong-hang-xanh-4632.html?ref=news"
    )
    assert traffic.lastmod is None
    assert traffic.news_published == datetime(2024, 2, 26, 17, 0, tzinfo=UTC)
    assert traffic.news_language == "vi"


def test_sitemap_index_keeps_child_addresses_as_written() -> None:
    sitemap = parse_sitemap((DATA / "sitemap_index.xml").read_bytes(), now=NOW)
    assert sitemap.kind == "index"
    assert [(e.loc, e.lastmod) for e in sitemap.entries] == [
        ("https://thoisuthanhpho.vn/sitemaps/news.xml", datetime(2024, 2, 27, 0, 0, tzinfo=UTC)),
        (
            "https://thoisuthanhpho.vn/sitemaps/2024-02.xml.gz",
            datetime(2024, 2, 26, 17, 0, tzinfo=UTC),
        ),
        ("https://thoisuthanhpho.vn/sitemap.php?type=category&page=2", None),
    ]


def test_gzip_sitemap() -> None:
    data = (DATA / "sitemap_news.xml").read_bytes()
    assert parse_sitemap(gzip.compress(data), now=NOW) == parse_sitemap(data, now=NOW)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (8 * 1024 * 1024))
    assert len(bomb) < 20_000
    with pytest.raises(InvalidSitemap, match="inflates to more than"):
        parse_sitemap(bomb, now=NOW, max_bytes=1024 * 1024)


def test_broken_gzip_is_refused() -> None:
    with pytest.raises(InvalidSitemap, match="broken gzip"):
        parse_sitemap(b"\x1f\x8b\x08\x00garbage", now=NOW)


def test_old_google_namespace_and_none() -> None:
    for namespace in ('xmlns="http://www.google.com/schemas/sitemap/0.84"', ""):
        data = f"<urlset {namespace}><url><loc>https://x.vn/a</loc></url></urlset>".encode()
        assert parse_sitemap(data, now=NOW).entries == (SitemapEntry("https://x.vn/a", None),)


def test_future_lastmod_is_dropped() -> None:
    data = b"<urlset><url><loc>https://x.vn/a</loc><lastmod>2031-01-01</lastmod></url></urlset>"
    assert parse_sitemap(data, now=NOW).entries[0].lastmod is None


def test_plain_text_sitemap() -> None:
    data = b"https://x.vn/a?utm_source=x\n\n  https://x.vn/b  \nkhong-phai-url\n"
    sitemap = parse_sitemap(data, now=NOW)
    assert sitemap.kind == "text"
    assert [e.loc for e in sitemap.entries] == ["https://x.vn/a", "https://x.vn/b"]


def test_truncated_sitemap_keeps_what_parses() -> None:
    data = (
        b"<urlset><url><loc>https://x.vn/a</loc></url><url><loc>https://x.vn/b</loc></url><url><lo"
    )
    sitemap = parse_sitemap(data, now=NOW)
    assert [e.loc for e in sitemap.entries] == ["https://x.vn/a", "https://x.vn/b"]
    assert sitemap.errors


@pytest.mark.parametrize(
    "data",
    [
        "<!DOCTYPE html><html><body>Trang không tồn tại</body></html>".encode(),
        b"  \n",
        b"<rss version='2.0'><channel></channel></rss>",
        b"<",
        b'<?xml version="1.0"?><sitemapinps://thoisuthanhpho.vn',  # a cut-off, garbled root
    ],
)
def test_not_a_sitemap(data: bytes) -> None:
    with pytest.raises(InvalidSitemap):
        parse_sitemap(data, now=NOW)


def _peak_memory_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_billion_laughs_stays_small() -> None:
    entities = '<!ENTITY lol "lol">'
    for level in range(1, 10):
        previous = "lol" if level == 1 else f"lol{level - 1}"
        entities += f'<!ENTITY lol{level} "{("&" + previous + ";") * 10}">'
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [{entities}]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://x.vn/&lol9;</loc></url></urlset>"
    ).encode()
    before, started = _peak_memory_kib(), time.perf_counter()
    sitemap = parse_sitemap(bomb, now=NOW)
    # Expanded, this is 3 GB of "lol"; unexpanded it costs nothing.
    assert time.perf_counter() - started < 1.0
    assert _peak_memory_kib() - before < 50 * 1024
    assert all("lollol" not in entry.loc for entry in sitemap.entries)


def test_quadratic_blowup_stays_small() -> None:
    big = "x" * 50_000
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY big "{big}">]><urlset>'
        + "<url><loc>https://x.vn/&big;</loc></url>" * 2_000
        + "</urlset>"
    ).encode()
    before, started = _peak_memory_kib(), time.perf_counter()
    sitemap = parse_sitemap(bomb, now=NOW)
    assert time.perf_counter() - started < 2.0
    assert _peak_memory_kib() - before < 100 * 1024
    assert all(big not in entry.loc for entry in sitemap.entries)


def test_external_entities_are_not_loaded() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">'
        b'<!ENTITY remote SYSTEM "http://169.254.169.254/latest/meta-data/">]>'
        b"<urlset><url><loc>https://x.vn/&secret;&remote;</loc></url></urlset>"
    )
    sitemap = parse_sitemap(xxe, now=NOW)
    assert all("root:" not in entry.loc for entry in sitemap.entries)
