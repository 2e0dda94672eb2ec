"""The gateway's Litestar application: ``create_app(settings)``."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, ClassVar

import msgspec
import strawberry
import structlog
from litestar import Controller, Litestar, Request, Response, post
from litestar.background_tasks import BackgroundTasks
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Dependencies, Scope
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import GraphQLResource
from strawberry.types.unset import UNSET, UnsetType

from langnghe.ingest.v1 import ingest_pb2_grpc
from services.common.grpc_client import open_channel
from services.common.heap import freeze_startup_objects
from services.common.metrics import new_registry
from services.common.mongo import connect, database
from services.common.ssrf import AddressGuard
from services.gateway.alerts import AlertEvaluator, AlertRule, AlertStore
from services.gateway.audit import AuditLog
from services.gateway.auth import SCOPES, ApiKeyStore, admit, authenticate
from services.gateway.bot import bot_page
from services.gateway.export import export_documents
from services.gateway.health import healthz, readyz
from services.gateway.live import Broadcast, FeedMetrics, IngestEventFeed
from services.gateway.mongo_monitoring import (
    MongoRequestMetrics,
    RequestCommandListener,
    RequestPoolListener,
    mongo_tally_middleware,
)
from services.gateway.observability import HttpMetrics, metrics_endpoint, observability_middleware
from services.gateway.persisted import PersistedQueries, persisted_queries_middleware
from services.gateway.ratelimit import RateLimiter
from services.gateway.repository import DocumentRepository
from services.gateway.routing import RoutingTable
from services.gateway.schema import build_schema
from services.gateway.schema.alerts import Alert
from services.gateway.schema.context import Context
from services.gateway.schema.loaders import Loaders
from services.gateway.schema.metrics import GraphQLMetrics
from services.gateway.schema.topics import TRACKED_TOPICS
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks import (
    EVENT_ALERT_RAISED,
    DeliveryMetrics,
    SecretBox,
    WebhookSender,
    WebhookStore,
)

log = structlog.get_logger(__name__)


async def new_graphql_response() -> Response:
    """The Response a GraphQL request's resolvers and extensions add headers and cookies to."""
    return Response({}, background=BackgroundTasks([]))


