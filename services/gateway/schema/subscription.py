"""The root Subscription type: analysed documents and raised alerts, live.

Subscriptions run over a WebSocket speaking graphql-transport-ws. The API key goes in the
connection_init payload, ``{"authorization": "Bearer <key>"}``; a missing or unknown key closes
the socket with 4403. Each operation spends one request of the key's rate limit
(schema/websocket_limits.py). Events are live only: a client that reconnects catches up with
the ``documents`` and ``alerts`` queries.
"""

from collections.abc import AsyncGenerator

import strawberry
from bson import ObjectId
from strawberry import relay

from services.gateway.live import DocumentEvent, TooSlow
from services.gateway.repository import DocumentFilter
from services.gateway.schema.alerts import Alert, topic_object_id
from services.gateway.schema.context import Info
from services.gateway.schema.document import Document, DocumentFilterInput
from services.gateway.schema.errors import ApiError
from services.gateway.schema.permissions import requires


def _may_match(flt: DocumentFilter, event: DocumentEvent) -> bool:
    """Whether the event's own fields leave the document a chance: saves a query otherwise."""
    return (
        (not flt.source_kinds or event.source_kind in flt.source_kinds)
        and (not flt.outlets or event.outlet in flt.outlets)
        and (flt.sentiment is None or event.sentiment_label == flt.sentiment)
    )


def _too_slow() -> ApiError:
    return ApiError(
        "this subscription fell too far behind and was ended; subscribe again and catch up "
        "by querying",
        "SUBSCRIPTION_TOO_SLOW",
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every document analysed from now on that matches the filter (the same "
        "filter as documents).",
        permission_classes=[requires("read")],
    )
    async def document_added(
        self, info: Info, filter: DocumentFilterInput | None = None
    ) -> AsyncGenerator[Document]:
        flt = (filter or DocumentFilterInput()).to_filter()
        documents = info.context.documents
        try:
            async with info.context.document_events.subscribe() as batches:
                async for batch in batches:
                    ids = [
                        ObjectId(e.document_id)
                        for e in batch
                        if ObjectId.is_valid(e.document_id) and _may_match(flt, e)
                    ]
                    if not ids:
                        continue
                    # One query a batch: the events' ids, narrowed by the caller's filter.
                    found = await documents.matching(ids, flt)
                    for document_id in ids:
                        if document_id in found:
                            yield Document.from_record(found.pop(document_id))
        except TooSlow:
            raise _too_slow() from None

    @strawberry.subscription(
        description="Alerts raised from now on for your unit's tracked topics, or for one.",
        permission_classes=[requires("read")],
    )
    async def alert_raised(
        self, info: Info, topic_id: relay.GlobalID | None = None
    ) -> AsyncGenerator[Alert]:
        topic = topic_object_id(topic_id)
        unit = info.context.principal.unit
        try:
            async with info.context.alert_events.subscribe() as raised:
                async for alert in raised:
                    if alert["unit"] == unit and topic in (None, alert["topic_id"]):
                        yield Alert.from_record(alert)
        except TooSlow:
            raise _too_slow() from None
