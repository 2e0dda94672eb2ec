"""The document store on a real MongoDB wire server: one document per text, exclusive claims."""

import asyncio
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from services.common.documents import validate_submission
from services.common.mongo import DOCUMENTS, ensure_document_indexes
from services.ingest.store import PENDING, AnalysisResult, DocumentStore, NewDocument, Origin


async def make_store(db: AsyncDatabase) -> DocumentStore:
    await ensure_document_indexes(db)
    return DocumentStore(db)


async def test_same_text_is_stored_once(mongo_db: AsyncDatabase) -> None:
    store = await make_store(mongo_db)
    now = datetime.now(UTC)
    first = await store.add(
        validate_submission(text="Xe buýt số 19 trễ chuyến"), now=now, claim_until=now
    )
    again = await store.add(
        validate_submission(text="  Xe buýt số 19   trễ chuyến "), now=now, claim_until=now
    )
    assert first.created
    assert not again.created
    assert again.id == first.id
    assert await mongo_db[DOCUMENTS].count_documents({}) == 1


async def test_concurrent_claimers_never_share_a_document(mongo_db: AsyncDatabase) -> None:
    store = await make_store(mongo_db)
    past = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(20):
        await store.add(
            validate_submission(text=f"Phản ánh số {i} về đèn đường hỏng"),
            now=past,
            claim_until=past,
        )
    now = datetime.now(UTC)
    until = now + timedelta(minutes=1)
    batches = await asyncio.gather(
        *(store.claim_due(limit=8, now=now, claim_until=until) for _ in range(4))
    )
    claimed = [d.id for batch in batches for d in batch]
    assert len(claimed) == 20
    assert len(set(claimed)) == 20
    assert all(d.attempts == 2 for batch in batches for d in batch)
    # Claimed documents are leased: nothing is due until the lease runs out.
    assert await store.claim_due(limit=8, now=now, claim_until=until) == []
    expired = await store.claim_due(limit=30, now=until, claim_until=until + timedelta(minutes=1))
    assert sorted(d.id for d in expired) == sorted(claimed)


async def test_analysis_and_retries_are_recorded(mongo_db: AsyncDatabase) -> None:
    store = await make_store(mongo_db)
    past = datetime.now(UTC) - timedelta(seconds=1)
    done = await store.add(
        validate_submission(text="Công viên mới rất đẹp"), now=past, claim_until=past
    )
    later = await store.add(
        validate_submission(text="Chưa phân tích được"), now=past, claim_until=past
    )
    now = datetime.now(UTC)
    sentiment = {
        "label": "POSITIVE",
        "score": 0.9,
        "negative": 0.05,
        "neutral": 0.05,
        "positive": 0.9,
    }
    await store.save_analyses([AnalysisResult(done.id, {"sentiment": sentiment})], now=now)
    await store.retry_later({later.id: now + timedelta(minutes=5)}, "UNAVAILABLE: nlp is down")

    analysed = await mongo_db[DOCUMENTS].find_one({"_id": done.id})
    assert analysed["analysis_state"] == "analyzed"
    assert analysed["sentiment"] == sentiment
    assert "analysis_due_at" not in analysed
    waiting = await mongo_db[DOCUMENTS].find_one({"_id": later.id})
    assert waiting["analysis_state"] == PENDING
    assert waiting["analysis_error"] == "UNAVAILABLE: nlp is down"
    assert await store.next_due_at() == waiting["analysis_due_at"]
    assert await store.count_by_state() == {"pending": 1, "analyzed": 1}


async def test_retention_sets_an_expiry_per_source_kind(mongo_db: AsyncDatabase) -> None:
    await ensure_document_indexes(mongo_db)
    store = DocumentStore(mongo_db, {"social": timedelta(days=30)})
    now = datetime.now(UTC)
    social = await store.add(
        validate_submission(text="Bình luận trên trang cộng đồng về rác thải"),
        now=now,
        claim_until=now,
        origin=Origin(source_kind="social", channel="rss"),
    )
    press = await store.add(
        validate_submission(text="Bài báo về dự án chống ngập"),
        now=now,
        claim_until=now,
        origin=Origin(source_kind="press", channel="rss"),
    )
    social_record = await mongo_db[DOCUMENTS].find_one({"_id": social.id})
    assert abs(social_record["expire_at"] - (now + timedelta(days=30))) < timedelta(seconds=1)
    assert "expire_at" not in await mongo_db[DOCUMENTS].find_one({"_id": press.id})
    info = await mongo_db[DOCUMENTS].index_information()
    assert info["retention"]["expireAfterSeconds"] == 0


async def test_a_batch_stores_each_text_once_and_remembers_every_address(
    mongo_db: AsyncDatabase,
) -> None:
    store = await make_store(mongo_db)
    now = datetime.now(UTC)
    kept = await store.add(
        validate_submission(text="Cầu Thủ Thiêm 4 khởi công sau nhiều năm chờ đợi"),
        now=now,
        claim_until=now,
        origin=Origin(source_kind="press", url_key="https://a.example.vn/cau-thu-thiem-4.html"),
    )

    def page(text: str, url: str) -> NewDocument:
        return NewDocument(validate_submission(text=text), Origin(source_kind="press", url_key=url))

    batch = [
        page("Chợ Bến Thành mở cửa lại sau sửa chữa", "https://b.example.vn/cho-ben-thanh.html"),
        # The text stored above, at a second address: a duplicate, its address remembered.
        page(
            "Cầu Thủ Thiêm 4 khởi công sau nhiều năm chờ đợi",
            "https://b.example.vn/cau-thu-thiem-4.html",
        ),
        # The same text twice within the batch: one document, as if added one after the other.
        page("Nước máy có mùi lạ ở phường Bình Tân", "https://b.example.vn/nuoc-may.html"),
        page("Nước máy có mùi lạ ở phường Bình Tân", "https://c.example.vn/nuoc-may.html"),
        page("Xe buýt điện chạy thêm tuyến mới", "https://b.example.vn/xe-buyt-dien.html"),
    ]
    results = await store.add_many(batch, now=now, claim_until=now)

    assert [r.created for r in results] == [True, False, True, False, True]
    assert results[1].id == kept.id
    assert results[3].id == results[2].id
    assert await mongo_db[DOCUMENTS].count_documents({}) == 4
    first = await mongo_db[DOCUMENTS].find_one({"_id": kept.id})
    assert first["alternate_urls"] == ["https://b.example.vn/cau-thu-thiem-4.html"]
    assert await store.known_urls(
        [
            "https://b.example.vn/cau-thu-thiem-4.html",
            "https://c.example.vn/nuoc-may.html",
            "https://b.example.vn/xe-buyt-dien.html",
            "https://b.example.vn/chua-co.html",
        ]
    ) == {
        "https://b.example.vn/cau-thu-thiem-4.html",
        "https://c.example.vn/nuoc-may.html",
        "https://b.example.vn/xe-buyt-dien.html",
    }
    # Re-fetching the batch stores nothing new.
    again = await store.add_many(batch, now=now, claim_until=now)
    assert not any(r.created for r in again)
    assert [r.id for r in again] == [r.id for r in results]
    assert await mongo_db[DOCUMENTS].count_documents({}) == 4
