"""The story index: finds stories, learns other replicas' documents, forgets old ones, and
settles a race between replicas founding one story at once."""

import asyncio
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import DOCUMENTS
from services.ingest.dedup import minhash, minhash_bands
from services.ingest.stories import STORY_CLAIMS, StoryIndex

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
    index = StoryIndex(mongo_db[DOCUMENTS], mongo_db[STORY_CLAIMS])
    assert await index.refresh() == 1
    copy = WIRE.replace("Chiều nay", "Chiều 30/11") + " Theo Báo Đô Thị Mới."
    assert index.story_of(minhash(copy)) == stored_elsewhere
    assert index.story_of(minhash(OTHER)) is None
    assert await index.refresh() == 0  # nothing newer


async def test_a_document_indexed_before_storing_can_be_discarded(mongo_db: AsyncDatabase) -> None:
    index = StoryIndex(mongo_db[DOCUMENTS], mongo_db[STORY_CLAIMS])
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
    index = StoryIndex(mongo_db[DOCUMENTS], mongo_db[STORY_CLAIMS], window=timedelta(days=3))
    await index.refresh()
    assert index.story_of(minhash(WIRE)) is None
    recent = ObjectId()
    index.add(recent, minhash(OTHER), recent)
    assert len(index) == 1


# Wire stories of our own, each carried by several outlets with its own opening and footer.
WIRE_STORIES = [
    WIRE,
    OTHER,
    "Tối qua, lực lượng cứu hỏa phường Tân Định đã dập tắt đám cháy tại một cửa hàng điện máy "
    "trên đường Hai Bà Trưng. Không có thương vong, nhưng nhiều hàng hóa bị thiêu rụi. Cơ quan "
    "chức năng đang điều tra nguyên nhân, nghi do chập điện ở tầng trệt của cửa hàng.",
    "Ủy ban nhân dân thành phố vừa phê duyệt kế hoạch trồng thêm năm nghìn cây xanh dọc các "
    "tuyến kênh Nhiêu Lộc, Tàu Hủ và Tân Hóa. Người dân được mời góp ý về loài cây và vị trí "
    "trồng qua cổng thông tin của phường trước cuối tháng, kết quả sẽ được công bố công khai.",
]
OPENINGS = ("", "Theo ghi nhận, ", "Cập nhật: ", "Tin từ phóng viên: ")
FOOTERS = ("", " Theo Báo Đô Thị Mới.", " (Nhịp Sống Thành Phố)", " Mời bạn đọc gửi ý kiến.")


def copy_of(text: str, outlet: int) -> bytes:
    return minhash(OPENINGS[outlet % 4] + text + FOOTERS[outlet % 4])


async def replicas(db: AsyncDatabase, count: int) -> list[StoryIndex]:
    """Story indexes as separate replicas have them: each its own memory, one database."""
    indexes = [StoryIndex(db[DOCUMENTS], db[STORY_CLAIMS]) for _ in range(count)]
    await indexes[0].ensure_indexes()
    for index in indexes:
        await index.refresh()
    return indexes


async def test_replicas_founding_one_story_at_the_same_moment_end_in_one(
    mongo_db: AsyncDatabase,
) -> None:
    a, b = await replicas(mongo_db, 2)
    # Every story is collected by both replicas at once, from two outlets each: neither has
    # read the other's copies, and each replica's two copies are placed concurrently too.
    placed = await asyncio.gather(
        *(
            index.place(ObjectId(), copy_of(text, outlet))
            for text in WIRE_STORIES
            for index, outlets in ((a, (0, 1)), (b, (2, 3)))
            for outlet in outlets
        )
    )
    stories = [set(placed[i * 4 : (i + 1) * 4]) for i in range(len(WIRE_STORIES))]
    assert all(len(ids) == 1 for ids in stories), stories
    assert len(set.union(*stories)) == len(WIRE_STORIES)
    # One claim a story: only a founder claims, and only the first founder's claim lands.
    assert await mongo_db[STORY_CLAIMS].count_documents({}) == len(WIRE_STORIES)
    # A later copy on either replica joins the same story without claiming anything.
    later = copy_of(WIRE_STORIES[2], 5)
    assert await a.place(ObjectId(), later) == await b.place(ObjectId(), later) == placed[8]


async def test_a_founder_that_lost_the_race_takes_its_local_copies_along(
    mongo_db: AsyncDatabase,
) -> None:
    a, b = await replicas(mongo_db, 2)
    winner = await a.place(ObjectId(), copy_of(WIRE, 0))
    # b has not read a's claim: its first copy founds, loses, and joins a's story; its second,
    # placed while the first's claim is in flight, waits for that outcome instead of keeping
    # the story b first thought it founded.
    first, second = await asyncio.gather(
        b.place(ObjectId(), copy_of(WIRE, 1)), b.place(ObjectId(), copy_of(WIRE, 2))
    )
    assert first == second == winner
    assert b.story_of(copy_of(WIRE, 3)) == winner


async def test_a_band_shared_by_chance_does_not_merge_unrelated_stories(
    mongo_db: AsyncDatabase,
) -> None:
    (index,) = await replicas(mongo_db, 1)
    signature = minhash(WIRE)
    # Another story's claim happens to hold one of this story's band keys.
    unrelated = ObjectId()
    chance_band = minhash_bands(signature)[5]
    await mongo_db[STORY_CLAIMS].insert_one(
        {
            "_id": unrelated,
            "bands": [chance_band, *minhash_bands(minhash(OTHER))[1:]],
            "minhash": minhash(OTHER),
            "expire_at": datetime.now(UTC) + timedelta(minutes=5),
        }
    )
    founder = ObjectId()
    assert await index.place(founder, signature) == founder
    claim = await mongo_db[STORY_CLAIMS].find_one({"_id": founder})
    assert chance_band not in claim["bands"]
    assert len(claim["bands"]) == len(minhash_bands(signature)) - 1


async def test_copies_stored_before_a_lost_claim_is_decided_move_to_the_winners_story(
    mongo_db: AsyncDatabase,
) -> None:
    a, b = await replicas(mongo_db, 2)
    winner = await a.place(ObjectId(), copy_of(WIRE, 0))
    # b stores its copies at once, under the story it founded, while its claim is in flight.
    founder, joiner = ObjectId(), ObjectId()
    decided = b.place(founder, copy_of(WIRE, 1))
    b.place(joiner, copy_of(WIRE, 2))
    assert b.story_now(founder) == b.story_now(joiner) == founder
    await mongo_db[DOCUMENTS].insert_many(
        [
            {"_id": d, "story_id": b.story_now(d), "minhash": copy_of(WIRE, n)}
            for n, d in ((1, founder), (2, joiner))
        ]
    )
    assert await decided == winner
    # From now on b places and stores its copies in the winner's story, and its next read of
    # the documents moves the ones stored before.
    assert b.story_now(joiner) == winner
    await b.refresh()
    stories = {d["story_id"] async for d in mongo_db[DOCUMENTS].find({}, {"story_id": 1})}
    assert stories == {winner}
