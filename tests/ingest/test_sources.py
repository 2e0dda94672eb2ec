"""The source registry on a real MongoDB wire server: rules, leases, health and adaptive polling."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.common.validation import InvalidInputError
from services.ingest.sources import (
    FetchOutcome,
    PollingPolicy,
    SourceFilter,
    SourceRegistry,
    SourceSpec,
    next_interval,
)

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


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
        [press(1), press(2), SourceSpec(name="", kind="press", channel="rss")], now=NOW
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
    await registry_a.import_many([press(n) for n in range(30)], now=NOW)
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
    await registry_a.import_many(
        [on_host("tuoitre.example.vn", n) for n in range(4)]
        + [on_host("thanhnien.example.vn", n) for n in range(4, 6)],
        now=NOW,
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
    await registry_a.import_many([on_host("nld.example.vn", n) for n in range(3)], now=NOW)
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
        [press(n, districts=("760",) if n % 2 else ("769",)) for n in range(7)], now=NOW
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
    await registry.import_many([press(n) for n in range(3)], now=NOW)
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
    await registry_a.import_many([on_host("tuoitre.example.vn", n) for n in range(2)], now=NOW)
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
