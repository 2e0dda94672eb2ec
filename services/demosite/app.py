"""The demo web as an ASGI app: per outlet an RSS feed, a news sitemap and article pages."""

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from xml.sax.saxutils import escape as xml_escape

from litestar import Litestar, Request, Response, get
from litestar.exceptions import NotFoundException

from services.common.text import fold_diacritics
from services.demosite.content import (
    OUTLET_NAMES,
    Story,
    epoch_of_today,
    published_numbers,
    story,
)

VIETNAM = timezone(timedelta(hours=7))
WEEKDAYS = ("Thứ hai", "Thứ ba", "Thứ tư", "Thứ năm", "Thứ sáu", "Thứ bảy", "Chủ nhật")
FEED_LENGTH = 30


def outlet_slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in fold_diacritics(name)).split())


@dataclass
class DemoWeb:
    """The outlets and their publishing rhythm; ``requests`` logs who asked what, when."""

    outlets: dict[str, str]
    period_s: float = 120.0
    epoch: datetime = field(default_factory=epoch_of_today)
    # Every request as (monotonic time, Host header, path), for checks of politeness and leases.
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    feed_length: int = FEED_LENGTH
    wire_group_size: int = 8
    # Outlets (by name) that publish at their own pace: (period_s, offset_s from the epoch).
    rhythms: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Asked of every crawler in robots.txt when set, to check that crawlers keep it.
    crawl_delay_s: float | None = None

    def __post_init__(self) -> None:
        self._index = {name: i for i, name in enumerate(self.outlets.values())}

    def rhythm(self, name: str) -> tuple[float, datetime]:
        """The outlet's period and the time its story 0 is published."""
        period_s, offset_s = self.rhythms.get(name, (self.period_s, 0.0))
        return period_s, self.epoch + timedelta(seconds=offset_s)

    @classmethod
    def default(cls, period_s: float = 120.0) -> "DemoWeb":
        return cls({outlet_slug(n): n for n in OUTLET_NAMES}, period_s=period_s)

    def stories(self, site: str, now: datetime) -> list[Story]:
        name = self.outlet(site)
        period_s, epoch = self.rhythm(name)
        numbers = published_numbers(now=now, epoch=epoch, period_s=period_s, last=self.feed_length)
        # A story's time carries its outlet's offset of up to a second; until then its page is
        # a 404, so the feed must not list it yet (a crawler would record the link as broken).
        stories = (self.story(name, n) for n in reversed(numbers))
        return [s for s in stories if s.published_at <= now]

    def story(self, name: str, number: int) -> Story:
        period_s, epoch = self.rhythm(name)
        return story(
            name,
            number,
            outlet_index=self._index[name],
            outlets=len(self.outlets),
            epoch=epoch,
            period_s=period_s,
            wire_group_size=self.wire_group_size,
        )

    def outlet(self, site: str) -> str:
        try:
            return self.outlets[site]
        except KeyError:
            raise NotFoundException(f"no outlet {site}") from None


def _vietnamese_date(moment: datetime) -> str:
    local = moment.astimezone(VIETNAM)
    return f"{WEEKDAYS[local.weekday()]}, {local:%d/%m/%Y - %H:%M}"


def _cached(request: Request, body: str, media_type: str) -> Response:
    """Serve with an ETag, and 304 when the client already has this version."""
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers={"ETag": etag})
    return Response(body, media_type=media_type, headers={"ETag": etag})


