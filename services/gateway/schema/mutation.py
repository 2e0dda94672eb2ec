"""The root Mutation type."""

from datetime import datetime

import strawberry
from bson import ObjectId
from google.protobuf.timestamp_pb2 import Timestamp

from langnghe.ingest.v1 import ingest_pb2
from services.common.validation import InvalidInputError
from services.gateway.schema.alerts import acknowledge_alert
from services.gateway.schema.api_keys import create_api_key, revoke_api_key
from services.gateway.schema.context import Info
from services.gateway.schema.document import Document, in_city_time
from services.gateway.schema.errors import UserError
from services.gateway.schema.feedback import submit_feedback
from services.gateway.schema.ingest_calls import call_ingest
from services.gateway.schema.permissions import requires
from services.gateway.schema.persisted import persist_query
from services.gateway.schema.sources import (
    add_source,
    disable_source,
    enable_source,
    update_source,
)
from services.gateway.schema.topics import create_tracked_topic, delete_tracked_topic
from services.gateway.schema.webhooks import create_webhook, delete_webhook


@strawberry.input
class SubmitDocumentInput:
    text: str
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = strawberry.field(
        default=None, description="ISO 8601; without an offset it is read as Asia/Ho_Chi_Minh."
    )


@strawberry.type
class SubmitDocumentPayload:
    document: Document | None = strawberry.field(
        description="The stored document; the existing one when the same text was sent before."
    )
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Store a document (once per distinct text) and analyse it; "
        "if analysis is not possible now it is retried until it succeeds.",
        permission_classes=[requires("documents:write")],
    )
    async def submit_document(
        self, info: Info, input: SubmitDocumentInput
    ) -> SubmitDocumentPayload:
        request = ingest_pb2.SubmitDocumentRequest(
            text=input.text, title=input.title or "", url=input.url or ""
        )
        if input.published_at is not None:
            stamp = Timestamp()
            stamp.FromDatetime(in_city_time(input.published_at))
            request.published_at.CopyFrom(stamp)
        context = info.context
        try:
            response = await call_ingest(info, "SubmitDocument", request)
        except InvalidInputError as invalid:
            return SubmitDocumentPayload(
                document=None,
                user_errors=[UserError.from_violation(v) for v in invalid.violations],
            )
        found = await context.documents.get_many([ObjectId(response.document_id)])
        return SubmitDocumentPayload(
            document=Document.from_record(found[ObjectId(response.document_id)]), user_errors=[]
        )

    submit_feedback = strawberry.mutation(
        resolver=submit_feedback,
        description="Store a citizen's feedback (once per externalId of your unit), analyse it "
        "within a couple of seconds and suggest the unit responsible; if analysis takes longer "
        "the feedback is stored and returned PENDING, and analysed in the background.",
        permission_classes=[requires("feedback:write")],
    )

    create_api_key = strawberry.mutation(
        resolver=create_api_key,
        description="A new API key for a city unit; the key is in the answer, and only there.",
        permission_classes=[requires("keys:admin")],
    )
    revoke_api_key = strawberry.mutation(
        resolver=revoke_api_key,
        description="Revoke a key; calls with it fail within 30 seconds everywhere.",
        permission_classes=[requires("keys:admin")],
    )

    add_source = strawberry.mutation(
        resolver=add_source,
        description="Register a source; it is polled from now on.",
        permission_classes=[requires("sources:admin")],
    )
    update_source = strawberry.mutation(
        resolver=update_source, permission_classes=[requires("sources:admin")]
    )
    disable_source = strawberry.mutation(
        resolver=disable_source,
        description="Stop polling a source, saying why.",
        permission_classes=[requires("sources:admin")],
    )
    enable_source = strawberry.mutation(
        resolver=enable_source,
        description="Poll a source again; its failures are forgotten.",
        permission_classes=[requires("sources:admin")],
    )

    create_tracked_topic = strawberry.mutation(
        resolver=create_tracked_topic,
        description="Follow a query under a name, for your unit.",
        permission_classes=[requires("read")],
    )
    delete_tracked_topic = strawberry.mutation(
        resolver=delete_tracked_topic, permission_classes=[requires("read")]
    )

    acknowledge_alert = strawberry.mutation(
        resolver=acknowledge_alert,
        description="Say that your unit has taken an open alert in hand.",
        permission_classes=[requires("read")],
    )
    create_webhook = strawberry.mutation(
        resolver=create_webhook,
        description="POST your unit's alerts to url, signed; the secret is in the answer, "
        "and only there. Private and loopback addresses are refused.",
        permission_classes=[requires("read")],
    )
    delete_webhook = strawberry.mutation(
        resolver=delete_webhook, permission_classes=[requires("read")]
    )

    persist_query = strawberry.mutation(
        resolver=persist_query,
        description="Put a query on the allow-list; clients then send its SHA-256 hash.",
        permission_classes=[requires("keys:admin")],
    )
