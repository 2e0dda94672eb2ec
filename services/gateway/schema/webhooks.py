"""Webhooks in the schema: a unit's targets for its alerts; the secret is shown once."""

from datetime import datetime
from typing import Any, Self

import strawberry
from bson import ObjectId
from strawberry import relay

from services.common.validation import InvalidInputError
from services.gateway.schema.context import Info
from services.gateway.schema.errors import UserError, UserErrorCode
from services.gateway.schema.topics import TRACKED_TOPICS
from services.gateway.webhooks import WebhooksUnavailable


@strawberry.type(description="Where a unit's alerts are POSTed, signed (see docs/live.md).")
class Webhook:
    id: relay.GlobalID
    url: str
    topic_ids: list[relay.GlobalID] = strawberry.field(
        description="The tracked topics whose alerts it receives; empty: all of the unit's."
    )
    created_at: datetime

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Self:
        return cls(
            id=relay.GlobalID("Webhook", str(r["_id"])),
            url=r["url"],
            topic_ids=[relay.GlobalID("TrackedTopic", str(t)) for t in r["topic_ids"]],
            created_at=r["created_at"],
        )


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None
    secret: str | None = strawberry.field(
        description="The signing secret: shown here once, never again. Keep it secret."
    )
    user_errors: list[UserError]


@strawberry.type
class DeleteWebhookPayload:
    webhook: Webhook | None
    user_errors: list[UserError]


async def webhooks(info: Info) -> list[Webhook]:
    records = await info.context.webhooks.list_for(info.context.principal.unit)
    return [Webhook.from_record(r) for r in records]


async def create_webhook(
    info: Info, url: str, topic_ids: list[relay.GlobalID] | None = None
) -> CreateWebhookPayload:
    principal = info.context.principal
    topics: list[ObjectId] = []
    for i, topic in enumerate(topic_ids or ()):
        if topic.type_name != "TrackedTopic" or not ObjectId.is_valid(topic.node_id):
            return _create_error(
                UserErrorCode.INVALID, ["topicIds", str(i)], f"{topic} is no topic"
            )
        topics.append(ObjectId(topic.node_id))
    owned = info.context.documents.database[TRACKED_TOPICS]
    if topics and await owned.count_documents(
        {"_id": {"$in": topics}, "unit": principal.unit}
    ) != len(set(topics)):
        return _create_error(
            UserErrorCode.NOT_FOUND, ["topicIds"], "every topic must be one your unit tracks"
        )
    try:
        secret, record = await info.context.webhooks.create(
            unit=principal.unit, url=url.strip(), topic_ids=topics, created_by=principal.key_prefix
        )
    except WebhooksUnavailable:
        return _create_error(
            UserErrorCode.INVALID,
            None,
            "webhooks are not configured on this deployment (webhook_secret_key is unset)",
        )
    except InvalidInputError as invalid:
        return CreateWebhookPayload(
            webhook=None,
            secret=None,
            user_errors=[
                UserError(
                    code=UserErrorCode[v.code]
                    if v.code in UserErrorCode.__members__
                    else (UserErrorCode.INVALID),
                    field=[v.field],
                    message=v.message,
                )
                for v in invalid.violations
            ],
        )
    return CreateWebhookPayload(webhook=Webhook.from_record(record), secret=secret, user_errors=[])


async def delete_webhook(info: Info, id: relay.GlobalID) -> DeleteWebhookPayload:
    found = None
    if id.type_name == "Webhook" and ObjectId.is_valid(id.node_id):
        found = await info.context.webhooks.delete(
            ObjectId(id.node_id), info.context.principal.unit
        )
    if found is None:
        return DeleteWebhookPayload(
            webhook=None,
            user_errors=[
                UserError(
                    code=UserErrorCode.NOT_FOUND,
                    field=["id"],
                    message="no webhook of your unit has this id",
                )
            ],
        )
    return DeleteWebhookPayload(webhook=Webhook.from_record(found), user_errors=[])


def _create_error(code: UserErrorCode, field: list[str] | None, message: str):
    return CreateWebhookPayload(
        webhook=None, secret=None, user_errors=[UserError(code=code, field=field, message=message)]
    )
