"""Collects from polled sources: feeds and sitemaps in, new articles fetched, stored and analysed.

Each replica runs one Collector. It leases due sources from the registry (so replicas share the
work without overlap), fetches each source's feeds politely through the one Fetcher, fetches
the pages of items it has not stored yet, extracts them, groups near-duplicates into stories,
stores them, and has the new ones analysed in one batch. What it learns about the source
(new items, errors, Retry-After) goes back to the registry, which schedules the next fetch.
"""

import asyncio
import contextlib
import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from bson import ObjectId
from lxml import html as lxml_html
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from services.common.documents import validate_submission
from services.common.mongo import DOCUMENTS, SKIPPED_URLS
from services.common.validation import InvalidInputError
from services.ingest.analysis import Analyzer
from services.ingest.dedup import minhash
from services.ingest.fetch import Fetcher, FetchError, RetryLater
from services.ingest.parse.encoding import UndecodableContent, decode_markup
from services.ingest.parse.extract import ExtractedArticle, extract_article
from services.ingest.parse.feeds import InvalidFeed, parse_feed
from services.ingest.parse.sitemaps import InvalidSitemap, parse_sitemap
from services.ingest.parse.urls import InvalidUrl, canonicalize_url
from services.ingest.sources import FetchOutcome, SourceRegistry, source_hosts
from services.ingest.store import DocumentStore, NewDocument, Origin, QueuedDocument
from services.ingest.stories import STORY_CLAIMS, StoryIndex

log = structlog.get_logger(__name__)

