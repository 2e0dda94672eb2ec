"""Which story a new document belongs to: recent documents' MinHash signatures, in memory.

Looking a story up is then a few dictionary reads, not a query per document. The index holds
the documents of the last few days (stories older than that are news of another day), loads
them at start, and picks up what other replicas stored by reading documents newer than the
newest it knows.

Between two such reads, two replicas can each collect a copy of one wire story that neither has
seen. So a document that founds a story claims it in ``story_claims``: one document per
recently founded story holding the signature's band keys, under a unique index on them. Copies
of one story share band keys, so of two racing founders only the first insert lands; the other
gets a duplicate key error, reads the claims holding its bands and joins the most similar one's
story. A band shared by chance with an unrelated story is dropped from the claim instead. The
founders of one moment (the rounds in flight) claim in one write, and nothing waits for it:
documents are stored in their story as known at the time, and those stored under a founder
that then lost are moved to the winner's story at the next refresh. Claims expire once every
replica has read the founder back (the ``settle`` window and a margin).
"""

import asyncio
from collections import deque
from datetime import UTC, datetime, timedelta

import structlog
from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from services.ingest.dedup import NearDuplicateIndex, closest_duplicate, minhash_bands

log = structlog.get_logger(__name__)

STORY_CLAIMS = "story_claims"
STORY_CLAIM_INDEXES = [
    # A band key belongs to one recent founder at a time: the race is decided here.
    IndexModel([("bands", ASCENDING)], name="bands_unique", unique=True),
    IndexModel([("expire_at", ASCENDING)], name="expiry", expireAfterSeconds=0),
]
# Inserts a founder tries before it founds its story unclaimed (each retry drops the bands
# that unrelated stories hold).
CLAIM_ATTEMPTS = 3
# MongoDB's error code for a unique index violation: a band another founder holds.
DUPLICATE_KEY = 11000
# A founder's claim waiting for the next write: (document id, signature, bands, its outcome).
type _QueuedClaim = tuple[ObjectId, bytes, list[str], asyncio.Future[ObjectId | set[str]]]


