"""API keys in the schema: list, create (the key is shown once), revoke."""

from datetime import datetime
from typing import Any, Self

import strawberry
from bson import ObjectId
from strawberry import relay

from services.common.validation import FieldViolation, InvalidInputError, NotFoundError
from services.gateway.schema.context import Info
from services.gateway.schema.errors import UserError, bad_input


@strawberry.type(description="An API key of a city unit; the key itself is never shown again.")
class ApiKey:
    id: relay.GlobalID
    prefix: str = strawberry.field(description="The key's first characters, to recognise it.")
    unit: str
    name: str
    scopes: list[str]
    rate_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        return cls(
            id=relay.GlobalID("ApiKey", str(record["_id"])),
            prefix=record["prefix"],
            unit=record["unit"],
            name=record.get("name", ""),
            scopes=record["scopes"],
            rate_per_minute=record.get("rate_per_minute"),
            created_at=record["created_at"],
            revoked_at=record.get("revoked_at"),
        )


@strawberry.input
class CreateApiKeyInput:
    unit: str = strawberry.field(description="The city unit the key belongs to.")
    scopes: list[str] = strawberry.field(
        description="Some of: read, documents:write, feedback:write, sources:admin, keys:admin."
    )
    name: str = ""
    rate_per_minute: int | None = strawberry.field(
        default=None, description="Requests a minute; the gateway's default when not given."
    )


@strawberry.type
class CreateApiKeyPayload:
    key: str | None = strawberry.field(description="The new key: store it now.")
    api_key: ApiKey | None
    user_errors: list[UserError]


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey | None
    user_errors: list[UserError]


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    try:
        key, record = await info.context.api_keys.create(
            unit=input.unit,
            scopes=input.scopes,
            name=input.name,
            rate_per_minute=input.rate_per_minute,
        )
    except InvalidInputError as error:
        return CreateApiKeyPayload(
            key=None,
            api_key=None,
            user_errors=[UserError.from_violation(v) for v in error.violations],
        )
    return CreateApiKeyPayload(key=key, api_key=ApiKey.from_record(record), user_errors=[])


async def revoke_api_key(info: Info, id: relay.GlobalID) -> RevokeApiKeyPayload:
    if id.type_name != "ApiKey" or not ObjectId.is_valid(id.node_id):
        raise bad_input(f"{id} is not the id of an API key")
    try:
        record = await info.context.api_keys.revoke(ObjectId(id.node_id))
    except NotFoundError as error:
        return RevokeApiKeyPayload(
            api_key=None,
            user_errors=[UserError.from_violation(FieldViolation("id", "NOT_FOUND", str(error)))],
        )
    return RevokeApiKeyPayload(api_key=ApiKey.from_record(record), user_errors=[])
