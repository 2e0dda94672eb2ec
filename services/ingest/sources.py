"""The source registry in MongoDB: what to collect, how often, and how each source is doing.

Several ingest replicas share one registry: a replica leases the sources it fetches
(``claim_due_sources``), so no source is fetched by two at once, and a dead replica's leases
simply expire.

Due sources are claimed in order of ``overdue_at``, their next fetch time plus their polling
interval (earliest deadline first): a feed polled every 30 s because it has news is overdue 30 s
after it falls due, a quiet source backed off to an hour only an hour after. So when more is due
than the collectors can take (after a large import, or an outage), feeds with news go before
quiet sources that have backed off, by as much as their intervals differ. None starves: a
waiting source's deadline stays where it is, while each poll moves the polled source's deadline
past the time of that poll; once a deadline has passed, only the sources already ahead of it can
still go first. A source written before ``overdue_at`` existed sorts first (a missing field
sorts before any date) until its next fetch sets it. An import spreads the first polls of its
new sources over their minimum interval, each at an offset drawn from its key, so a city's 1,500
sources do not all fall due at once.

Politeness holds across replicas because a replica claims a source only while it holds the
lease of every host (origin) the source's URLs are on, in ``host_leases``: one process at a time
asks a host anything, so its own per-host spacing, concurrency cap and Crawl-delay are the
host's. A replica keeps a host while it has that host's sources in flight and hands it back with
``until`` set to when the host may next be asked; another replica takes it from then on, or
when a dead replica's lease expires.
"""

import base64
import hashlib
import math
import random
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from services.common.validation import FieldViolation, InvalidInputError, NotFoundError
from services.ingest.fetch.robots import origin_of

SOURCES = "sources"
# One document per host a replica holds or held: {_id: origin, owner, until}.
HOST_LEASES = "host_leases"
# MongoDB's error code for a unique index violation: here, a host another replica holds.
_DUPLICATE_KEY = 11000
# ... and for dropping an index that is not there (another replica dropped it first).
_INDEX_NOT_FOUND = 27
KINDS = ("press", "website", "social", "push")
CHANNELS = (
    "rss",
    "atom",
    "news_sitemap",
    "sitemap",
    "html_listing",
    "youtube_channel_feed",
    "json_feed",
    "webhook",
)
HEALTH_STATES = ("new", "healthy", "failing", "disabled")
MIN_INTERVAL_FLOOR_S = 30
DEFAULT_MIN_INTERVAL_S = 600
DEFAULT_MAX_INTERVAL_S = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SOURCE_INDEXES = [
    IndexModel([("key", ASCENDING)], name="key_unique", unique=True),
    # The claim's query: enabled, in deadline order, due (equality, sort, range).
    IndexModel(
        [("enabled", ASCENDING), ("overdue_at", ASCENDING), ("next_fetch_at", ASCENDING)],
        name="due_by_deadline",
    ),
    # Which sources one claim won (claim_due_sources reads them back by it).
    IndexModel([("lease_token", ASCENDING)], name="lease_token"),
    IndexModel([("health", ASCENDING), ("consecutive_failures", DESCENDING)], name="health"),
    IndexModel([("kind", ASCENDING), ("channel", ASCENDING)], name="kind_channel"),
    IndexModel([("outlet", ASCENDING)], name="outlet"),
    IndexModel([("districts", ASCENDING)], name="districts"),
    IndexModel([("sectors", ASCENDING)], name="sectors"),
]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What a person says about a source; everything else is ingest's own bookkeeping."""

    name: str
    kind: str
    channel: str
    urls: tuple[str, ...] = ()
    outlet: str = ""
    districts: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    language: str = "vi"
    min_interval_s: int = DEFAULT_MIN_INTERVAL_S
    max_interval_s: int = DEFAULT_MAX_INTERVAL_S
    enabled: bool = True

    @property
    def key(self) -> str:
        """Identity for imports: the first URL, or the name for sources that push."""
        if self.urls:
            return self.urls[0].strip().lower().rstrip("/")
        return f"push:{self.name.strip().lower()}"


SPEC_FIELDS = tuple(f for f in SourceSpec.__dataclass_fields__ if f != "enabled")


