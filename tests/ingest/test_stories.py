"""The in-memory story index: finds stories, learns other replicas' documents, forgets old ones."""

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.ingest.dedup import minhash
from services.ingest.stories import StoryIndex

WIRE = (
    "Chiều nay, mưa lớn kéo dài khiến nhiều tuyến đường ở phường Thủ Đức ngập sâu. Người dân "
    "phải dắt xe qua đoạn đường Võ Văn Ngân, nhiều cửa hàng đóng cửa sớm. Công ty thoát nước "
    "cho biết đang khơi thông các miệng cống bị rác bịt kín và sẽ cải tạo tuyến cống trong năm tới."
)
OTHER = (
    "Sáng nay, phường Bến Nghé khai trương điểm tiếp nhận hồ sơ trực tuyến mới. Người dân được "
    "hướng dẫn nộp hồ sơ đăng ký kinh doanh qua điện thoại, thời gian chờ giảm đáng kể so với "
    "trước đây, cán bộ một cửa hỗ trợ tận tình."
)


async def test_refresh_learns_documents_stored_elsewhere(mongo_db: AsyncDatabase) -> None:
    stored_elsewhere = ObjectId()
    await mongo_db[DOCUMENTS].insert_one(
        {"_id": stored_elsewhere, "story_id": stored_elsewhere, "minhash": minhash(WIRE)}
    )
    index = StoryIndex(mongo_db[DOCUMENTS])
    assert await index.refresh() == 1
    copy = WIRE.replace("Chiều nay", "Chiều 30/11") + " Theo Báo Đô Thị Mới."
    assert index.story_of(minhash(copy)) == stored_elsewhere
    assert index.story_of(minhash(OTHER)) is None
    assert await index.refresh() == 0  # nothing newer


async def test_a_document_indexed_before_storing_can_be_discarded(mongo_db: AsyncDatabase) -> None:
    index = StoryIndex(mongo_db[DOCUMENTS])
    await index.refresh()
    pending = ObjectId()
    index.add(pending, minhash(WIRE), pending)
    assert index.story_of(minhash(WIRE)) == pending
    index.discard(pending)
    assert index.story_of(minhash(WIRE)) is None
    assert len(index) == 0


async def test_documents_older_than_the_window_are_forgotten(mongo_db: AsyncDatabase) -> None:
    old = ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=5))
    await mongo_db[DOCUMENTS].insert_one({"_id": old, "story_id": old, "minhash": minhash(WIRE)})
    index = StoryIndex(mongo_db[DOCUMENTS], window=timedelta(days=3))
    await index.refresh()
    assert index.story_of(minhash(WIRE)) is None
    recent = ObjectId()
    index.add(recent, minhash(OTHER), recent)
    assert len(index) == 1
