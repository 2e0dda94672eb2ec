"""One spelling per page: tracking removed, host and escapes normalised, canonicals trusted
only from the page's own domain."""

import pytest

from services.ingest.parse.urls import (
    InvalidUrl,
    canonicalize_url,
    choose_canonical,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # Scheme and host lower-case, default port dropped, fragment removed.
        (
            "HTTPS://ThoiSuThanhPho.VN:443/do-thi/ngap-4711.html#binh-luan",
            "https://thoisuthanhpho.vn/do-thi/ngap-4711.html",
        ),
        ("http://thoisuthanhpho.vn:80", "http://thoisuthanhpho.vn/"),
        ("http://thoisuthanhpho.vn:8080/a", "http://thoisuthanhpho.vn:8080/a"),
        # Links shared through Zalo and Facebook.
        (
            "https://thoisuthanhpho.vn/a.html?utm_source=zalo&utm_medium=zalo&utm_campaign=zalo"
            "&zarsrc=31&zacc=1&gidzl=Kp8x",
            "https://thoisuthanhpho.vn/a.html",
        ),
        (
            "https://thoisuthanhpho.vn/a.html?fbclid=IwAR0abc&gclid=x1&_ga=2.1&__twitter_impression=true",
            "https://thoisuthanhpho.vn/a.html",
        ),
        (
            "https://thoisuthanhpho.vn/a.html?ITM_SOURCE=home&mc_cid=1&msclkid=2",
            "https://thoisuthanhpho.vn/a.html",
        ),
        # Parameters that choose the page stay, sorted.
        (
            "https://dichvucong.hochiminhcity.gov.vn/tra-cuu?ma=HS-2024-0012&trang=2&utm_source=fb",
            "https://dichvucong.hochiminhcity.gov.vn/tra-cuu?ma=HS-2024-0012&trang=2",
        ),
        ("https://x.vn/tim?q=ngap&page=2&id=7", "https://x.vn/tim?id=7&page=2&q=ngap"),
        ("https://x.vn/tim?b=&a", "https://x.vn/tim?a=&b="),
        # Escapes: unreserved characters plain, the rest upper-case, Unicode as UTF-8.
        ("https://x.vn/%7euser/%c3%a1", "https://x.vn/~user/%C3%A1"),
        (
            "https://x.vn/tìm-kiếm?q=ngập nước",
            "https://x.vn/t%C3%ACm-ki%E1%BA%BFm?q=ng%E1%BA%ADp%20n%C6%B0%E1%BB%9Bc",
        ),
        (
            "https://x.vn/tim?q=ng%E1%BA%ADp+n%C6%B0%E1%BB%9Bc",
            "https://x.vn/tim?q=ng%E1%BA%ADp%20n%C6%B0%E1%BB%9Bc",
        ),
        ("https://x.vn/a%2Fb", "https://x.vn/a%2Fb"),
        # Non-UTF-8 escapes survive byte for byte.
        ("https://x.vn/tim?q=%E1%20", "https://x.vn/tim?q=%E1%20"),
        # Dot segments resolved; a trailing slash kept.
        ("https://x.vn/tin/./do-thi/../giao-thong/", "https://x.vn/tin/giao-thong/"),
        ("https://x.vn//tin", "https://x.vn/tin"),
        # International host names in their ASCII form; credentials dropped.
        ("https://bảnđồ.vn/quan-7", "https://xn--bn-rma2931a6ga.vn/quan-7"),
        ("https://user:secret@x.vn/a", "https://x.vn/a"),
        ("https://x.vn./a", "https://x.vn/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
    ],
)
def test_canonicalize(url: str, canonical: str) -> None:
    assert canonicalize_url(url) == canonical
    assert canonicalize_url(canonical) == canonical  # a canonical URL is its own canonical form


@pytest.mark.parametrize(
    "url", ["ftp://x.vn/a", "javascript:alert(1)", "/tin/a.html", "https://", "http://x.vn:99999/"]
)
def test_unfetchable_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidUrl):
        canonicalize_url(url)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://m.thoisuthanhpho.vn/a", "thoisuthanhpho.vn"),
        ("https://quan1.hochiminhcity.gov.vn/", "hochiminhcity.gov.vn"),
        ("https://www.tphcm.gov.vn/", "tphcm.gov.vn"),
        # The city's education department owns hcm.edu.vn and every school under it.
        ("https://thpt-le-quy-don.hcm.edu.vn/", "hcm.edu.vn"),
        ("https://localhost/", None),
    ],
)
def test_registrable_domain(url: str, domain: str | None) -> None:
    assert registrable_domain(url) == domain


def test_page_canonical_on_the_same_domain_wins() -> None:
    fetched = "https://m.thoisuthanhpho.vn/do-thi/4711.html?zarsrc=30&utm_source=zalo"
    declared = "https://thoisuthanhpho.vn/do-thi/mua-lon-ngap-sau-4711.html"
    assert choose_canonical(fetched, declared) == declared


def test_relative_canonical_is_resolved_against_the_page() -> None:
    assert (
        choose_canonical("https://thoisuthanhpho.vn/amp/4711.html", "/do-thi/4711.html")
        == "https://thoisuthanhpho.vn/do-thi/4711.html"
    )


@pytest.mark.parametrize(
    "declared",
    [
        "https://tinnhanhsaigon.vn/do-thi/4711.html",  # a copier claiming the original's place
        "https://hochiminhcity.gov.vn.evil.example/tin",  # look-alike host
        "javascript:alert(1)",
        "   ",
        None,
    ],
)
def test_cross_domain_or_broken_canonical_is_ignored(declared: str | None) -> None:
    fetched = "https://quan1.hochiminhcity.gov.vn/tin/cam-duong.html?fbclid=1"
    assert (
        choose_canonical(fetched, declared)
        == "https://quan1.hochiminhcity.gov.vn/tin/cam-duong.html"
    )


def test_sibling_subdomain_canonical_is_trusted() -> None:
    fetched = "https://quan1.hochiminhcity.gov.vn/tin/a"
    declared = "https://hochiminhcity.gov.vn/tin/a"
    assert choose_canonical(fetched, declared) == declared