def validate_source(spec: SourceSpec) -> SourceSpec:
    """Check every rule at once; returns the spec with URLs and tags tidied."""
    violations: list[FieldViolation] = []
    spec = replace(
        spec,
        name=spec.name.strip(),
        urls=tuple(u.strip() for u in spec.urls if u.strip()),
        outlet=spec.outlet.strip(),
        districts=tuple(dict.fromkeys(d.strip() for d in spec.districts if d.strip())),
        sectors=tuple(dict.fromkeys(s.strip().lower() for s in spec.sectors if s.strip())),
        language=spec.language.strip().lower() or "vi",
    )
    if not spec.name:
        violations.append(FieldViolation("name", "REQUIRED", "name must not be empty"))
    if spec.kind not in KINDS:
        violations.append(
            FieldViolation("kind", "INVALID", f"kind must be one of {', '.join(KINDS)}")
        )
    if spec.channel not in CHANNELS:
        violations.append(
            FieldViolation("channel", "INVALID", f"channel must be one of {', '.join(CHANNELS)}")
        )
    pushes = spec.kind == "push" or spec.channel == "webhook"
    if pushes and (spec.kind, spec.channel) != ("push", "webhook"):
        violations.append(
            FieldViolation(
                "channel", "INVALID", "push sources, and only they, use the webhook channel"
            )
        )
    if not pushes and not spec.urls:
        violations.append(FieldViolation("urls", "REQUIRED", "a polled source needs a URL"))
    for i, url in enumerate(spec.urls):
        if not url.lower().startswith(("http://", "https://")) or len(url) > 2048:
            violations.append(
                FieldViolation(f"urls[{i}]", "INVALID_URL", f"{url[:100]!r} is not an http(s) URL")
            )
    if spec.min_interval_s < MIN_INTERVAL_FLOOR_S:
        violations.append(
            FieldViolation(
                "min_interval_s",
                "INVALID",
                f"min_interval_s must be at least {MIN_INTERVAL_FLOOR_S}",
            )
        )
    if spec.max_interval_s < spec.min_interval_s:
        violations.append(
            FieldViolation("max_interval_s", "INVALID", "max_interval_s must be ≥ min_interval_s")
        )
    if violations:
        raise InvalidInputError(violations)
    return spec


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one fetch of a source brought: new documents, or an error."""

    new_items: int = 0
    error: str | None = None
    # When the server asked us to come back (Retry-After), if it did.
    retry_at: datetime | None = None
    # Why the round was cut short by something other than the source (the store failing
    # under it): nothing counts against the source, which is due again soon.
    interrupted: str | None = None
    # Per URL id, the ETag and Last-Modified to send next time. Kept only after a round that
    # stored everything it found: validators saved earlier would turn the next fetch into a
    # 304 and lose the items a failed or killed round had not stored yet.
    validators: dict[str, dict[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PollingPolicy:
    # Consecutive failures after which a source is disabled until a person re-enables it.
    disable_after_failures: int = 10
    failure_backoff_base_s: float = 60.0
    # Weight of the newest observation in the items-per-day moving average.
    rate_smoothing: float = 0.3
    # A round cut short by the store is tried again this soon (or at the source's minimum
    # interval, if shorter).
    interrupted_retry_s: float = 60.0


@dataclass
class SourceListing:
    records: list[dict[str, Any]]
    next_page_token: str
    total_count: int


@dataclass
class SourceFilter:
    kind: str | None = None
    channel: str | None = None
    outlet: str | None = None
    district: str | None = None
    sector: str | None = None
    health: str | None = None

    def to_mongo(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for name in ("kind", "channel", "outlet", "health"):
            if value := getattr(self, name):
                query[name] = value
        if self.district:
            query["districts"] = self.district
        if self.sector:
            query["sectors"] = self.sector
        return query


def next_interval(current_s: float, new_items: int, spec_min: int, spec_max: int) -> float:
    """Poll a feed twice as often while it yields news, and back off by half when it is quiet."""
    proposed = current_s / 2 if new_items else current_s * 1.5
    return float(min(max(proposed, spec_min), spec_max))


def first_poll_offset_s(key: str, min_interval_s: float) -> float:
    """How long after its import a new source is first polled: a share of its minimum interval
    drawn from its key, so that an import's sources fall due evenly over that interval and
    every replica, and a second import of the same file, agree on it."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 * min_interval_s


def source_hosts(urls: list[str] | tuple[str, ...]) -> list[str]:
    """The origins (``scheme://host:port``) a source's URLs are on, in order, each once."""
    hosts: dict[str, None] = {}
    for url in urls:
        try:
            hosts[origin_of(httpx.URL(url))] = None
        except (httpx.InvalidURL, UnicodeError, KeyError):
            # Not fetchable either; the fetch reports it. Lease the text so it is still one
            # replica's at a time.
            hosts[url.strip().lower()] = None
    return list(hosts)


