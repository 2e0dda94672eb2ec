"""The root Query type."""

import inspect
from typing import Annotated

import strawberry
from strawberry import relay

from services.gateway.schema.alerts import AlertConnection, alert_page
from services.gateway.schema.analytics import (
    Analytics,
    Report,
    ShareOfVoice,
    TimelinePoint,
    analytics,
    report,
    sentiment_timeline,
    share_of_voice,
)
from services.gateway.schema.api_keys import ApiKey
from services.gateway.schema.audit import AuditEntryConnection, audit_log
from services.gateway.schema.context import Info
from services.gateway.schema.document import (
    Document,
    DocumentConnection,
    DocumentFilterInput,
    DocumentOrderBy,
    document_page,
)
from services.gateway.schema.errors import bad_input
from services.gateway.schema.feedback import Feedback, feedback
from services.gateway.schema.permissions import requires
from services.gateway.schema.persisted import PersistedQuery, persisted_queries
from services.gateway.schema.ratelimit import RateLimit, rate_limit
from services.gateway.schema.sources import SourceConnection, sources
from services.gateway.schema.story import Story
from services.gateway.schema.topics import TrackedTopic, tracked_topics
from services.gateway.schema.webhooks import Webhook, webhooks


@strawberry.type
class Query:
    # Not strawberry's relay.node(): that field rewrites itself while a schema is built, so a
    # second schema in one process (a second app, the SDL export beside a running app) failed.
    @strawberry.field(permission_classes=[requires("read")])
    async def node(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The ID of the object.")],
    ) -> relay.Node | None:
        found = id.resolve_type(info).resolve_node(id.node_id, info=info, required=False)
        return await found if inspect.isawaitable(found) else found

    @strawberry.field(
        description="One document by its global id; null when there is none.",
        permission_classes=[requires("read")],
    )
    async def document(self, info: Info, id: relay.GlobalID) -> Document | None:
        if id.type_name != "Document":
            raise bad_input(f"{id} is the id of a {id.type_name}, not a Document")
        (node,) = await Document.resolve_nodes(info=info, node_ids=[id.node_id])
        return node

    @strawberry.field(
        description="Documents, newest first, at most 100 a page.",
        permission_classes=[requires("read")],
    )
    async def documents(
        self,
        info: Info,
        filter: DocumentFilterInput | None = None,
        order_by: DocumentOrderBy = DocumentOrderBy.STORED,
        first: int | None = None,
        after: str | None = None,
    ) -> DocumentConnection:
        flt = filter.to_filter() if filter else DocumentFilterInput().to_filter()
        return await document_page(info, flt, first, after, order_by)

    @strawberry.field(
        description="One story by its global id; null when there is none.",
        permission_classes=[requires("read")],
    )
    async def story(self, info: Info, id: relay.GlobalID) -> Story | None:
        if id.type_name != "Story":
            raise bad_input(f"{id} is the id of a {id.type_name}, not a Story")
        (node,) = await Story.resolve_nodes(info=info, node_ids=[id.node_id])
        return node

    feedback: Feedback | None = strawberry.field(
        resolver=feedback,
        description="Your unit's feedback, by the portal's externalId or by id (exactly one).",
        permission_classes=[requires("feedback:write")],
    )
    tracked_topics: list[TrackedTopic] = strawberry.field(
        resolver=tracked_topics,
        description="Your unit's tracked topics.",
        permission_classes=[requires("read")],
    )
    alerts: AlertConnection = strawberry.field(
        resolver=alert_page,
        description="Your unit's alerts, newest first; by topic and state if given.",
        permission_classes=[requires("read")],
    )
    webhooks: list[Webhook] = strawberry.field(
        resolver=webhooks,
        description="Your unit's webhook targets (their secrets are never shown again).",
        permission_classes=[requires("read")],
    )
    sentiment_timeline: list[TimelinePoint] = strawberry.field(
        resolver=sentiment_timeline,
        description="Volume and sentiment over time for a filter, in Ho Chi Minh City time, "
        "within the filter's since/until (the last 30 days when it has none; at most 400 days). "
        "analytics { timeline } gives the same for a period and a tracked topic.",
        permission_classes=[requires("read")],
    )
    analytics: Analytics = strawberry.field(
        resolver=analytics,
        description="Analytics of the documents matching a filter, one of your unit's tracked "
        "topics, or both, in a period (the last 30 days when none is given).",
        permission_classes=[requires("read")],
    )
    report: Report = strawberry.field(
        resolver=report,
        description="A period's summary: counts, sentiment, top stories, names and key phrases, "
        "and your unit's alerts.",
        permission_classes=[requires("read")],
    )
    share_of_voice: ShareOfVoice = strawberry.field(
        resolver=share_of_voice,
        description="How the documents of 2 to 10 of your unit's tracked topics compare, in all "
        "and over time.",
        permission_classes=[requires("read")],
    )
    sources: SourceConnection = strawberry.field(
        resolver=sources,
        description="The registry of sources, with each one's health, 100 a page at the most.",
        permission_classes=[requires("read")],
    )
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit_log,
        description="Who called what, newest first; administrators see every unit.",
        permission_classes=[requires("keys:admin")],
    )
    persisted_queries: list[PersistedQuery] = strawberry.field(
        resolver=persisted_queries,
        description="The queries this gateway runs when it requires persisted queries.",
        permission_classes=[requires("keys:admin")],
    )
    rate_limit: RateLimit | None = strawberry.field(
        resolver=rate_limit, description="The calling key's rate limit."
    )

    @strawberry.field(
        description="API keys: every unit's for administrators.",
        permission_classes=[requires("keys:admin")],
    )
    async def api_keys(self, info: Info, unit: str | None = None) -> list[ApiKey]:
        return [ApiKey.from_record(r) for r in await info.context.api_keys.list_keys(unit)]
