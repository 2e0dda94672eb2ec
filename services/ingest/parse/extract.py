"""Article pages to clean text and metadata, with flags for paywalls, stubs and boilerplate."""

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import htmldate
import lxml.etree
import trafilatura
from lxml.html import HtmlElement
from trafilatura.settings import Document as TrafilaturaResult

from services.common.text import normalize_text
from services.ingest.parse.dates import VIETNAM, parse_date
from services.ingest.parse.encoding import decode_markup
from services.ingest.parse.markup import image_source, read_html_fragment
from services.ingest.parse.urls import choose_canonical

# Shorter than this, a page is a stub, a teaser or a failed extraction rather than an article.
DEFAULT_MIN_CHARS = 300
MAX_IMAGES = 20

_ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNews",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "BlogPosting",
        "LiveBlogPosting",
        "Report",
    }
)
_PUBLISHED_METAS = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "dc.date.issued",
    "dc.date",
    "date",
)
# Phrases Vietnamese outlets print where a locked article's body stops (lower case, NFC).
PAYWALL_PHRASES = (
    "nội dung dành cho thành viên",
    "nội dung dành riêng cho thành viên",
    "nội dung dành cho hội viên",
    "bài viết dành cho thành viên",
    "bài viết dành riêng cho hội viên",
    "đăng ký thành viên để đọc",
    "đăng ký để đọc tiếp",
    "đăng ký gói để đọc",
    "đăng nhập để đọc tiếp",
    "vui lòng đăng nhập để đọc",
    "mua gói cước để đọc",
)
_PAYWALL_CLASSES = re.compile(
    r"(^|\s)(paywall|premium-content|locked-content|content-locked|subscriber-only|"
    r"members-only|member-only|premium-lock)(\s|$)",
    re.IGNORECASE,
)
_SAPO_CLASSES = re.compile(
    r"(^|\s)([\w-]*sapo[\w-]*|lead|article-lead|detail-lead|chapeau|excerpt|description|"
    r"summary|article-summary|the-article-summary)(\s|$)",
    re.IGNORECASE,
)
# Where a page shows other pages: the site's header (today's date), menus, sidebars, footers.
_OUTSIDE_ARTICLE = frozenset({"aside", "nav", "footer", "form"})
_OTHER_PAGES_CLASSES = re.compile(
    r"(^|\s)(header|site-header|top-bar|topbar|top-header|footer)(\s|$)"
    r"|sidebar|related|most-read|lien-quan|doc-nhieu|menu",
    re.IGNORECASE,
)
_DATE_ELEMENTS = lxml.etree.XPath(
    "//time | //*[re:test(@class, 'date|time|publish|ngay-dang|thoi-gian', 'i')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
_MAX_DATE_CHARS = 100
_DATE_LABEL = re.compile(
    r"\s*(ngày đăng|đăng ngày|ngày cập nhật|cập nhật|ngày ban hành|ngày xuất bản|thời gian đăng)",
    re.IGNORECASE,
)
_AUTHOR_METAS = ("author", "article:author", "dc.creator")
_AUTHOR_ELEMENTS = lxml.etree.XPath(
    "//*[@rel='author' or @itemprop='author' or re:test(@class, 'author|byline|tac-gia', 'i')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
_AUTHOR_PREFIX = re.compile(r"^\s*(tác giả|bài và ảnh|bài|theo|by)\s*:?\s*", re.IGNORECASE)
_MAX_AUTHOR_CHARS = 60
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_ELLIPSIS = ("…", "...")
# A paragraph this long that comes back is boilerplate, not a refrain.
_MIN_REPEATED_CHARS = 30
# Letters only Vietnamese uses among Latin-script languages: ă â đ ê ô ơ ư and the toned vowels.
_VIETNAMESE_LETTERS = re.compile("[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9]")
_LETTERS = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    text: str
    title: str
    authors: tuple[str, ...]
    published: datetime | None
    # ISO 639-1 ("vi"), or None when neither the page nor its text tells.
    language: str | None
    images: tuple[str, ...]
    canonical_url: str
    # "trafilatura", "trafilatura-fallback" (the slower recall mode), "json-ld" (the page's
    # structured articleBody) or "none" (no text found).
    method: str
    paywalled: bool
    too_short: bool
    repeated_paragraphs: bool


def extract_article(
    page: bytes | str,
    *,
    url: str,
    content_type: str | None = None,
    now: datetime | None = None,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> ExtractedArticle:
    """Main text and metadata of an article page already fetched from ``url``; no network.

    Bytes are decoded by encoding.decode_markup, which raises UndecodableContent. A page with
    no article text still gives a result, with ``method`` "none" and ``too_short`` set.
    """
    now = now or datetime.now(UTC)
    html = page if isinstance(page, str) else decode_markup(page, content_type).text
    # lxml refuses str input that still declares a byte encoding.
    html = _XML_DECLARATION.sub("", html, count=1)
    tree = trafilatura.load_html(html)
    if tree is None:
        return _empty(url)
    page_meta = _PageMetadata.read(tree)
    article = page_meta.article
    # Subscription prompts are the page's, not the article's: out before extraction.
    locked_boxes = [
        e
        for e in tree.iter("div", "section", "aside")
        if _PAYWALL_CLASSES.search(e.get("class") or "")
    ]
    for box in locked_boxes:
        box.drop_tree()

    text, method = _main_text(tree, url, fast=True), "trafilatura"
    if len(text) < min_chars:
        # The fast mode skips trafilatura's two fallback algorithms; worth running only here.
        retried = _main_text(tree, url, fast=False)
        if len(retried) > len(text):
            text, method = retried, "trafilatura-fallback"
    body = article.get("articleBody")
    if isinstance(body, str):
        # The publisher's own copy of the body, paragraphs intact, when it is all there: pages
        # rendered by script have it nowhere else, and teasers carry a shorter one.
        from_json = read_html_fragment(body).text
        if len(from_json) >= max(len(text), 1):
            text, method = from_json, "json-ld"
    if not text:
        method = "none"
    title = _title(article, page_meta, tree)
    text = _with_sapo(tree, _without_paywall_notices(_without_title(text, title)))

    canonical = choose_canonical(url, page_meta.canonical_href())
    return ExtractedArticle(
        text=text,
        title=title,
        authors=_authors(article, page_meta, tree),
        published=_published(article, page_meta, tree, text, now),
        language=_language(text, page_meta),
        images=_images(article, page_meta, tree, canonical),
        canonical_url=canonical,
        method=method,
        paywalled=bool(locked_boxes) or _is_paywalled(article, html, text, min_chars),
        too_short=len(text) < min_chars,
        repeated_paragraphs=has_repeated_paragraphs(text),
    )


def has_repeated_paragraphs(text: str) -> bool:
    """Whether boilerplate comes back in the text: one paragraph three times, or repeats that
    make up a tenth of it."""
    paragraphs = [line.casefold() for line in text.splitlines() if len(line) >= _MIN_REPEATED_CHARS]
    counts = Counter(paragraphs)
    repeated_chars = sum(len(p) * (n - 1) for p, n in counts.items() if n > 1)
    return any(n >= 3 for n in counts.values()) or repeated_chars * 10 >= max(len(text), 1)


@dataclass(frozen=True, slots=True)
class _PageMetadata:
    """What the page says of itself in <head> and JSON-LD, read once."""

    article: dict[str, Any]
    metas: dict[str, str]
    links: dict[str, str]
    html_lang: str | None

    @classmethod
    def read(cls, tree: HtmlElement) -> "_PageMetadata":
        metas: dict[str, str] = {}
        for meta in tree.iter("meta"):
            key = meta.get("property") or meta.get("name") or meta.get("itemprop")
            content = meta.get("content")
            if key and content:
                metas.setdefault(key.strip().lower(), content.strip())
        links: dict[str, str] = {}
        for link in tree.iter("link"):
            rel, href = (link.get("rel") or "").strip().lower(), link.get("href")
            if rel and href:
                links.setdefault(rel, href.strip())
        lang = tree.get("lang") or metas.get("og:locale") or metas.get("content-language")
        return cls(_json_ld_article(tree), metas, links, lang)

    def canonical_href(self) -> str | None:
        return self.links.get("canonical") or self.metas.get("og:url")


def _main_text(tree: HtmlElement, url: str, *, fast: bool) -> str:
    text = _trafilatura_text(tree, url, fast=fast, tables=True)
    if text.startswith("|"):
        # The whole page is laid out in a table (old government sites): read as a table it
        # comes out as one row of cells; read as text, as its lines.
        text = _trafilatura_text(tree, url, fast=fast, tables=False)
    return text


def _trafilatura_text(tree: HtmlElement, url: str, *, fast: bool, tables: bool) -> str:
    # Metadata is read by this module: trafilatura's own reading costs half its time (its
    # licence search visits every link) and has dates to the day only.
    document = trafilatura.bare_extraction(
        tree,  # read, and copied before it is changed; trafilatura fetches nothing here
        url=url,
        fast=fast,
        favor_recall=not fast,
        with_metadata=False,
        include_comments=False,
        include_tables=tables,
    )
    return normalize_text(document.text or "") if isinstance(document, TrafilaturaResult) else ""


def _without_paywall_notices(text: str) -> str:
    lines = text.splitlines()
    kept = [line for line in lines if not _has_paywall_phrase(line.casefold())]
    return text if len(kept) == len(lines) else "\n".join(kept)


def _has_paywall_phrase(lowered: str) -> bool:
    return any(phrase in lowered for phrase in PAYWALL_PHRASES)


def _without_title(text: str, title: str) -> str:
    """The text without the headline trafilatura keeps when it sits inside the article."""
    first, _, rest = text.partition("\n")
    return rest if title and first.casefold() == title.casefold() else text


def _json_ld_article(tree: HtmlElement) -> dict[str, Any]:
    """The page's JSON-LD article object, or an empty dict."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            # Not strict: CMSs put raw newlines and tabs inside JSON strings.
            data = json.loads(script.text or "", strict=False)
        except json.JSONDecodeError:
            continue
        for node in _json_ld_nodes(data):
            types = node.get("@type")
            types = types if isinstance(types, list) else [types]
            if any(t in _ARTICLE_TYPES for t in types):
                return node
    return {}


def _json_ld_nodes(data: object) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_nodes(item)
    elif isinstance(data, dict):
        yield data
        yield from _json_ld_nodes(data.get("@graph"))


def _with_sapo(tree: HtmlElement, text: str) -> str:
    """The text with the lead paragraph first: Vietnamese outlets set it ("sapo") apart from
    the body, where extraction does not look."""
    for element in tree.iter("p", "h2", "div", "span"):
        if not _SAPO_CLASSES.search(element.get("class") or ""):
            continue
        if _outside_article(element):
            continue
        sapo = normalize_text(element.text_content())
        if not 40 <= len(sapo) <= 1000:
            continue
        if sapo[:80].casefold() in text[: len(sapo) + 2000].casefold():
            return text
        return f"{sapo}\n{text}" if text else sapo
    return text


def _title(article: dict[str, Any], page: _PageMetadata, tree: HtmlElement) -> str:
    headings = (h.text_content() for h in tree.iter("h1"))
    page_title = (t.text_content() for t in tree.iter("title"))
    for candidate in (
        article.get("headline"),
        page.metas.get("og:title"),
        page.metas.get("twitter:title"),
        next(headings, None),
        next(page_title, None),
    ):
        if isinstance(candidate, str) and (title := normalize_text(candidate)):
            return title
    return ""


def _authors(article: dict[str, Any], page: _PageMetadata, tree: HtmlElement) -> tuple[str, ...]:
    names: list[str] = []
    listed = article.get("author")
    for author in listed if isinstance(listed, list) else [listed]:
        if isinstance(author, dict):
            author = author.get("name")
        if isinstance(author, str):
            names.append(author)
    if not names:
        names.extend(page.metas[key] for key in _AUTHOR_METAS if key in page.metas)
    if not names:
        names.extend(
            element.text_content()
            for element in _in_article(tree, _AUTHOR_ELEMENTS)
            if len(element.text_content()) <= _MAX_AUTHOR_CHARS
        )
    distinct = dict.fromkeys(normalize_text(_AUTHOR_PREFIX.sub("", n)) for n in names)
    # article:author is often a profile URL; it names nobody.
    return tuple(n for n in distinct if n and "://" not in n)


def _published(
    article: dict[str, Any], page: _PageMetadata, tree: HtmlElement, text: str, now: datetime
) -> datetime | None:
    for candidate in _published_candidates(article, page, tree, text):
        if parsed := parse_date(candidate, now=now):
            return parsed
    # htmldate's markup heuristics, last: slower, and they find the day without the time.
    found = htmldate.find_date(
        tree,
        extensive_search=False,
        original_date=True,
        max_date=now.astimezone(VIETNAM).strftime("%Y-%m-%d"),
    )
    return parse_date(found, now=now) if found else None


def _published_candidates(
    article: dict[str, Any], page: _PageMetadata, tree: HtmlElement, text: str
) -> Iterator[str]:
    # Most precise first: structured data, then meta tags, then what the article shows.
    if isinstance(article.get("datePublished"), str):
        yield article["datePublished"]
    for key in _PUBLISHED_METAS:
        if key in page.metas:
            yield page.metas[key]
    for element in _in_article(tree, _DATE_ELEMENTS):
        if element.tag == "time" and element.get("datetime"):
            yield element.get("datetime")
        shown = element.text_content()
        if len(shown) <= _MAX_DATE_CHARS:
            yield shown
    # Small sites print it as a line of the text: "Ngày đăng: 26/02/2024".
    for line in text.splitlines():
        if len(line) <= _MAX_DATE_CHARS and _DATE_LABEL.match(line):
            yield line


def _in_article(tree: HtmlElement, xpath: lxml.etree.XPath) -> Iterator[HtmlElement]:
    """Matches outside menus, sidebars and footers, whose dates and names are other pages'."""
    return (element for element in xpath(tree) if not _outside_article(element))


def _outside_article(element: HtmlElement) -> bool:
    ancestors = list(element.iterancestors())
    in_article = any(a.tag == "article" for a in ancestors)
    for ancestor in ancestors:
        if ancestor.tag in _OUTSIDE_ARTICLE or (ancestor.tag == "header" and not in_article):
            return True
        if _OTHER_PAGES_CLASSES.search(ancestor.get("class") or ""):
            return True
    return False


def _language(text: str, page: _PageMetadata) -> str | None:
    declared = (page.html_lang or "").replace("_", "-").split("-")[0].strip().lower() or None
    letters = len(_LETTERS.findall(text[:5000]))
    if letters >= 100:
        vietnamese = len(_VIETNAMESE_LETTERS.findall(text[:5000]))
        if vietnamese * 100 >= letters * 3:
            return "vi"
        # Vietnamese templates wrap English and Chinese pages too: the text outvotes them.
        if vietnamese * 200 < letters and declared == "vi":
            return None
    return declared


def _images(
    article: dict[str, Any], page: _PageMetadata, tree: HtmlElement, base: str
) -> tuple[str, ...]:
    found: list[str] = []
    for key in ("og:image", "og:image:url", "twitter:image"):
        if key in page.metas:
            found.append(page.metas[key])
    listed = article.get("image")
    for image in listed if isinstance(listed, list) else [listed]:
        if isinstance(image, dict):
            image = image.get("url")
        if isinstance(image, str):
            found.append(image)
    for container in tree.xpath("//article|//*[@itemprop='articleBody']|//figure"):
        for img in container.iter("img"):
            if source := image_source(img, base):
                found.append(source)
    absolute = (urljoin(base, src.strip()) for src in found if src.strip())
    distinct = dict.fromkeys(src for src in absolute if src.startswith(("http://", "https://")))
    return tuple(distinct)[:MAX_IMAGES]


def _is_paywalled(article: dict[str, Any], html: str, text: str, min_chars: int) -> bool:
    parts = article.get("hasPart")
    for node in (article, *(parts if isinstance(parts, list) else [parts])):
        if isinstance(node, dict) and str(node.get("isAccessibleForFree", "")).lower() == "false":
            return True
    if _has_paywall_phrase(html.lower()):
        return True
    # A short body cut off mid-sentence is the teaser of a locked article.
    return bool(text) and text.endswith(_ELLIPSIS) and len(text) < 3 * min_chars


def _empty(url: str) -> ExtractedArticle:
    return ExtractedArticle(
        text="",
        title="",
        authors=(),
        published=None,
        language=None,
        images=(),
        canonical_url=choose_canonical(url, None),
        method="none",
        paywalled=False,
        too_short=True,
        repeated_paragraphs=False,
    )
