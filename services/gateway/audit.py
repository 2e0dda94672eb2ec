"""The audit log: who called what, when, and how it went — one record per GraphQL operation."""

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

AUDIT_LOG = "audit_log"
# How long an entry is kept: long enough for a quarter's review.
RETENTION = timedelta(days=180)


class AuditLog:
    def __init__(self, db: AsyncDatabase) -> None:
        self._entries = db[AUDIT_LOG]

    async def ensure_indexes(self) -> None:
        await self._entries.create_indexes(
            [
                IndexModel([("unit", ASCENDING), ("_id", DESCENDING)], name="unit_recent"),
                IndexModel([("expire_at", ASCENDING)], name="retention", expireAfterSeconds=0),
            ]
        )

    async def record(self, entry: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        await self._entries.insert_one({**entry, "at": now, "expire_at": now + RETENTION})

    async def page(
        self, *, unit: str | None, first: int, after: ObjectId | None
    ) -> tuple[list[dict[str, Any]], bool]:
        query: dict[str, Any] = {}
        if unit:
            query["unit"] = unit
        if after:
            query["_id"] = {"$lt": after}
        records = await self._entries.find(query).sort("_id", -1).limit(first + 1).to_list()
        return records[:first], len(records) > first