def source_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise InvalidInputError(
            [FieldViolation("id", "INVALID", f"{value!r} is not a source id")]
        ) from None


class SourceRegistry:
    def __init__(
        self,
        db: AsyncDatabase,
        policy: PollingPolicy | None = None,
        *,
        host_retry_s: float = 5.0,
    ) -> None:
        self._sources = db[SOURCES]
        self._host_leases = db[HOST_LEASES]
        self._policy = policy or PollingPolicy()
        # Hosts another replica held when this one last asked, and when to ask again: their
        # due sources are passed over meanwhile, so they do not crowd out other hosts' sources.
        self._held_elsewhere: dict[str, datetime] = {}
        self._host_retry = timedelta(seconds=host_retry_s)

    async def ensure_indexes(self) -> None:
        await self._sources.create_indexes(SOURCE_INDEXES)
        # Claims no longer read the index of the oldest-due-first order (enabled,
        # next_fetch_at); a registry made before keeps it, and pays for it on every write.
        try:
            await self._sources.drop_index("due")
        except OperationFailure as error:
            if error.code != _INDEX_NOT_FOUND:
                raise

    @staticmethod
    def _new_record(
        spec: SourceSpec, now: datetime, *, first_fetch_at: datetime | None = None
    ) -> dict[str, Any]:
        first_fetch_at = first_fetch_at or now
        return {
            **_spec_fields(spec),
            "key": spec.key,
            "enabled": spec.enabled,
            "disabled_reason": "" if spec.enabled else "added disabled",
            "health": "new" if spec.enabled else "disabled",
            "interval_s": float(spec.min_interval_s),
            "next_fetch_at": first_fetch_at,
            "overdue_at": first_fetch_at + timedelta(seconds=spec.min_interval_s),
            "lease_until": _EPOCH,
            "lease_owner": None,
            "consecutive_failures": 0,
            "last_error": "",
            "last_fetch_at": None,
            "last_success_at": None,
            "items_per_day": 0.0,
            "created_at": now,
            "updated_at": now,
        }

    async def add(self, spec: SourceSpec, *, now: datetime) -> dict[str, Any]:
        """Add one source, due at once: alone it makes no wave, and a person wants to see it
        work (``import_many`` spreads the first polls of many)."""
        spec = validate_source(spec)
        record = self._new_record(spec, now)
        try:
            result = await self._sources.insert_one(record)
        except DuplicateKeyError:
            raise InvalidInputError(
                [FieldViolation("urls", "DUPLICATE", f"a source for {spec.key} exists already")]
            ) from None
        return {**record, "_id": result.inserted_id}

    async def get(self, id_: str) -> dict[str, Any]:
        record = await self._sources.find_one({"_id": source_id(id_)})
        if record is None:
            raise NotFoundError(f"no source with id {id_}")
        return record

    async def update(
        self, id_: str, spec: SourceSpec, paths: list[str], *, now: datetime
    ) -> dict[str, Any]:
        """Change the named fields; the merged source must still be valid."""
        unknown = [p for p in paths if p not in SPEC_FIELDS]
        if unknown or not paths:
            raise InvalidInputError(
                [
                    FieldViolation(
                        "update_mask",
                        "INVALID",
                        f"update_mask must name fields of {', '.join(SPEC_FIELDS)}"
                        + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                    )
                ]
            )
        current = await self.get(id_)
        merged = validate_source(
            replace(
                spec_from_record(current),
                **{p: getattr(spec, p) for p in paths},
            )
        )
        changes = {p: v for p, v in _spec_fields(merged).items() if p in paths}
        changes["key"] = merged.key
        if "min_interval_s" in paths or "max_interval_s" in paths:
            changes["interval_s"] = float(
                min(max(current["interval_s"], merged.min_interval_s), merged.max_interval_s)
            )
            changes["overdue_at"] = current["next_fetch_at"] + timedelta(
                seconds=changes["interval_s"]
            )
        try:
            record = await self._sources.find_one_and_update(
                {"_id": current["_id"]},
                {"$set": {**changes, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise InvalidInputError(
                [FieldViolation("urls", "DUPLICATE", f"a source for {merged.key} exists already")]
            ) from None
        if record is None:
            raise NotFoundError(f"no source with id {id_}")
        return record

    async def set_enabled(
        self, id_: str, enabled: bool, reason: str, *, now: datetime
    ) -> dict[str, Any]:
        """Disable with a reason, or re-enable: failures are forgotten and it is due at once,
        ahead of every source not yet overdue (a person is waiting to see it work)."""
        changes: dict[str, Any] = {"enabled": enabled, "updated_at": now}
        if enabled:
            changes |= {
                "disabled_reason": "",
                "consecutive_failures": 0,
                "health": "new",
                "next_fetch_at": now,
                "overdue_at": now,
            }
        else:
            changes |= {
                "disabled_reason": reason or "disabled by an operator",
                "health": "disabled",
            }
        record = await self._sources.find_one_and_update(
            {"_id": source_id(id_)}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        if record is None:
            raise NotFoundError(f"no source with id {id_}")
        return record

    async def list_sources(
        self, flt: SourceFilter, *, page_size: int, page_token: str
    ) -> SourceListing:
        """Sources in id order, a page at a time; the token is the last id seen."""
        query = flt.to_mongo()
        page_query = dict(query)
        if page_token:
            page_query["_id"] = {"$gt": _decode_token(page_token)}
        records = await self._sources.find(page_query).sort("_id", 1).limit(page_size + 1).to_list()
        total = await self._sources.count_documents(query)
        more = len(records) > page_size
        records = records[:page_size]
        token = _encode_token(records[-1]["_id"]) if more and records else ""
        return SourceListing(records, token, total)

    async def import_many(
        self, specs: list[SourceSpec], *, now: datetime
    ) -> tuple[int, int, list[tuple[int, list[FieldViolation]]]]:
        """Add new sources and update known ones (by key); live state is kept on update.

        One bulk write, so that importing a city's 1,500 sources is one round trip. Each new
        source is first due at its own offset within its minimum interval
        (``first_poll_offset_s``), not all of them now.
        """
        errors: list[tuple[int, list[FieldViolation]]] = []
        writes = []
        for index, raw in enumerate(specs):
            try:
                spec = validate_source(raw)
            except InvalidInputError as error:
                errors.append((index, error.violations))
                continue
            first_fetch_at = now + timedelta(
                seconds=first_poll_offset_s(spec.key, spec.min_interval_s)
            )
            new = self._new_record(spec, now, first_fetch_at=first_fetch_at)
            on_insert = {
                k: v
                for k, v in new.items()
                if k not in SPEC_FIELDS and k not in ("key", "updated_at")
            }
            writes.append(
                UpdateOne(
                    {"key": spec.key},
                    {"$set": {**_spec_fields(spec), "updated_at": now}, "$setOnInsert": on_insert},
                    upsert=True,
                )
            )
        if not writes:
            return 0, 0, errors
        result = await self._sources.bulk_write(writes, ordered=False)
        return result.upserted_count, result.matched_count, errors

    async def health_counts(self) -> dict[str, int]:
        """Sources per health state, from one read of every source's state (not a count per
        state: the embedded MongoDB answers each count by scanning the collection)."""
        counts = dict.fromkeys(HEALTH_STATES, 0)
        async for record in self._sources.find({}, {"health": 1, "_id": 0}):
            counts[record["health"]] = counts.get(record["health"], 0) + 1
        return counts

    async def needing_attention(self, limit: int = 100) -> list[dict[str, Any]]:
        return (
            await self._sources.find({"health": {"$in": ["failing", "disabled"]}})
            .sort("consecutive_failures", -1)
            .limit(limit)
            .to_list()
        )

    async def claim_due_sources(
        self,
        *,
        owner: str,
        limit: int,
        now: datetime,
        lease_s: float,
        release_hosts: dict[str, datetime] | None = None,
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` due sources, and their hosts, to ``owner``.

        An unexpired lease, of a source or of a host, is never taken. ``release_hosts`` hands
        back hosts this replica no longer fetches ({host: when it may next be asked}) in the
        same write. Due sources come in ``overdue_at`` order (earliest deadline first; see the
        module's docstring). Three round trips whatever ``limit`` is: read the first due
        candidates in that order, take their hosts (and release the idle ones) in one bulk
        write, lease the sources of the hosts won with a conditional update that re-checks
        each is still free. Only when one of those updates missed (an operator's change, a
        lease taken meanwhile) is a fourth needed, to read back what this call won.
        """
        due = {
            "enabled": True,
            "channel": {"$ne": "webhook"},
            "next_fetch_at": {"$lte": now},
            "lease_until": {"$lte": now},
        }
        self._held_elsewhere = {h: t for h, t in self._held_elsewhere.items() if t > now}
        # Each candidate with its hosts, parsed once.
        candidates: list[tuple[dict[str, Any], list[str]]] = []
        if limit > 0:
            # Read past the limit when hosts are known to be held elsewhere: the first
            # candidates may be theirs. Alone, a replica reads no more than it can take.
            wanted_at_most = limit * 4 if self._held_elsewhere else limit
            found = self._sources.find(due).sort("overdue_at", 1).limit(wanted_at_most)
            for record in await found.to_list():
                hosts = source_hosts(record["urls"])
                if not any(h in self._held_elsewhere for h in hosts):
                    candidates.append((record, hosts))
                    if len(candidates) == limit:
                        break
        wanted = list(dict.fromkeys(h for _, hosts in candidates for h in hosts))
        released = {h: t for h, t in (release_hosts or {}).items() if h not in wanted}
        won = await self._lease_hosts(owner, wanted, released, now=now, lease_s=lease_s)
        candidates = [(c, hosts) for c, hosts in candidates if all(h in won for h in hosts)]
        if not candidates:
            return []
        token = ObjectId()
        lease = {
            "lease_owner": owner,
            "lease_until": now + timedelta(seconds=lease_s),
            "lease_token": token,
        }
        result = await self._sources.bulk_write(
            [UpdateOne({"_id": c["_id"], **due}, {"$set": lease}) for c, _ in candidates],
            ordered=False,
        )
        if result.modified_count == len(candidates):
            # Every conditional update matched, so each candidate was free and is now ours as
            # it was read: no need to read them again.
            return [{**c, **lease} for c, _ in candidates]
        if not result.modified_count:
            return []
        claimed = await self._sources.find({"lease_token": token}).to_list()
        # As the claim read them; a source from before deadlines existed first, as there.
        return sorted(claimed, key=lambda record: record.get("overdue_at") or _EPOCH)

    async def _lease_hosts(
        self,
        owner: str,
        wanted: list[str],
        released: dict[str, datetime],
        *,
        now: datetime,
        lease_s: float,
    ) -> set[str]:
        """Take or renew the ``wanted`` hosts and hand back the ``released`` ones, in one write;
        returns the hosts won.

        Taking a host is an upsert on its id that matches only if the host is free or already
        ours; when another replica holds it, the upsert's insert collides with the existing
        document (duplicate key), which is how a lost host shows.
        """
        until = now + timedelta(seconds=lease_s)
        writes = [
            UpdateOne(
                {"_id": host, "$or": [{"owner": owner}, {"until": {"$lte": now}}]},
                {"$set": {"owner": owner, "until": until}},
                upsert=True,
            )
            for host in wanted
        ]
        writes += [
            # Still this replica's, so it may take the host straight back; others from ``at``.
            UpdateOne({"_id": host, "owner": owner}, {"$set": {"until": at}})
            for host, at in released.items()
        ]
        if not writes:
            return set()
        lost: set[str] = set()
        try:
            await self._host_leases.bulk_write(writes, ordered=False)
        except BulkWriteError as error:
            for failure in error.details.get("writeErrors", []):
                if failure.get("code") != _DUPLICATE_KEY or failure["index"] >= len(wanted):
                    raise
                lost.add(wanted[failure["index"]])
        for host in lost:
            self._held_elsewhere[host] = now + self._host_retry
        return set(wanted) - lost

    async def release(
        self,
        owner: str,
        sources: list[ObjectId],
        hosts: dict[str, datetime],
        *,
        now: datetime,
    ) -> None:
        """Hand back sources whose rounds were cut short (due again at once) and hosts
        ({host: when it may next be asked}): a replica that stops does, so that the others go
        on without waiting for its leases to expire."""
        if sources:
            await self._sources.update_many(
                {"_id": {"$in": sources}, "lease_owner": owner},
                {"$set": {"lease_owner": None, "lease_until": _EPOCH, "lease_token": None}},
            )
        await self._lease_hosts(owner, [], hosts, now=now, lease_s=0)

    async def record_fetch(
        self, record: dict[str, Any], outcome: FetchOutcome, *, owner: str, now: datetime
    ) -> dict[str, Any] | None:
        """Store how a fetch went, schedule the next one and release the lease.

        Returns None when the lease was lost meanwhile (another replica owns the source now).
        """
        return await self._sources.find_one_and_update(
            {"_id": record["_id"], "lease_owner": owner},
            {"$set": self._outcome_changes(record, outcome, now)},
            return_document=ReturnDocument.AFTER,
        )

    async def record_fetches(
        self, fetches: list[tuple[dict[str, Any], FetchOutcome, datetime]], *, owner: str
    ) -> int:
        """``record_fetch`` for many rounds (source, outcome, when it ended) in one write;
        returns how many were recorded (the others' leases were lost meanwhile)."""
        if not fetches:
            return 0
        result = await self._sources.bulk_write(
            [
                UpdateOne(
                    {"_id": record["_id"], "lease_owner": owner},
                    {"$set": self._outcome_changes(record, outcome, ended)},
                )
                for record, outcome, ended in fetches
            ],
            ordered=False,
        )
        return result.matched_count

    def _outcome_changes(
        self, record: dict[str, Any], outcome: FetchOutcome, now: datetime
    ) -> dict[str, Any]:
        policy = self._policy
        spec_min, spec_max = record["min_interval_s"], record["max_interval_s"]
        changes: dict[str, Any] = {
            "last_fetch_at": now,
            "lease_owner": None,
            "lease_until": _EPOCH,
            "lease_token": None,
        }
        if outcome.interrupted is not None:
            # The source's health, interval and failures stay as they were.
            next_at = now + timedelta(seconds=min(spec_min, policy.interrupted_retry_s))
            return changes | {
                "next_fetch_at": next_at,
                "overdue_at": next_at + timedelta(seconds=record["interval_s"]),
            }
        if outcome.error is None:
            interval = next_interval(record["interval_s"], outcome.new_items, spec_min, spec_max)
            next_at = now + timedelta(seconds=interval * random.uniform(0.9, 1.1))
            changes |= {
                "health": "healthy",
                "consecutive_failures": 0,
                "last_error": "",
                "last_success_at": now,
                "interval_s": interval,
                "next_fetch_at": next_at,
                "overdue_at": next_at + timedelta(seconds=interval),
                "items_per_day": self._items_per_day(record, outcome.new_items, now),
            }
            changes |= {f"validators.{u}": v for u, v in outcome.validators.items()}
        else:
            failures = record["consecutive_failures"] + 1
            delay = min(
                spec_max, policy.failure_backoff_base_s * 2 ** min(failures - 1, 16)
            ) * random.uniform(0.5, 1.0)
            next_at = now + timedelta(seconds=delay)
            if outcome.retry_at is not None:
                next_at = max(next_at, outcome.retry_at)
            changes |= {
                "health": "failing",
                "consecutive_failures": failures,
                "last_error": outcome.error[:500],
                "next_fetch_at": next_at,
                "overdue_at": next_at + timedelta(seconds=record["interval_s"]),
            }
            if failures >= policy.disable_after_failures:
                changes |= {
                    "enabled": False,
                    "health": "disabled",
                    "disabled_reason": (
                        f"disabled after {failures} failures in a row; last: {outcome.error[:300]}"
                    ),
                }
        return changes

    def _items_per_day(self, record: dict[str, Any], new_items: int, now: datetime) -> float:
        previous = record.get("last_success_at")
        if previous is None:
            return float(record.get("items_per_day", 0.0))
        days = max((now - previous).total_seconds() / 86_400, 1 / 1440)
        rate = new_items / days
        weight = self._policy.rate_smoothing
        old = float(record.get("items_per_day", 0.0))
        value = rate if old == 0 else (1 - weight) * old + weight * rate
        return round(value, 3) if math.isfinite(value) else 0.0


def spec_from_record(record: dict[str, Any]) -> SourceSpec:
    return SourceSpec(
        **{
            name: tuple(record[name]) if isinstance(record.get(name), list) else record[name]
            for name in SPEC_FIELDS
        },
        enabled=record["enabled"],
    )


def _spec_fields(spec: SourceSpec) -> dict[str, Any]:
    values = asdict(spec)
    values.pop("enabled")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _encode_token(last_id: ObjectId) -> str:
    return base64.urlsafe_b64encode(f"s1:{last_id}".encode()).decode()


def _decode_token(token: str) -> ObjectId:
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        return ObjectId(raw.removeprefix("s1:"))
    except (ValueError, InvalidId, UnicodeDecodeError):
        raise InvalidInputError(
            [FieldViolation("page_token", "INVALID", "page_token is not one this service issued")]
        ) from None