def create_demo_app(web: DemoWeb) -> Litestar:
    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"

    def logged(request: Request) -> None:
        web.requests.append((time.monotonic(), request.headers.get("host", ""), request.url.path))

    @get("/_requests", sync_to_thread=False)
    def request_log() -> list[tuple[float, str, str]]:
        """What was asked of the demo web so far, oldest first."""
        return web.requests

    @get("/robots.txt", sync_to_thread=False, media_type="text/plain")
    def robots(request: Request) -> str:
        logged(request)
        delay = "" if web.crawl_delay_s is None else f"Crawl-delay: {web.crawl_delay_s:g}\n"
        return f"User-agent: *\nDisallow: /noi-bo/\nAllow: /\n{delay}"

    @get("/{site:str}/rss.xml", sync_to_thread=False)
    def feed(request: Request, site: str) -> Response:
        logged(request)
        now = datetime.now(UTC)
        name = web.outlet(site)
        items = "".join(
            f"<item><title>{xml_escape(s.title)}</title>"
            f"<link>{base_url(request)}/{site}/{s.slug}.html?utm_source=rss</link>"
            f'<guid isPermaLink="false">{site}-{s.number}</guid>'
            f"<pubDate>{s.published_at.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{xml_escape(s.paragraphs[0])}</description></item>"
            for s in web.stories(site, now)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{xml_escape(name)}</title><link>{base_url(request)}/{site}/</link>"
            f"<description>Tin mới của {xml_escape(name)}</description>{items}</channel></rss>"
        )
        return _cached(request, body, "application/rss+xml; charset=utf-8")

    @get("/{site:str}/news-sitemap.xml", sync_to_thread=False)
    def news_sitemap(request: Request, site: str) -> Response:
        logged(request)
        now = datetime.now(UTC)
        name = web.outlet(site)
        urls = "".join(
            f"<url><loc>{base_url(request)}/{site}/{s.slug}.html</loc><news:news>"
            f"<news:publication><news:name>{xml_escape(name)}</news:name>"
            "<news:language>vi</news:language></news:publication>"
            f"<news:publication_date>{s.published_at.isoformat()}</news:publication_date>"
            f"<news:title>{xml_escape(s.title)}</news:title></news:news></url>"
            for s in web.stories(site, now)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"{urls}</urlset>"
        )
        return _cached(request, body, "application/xml; charset=utf-8")

    @get("/{site:str}/sitemap.xml", sync_to_thread=False)
    def sitemap(request: Request, site: str) -> Response:
        logged(request)
        urls = "".join(
            f"<url><loc>{base_url(request)}/{site}/{s.slug}.html</loc>"
            f"<lastmod>{s.published_at.isoformat()}</lastmod></url>"
            for s in web.stories(site, datetime.now(UTC))
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )
        return _cached(request, body, "application/xml; charset=utf-8")

    @get("/{site:str}/{page:str}", sync_to_thread=False)
    def article(request: Request, site: str, page: str) -> Response:
        logged(request)
        name = web.outlet(site)
        slug = page.removesuffix(".html")
        number_text = slug.rsplit("-", 1)[-1]
        if not page.endswith(".html") or not number_text.isdigit():
            raise NotFoundException(page)
        s = web.story(name, int(number_text))
        if s.slug != slug or s.published_at > datetime.now(UTC):
            raise NotFoundException(page)
        url = f"{base_url(request)}/{site}/{s.slug}.html"
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in s.paragraphs)
        body = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>{escape(s.title)} - {escape(name)}</title>
<link rel="canonical" href="{url}">
<meta property="og:title" content="{escape(s.title)}">
<meta property="article:published_time" content="{s.published_at.isoformat()}">
<meta name="author" content="{escape(s.author)}">
</head><body>
<header><nav><a href="/{site}/">{escape(name)}</a> | <a href="/{site}/">Thời sự</a></nav></header>
<main><article>
<h1>{escape(s.title)}</h1>
<div class="byline"><span class="author">{escape(s.author)}</span>
<time>{_vietnamese_date(s.published_at)}</time></div>
<div class="content">{paragraphs}</div>
</article></main>
<footer>© {escape(name)}. Địa chỉ tòa soạn: Thành phố Hồ Chí Minh.</footer>
</body></html>"""
        return _cached(request, body, "text/html; charset=utf-8")

    return Litestar(
        route_handlers=[robots, request_log, feed, news_sitemap, sitemap, article],
        logging_config=None,
        openapi_config=None,
    )
