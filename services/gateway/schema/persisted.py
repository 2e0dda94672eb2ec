"""Registering persisted queries: administrators add the documents integrators may run."""

from datetime import datetime
from typing import Any, Self

import strawberry
from graphql import GraphQLError, parse, validate

from services.gateway.schema.context import Info
from services.gateway.schema.errors import UserError, UserErrorCode


@strawberry.type(description="A GraphQL document on the allow-list, sent by its hash.")
class PersistedQuery:
    sha256_hash: str
    name: str
    query: str
    created_at: datetime

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Self:
        return cls(
            sha256_hash=r["_id"], name=r["name"], query=r["query"], created_at=r["created_at"]
        )


@strawberry.type
class PersistQueryPayload:
    persisted_query: PersistedQuery | None
    user_errors: list[UserError]


async def persist_query(info: Info, query: str, name: str = "") -> PersistQueryPayload:
    try:
        problems = validate(info.schema._schema, parse(query))
    except GraphQLError as error:
        problems = [error]
    if problems:
        return PersistQueryPayload(
            persisted_query=None,
            user_errors=[
                UserError(code=UserErrorCode.INVALID, field=["query"], message=p.message)
                for p in problems
            ],
        )
    record = await info.context.persisted_queries.add(query, name.strip())
    return PersistQueryPayload(persisted_query=PersistedQuery.from_record(record), user_errors=[])


async def persisted_queries(info: Info) -> list[PersistedQuery]:
    return [PersistedQuery.from_record(r) for r in await info.context.persisted_queries.list_all()]
