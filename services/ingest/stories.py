"""Which story a new document belongs to: recent documents' MinHash signatures, in memory.

Looking a story up is then a few dictionary reads, not a query per document. The index holds
the documents of the last few days (stories older than that are news of another day), loads
them at start, and picks up what other replicas stored by reading documents newer than the
newest it knows. Two replicas storing copies of one wire story within the same refresh interval
can still found two stories; one replica never does.
"""

from collections import deque
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from services.ingest.dedup import NearDuplicateIndex


class StoryIndex:
    def __init__(
        self,
        documents: AsyncCollection,
        window: timedelta = timedelta(days=3),
        settle: timedelta = timedelta(minutes=5),
    ) -> None:
        self._documents = documents
        self._window = window
        # A document's id is made when it is prepared and it is stored later, with its round:
        # each refresh reads this far back past the newest id it knows, so none is missed.
        self._settle = settle
        self._index = NearDuplicateIndex()
        # Ids in the order they were added, for eviction by age.
        self._order: deque[ObjectId] = deque()
        self._newest: ObjectId | None = None

    def story_of(self, signature: bytes) -> ObjectId | None:
        return self._index.near_duplicate_of(signature)

    def add(self, document_id: ObjectId, signature: bytes, story_id: ObjectId) -> None:
        """Index a document now, before it is stored, so that copies collected meanwhile join
        its story; ``discard`` it if it is not stored after all."""
        self._index.add(document_id, signature, story_id)
        self._order.append(document_id)

    def discard(self, document_id: ObjectId) -> None:
        self._index.discard(document_id)

    async def refresh(self) -> int:
        """Add documents stored since the newest one known (by any replica); drop old ones."""
        oldest = ObjectId.from_datetime(datetime.now(UTC) - self._window)
        since = oldest
        if self._newest is not None:
            since = max(oldest, ObjectId.from_datetime(self._newest.generation_time - self._settle))
        query = {"minhash": {"$exists": True}, "_id": {"$gt": since}}
        added = 0
        async for d in self._documents.find(query, {"minhash": 1, "story_id": 1}).sort("_id", 1):
            self._newest = max(self._newest or d["_id"], d["_id"])
            if d["_id"] not in self._index:
                self._index.add(d["_id"], d["minhash"], d["story_id"])
                self._order.append(d["_id"])
                added += 1
        while self._order and self._order[0] < oldest:
            self._index.discard(self._order.popleft())
        return added

    def __len__(self) -> int:
        return len(self._index)
