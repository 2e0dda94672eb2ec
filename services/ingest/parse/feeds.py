"""RSS, Atom, YouTube channel feeds and JSON Feed to items, recovering what a broken feed holds."""

import calendar
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from services.common.text import normalize_text
from services.ingest.parse.dates import parse_date
from services.ingest.parse.encoding import decode_markup
from services.ingest.parse.markup import HtmlFragment, read_html_fragment
from services.ingest.parse.urls import InvalidUrl, canonicalize_url

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_YOUTUBE_NAMESPACE = "http://www.youtube.com/xml/schemas/2015"


class InvalidFeed(ValueError):
    """Bytes that hold no feed at all: an HTML page, an error message, broken JSON."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    # Canonical (see urls.canonicalize_url); None when the item links nowhere fetchable.
    url: str | None
    # The feed's own id for the item (RSS guid, Atom id, "yt:video:…", JSON Feed id).
    guid: str | None
    title: str
    summary: str
    content: str
    authors: tuple[str, ...]
    published: datetime | None
    image_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    # "rss20", "rss10", "rss091u", "atom10", "youtube", "json11", … ("" when unknown).
    kind: str
    title: str
    site_url: str | None
    items: tuple[FeedItem, ...]
    # Why the feed is malformed, when it is; the items are then those that could be recovered.
    error: str | None


def parse_feed(
    data: bytes,
    *,
    content_type: str | None = None,
    feed_url: str | None = None,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed's bytes. Raises InvalidFeed when they hold no feed, and
    encoding.UndecodableContent when they cannot be read as text.

    ``feed_url`` resolves relative links; ``now`` judges dates (default: the current time),
    and an item dated in the future has ``published`` None (see dates.parse_date).
    """
    now = now or datetime.now(UTC)
    text = decode_markup(data, content_type).text
    if text.lstrip().startswith("{"):
        return _parse_json_feed(text, feed_url, now)
    return _parse_xml_feed(text, feed_url, now)


