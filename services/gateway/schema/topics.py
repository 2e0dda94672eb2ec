"""Tracked topics: a unit's saved queries, each with its documents; units see only their own."""

from datetime import UTC, datetime
from typing import Any, Self

import strawberry
from bson import ObjectId
from pymongo.errors import DuplicateKeyError
from strawberry import relay

from services.gateway.query_language import QuerySyntaxError, compile_query
from services.gateway.repository import DocumentFilter
from services.gateway.schema.context import Info
from services.gateway.schema.document import DocumentConnection, document_page
from services.gateway.schema.errors import UserError, UserErrorCode

TRACKED_TOPICS = "tracked_topics"


@strawberry.type(description="A named query a unit follows.")
class TrackedTopic:
    id: relay.GlobalID
    name: str
    query: str
    created_at: datetime

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        return cls(
            id=relay.GlobalID("TrackedTopic", str(record["_id"])),
            name=record["name"],
            query=record["query"],
            created_at=record["created_at"],
        )

    @strawberry.field(description="The topic's documents, newest first.")
    async def documents(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> DocumentConnection:
        return await document_page(
            info, DocumentFilter(topic=compile_query(self.query)), first, after
        )


@strawberry.input
class CreateTrackedTopicInput:
    name: str
    query: str = strawberry.field(description='e.g. ngập OR "triều cường" AND district:760')


@strawberry.type
class TrackedTopicPayload:
    tracked_topic: TrackedTopic | None
    user_errors: list[UserError]


async def tracked_topics(info: Info) -> list[TrackedTopic]:
    unit = info.context.principal.unit
    collection = info.context.documents.database[TRACKED_TOPICS]
    return [TrackedTopic.from_record(r) async for r in collection.find({"unit": unit}).sort("name")]


async def create_tracked_topic(info: Info, input: CreateTrackedTopicInput) -> TrackedTopicPayload:
    name, query = input.name.strip(), input.query.strip()
    errors = []
    if not name:
        errors.append(
            UserError(
                code=UserErrorCode.REQUIRED,
                field=["input", "name"],
                message="a tracked topic needs a name",
            )
        )
    try:
        compile_query(query)
    except QuerySyntaxError as error:
        errors.append(
            UserError(code=UserErrorCode.INVALID, field=["input", "query"], message=str(error))
        )
    if errors:
        return TrackedTopicPayload(tracked_topic=None, user_errors=errors)
    principal = info.context.principal
    record = {
        "unit": principal.unit,
        "name": name,
        "query": query,
        "created_by": principal.key_id,
        "created_at": datetime.now(UTC),
    }
    collection = info.context.documents.database[TRACKED_TOPICS]
    try:
        result = await collection.insert_one(record)
    except DuplicateKeyError:
        return TrackedTopicPayload(
            tracked_topic=None,
            user_errors=[
                UserError(
                    code=UserErrorCode.DUPLICATE,
                    field=["input", "name"],
                    message=f"your unit already tracks a topic named {name!r}",
                )
            ],
        )
    record["_id"] = result.inserted_id
    return TrackedTopicPayload(tracked_topic=TrackedTopic.from_record(record), user_errors=[])


async def delete_tracked_topic(info: Info, id: relay.GlobalID) -> TrackedTopicPayload:
    collection = info.context.documents.database[TRACKED_TOPICS]
    found = None
    if id.type_name == "TrackedTopic" and ObjectId.is_valid(id.node_id):
        # Another unit's topic is as good as absent.
        found = await collection.find_one_and_delete(
            {"_id": ObjectId(id.node_id), "unit": info.context.principal.unit}
        )
    if found is None:
        return TrackedTopicPayload(
            tracked_topic=None,
            user_errors=[
                UserError(
                    code=UserErrorCode.NOT_FOUND,
                    field=["id"],
                    message="no tracked topic of your unit has this id",
                )
            ],
        )
    return TrackedTopicPayload(tracked_topic=TrackedTopic.from_record(found), user_errors=[])
