"""The source registry on a real MongoDB wire server: rules, leases, health and adaptive polling."""

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.common.validation import InvalidInputError
from services.ingest.sources import (
    DEFAULT_MIN_INTERVAL_S,
    FetchOutcome,
    PollingPolicy,
    SourceFilter,
    SourceRegistry,
    SourceSpec,
    first_poll_offset_s,
    next_interval,
)

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
# An import spreads its sources' first polls over their minimum interval (600 s unless set):
# sources imported this long before NOW are all due by NOW.
IMPORTED = NOW - timedelta(seconds=DEFAULT_MIN_INTERVAL_S)


def press(n: int, **changes: object) -> SourceSpec:
    values = {
        "name": f"Báo số {n}",
        "kind": "press",
        "channel": "rss",
        "urls": (f"https://bao{n}.example.vn/rss/thoi-su.rss",),
        "outlet": f"Báo số {n}",
        "districts": ("79",),
        "sectors": ("giao_thong",),
    } | changes
    return SourceSpec(**values)


async def registry_in(db: AsyncDatabase, **policy: object) -> SourceRegistry:
    registry = SourceRegistry(db, PollingPolicy(**policy))
    await registry.ensure_indexes()
    return registry


async def test_every_rule_is_reported_at_once(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    bad = SourceSpec(name=" ", kind="blog", channel="rss", urls=("ftp://x",), min_interval_s=5)
    with pytest.raises(InvalidInputError) as error:
        await registry.add(bad, now=NOW)
    assert {(v.field, v.code) for v in error.value.violations} == {
        ("name", "REQUIRED"),
        ("kind", "INVALID"),
        ("urls[0]", "INVALID_URL"),
        ("min_interval_s", "INVALID"),
    }
    push_with_url = SourceSpec(name="Cổng 1022", kind="push", channel="rss")
    with pytest.raises(InvalidInputError):
        await registry.add(push_with_url, now=NOW)
    assert await registry.add(SourceSpec(name="Cổng 1022", kind="push", channel="webhook"), now=NOW)


async def test_the_same_feed_cannot_be_added_twice(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    await registry.add(press(1), now=NOW)
    with pytest.raises(InvalidInputError) as error:
        await registry.add(press(1, name="Tên khác"), now=NOW)
    assert error.value.violations[0].code == "DUPLICATE"


async def test_import_creates_then_updates_and_keeps_live_state(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    created, updated, errors = await registry.import_many(
        [press(1), press(2), SourceSpec(name="", kind="press", channel="rss")], now=IMPORTED
    )
    assert (created, updated) == (2, 0)
    assert [index for index, _ in errors] == [2]
    (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=NOW, lease_s=60)
    await registry.record_fetch(claimed, FetchOutcome(new_items=3), owner="a", now=NOW)

    created, updated, errors = await registry.import_many(
        [press(1, outlet="Báo Một"), press(2)], now=NOW
    )
    assert (created, updated, errors) == (0, 2, [])
    record = await registry.get(str(claimed["_id"]))
    assert record["last_success_at"] is not None
    assert record["health"] == "healthy"


async def test_update_changes_only_masked_fields(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    source = await registry.add(press(1), now=NOW)
    changed = await registry.update(
        str(source["_id"]),
        SourceSpec(name="Tuổi Trẻ", kind="website", channel="sitemap", min_interval_s=60),
        ["name", "min_interval_s"],
        now=NOW,
    )
    assert changed["name"] == "Tuổi Trẻ"
    assert changed["min_interval_s"] == 60
    assert changed["kind"] == "press"
    with pytest.raises(InvalidInputError):
        await registry.update(str(source["_id"]), press(1), ["lease_owner"], now=NOW)


async def test_two_replicas_never_hold_the_same_source(mongo_db: AsyncDatabase) -> None:
    registry_a, registry_b = await registry_in(mongo_db), SourceRegistry(mongo_db)
    await registry_a.import_many([press(n) for n in range(30)], now=IMPORTED)
    ids_a: set = set()
    ids_b: set = set()
    held_by_a: list[dict] = []
    # Both replicas claim at once, again and again, until every source is taken.
    for _ in range(10):
        a, b = await asyncio.gather(
            registry_a.claim_due_sources(owner="a", limit=20, now=NOW, lease_s=60),
            registry_b.claim_due_sources(owner="b", limit=20, now=NOW, lease_s=60),
        )
        assert not {r["_id"] for r in a} & {r["_id"] for r in b}
        ids_a |= {r["_id"] for r in a}
        ids_b |= {r["_id"] for r in b}
        held_by_a += a
        for record in b:
            await registry_b.record_fetch(record, FetchOutcome(new_items=1), owner="b", now=NOW)
        if len(ids_a) + len(ids_b) == 30:
            break
    assert len(ids_a | ids_b) == 30
    assert not ids_a & ids_b
    # Replica a dies; once its leases (of sources and hosts) expire, b takes its sources over.
    later = NOW + timedelta(seconds=61)
    taken_over = await registry_b.claim_due_sources(owner="b", limit=50, now=later, lease_s=60)
    assert {r["_id"] for r in taken_over} == ids_a
    # a's late report is ignored: the lease is b's now.
    assert await registry_a.record_fetch(held_by_a[0], FetchOutcome(), owner="a", now=later) is None


def on_host(host: str, n: int) -> SourceSpec:
    return press(n, urls=(f"https://{host}/rss/muc-{n}.rss",))


async def test_a_host_is_fetched_by_one_replica_at_a_time(mongo_db: AsyncDatabase) -> None:
    """Sources of one host go to whichever replica holds the host, never to two at once."""
    registry_a, registry_b = await registry_in(mongo_db), SourceRegistry(mongo_db)
    # tuoitre's sources were imported first, so they are all further overdue than thanhnien's.
    await registry_a.import_many(
        [on_host("tuoitre.example.vn", n) for n in range(4)],
        now=IMPORTED - timedelta(seconds=DEFAULT_MIN_INTERVAL_S),
    )
    await registry_a.import_many(
        [on_host("thanhnien.example.vn", n) for n in range(4, 6)], now=IMPORTED
    )
    a = await registry_a.claim_due_sources(owner="a", limit=3, now=NOW, lease_s=60)
    assert {r["urls"][0].split("/")[2] for r in a} == {"tuoitre.example.vn"}
    # b finds the remaining tuoitre source due but on a's host: it takes only thanhnien's.
    b = await registry_b.claim_due_sources(owner="b", limit=10, now=NOW, lease_s=60)
    assert {r["urls"][0].split("/")[2] for r in b} == {"thanhnien.example.vn"}
    assert len(b) == 2
    # a, holding the host, may take its last source while it still fetches the others.
    (last,) = await registry_a.claim_due_sources(owner="a", limit=10, now=NOW, lease_s=60)
    assert last["urls"][0].split("/")[2] == "tuoitre.example.vn"


async def test_a_handed_back_host_waits_out_its_gap_and_an_expired_one_moves_on(
    mongo_db: AsyncDatabase,
) -> None:
    registry_a, registry_b = await registry_in(mongo_db), SourceRegistry(mongo_db, host_retry_s=0)
    await registry_a.import_many([on_host("nld.example.vn", n) for n in range(3)], now=IMPORTED)
    host = "https://nld.example.vn:443"
    (first,) = await registry_a.claim_due_sources(owner="a", limit=1, now=NOW, lease_s=60)
    await registry_a.record_fetch(first, FetchOutcome(new_items=1), owner="a", now=NOW)
    # a's round is over; the host asked for 10 s between requests (Crawl-delay), the last
    # was just sent: a hands the host back with that gap still to run.
    soon = NOW + timedelta(seconds=1)
    await registry_a.claim_due_sources(
        owner="a", limit=0, now=soon, lease_s=60, release_hosts={host: NOW + timedelta(seconds=10)}
    )
    assert await registry_b.claim_due_sources(owner="b", limit=5, now=soon, lease_s=60) == []
    after_gap = NOW + timedelta(seconds=10)
    (second,) = await registry_b.claim_due_sources(owner="b", limit=1, now=after_gap, lease_s=60)
    assert second["lease_owner"] == "b"
    # b dies holding the host: a gets it back once b's host lease (60 s) has run out.
    assert await registry_a.claim_due_sources(owner="a", limit=5, now=after_gap, lease_s=60) == []
    expired = after_gap + timedelta(seconds=60)
    taken = await registry_a.claim_due_sources(owner="a", limit=5, now=expired, lease_s=60)
    assert {r["_id"] for r in taken} >= {second["_id"]}
    assert all(r["lease_owner"] == "a" for r in taken)


async def test_failures_back_off_then_disable_and_reenable_resets(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db, disable_after_failures=3)
    source = await registry.add(press(1), now=NOW)
    now = NOW
    for attempt in range(1, 4):
        (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=now, lease_s=60)
        record = await registry.record_fetch(
            claimed, FetchOutcome(error="HTTP 503"), owner="a", now=now
        )
        assert record["consecutive_failures"] == attempt
        assert record["next_fetch_at"] > now
        now = record["next_fetch_at"]
    assert record["enabled"] is False
    assert record["health"] == "disabled"
    assert "3 failures in a row" in record["disabled_reason"]
    assert await registry.claim_due_sources(owner="a", limit=1, now=now, lease_s=60) == []
    counts = await registry.health_counts()
    assert counts["disabled"] == 1
    assert [r["_id"] for r in await registry.needing_attention()] == [source["_id"]]

    enabled = await registry.set_enabled(str(source["_id"]), True, "", now=now)
    assert enabled["consecutive_failures"] == 0
    assert len(await registry.claim_due_sources(owner="a", limit=1, now=now, lease_s=60)) == 1


async def test_retry_after_is_honoured(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    await registry.add(press(1), now=NOW)
    (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=NOW, lease_s=60)
    come_back = NOW + timedelta(hours=2)
    record = await registry.record_fetch(
        claimed, FetchOutcome(error="HTTP 429", retry_at=come_back), owner="a", now=NOW
    )
    assert record["next_fetch_at"] >= come_back


def test_polling_interval_tracks_how_often_a_feed_has_news() -> None:
    assert next_interval(600, 5, 30, 86_400) == 300
    assert next_interval(40, 5, 30, 86_400) == 30
    assert next_interval(600, 0, 30, 86_400) == 900
    assert next_interval(80_000, 0, 30, 86_400) == 86_400


async def test_listing_filters_and_pages(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    await registry.import_many(
        [press(n, districts=("760",) if n % 2 else ("769",)) for n in range(7)], now=IMPORTED
    )
    first = await registry.list_sources(SourceFilter(district="760"), page_size=2, page_token="")
    assert first.total_count == 3
    assert len(first.records) == 2
    rest = await registry.list_sources(
        SourceFilter(district="760"), page_size=2, page_token=first.next_page_token
    )
    assert len(rest.records) == 1
    assert rest.next_page_token == ""
    with pytest.raises(InvalidInputError):
        await registry.list_sources(SourceFilter(), page_size=2, page_token="rác")


async def test_validators_are_kept_only_after_a_round_that_stored_everything(
    mongo_db: AsyncDatabase,
) -> None:
    registry = await registry_in(mongo_db)
    await registry.add(press(1), now=NOW)
    validators = {"u1": {"etag": '"v2"', "last_modified": None}}
    (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=NOW, lease_s=60)
    # A failed round (its items not all stored) must fetch the whole feed again next time.
    failed = await registry.record_fetch(
        claimed, FetchOutcome(error="HTTP 503", validators=validators), owner="a", now=NOW
    )
    assert "validators" not in failed
    later = failed["next_fetch_at"]
    (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=later, lease_s=60)
    done = await registry.record_fetch(
        claimed, FetchOutcome(new_items=2, validators=validators), owner="a", now=later
    )
    assert done["validators"] == validators


async def test_rounds_ended_together_are_recorded_in_one_write(mongo_db: AsyncDatabase) -> None:
    registry = await registry_in(mongo_db)
    await registry.import_many([press(n) for n in range(3)], now=IMPORTED)
    claimed = await registry.claim_due_sources(owner="a", limit=3, now=NOW, lease_s=60)
    ended = NOW + timedelta(seconds=5)
    outcomes = [FetchOutcome(new_items=2), FetchOutcome(error="HTTP 503"), FetchOutcome()]
    # The third source's lease was lost meanwhile (a took too long): its outcome is dropped.
    await mongo_db["sources"].update_one({"_id": claimed[2]["_id"]}, {"$set": {"lease_owner": "b"}})
    fetches = [(r, o, ended) for r, o in zip(claimed, outcomes, strict=True)]
    assert await registry.record_fetches(fetches, owner="a") == 2
    healthy, failing, lost = [await registry.get(str(r["_id"])) for r in claimed]
    assert (healthy["health"], healthy["lease_owner"], healthy["last_fetch_at"]) == (
        "healthy",
        None,
        ended,
    )
    assert healthy["next_fetch_at"] > ended
    assert (failing["health"], failing["consecutive_failures"]) == ("failing", 1)
    assert lost["lease_owner"] == "b"
    assert lost["health"] == "new"


async def test_a_stopping_replica_hands_back_its_sources_and_hosts(
    mongo_db: AsyncDatabase,
) -> None:
    registry_a, registry_b = await registry_in(mongo_db), SourceRegistry(mongo_db)
    await registry_a.import_many([on_host("tuoitre.example.vn", n) for n in range(2)], now=IMPORTED)
    held = await registry_a.claim_due_sources(owner="a", limit=2, now=NOW, lease_s=300)
    soon = NOW + timedelta(seconds=1)
    assert await registry_b.claim_due_sources(owner="b", limit=2, now=soon, lease_s=300) == []
    # a stops mid-round: its sources are due again at once, its host free after the gap owed.
    await registry_a.release(
        "a",
        [r["_id"] for r in held],
        {"https://tuoitre.example.vn:443": soon + timedelta(seconds=2)},
        now=soon,
    )
    after_gap = soon + timedelta(seconds=2)
    taken = await registry_b.claim_due_sources(owner="b", limit=2, now=after_gap, lease_s=300)
    assert {r["_id"] for r in taken} == {r["_id"] for r in held}


async def test_an_import_spreads_first_polls_over_the_minimum_interval(
    mongo_db: AsyncDatabase,
) -> None:
    registry = await registry_in(mongo_db)
    specs = [press(n, min_interval_s=120) for n in range(200)]
    await registry.import_many(specs, now=NOW)
    firsts = [r["next_fetch_at"] async for r in mongo_db["sources"].find({}, {"next_fetch_at": 1})]
    offsets = sorted((first - NOW).total_seconds() for first in firsts)
    assert offsets[0] >= 0
    assert offsets[-1] < 120
    # Evenly: each tenth of the interval holds a tenth of the sources, give or take.
    per_tenth = [sum(1 for o in offsets if 12 * k <= o < 12 * (k + 1)) for k in range(10)]
    assert min(per_tenth) >= 8, per_tenth
    assert max(per_tenth) <= 35, per_tenth
    # The offset comes from the source's key: another replica (or another database) importing
    # the same file later gets the same offsets, and importing it again moves nothing.
    elsewhere = SourceRegistry(mongo_db.client[f"{mongo_db.name}_elsewhere"])
    await elsewhere.import_many(specs, now=NOW + timedelta(hours=3))
    await registry.import_many(specs, now=NOW + timedelta(hours=1))
    for spec in specs[:20]:
        here = await mongo_db["sources"].find_one({"key": spec.key})
        there = await mongo_db.client[f"{mongo_db.name}_elsewhere"]["sources"].find_one(
            {"key": spec.key}
        )
        assert there["next_fetch_at"] - timedelta(hours=3) == here["next_fetch_at"]
        offset = timedelta(seconds=first_poll_offset_s(spec.key, 120))
        # (BSON keeps milliseconds.)
        assert abs(here["next_fetch_at"] - NOW - offset) < timedelta(milliseconds=1)
    await mongo_db.client.drop_database(f"{mongo_db.name}_elsewhere")
    # A source added on its own is not part of a wave: it is due at once.
    added = await registry.add(press(999), now=NOW)
    assert added["next_fetch_at"] == NOW


async def poll_under_load(
    registry: SourceRegistry, hot_keys: set[str], *, seconds: int
) -> dict[str, list[tuple[float, float]]]:
    """Poll as a collector that can take one source every 2 s would, for ``seconds`` from
    NOW; the sources in ``hot_keys`` have news every time. Returns, per source key, (seconds
    after NOW, seconds late) of each poll."""
    polls: dict[str, list[tuple[float, float]]] = defaultdict(list)
    now = NOW
    while now < NOW + timedelta(seconds=seconds):
        for record in await registry.claim_due_sources(owner="a", limit=1, now=now, lease_s=60):
            polls[record["key"]].append(
                ((now - NOW).total_seconds(), (now - record["next_fetch_at"]).total_seconds())
            )
            news = int(record["key"] in hot_keys)
            await registry.record_fetch(record, FetchOutcome(new_items=news), owner="a", now=now)
        now += timedelta(seconds=2)
    return polls


async def test_feeds_with_news_are_polled_on_time_after_a_large_import(
    mongo_db: AsyncDatabase,
) -> None:
    """An import asks for three times what is fetched (45 sources every 30 s, one poll every
    2 s): once the quiet sources have backed off a little, the feeds with news are polled
    on time again although the quiet ones are still behind, and every quiet one is polled."""
    registry = await registry_in(mongo_db)
    hot = [press(n, min_interval_s=30, max_interval_s=600) for n in range(5)]
    quiet = [press(n, min_interval_s=30, max_interval_s=600) for n in range(5, 45)]
    await registry.import_many(hot + quiet, now=NOW - timedelta(seconds=30))
    hot_keys = {spec.key for spec in hot}
    polls = await poll_under_load(registry, hot_keys, seconds=600)
    # The import's wave, then the quiet sources' second and third rounds, hold the feeds with
    # news back at first (oldest due first, they stayed 10-15 s late to the end).
    for key in hot_keys:
        late = [late for at, late in polls[key] if at >= 320]
        assert len(late) >= 8, polls[key]
        assert max(late) <= 6, polls[key]
    assert all(len(polls[spec.key]) >= 4 for spec in quiet), polls


async def test_no_source_starves_while_feeds_with_news_ask_for_more_than_is_fetched(
    mongo_db: AsyncDatabase,
) -> None:
    registry = await registry_in(mongo_db)
    # 20 feeds with news every 30 s ask for 0.67 polls a second; 0.5 are done.
    hot = [press(n, min_interval_s=30, max_interval_s=600) for n in range(20)]
    quiet = [press(n, min_interval_s=30, max_interval_s=120) for n in range(20, 30)]
    await registry.import_many(hot + quiet, now=NOW - timedelta(seconds=30))
    polls = await poll_under_load(registry, {spec.key for spec in hot}, seconds=900)
    # A quiet source's deadline (due + 120 s) stays put while each poll of a feed with news
    # moves that feed's past the poll: once it has passed, only sources already ahead of it go
    # first. So it waits at most its interval and one poll (2 s) of every other source.
    for spec in quiet:
        assert len(polls[spec.key]) >= 5, polls[spec.key]
        assert max(late for _, late in polls[spec.key]) <= 120 + 2 * 30, polls[spec.key]
    assert all(len(polls[spec.key]) >= 15 for spec in hot)


async def test_a_registry_from_before_deadlines_is_claimed_and_loses_its_old_index(
    mongo_db: AsyncDatabase,
) -> None:
    await mongo_db["sources"].create_index([("enabled", 1), ("next_fetch_at", 1)], name="due")
    registry = await registry_in(mongo_db)
    assert "due" not in await mongo_db["sources"].index_information()
    await registry.import_many([press(n) for n in range(3)], now=IMPORTED)
    # A source written before overdue_at existed is claimed first, and its fetch sets it:
    # here the one that would otherwise come last.
    last = max((press(n).key for n in range(3)), key=lambda key: first_poll_offset_s(key, 600))
    old = await mongo_db["sources"].find_one_and_update(
        {"key": last}, {"$unset": {"overdue_at": ""}}
    )
    claimed = await registry.claim_due_sources(owner="a", limit=3, now=NOW, lease_s=60)
    assert len(claimed) == 3
    assert claimed[0]["_id"] == old["_id"]
    await registry.record_fetch(claimed[0], FetchOutcome(), owner="a", now=NOW)
    recorded = await registry.get(str(old["_id"]))
    deadline = recorded["next_fetch_at"] + timedelta(seconds=recorded["interval_s"])
    assert abs(recorded["overdue_at"] - deadline) < timedelta(milliseconds=1)


async def test_a_round_cut_short_by_the_store_is_not_the_sources_failure(
    mongo_db: AsyncDatabase,
) -> None:
    registry = await registry_in(mongo_db, disable_after_failures=2)
    await registry.add(press(1), now=NOW)
    (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=NOW, lease_s=60)
    failed = await registry.record_fetch(
        claimed, FetchOutcome(error="HTTP 503"), owner="a", now=NOW
    )
    assert failed["consecutive_failures"] == 1
    # The store fails under the next rounds, again and again (a replica set electing a new
    # primary, say): the source is neither counted as failing nor disabled, and is due soon.
    now = failed["next_fetch_at"]
    for _ in range(3):
        (claimed,) = await registry.claim_due_sources(owner="a", limit=1, now=now, lease_s=60)
        record = await registry.record_fetch(
            claimed,
            FetchOutcome(interrupted="store: AutoReconnect: connection closed"),
            owner="a",
            now=now,
        )
        assert record["enabled"] is True
        assert record["consecutive_failures"] == 1
        assert record["health"] == failed["health"]
        assert record["last_error"] == failed["last_error"]
        assert record["interval_s"] == failed["interval_s"]
        assert record["lease_owner"] is None
        assert now < record["next_fetch_at"] <= now + timedelta(seconds=60)
        now = record["next_fetch_at"]
