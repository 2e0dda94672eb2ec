"""From fetched bytes to clean documents: feeds, sitemaps, pages, dates and URLs; no network."""

from services.ingest.parse.dates import parse_date
from services.ingest.parse.encoding import DecodedText, UndecodableContent, decode_markup
from services.ingest.parse.extract import ExtractedArticle, extract_article
from services.ingest.parse.feeds import FeedItem, InvalidFeed, ParsedFeed, parse_feed
from services.ingest.parse.sitemaps import InvalidSitemap, Sitemap, SitemapEntry, parse_sitemap
from services.ingest.parse.urls import (
    InvalidUrl,
    canonicalize_url,
    choose_canonical,
    registrable_domain,
)

__all__ = [
    "DecodedText",
    "ExtractedArticle",
    "FeedItem",
    "InvalidFeed",
    "InvalidSitemap",
    "InvalidUrl",
    "ParsedFeed",
    "Sitemap",
    "SitemapEntry",
    "UndecodableContent",
    "canonicalize_url",
    "choose_canonical",
    "decode_markup",
    "extract_article",
    "parse_date",
    "parse_feed",
    "parse_sitemap",
    "registrable_domain",
]