class StoryIndex:
    def __init__(
        self,
        documents: AsyncCollection,
        claims: AsyncCollection,
        window: timedelta = timedelta(days=3),
        settle: timedelta = timedelta(minutes=5),
        refresh_every: timedelta = timedelta(seconds=10),
    ) -> None:
        self._documents = documents
        self._claims = claims
        self._window = window
        # A document's id is made when it is prepared and it is stored later, with its round:
        # each refresh reads this far back past the newest id it knows, so none is missed.
        self._settle = settle
        self._index = NearDuplicateIndex()
        # Ids in the order they were added, for eviction by age.
        self._order: deque[ObjectId] = deque()
        self._newest: ObjectId | None = None
        # A founder's claim must outlive the time until every replica has read it back: it is
        # stored within ``settle`` and read at the next refresh.
        self._claim_for = settle + 3 * refresh_every
        # Founders whose claim is in flight: copies found meanwhile wait for the story it gets.
        self._founding: dict[ObjectId, asyncio.Future[ObjectId]] = {}
        self._queued_claims: list[_QueuedClaim] = []
        # Founders that lost the race, and the story they (and the copies indexed under them)
        # joined instead.
        self._joined: dict[ObjectId, ObjectId] = {}
        self._claim_writer: asyncio.Task | None = None

    async def ensure_indexes(self) -> None:
        await self._claims.create_indexes(STORY_CLAIM_INDEXES)

    def place(self, document_id: ObjectId, signature: bytes) -> asyncio.Future[ObjectId]:
        """Index a document about to be stored (so copies collected meanwhile join it;
        ``discard`` it if it is not stored after all); what it returns gives the story it
        ends in. Store it with ``story_now`` meanwhile: nothing waits for the claim.

        A copy of a known story joins it at no cost. A founder claims its story, in one insert
        with the other founders of the moment (and one read when another replica's founder or
        an unrelated story holds one of its bands); copies placed meanwhile end in whatever
        story it ends in. A founder that loses maps its story to the winner's at once, and the
        next ``refresh`` moves what was stored under it before that.
        """
        found = self.story_of(signature)
        if found is not None:
            self.add(document_id, signature, found)
            founding = self._founding.get(found)
            if founding is not None:
                return founding
            settled = asyncio.get_running_loop().create_future()
            settled.set_result(found)
            return settled
        self.add(document_id, signature, document_id)
        founding = self._founding[document_id] = asyncio.ensure_future(
            self._found(document_id, signature)
        )
        return founding

    async def _found(self, document_id: ObjectId, signature: bytes) -> ObjectId:
        try:
            story_id = await self._claim(document_id, signature)
        except Exception:
            # Unclaimed, the story is as safe from a racing replica as it was before claims.
            log.warning("story not claimed", document_id=str(document_id), exc_info=True)
            story_id = document_id
        # Both at once, with no await between: a lookup meanwhile finds the pending claim or
        # the story it ended in, never neither.
        if story_id != document_id:
            self._joined[document_id] = story_id
        del self._founding[document_id]
        return story_id

    async def _claim(self, document_id: ObjectId, signature: bytes) -> ObjectId:
        """The story this founder ends in: its own once its claim is in, else the story of the
        most similar founder that claimed first."""
        bands = minhash_bands(signature)
        for _ in range(CLAIM_ATTEMPTS):
            if not bands:
                break
            decided: asyncio.Future[ObjectId | set[str]] = (
                asyncio.get_running_loop().create_future()
            )
            self._queued_claims.append((document_id, signature, bands, decided))
            if self._claim_writer is None or self._claim_writer.done():
                self._claim_writer = asyncio.create_task(self._write_claims())
            outcome = await asyncio.shield(decided)
            if isinstance(outcome, ObjectId):
                return outcome
            # Bands shared by chance with other stories: claim the rest.
            bands = [band for band in bands if band not in outcome]
        return document_id

    async def _write_claims(self) -> None:
        """Insert the founders' claims queued meanwhile, many in one write: the rounds in
        flight found stories at once, and one insert a founder queued them behind each other
        on a store that runs one command at a time."""
        # Founders placed in the same turn of the event loop go in the same write.
        await asyncio.sleep(0)
        while self._queued_claims:
            batch, self._queued_claims = self._queued_claims, []
            try:
                outcomes = await self._insert_claims(batch)
            except Exception as error:
                for *_, decided in batch:
                    if not decided.done():
                        decided.set_exception(error)
                continue
            for (*_, decided), outcome in zip(batch, outcomes, strict=True):
                if not decided.done():
                    decided.set_result(outcome)

    async def _insert_claims(self, batch: list[_QueuedClaim]) -> list[ObjectId | set[str]]:
        """Each founder's outcome: the story it ends in, or the band keys unrelated stories
        hold (to claim without)."""
        expire_at = datetime.now(UTC) + self._claim_for
        outcomes: list[ObjectId | set[str]] = [document_id for document_id, *_ in batch]
        try:
            await self._claims.insert_many(
                [
                    {"_id": d, "bands": bands, "minhash": signature, "expire_at": expire_at}
                    for d, signature, bands, _ in batch
                ],
                ordered=False,
            )
            return outcomes
        except BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(f.get("code") != DUPLICATE_KEY for f in failures):
                raise
            lost = sorted({f["index"] for f in failures})
        contested = {band for i in lost for band in batch[i][2]}
        holders = await self._claims.find(
            {"bands": {"$in": sorted(contested)}}, {"bands": 1, "minhash": 1}
        ).to_list()
        for i in lost:
            document_id, signature, bands, _ = batch[i]
            mine = set(bands)
            rivals = [h for h in holders if h["_id"] != document_id and mine & set(h["bands"])]
            winner = closest_duplicate(signature, ((h["_id"], h["minhash"]) for h in rivals))
            outcomes[i] = winner if winner is not None else {b for h in rivals for b in h["bands"]}
        return outcomes

    def story_now(self, document_id: ObjectId) -> ObjectId | None:
        """The story an indexed document is in as far as this replica knows now: to store it
        with. Should a founder's claim be lost later, ``refresh`` moves what was stored."""
        story_id = self._index.cluster_of(document_id)
        return self._joined.get(story_id, story_id) if story_id is not None else None

    def story_of(self, signature: bytes) -> ObjectId | None:
        found = self._index.near_duplicate_of(signature)
        return self._joined.get(found, found) if found is not None else None

    def add(self, document_id: ObjectId, signature: bytes, story_id: ObjectId) -> None:
        """Index a document whose story is known."""
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
        # Documents stored in the story of a founder that then lost its claim: moved to the
        # winner's story here, one write per story (a lost race is rare).
        moved: dict[ObjectId, list[ObjectId]] = {}
        async for d in self._documents.find(query, {"minhash": 1, "story_id": 1}).sort("_id", 1):
            self._newest = max(self._newest or d["_id"], d["_id"])
            if d["story_id"] in self._joined:
                moved.setdefault(self._joined[d["story_id"]], []).append(d["_id"])
            if d["_id"] not in self._index:
                self._index.add(d["_id"], d["minhash"], d["story_id"])
                self._order.append(d["_id"])
                added += 1
        for story_id, ids in moved.items():
            await self._documents.update_many(
                {"_id": {"$in": ids}}, {"$set": {"story_id": story_id}}
            )
        while self._order and self._order[0] < oldest:
            evicted = self._order.popleft()
            self._index.discard(evicted)
            self._joined.pop(evicted, None)
        return added

    def __len__(self) -> int:
        return len(self._index)