FEED_CHANNELS = frozenset({"rss", "atom", "json_feed", "youtube_channel_feed"})
SITEMAP_CHANNELS = frozenset({"news_sitemap", "sitemap"})
# Feeds whose items carry the whole text; their links lead to players, not articles.
SELF_CONTAINED_CHANNELS = frozenset({"youtube_channel_feed"})


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    owner: str
    # Sources collected at once by this replica; pacing per host is the Fetcher's.
    concurrency: int = 32
    lease_s: float = 300.0
    poll_s: float = 1.0
    # New articles fetched from one source in one round; the rest wait for the next round.
    max_new_items: int = 50
    # A round's new documents are stored (and analysed) together, up to this many at a time,
    # and none waits longer than store_within_s for the others.
    store_batch: int = 16
    store_within_s: float = 2.0
    # Sitemap entries older than this are history, not news.
    sitemap_max_age: timedelta = timedelta(days=2)
    # Child sitemaps of an index read in one round, newest first.
    max_child_sitemaps: int = 3
    # A page that yielded nothing worth storing is not fetched again for this long.
    skip_for: timedelta = timedelta(days=7)
    min_chars: int = 200
    # How often documents stored by other replicas are read into the story index.
    story_refresh_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item a source lists, before its page is fetched."""

    url: str | None
    guid: str | None = None
    title: str = ""
    text: str = ""
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    images: tuple[str, ...] = ()


@dataclass
class RoundStats:
    """What one round of one source produced, for the registry and the metrics."""

    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    queued: list[QueuedDocument] = field(default_factory=list)
    # The lists' validators, to keep when the round stored everything they offered.
    validators: dict[str, dict[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """An item fetched, extracted and placed in a story, waiting for its round's one write."""

    document: NewDocument
    kind: str
    published_at: datetime | None


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.source_fetches = Counter(
            "langnghe_ingest_source_fetches_total",
            "Rounds of collection from a source, by source kind, channel and outcome.",
            ["kind", "channel", "outcome"],
            registry=registry,
        )
        self.documents_stored = Counter(
            "langnghe_ingest_documents_stored_total",
            "New documents stored from collected sources, by source kind.",
            ["kind"],
            registry=registry,
        )
        self.items_skipped = Counter(
            "langnghe_ingest_items_skipped_total",
            "Listed items not stored, by reason.",
            ["reason"],
            registry=registry,
        )
        self.published_to_stored = Histogram(
            "langnghe_ingest_published_to_stored_seconds",
            "Delay from an item's publication to its storage, by source kind.",
            ["kind"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=registry,
        )
        self.sources = Gauge(
            "langnghe_ingest_sources",
            "Registered sources by health, as last counted.",
            ["health"],
            registry=registry,
        )
        self.stage_seconds = Counter(
            "langnghe_ingest_stage_seconds_total",
            "Time spent in each stage of collection.",
            ["stage"],
            registry=registry,
        )


class Collector:
    def __init__(
        self,
        *,
        db: AsyncDatabase,
        registry: SourceRegistry,
        store: DocumentStore,
        fetcher: Fetcher,
        analyzer: Analyzer,
        metrics: CollectorMetrics,
        config: CollectorConfig,
    ) -> None:
        self._documents = db[DOCUMENTS]
        self._skipped = db[SKIPPED_URLS]
        self._registry = registry
        self._store = store
        self._fetcher = fetcher
        self._analyzer = analyzer
        self._metrics = metrics
        self._config = config
        self._counted_at = 0.0
        # Documents reach the store up to a round (bounded by the lease) after their id is made.
        self._stories = StoryIndex(
            self._documents,
            db[STORY_CLAIMS],
            settle=timedelta(seconds=config.lease_s),
            refresh_every=timedelta(seconds=config.story_refresh_s),
        )
        self._stories_refreshed = 0.0
        # Rounds in flight per host, and the hosts whose rounds have all ended (to hand back).
        self._hosts_in_flight: defaultdict[str, int] = defaultdict(int)
        self._idle_hosts: set[str] = set()
        # Sources whose rounds were cancelled as the collector stopped.
        self._cut_short: list[ObjectId] = []
        # Rounds ended and not yet recorded: (source, outcome, when it ended).
        self._outcomes: list[tuple[dict[str, Any], FetchOutcome, datetime]] = []

    async def ensure_indexes(self) -> None:
        await self._stories.ensure_indexes()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: keep up to ``concurrency`` sources in collection."""
        running: set[asyncio.Task] = set()
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - self._stories_refreshed > self._config.story_refresh_s:
                        await self._stories.refresh()
                        self._stories_refreshed = time.monotonic()
                    await self._record_outcomes()
                    free = self._config.concurrency - len(running)
                    if free > 0 or self._idle_hosts:
                        now = datetime.now(UTC)
                        releasing = self._host_releases(now)
                        claimed = await self._registry.claim_due_sources(
                            owner=self._config.owner,
                            limit=max(free, 0),
                            now=now,
                            lease_s=self._config.lease_s,
                            release_hosts=releasing,
                        )
                        self._idle_hosts.difference_update(releasing)
                        for source in claimed:
                            running.add(asyncio.create_task(self._collect_holding_hosts(source)))
                    await self._count_sources()
                except Exception:
                    log.exception("collector error")
                waiters = [*running, asyncio.ensure_future(stop.wait())]
                try:
                    done, _ = await asyncio.wait(
                        waiters, timeout=self._config.poll_s, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waiters[-1].cancel()
                running -= done
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            try:
                await self._record_outcomes()
            except Exception:
                log.warning("outcomes of the last rounds not recorded", exc_info=True)
            # Hand back every host and the sources cut short, so that other replicas need not
            # wait for the leases to expire (a rolling update stops every replica in turn).
            if self._idle_hosts or self._cut_short:
                now = datetime.now(UTC)
                try:
                    await self._registry.release(
                        self._config.owner, self._cut_short, self._host_releases(now), now=now
                    )
                except Exception:
                    log.warning("leases not handed back; they expire", exc_info=True)

    async def _collect_holding_hosts(self, source: dict[str, Any]) -> FetchOutcome:
        """A source's round, counted against its hosts: a host whose last round here has ended
        is handed back to the registry by the next claim."""
        hosts = source_hosts(source["urls"])
        for host in hosts:
            self._hosts_in_flight[host] += 1
            self._idle_hosts.discard(host)
        try:
            return await self.collect_and_record(source)
        except asyncio.CancelledError:
            self._cut_short.append(source["_id"])
            raise
        finally:
            for host in hosts:
                self._hosts_in_flight[host] -= 1
                if not self._hosts_in_flight[host]:
                    del self._hosts_in_flight[host]
                    self._idle_hosts.add(host)

    def _host_releases(self, now: datetime) -> dict[str, datetime]:
        """Idle hosts, each with when it may next be asked: from then on another replica may
        take it, and its first request keeps the gap (Crawl-delay, Retry-After) this one owed."""
        return {
            host: now + timedelta(seconds=self._fetcher.host_free_in(host))
            for host in self._idle_hosts
        }

    async def collect_and_record(self, source: dict[str, Any]) -> FetchOutcome:
        """One round of one source, bounded by its lease; its outcome is queued for the next
        write of outcomes."""
        kind, channel = source["kind"], source["channel"]
        try:
            async with asyncio.timeout(self._config.lease_s * 0.8):
                stats = await self.collect(source)
            outcome = FetchOutcome(new_items=stats.created, validators=stats.validators)
            label = "ok"
        except RetryLater as error:
            outcome = FetchOutcome(error=str(error), retry_at=error.retry_at)
            label = "retry_later"
        except FetchError as error:
            outcome = FetchOutcome(error=f"{error.outcome.value}: {error}")
            label = error.outcome.value
        except (InvalidFeed, InvalidSitemap, UndecodableContent) as error:
            outcome = FetchOutcome(error=f"unreadable: {error}")
            label = "unreadable"
        except TimeoutError:
            outcome = FetchOutcome(error="the round took longer than its lease allows")
            label = "timeout"
        except asyncio.CancelledError:
            raise
        except ConnectionFailure as error:
            # The store failed under the round (unreachable, failing over, too busy to answer
            # its monitor): not the source's failure. What was stored stays; what was not is
            # listed again by the next round, which comes soon.
            log.warning("round cut short by the store", source=source["name"], error=repr(error))
            outcome = FetchOutcome(interrupted=f"store: {type(error).__name__}: {error}")
            label = "store_error"
        except Exception as error:
            log.exception("collection failed", source=source["name"])
            outcome = FetchOutcome(error=f"internal error: {type(error).__name__}: {error}")
            label = "internal_error"
        self._metrics.source_fetches.labels(kind, channel, label).inc()
        # Recorded with the other rounds that ended meanwhile, in one write (_record_outcomes):
        # on a store that runs one command at a time, a write per round queued the rounds
        # behind each other. The lease holds the source until then.
        self._outcomes.append((source, outcome, datetime.now(UTC)))
        return outcome

    async def _record_outcomes(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        started = time.perf_counter()
        try:
            await self._registry.record_fetches(outcomes, owner=self._config.owner)
        except BaseException:
            # Kept for the next try; a lease that lapses meanwhile makes the source due again.
            self._outcomes = outcomes + self._outcomes
            raise
        finally:
            self._stage("record", started)

    async def collect(self, source: dict[str, Any]) -> RoundStats:
        """Fetch a source's lists and the new items' pages; store and analyse them in batches."""
        candidates: dict[str, Candidate] = {}
        validators: dict[str, dict[str, str | None]] = {}
        for url in source["urls"]:
            listed, validators[_url_id(url)] = await self._list(source, url)
            for candidate in listed:
                key = candidate.url or candidate.guid
                if key and key not in candidates:
                    candidates[key] = candidate
        started = time.perf_counter()
        fresh = await self._unseen(list(candidates.values()))
        self._stage("lookup", started)
        stats = RoundStats()
        prepared: list[PreparedItem] = []
        oldest = 0.0
        # Should the round fail from here on, its prepared items stay in the story index: an
        # interrupted insert may have landed, and one that did not leaves a story id that the
        # next fetch of the same page (or a copy of it) simply joins.
        for candidate in fresh[: self._config.max_new_items]:
            try:
                item = await self._prepare_item(source, candidate, stats)
            except RetryLater:
                # The host asked for a pause: store what this round has, then stop.
                await self._store_and_analyse(prepared, stats)
                raise
            if item is not None:
                if not prepared:
                    oldest = time.monotonic()
                prepared.append(item)
            # Written in batches, but never held long: a round cut short by its lease keeps
            # what it stored, and the next round goes on from there.
            if prepared and (
                len(prepared) >= self._config.store_batch
                or time.monotonic() - oldest >= self._config.store_within_s
            ):
                await self._store_and_analyse(prepared, stats)
                prepared = []
        await self._store_and_analyse(prepared, stats)
        if len(fresh) <= self._config.max_new_items:
            stats.validators = validators
        return stats

    async def _list(
        self, source: dict[str, Any], url: str
    ) -> tuple[list[Candidate], dict[str, str | None]]:
        """The items one feed, sitemap or listing page offers now (none when unchanged), and
        the validators to send next time."""
        validators = source.get("validators", {}).get(_url_id(url), {})
        started = time.perf_counter()
        result = await self._fetcher.fetch(
            url, etag=validators.get("etag"), last_modified=validators.get("last_modified")
        )
        self._stage("fetch", started)
        fresh_validators = {"etag": result.etag, "last_modified": result.last_modified}
        if result.not_modified or not result.body:
            return [], fresh_validators
        started = time.perf_counter()
        try:
            channel = source["channel"]
            if channel in FEED_CHANNELS:
                listed = _feed_candidates(result.body, result.content_type, result.final_url)
            elif channel in SITEMAP_CHANNELS:
                listed = await self._sitemap_candidates(result.body)
            else:
                listed = _listing_candidates(result.body, result.content_type, result.final_url)
        finally:
            self._stage("parse", started)
        return listed, fresh_validators

    async def _sitemap_candidates(self, body: bytes) -> list[Candidate]:
        now = datetime.now(UTC)
        sitemap = parse_sitemap(body, now=now)
        if sitemap.kind == "index":
            newest = sorted(
                sitemap.entries, key=lambda e: e.lastmod or datetime.min.replace(tzinfo=UTC)
            )[-self._config.max_child_sitemaps :]
            entries = []
            for child in reversed(newest):
                result = await self._fetcher.fetch(child.loc)
                if result.body:
                    entries.extend(parse_sitemap(result.body, now=now).entries)
        else:
            entries = list(sitemap.entries)
        oldest = now - self._config.sitemap_max_age
        recent = [
            e
            for e in entries
            if (e.news_published or e.lastmod) is None or (e.news_published or e.lastmod) >= oldest
        ]
        recent.sort(
            key=lambda e: e.news_published or e.lastmod or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        return [
            Candidate(
                url=e.loc,
                title=e.news_title or "",
                published=e.news_published or e.lastmod,
                images=e.image_urls,
            )
            for e in recent
        ]

    async def _unseen(self, candidates: list[Candidate]) -> list[Candidate]:
        """Drop items already stored (by canonical URL) or recently found not worth storing."""
        urls = [c.url for c in candidates if c.url]
        if not urls:
            return candidates
        stored = await self._store.known_urls(urls)
        skipped = {
            d["url_key"]
            async for d in self._skipped.find(
                {"url_key": {"$in": urls}, "expire_at": {"$gt": datetime.now(UTC)}},
                {"url_key": 1},
            )
        }
        return [c for c in candidates if not c.url or c.url not in stored | skipped]

    async def _prepare_item(
        self, source: dict[str, Any], candidate: Candidate, stats: RoundStats
    ) -> PreparedItem | None:
        """Fetch and extract one item and place it in a story; None when it is not kept."""
        article: ExtractedArticle | None = None
        if candidate.url and source["channel"] not in SELF_CONTAINED_CHANNELS:
            article = await self._fetch_article(candidate.url, stats)
            if article is None:
                return None
        title = (article.title if article else "") or candidate.title
        text = article.text if article and not article.too_short else ""
        partial = False
        if not text:
            # No article text (a video, a teaser-only page): the feed's own words, flagged.
            text = candidate.text
            partial = article is not None
        if len(text) < (self._config.min_chars if article else 1):
            await self._skip(candidate.url, "too_short", stats)
            return None
        now = datetime.now(UTC)
        published = (article.published if article else None) or candidate.published
        try:
            draft = validate_submission(
                text=text,
                title=title,
                url=(article.canonical_url if article else candidate.url) or "",
                published_at=published,
                now=now,
            )
        except InvalidInputError as error:
            await self._skip(candidate.url, error.violations[0].code.lower(), stats)
            return None
        url_key = (article.canonical_url if article else candidate.url) or None
        origin = Origin(
            source_id=source["_id"],
            source_kind=source["kind"],
            channel=source["channel"],
            outlet=source["outlet"],
            external_id=candidate.guid if not url_key else None,
            url_key=url_key,
            author=", ".join((article.authors if article else ()) or candidate.authors),
        )
        started = time.perf_counter()
        signature = await asyncio.to_thread(minhash, f"{draft.title}\n{draft.text}")
        extra = {
            "minhash": signature,
            "language": (article.language if article else None) or source["language"],
            "images": list((article.images if article else ()) or candidate.images)[:10],
            "districts": source["districts"],
            "sectors": source["sectors"],
            "extraction": {
                "method": article.method if article else "feed",
                "paywalled": bool(article and article.paywalled),
                "partial": partial or bool(article and article.paywalled),
                "repeated_paragraphs": bool(article and article.repeated_paragraphs),
            },
        }
        # Indexed before it is stored, so that a copy of the same wire story collected
        # meanwhile by another task (or claimed by another replica) joins this story rather
        # than founding one; discarded again if it turns out to be a duplicate.
        document_id = ObjectId()
        self._stories.place(document_id, signature)
        self._stage("dedup", started)
        return PreparedItem(
            NewDocument(draft, origin, {**extra, "_id": document_id}),
            kind=source["kind"],
            published_at=draft.published_at,
        )

    async def _store_and_analyse(self, prepared: list[PreparedItem], stats: RoundStats) -> None:
        """Store prepared items in one write, then analyse the new ones in one nlp call."""
        if not prepared:
            return
        queued = len(stats.queued)
        await self._store_prepared(prepared, stats)
        if len(stats.queued) > queued:
            started = time.perf_counter()
            await self._analyzer.analyze(stats.queued[queued:])
            self._stage("analyse", started)

    async def _store_prepared(self, prepared: list[PreparedItem], stats: RoundStats) -> None:
        """Store items in one write; queue the new ones for analysis."""
        for item in prepared:
            # Its story as known now: a founder's claim still in flight does not hold it up.
            extra = item.document.extra
            extra["story_id"] = self._stories.story_now(extra["_id"]) or extra["_id"]
        now = datetime.now(UTC)
        started = time.perf_counter()
        try:
            results = await self._store.add_many(
                [item.document for item in prepared],
                now=now,
                claim_until=now + timedelta(seconds=self._config.lease_s),
            )
        finally:
            self._stage("store", started)
        for item, stored in zip(prepared, results, strict=True):
            document_id = item.document.extra["_id"]
            if not stored.created:
                self._stories.discard(document_id)
                stats.duplicates += 1
                continue
            draft = item.document.draft
            stats.created += 1
            stats.queued.append(QueuedDocument(stored.id, draft.text, draft.title, attempts=1))
            self._metrics.documents_stored.labels(item.kind).inc()
            if item.published_at is not None:
                self._metrics.published_to_stored.labels(item.kind).observe(
                    max((now - item.published_at).total_seconds(), 0.0)
                )

    async def _fetch_article(self, url: str, stats: RoundStats) -> ExtractedArticle | None:
        started = time.perf_counter()
        try:
            result = await self._fetcher.fetch(url)
        except RetryLater:
            raise
        except FetchError as error:
            self._stage("fetch", started)
            await self._skip(url, f"fetch_{error.outcome.value}", stats)
            return None
        self._stage("fetch", started)
        if not result.body:
            await self._skip(url, "empty", stats)
            return None
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(
                extract_article,
                result.body,
                url=result.final_url,
                content_type=_content_type(result.content_type, result.charset),
                min_chars=self._config.min_chars,
            )
        except UndecodableContent:
            # Quarantined: never stored as mojibake.
            await self._skip(url, "undecodable", stats)
            return None
        finally:
            self._stage("extract", started)

    async def _skip(self, url: str | None, reason: str, stats: RoundStats) -> None:
        stats.skipped += 1
        self._metrics.items_skipped.labels(reason).inc()
        if url:
            with contextlib.suppress(Exception):
                await self._skipped.update_one(
                    {"url_key": url},
                    {
                        "$set": {
                            "reason": reason,
                            "expire_at": datetime.now(UTC) + self._config.skip_for,
                        }
                    },
                    upsert=True,
                )

    async def _count_sources(self) -> None:
        if time.monotonic() - self._counted_at < 15:
            return
        self._counted_at = time.monotonic()
        for health, count in (await self._registry.health_counts()).items():
            self._metrics.sources.labels(health).set(count)

    def _stage(self, stage: str, started: float) -> None:
        self._metrics.stage_seconds.labels(stage).inc(time.perf_counter() - started)


def _url_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _content_type(media_type: str | None, charset: str | None) -> str | None:
    if media_type and charset:
        return f"{media_type}; charset={charset}"
    return media_type


def _feed_candidates(body: bytes, media_type: str | None, feed_url: str) -> list[Candidate]:
    feed = parse_feed(body, content_type=media_type, feed_url=feed_url)
    return [
        Candidate(
            url=item.url,
            guid=item.guid,
            title=item.title,
            text=item.content or item.summary,
            authors=item.authors,
            published=item.published,
            images=item.image_urls,
        )
        for item in feed.items
    ]


def _listing_candidates(body: bytes, media_type: str | None, page_url: str) -> list[Candidate]:
    """Article links of a listing page: same site, paths that look like articles."""
    tree = lxml_html.fromstring(decode_markup(body, media_type).text, base_url=page_url)
    tree.make_links_absolute(page_url, resolve_base_href=True)
    site = canonicalize_url(page_url).split("/")[2]
    return [Candidate(url=url) for url in _article_links(tree.xpath("//a/@href"), site)]


def _article_links(hrefs: Iterable[str], site: str) -> list[str]:
    links: dict[str, None] = {}
    for href in hrefs:
        try:
            url = canonicalize_url(href)
        except InvalidUrl:
            continue
        parts = url.split("/")
        path = "/".join(parts[3:])
        # Article addresses carry a slug or an id; section pages and the home page do not.
        looks_like_article = path.endswith((".html", ".htm")) or any(c.isdigit() for c in path)
        if parts[2] == site and looks_like_article and len(path) > 10:
            links[url] = None
    return list(links)
