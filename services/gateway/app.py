"""The gateway's Litestar application: ``create_app(settings)``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request
from litestar.datastructures import State
from strawberry.litestar import make_graphql_controller

from langnghe.ingest.v1 import ingest_pb2_grpc
from services.common.grpc_client import open_channel
from services.common.metrics import new_registry
from services.common.mongo import connect, database
from services.gateway.audit import AuditLog
from services.gateway.auth import SCOPES, ApiKeyStore, admit, authenticate
from services.gateway.bot import bot_page
from services.gateway.export import export_documents
from services.gateway.health import healthz, readyz
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
from services.gateway.schema.context import Context
from services.gateway.schema.loaders import Loaders
from services.gateway.schema.metrics import GraphQLMetrics
from services.gateway.schema.topics import TRACKED_TOPICS
from services.gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> Litestar:
    registry = new_registry("gateway")
    http_metrics = HttpMetrics(registry)
    dev = settings.environment == "dev"
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
        try:
            yield
        finally:
            await channel.close()
            await mongo.close()

    limiter = RateLimiter(settings.rate_limit_per_minute)

    async def context_getter(request: Request) -> Context:
        state = request.app.state
        principal = await authenticate(request, state.api_keys, ide=dev)
        quota = admit(limiter, principal) if principal is not None else None
        return Context(
            api_keys=state.api_keys,
            audit=state.audit,
            persisted_queries=state.persisted_queries,
            principal=principal,
            quota=quota,
            settings=settings,
            documents=state.documents,
            ingest=state.ingest,
            request_id=request.scope["state"].get("request_id", ""),
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
    graphql = make_graphql_controller(
        schema,
        path="/graphql",
        graphql_ide="graphiql" if dev else None,
        allow_queries_via_get=False,
        context_getter=context_getter,
    )
    return Litestar(
        route_handlers=[graphql, healthz, readyz, metrics_endpoint, bot_page, export_documents],
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
