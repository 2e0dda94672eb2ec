"""Limits for operations sent over a WebSocket, which pass no HTTP middleware.

Each operation (subscribe, or a query or mutation sent the same way) spends one request of the
key's rate limit, and a gateway that requires persisted queries runs only registered documents
here too.
"""

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from services.gateway.persisted import query_hash
from services.gateway.schema.errors import ApiError


class WebSocketOperationLimits(SchemaExtension):
    # on_execute, not on_operation: Strawberry turns what this hook raises into an error
    # result for the operation, where on_operation would end the operation without a word.
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        principal = getattr(context, "principal", None)
        if getattr(context, "websocket", None) is not None and principal is not None:
            quota = context.limiter.take(principal.key_id, principal.rate_per_minute)
            if quota.retry_after_s:
                raise ApiError(
                    f"this API key's limit of {quota.limit} requests a minute is spent",
                    "RATE_LIMITED",
                    retryAfterSeconds=quota.retry_after_s,
                )
            query = self.execution_context.query or ""
            if (
                context.settings.require_persisted_queries
                and await context.persisted_queries.get(query_hash(query)) is None
            ):
                raise ApiError(
                    "this gateway runs only persisted queries; register this one first",
                    "PERSISTED_QUERY_REQUIRED",
                )
        yield
