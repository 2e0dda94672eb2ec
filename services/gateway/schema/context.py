"""What every resolver can reach during one request: the repository, ingest, settings."""

from strawberry.litestar import BaseContext
from strawberry.types import Info as StrawberryInfo

from langnghe.ingest.v1 import ingest_pb2_grpc
from services.gateway.audit import AuditLog
from services.gateway.auth import ApiKeyStore, Principal
from services.gateway.persisted import PersistedQueries
from services.gateway.ratelimit import Quota
from services.gateway.repository import DocumentRepository
from services.gateway.routing import RoutingTable
from services.gateway.schema.loaders import Loaders
from services.gateway.settings import GatewaySettings


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


type Info = StrawberryInfo[Context, None]
