"""Sitemaps (index, urlset, Google News, gzip, plain text) to entries, safe against XML bombs."""

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import lxml.etree

from services.common.text import normalize_text
from services.ingest.parse.dates import parse_date
from services.ingest.parse.urls import InvalidUrl, canonicalize_url

# The sitemap protocol's own limit on an uncompressed file; a larger one is a bomb or a mistake.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# "&" that starts no entity: sitemaps often carry raw query strings, which XML forbids.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);)")


class InvalidSitemap(ValueError):
    """Bytes that are no sitemap: not XML nor a URL list, too large, or a broken gzip stream."""


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    # Canonical URL of a page, or, in a sitemap index, of a child sitemap (kept as written:
    # some servers tell sitemaps apart by query parameters that look like tracking).
    loc: str
    lastmod: datetime | None
    # From <news:news>: the article's title, publication time and ISO 639 language.
    news_title: str | None = None
    news_published: datetime | None = None
    news_language: str | None = None
    image_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sitemap:
    # "index" lists child sitemaps; "urlset" (XML) and "text" (one URL a line) list pages.
    kind: str
    entries: tuple[SitemapEntry, ...]
    # What the XML parser had to repair or skip, when anything.
    errors: tuple[str, ...] = ()


def parse_sitemap(
    data: bytes, *, now: datetime | None = None, max_bytes: int = MAX_SITEMAP_BYTES
) -> Sitemap:
    """Parse a sitemap's bytes, gunzipping them first when they are gzip.

    Dates after ``now`` (default: the current time) are dropped (see dates.parse_date).
    Raises InvalidSitemap.
    """
    now = now or datetime.now(UTC)
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip(data, max_bytes)
    if len(data) > max_bytes:
        raise InvalidSitemap(f"larger than {max_bytes} bytes")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not head:
        raise InvalidSitemap("empty")
    if head != b"<":
        return Sitemap("text", tuple(_text_entries(data)))
    return _parse_xml(data, now)


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    # Bounded: a few kilobytes of gzip can inflate to gigabytes.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as error:
        raise InvalidSitemap(f"broken gzip: {error}") from error
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise InvalidSitemap(f"inflates to more than {max_bytes} bytes")
    if not out and not inflater.eof:
        raise InvalidSitemap("broken gzip: no data before the stream ends")
    return out


def _parse_xml(data: bytes, now: datetime) -> Sitemap:
    # No entity expansion, no DTD or network loads, libxml2's limits on depth and text size
    # kept (huge_tree off): a billion-laughs file stays a few kilobytes.
    parser = lxml.etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = lxml.etree.fromstring(_BARE_AMPERSAND.sub(b"&amp;", data), parser)
    except lxml.etree.XMLSyntaxError as error:
        raise InvalidSitemap(f"not XML: {error}") from error
    errors = tuple(f"line {e.line}: {e.message}" for e in parser.error_log)
    if root is None:
        raise InvalidSitemap("not XML: " + "; ".join(errors[:3]))
    kind = str(root.tag).rpartition("}")[2]
    if kind == "sitemapindex":
        entries = _index_entries(root, now)
        return Sitemap("index", tuple(entries), errors)
    if kind == "urlset":
        return Sitemap("urlset", tuple(_url_entries(root, now)), errors)
    raise InvalidSitemap(f"root element <{kind}> is neither <urlset> nor <sitemapindex>")


def _index_entries(root: lxml.etree._Element, now: datetime) -> Iterator[SitemapEntry]:
    for sitemap in _children(root, "sitemap"):
        loc = _child_text(sitemap, "loc")
        if loc and loc.startswith(("http://", "https://")):
            yield SitemapEntry(loc, _date(_child_text(sitemap, "lastmod"), now))


def _url_entries(root: lxml.etree._Element, now: datetime) -> Iterator[SitemapEntry]:
    for url in _children(root, "url"):
        loc = _canonical_or_none(_child_text(url, "loc"))
        if loc is None:
            continue
        news = next(_children(url, "news"), None)
        publication = next(_children(news, "publication"), None) if news is not None else None
        language = _child_text(publication, "language") if publication is not None else None
        yield SitemapEntry(
            loc,
            _date(_child_text(url, "lastmod"), now),
            news_title=normalize_text(t) if (t := _child_text(news, "title")) else None,
            news_published=_date(_child_text(news, "publication_date"), now),
            news_language=language.lower() if language else None,
            image_urls=tuple(
                dict.fromkeys(
                    src for image in _children(url, "image") if (src := _child_text(image, "loc"))
                )
            ),
        )


def _text_entries(data: bytes) -> Iterator[SitemapEntry]:
    for line in data.decode("utf-8", "replace").splitlines():
        if loc := _canonical_or_none(line.strip()):
            yield SitemapEntry(loc, None)


def _children(parent: lxml.etree._Element | None, name: str) -> Iterator[lxml.etree._Element]:
    """Children by local name: sites use the sitemaps.org namespace, Google's old one, or none."""
    if parent is None:
        return
    for child in parent:
        # "{namespace}name" or "name"; comments and entities have no string tag.
        if isinstance(child.tag, str) and child.tag.rpartition("}")[2] == name:
            yield child


def _child_text(parent: lxml.etree._Element | None, name: str) -> str | None:
    child = next(_children(parent, name), None)
    text = "".join(child.itertext()).strip() if child is not None else ""
    return text or None


def _date(text: str | None, now: datetime) -> datetime | None:
    return parse_date(text, now=now) if text else None


def _canonical_or_none(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return canonicalize_url(url)
    except InvalidUrl:
        return None
