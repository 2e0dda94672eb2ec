"""What every resolver can reach during one request: the repository, ingest, settings."""

from typing import Any

from bson import ObjectId
from strawberry.dataloader import DataLoader
from strawberry.litestar import BaseContext
from strawberry.types import Info as StrawberryInfo

from langnghe.ingest.v1 import ingest_pb2_grpc
from services.gateway.alerts import AlertStore
from services.gateway.audit import AuditLog
from services.gateway.auth import ApiKeyStore, Principal
from services.gateway.live import Broadcast, DocumentEvent
from services.gateway.persisted import PersistedQueries
from services.gateway.ratelimit import Quota, RateLimiter
from services.gateway.repository import DocumentRepository
from services.gateway.routing import RoutingTable
from services.gateway.schema.loaders import Loaders
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks import WebhookStore


class Context(BaseContext, kw_only=True):
    """Built per request; ``request`` and ``response`` are filled by Strawberry."""

    settings: GatewaySettings
    documents: DocumentRepository
    ingest: ingest_pb2_grpc.IngestServiceStub
    api_keys: ApiKeyStore
    audit: AuditLog
    persisted_queries: PersistedQueries
    request_id: str
    # Made for this request only: batches and caches its MongoDB reads.
    loaders: Loaders
    routing: RoutingTable
    # None only for the GraphiQL page in development.
    principal: Principal | None
    # What is left of the caller's rate limit after this request.
    quota: Quota | None = None
    limiter: RateLimiter
    alerts: AlertStore
    webhooks: WebhookStore
    # Live events of this gateway, for subscriptions.
    document_events: Broadcast[list[DocumentEvent]]
    alert_events: Broadcast[dict[str, Any]]
    # The graphql-transport-ws connection_init payload, on a WebSocket.
    connection_params: dict[str, Any] | None = None
    # Embeddings asked for in this request, fetched together; built on first use, as most
    # requests never ask for one.
    embeddings: DataLoader[ObjectId, list[float] | None] | None = None
    # Analytics parts this request has run so far (settings.max_analytics_parts caps them).
    analytics_parts: int = 0


type Info = StrawberryInfo[Context, None]