def _parse_xml_feed(text: str, feed_url: str | None, now: datetime) -> ParsedFeed:
    # The text is decoded already: its declaration would make feedparser decode it again.
    utf8 = _XML_DECLARATION.sub("", text, count=1).encode("utf-8")
    headers = {"content-type": "application/xml; charset=utf-8"}
    if feed_url:
        headers["content-location"] = feed_url
    # A stream, never a string: feedparser fetches strings that look like URLs or file paths.
    # Its HTML sanitising and link rewriting are off (they are half its time): markup here only
    # ever becomes plain text, and image addresses are resolved below.
    parsed = feedparser.parse(
        io.BytesIO(utf8),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    error = str(parsed.get("bozo_exception") or "malformed feed") if parsed.bozo else None
    version = parsed.get("version", "")
    if not version and not parsed.entries:
        raise InvalidFeed(error or "no RSS or Atom elements")
    youtube = _YOUTUBE_NAMESPACE in parsed.get("namespaces", {}).values()
    return ParsedFeed(
        kind="youtube" if youtube else version,
        title=_text(parsed.feed, "title"),
        site_url=_canonical_or_none(parsed.feed.get("link")),
        # Plain dicts: feedparser's own aliases cost time on every read, and some warn.
        items=tuple(_xml_item(dict(entry), feed_url, now) for entry in parsed.entries),
        error=error,
    )


def _xml_item(entry: Mapping[str, Any], feed_url: str | None, now: datetime) -> FeedItem:
    link = urljoin(feed_url, entry["link"]) if feed_url and entry.get("link") else entry.get("link")
    base = link or feed_url
    summary = _fragment(entry, "summary", base)
    contents = [
        read_html_fragment(c.get("value", ""), base)
        if c.get("type") in _HTML_TYPES
        else read_html_fragment(_escape_markup(c.get("value", "")))
        for c in entry.get("content", ())
    ]
    images: dict[str, None] = dict.fromkeys(
        m["url"] for m in entry.get("media_thumbnail", ()) if m.get("url")
    )
    images.update(dict.fromkeys(m["url"] for m in entry.get("media_content", ()) if _is_image(m)))
    images.update(
        dict.fromkeys(
            enclosure["href"]
            for enclosure in entry.get("links", ())
            if enclosure.get("rel") == "enclosure" and _is_image(enclosure)
        )
    )
    for fragment in (summary, *contents):
        images.update(dict.fromkeys(fragment.images))
    return FeedItem(
        url=_canonical_or_none(link),
        guid=entry.get("id") or None,
        title=_text(entry, "title"),
        summary=summary.text,
        content="\n".join(c.text for c in contents if c.text),
        authors=_names(a.get("name") for a in entry.get("authors", ())),
        published=_first_date(entry, ("published", "updated", "created"), now),
        image_urls=tuple(images),
    )


def _parse_json_feed(text: str, feed_url: str | None, now: datetime) -> ParsedFeed:
    try:
        feed = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidFeed(f"invalid JSON: {error}") from error
    if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith(
        _JSON_FEED_VERSION
    ):
        raise InvalidFeed("not a JSON Feed: no https://jsonfeed.org/version/ version")
    items, skipped = [], 0
    for item in feed.get("items") or ():
        if isinstance(item, dict) and item.get("id") not in (None, ""):
            items.append(_json_item(item, feed_url, now))
        else:
            skipped += 1  # the specification requires every item to be an object with an id
    return ParsedFeed(
        kind="json" + feed["version"].removeprefix(_JSON_FEED_VERSION).replace(".", ""),
        title=normalize_text(str(feed.get("title") or "")),
        site_url=_canonical_or_none(feed.get("home_page_url")),
        items=tuple(items),
        error=f"{skipped} items without an id or not objects" if skipped else None,
    )


def _json_item(item: dict[str, Any], feed_url: str | None, now: datetime) -> FeedItem:
    link = item.get("url") or item.get("external_url")
    base = link or feed_url
    if isinstance(item.get("content_html"), str):
        content = read_html_fragment(item["content_html"], base)
    else:
        content = read_html_fragment(_escape_markup(str(item.get("content_text") or "")))
    images = dict.fromkeys(
        url
        for url in (item.get("image"), item.get("banner_image"), *content.images)
        if isinstance(url, str) and url
    )
    images.update(
        dict.fromkeys(
            a["url"]
            for a in item.get("attachments") or ()
            if isinstance(a, dict)
            and isinstance(a.get("url"), str)
            and str(a.get("mime_type", "")).startswith("image/")
        )
    )
    # Version 1.0 had one "author" object; 1.1 has an "authors" list.
    authors = item.get("authors") or [item.get("author")]
    published = None
    for field in ("date_published", "date_modified"):
        if isinstance(item.get(field), str) and (published := parse_date(item[field], now=now)):
            break
    return FeedItem(
        url=_canonical_or_none(link if isinstance(link, str) else None),
        guid=str(item["id"]),
        title=normalize_text(str(item.get("title") or "")),
        summary=normalize_text(str(item.get("summary") or "")),
        content=content.text,
        authors=_names(a.get("name") for a in authors if isinstance(a, dict)),
        published=published,
        image_urls=tuple(images),
    )


def _text(node: Mapping[str, Any], key: str) -> str:
    """A feed text construct as plain text, whether the feed marked it up or not."""
    value = node.get(key) or ""
    if node.get(f"{key}_detail", {}).get("type") in _HTML_TYPES:
        return read_html_fragment(value).text
    return normalize_text(value)


def _fragment(node: Mapping[str, Any], key: str, base: str | None) -> HtmlFragment:
    value = node.get(key) or ""
    if node.get(f"{key}_detail", {}).get("type") in _HTML_TYPES:
        return read_html_fragment(value, base)
    return read_html_fragment(_escape_markup(value))


def _escape_markup(text: str) -> str:
    # Plain text may hold "<" and "&" that are not markup.
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _first_date(entry: Mapping[str, Any], fields: Iterable[str], now: datetime) -> datetime | None:
    for field in fields:
        raw = entry.get(field)
        if not raw:
            continue
        # Our reading first: feedparser takes a date without offset as UTC, where Vietnamese
        # feeds mean Ho Chi Minh City time.
        if parsed := parse_date(raw, now=now):
            return parsed
        if struct := entry.get(f"{field}_parsed"):
            as_utc = datetime.fromtimestamp(calendar.timegm(struct), UTC)
            if parsed := parse_date(as_utc.isoformat(), now=now):
                return parsed
    return None


def _names(names: Iterable[object]) -> tuple[str, ...]:
    distinct = dict.fromkeys(normalize_text(n) for n in names if isinstance(n, str))
    return tuple(n for n in distinct if n)


def _is_image(media: Mapping[str, Any]) -> bool:
    has_address = bool(media.get("url") or media.get("href"))
    return has_address and (
        (media.get("type") or "").startswith("image/") or media.get("medium") == "image"
    )


def _canonical_or_none(url: object) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        return canonicalize_url(url)
    except InvalidUrl:
        return None