def graphql_controller(
    schema: strawberry.Schema, context_getter: Callable[[Scope], Awaitable[Context]], *, dev: bool
) -> type[Controller]:
    """The /graphql endpoint: POST queries, graphql-transport-ws subscriptions, GraphiQL in dev."""
    controller = make_graphql_controller(
        schema,
        path="/graphql",
        graphql_ide="graphiql" if dev else None,
        allow_queries_via_get=False,
        context_getter=context_getter,
        subscription_protocols=("graphql-transport-ws",),
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=20,
    )

    class GraphQLController(controller):
        # Strawberry provides each request's Response (where resolvers and extensions set
        # headers) from a plain function that Litestar runs in a worker thread: a thread hop per
        # request to make an empty object. The same object made on the event loop needs no thread
        # (tests/gateway/test_graphql_controller.py keeps it so).
        dependencies: ClassVar[Dependencies] = {
            **controller.dependencies,
            "response": Provide(new_graphql_response),
        }

        @post(status_code=200)
        async def handle_http_post(
            self, request: Request[Any, Any, Any]
        ) -> Response[GraphQLResource | str]:
            """Strawberry's POST handler, with its context, root value and response made here in
            turn: as Litestar dependencies they were resolved in a task group on every request,
            about a tenth of what a request costs before its own work."""
            response = await new_graphql_response()
            context = await context_getter(request.scope)
            context.request = request
            context.response = response
            # Where Strawberry's view finds the response resolvers and extensions add to.
            self.temporal_response = response
            return await self.execute_request(request=request, context=context, root_value=None)

        def encode_json(self, data: object) -> bytes:
            # msgspec (Litestar's own encoder) rather than json.dumps: the answer is plain JSON
            # data, and a page of 100 documents is tens of kilobytes of it.
            return msgspec.json.encode(data)

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Admit a WebSocket whose connection_init payload carries a valid API key."""
            params = context.connection_params or {}
            value = params.get("authorization") or params.get("Authorization") or ""
            scheme, _, key = str(value).partition(" ")
            principal = None
            if scheme.lower() == "bearer" and key.strip():
                principal = await context.api_keys.authenticate(key.strip())
            if principal is None:
                raise ConnectionRejectionError
            context.principal = principal
            return UNSET

    return GraphQLController


def create_app(settings: GatewaySettings) -> Litestar:
    registry = new_registry("gateway")
    http_metrics = HttpMetrics(registry)
    dev = settings.environment == "dev"
    box = (
        SecretBox(settings.webhook_secret_key.get_secret_value())
        if settings.webhook_secret_key.get_secret_value()
        else None
    )
    webhook_guard = AddressGuard(settings.webhook_allow)
    document_events: Broadcast = Broadcast(settings.subscription_queue_size)
    alert_events: Broadcast = Broadcast(settings.subscription_queue_size)
    feed_metrics = FeedMetrics(registry)
    delivery_metrics = DeliveryMetrics(registry)
    # Read at start-up, so that a malformed table stops the gateway rather than a request.
    routing = RoutingTable.load(settings.routing_table)

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        """Open MongoDB and the ingest channel for the app's lifetime; close them on shutdown."""
        mongo = connect(
            settings.mongodb_uri,
            "langnghe-gateway",
            event_listeners=[RequestCommandListener(), RequestPoolListener()],
        )
        channel = open_channel(settings.ingest_target)
        app.state.mongo = mongo
        app.state.ingest_channel = channel
        app.state.documents = DocumentRepository(database(mongo))
        app.state.ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        app.state.api_keys = ApiKeyStore(database(mongo))
        await app.state.api_keys.ensure_indexes()
        await database(mongo)[TRACKED_TOPICS].create_index(
            [("unit", 1), ("name", 1)], name="unit_name_unique", unique=True
        )
        app.state.persisted_queries = PersistedQueries(database(mongo))
        app.state.audit = AuditLog(database(mongo))
        await app.state.audit.ensure_indexes()
        if settings.admin_key:
            await app.state.api_keys.ensure(
                settings.admin_key, unit="administrators", scopes=list(SCOPES), name="admin"
            )
        alerts = app.state.alerts = AlertStore(database(mongo))
        await alerts.ensure_indexes()
        webhooks = app.state.webhooks = WebhookStore(database(mongo), box, webhook_guard)
        await webhooks.ensure_indexes()
        sender = WebhookSender(
            webhooks,
            webhook_guard,
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            retry_base_s=settings.webhook_retry_base_s,
            retry_max_s=settings.webhook_retry_max_s,
            poll_s=settings.webhook_poll_s,
            concurrency=settings.webhook_concurrency,
            metrics=delivery_metrics,
        )

        async def enqueue_webhooks(alert: dict[str, Any]) -> None:
            await webhooks.enqueue(
                EVENT_ALERT_RAISED,
                {"event": EVENT_ALERT_RAISED, "alert": Alert.from_record(alert).payload()},
                unit=alert["unit"],
                topic_id=alert["topic_id"],
                alert_id=alert["_id"],
            )
            await alerts.mark_enqueued(alert["_id"])
            sender.wake.set()

        evaluator = AlertEvaluator(
            alerts,
            AlertRule(
                min_count=settings.alert_min_count,
                volume_factor=settings.alert_volume_factor,
                negative_share_min=settings.alert_negative_share_min,
                negative_share_rise=settings.alert_negative_share_rise,
            ),
            raised=alert_events,
            on_new_alert=enqueue_webhooks,
        )
        feed = IngestEventFeed(
            target=settings.ingest_target,
            explicit_targets=settings.ingest_watch_targets,
            resolve_every_s=settings.ingest_watch_resolve_s,
            on_batch=document_events.publish,
            metrics=feed_metrics,
        )
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(feed.run(stop), name="ingest-events"),
            asyncio.create_task(
                evaluator.run(stop, document_events, settings.alert_tick_s), name="alerts"
            ),
        ]
        if settings.webhook_delivery:
            workers.append(asyncio.create_task(sender.run(stop), name="webhooks"))
        log.info("started", frozen_objects=freeze_startup_objects())
        try:
            yield
        finally:
            stop.set()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await sender.aclose()
            await channel.close()
            await mongo.close()

    limiter = RateLimiter(settings.rate_limit_per_minute)

    async def context_getter(scope: Scope) -> Context:
        state = scope["app"].state
        principal = quota = None
        # A WebSocket authenticates with its connection_init payload (on_ws_connect).
        if scope["type"] == "http":
            principal = await authenticate(Request(scope), state.api_keys, ide=dev)
            quota = admit(limiter, principal) if principal is not None else None
        return Context(
            limiter=limiter,
            alerts=state.alerts,
            webhooks=state.webhooks,
            document_events=document_events,
            alert_events=alert_events,
            api_keys=state.api_keys,
            audit=state.audit,
            persisted_queries=state.persisted_queries,
            principal=principal,
            quota=quota,
            settings=settings,
            documents=state.documents,
            ingest=state.ingest,
            request_id=scope.get("state", {}).get("request_id", ""),
            loaders=Loaders(state.documents),
            routing=routing,
        )

    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_tokens=settings.max_query_tokens,
        max_aliases=settings.max_query_aliases,
        introspection=dev,
        metrics=GraphQLMetrics(registry),
    )
    graphql = graphql_controller(schema, context_getter, dev=dev)

    return Litestar(
        route_handlers=[
            graphql,
            healthz,
            readyz,
            metrics_endpoint,
            bot_page,
            export_documents,
        ],
        lifespan=[resources],
        middleware=[
            observability_middleware(http_metrics),
            mongo_tally_middleware(
                MongoRequestMetrics(registry), server_timing=settings.server_timing
            ),
            persisted_queries_middleware(
                required=settings.require_persisted_queries,
                max_body_bytes=settings.max_body_bytes,
            ),
        ],
        state=State({"registry": registry, "settings": settings, "limiter": limiter}),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        openapi_config=None,
    )
