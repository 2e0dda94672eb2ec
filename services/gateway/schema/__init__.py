"""The GraphQL schema: root types here, one module per type family."""

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig

from services.gateway.schema.audit import RecordOperations
from services.gateway.schema.errors import should_mask_error
from services.gateway.schema.metrics import GraphQLMetrics
from services.gateway.schema.mutation import Mutation
from services.gateway.schema.query import Query
from services.gateway.schema.ratelimit import RateLimitHeaders
from services.gateway.schema.subscription import Subscription
from services.gateway.schema.websocket_limits import WebSocketOperationLimits


def build_schema(
    *,
    max_depth: int = 12,
    max_tokens: int = 2_000,
    max_aliases: int = 15,
    introspection: bool = True,
    metrics: GraphQLMetrics | None = None,
) -> strawberry.Schema:
    # Factories, so that every request gets fresh extension state.
    extensions: list = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaskErrors(should_mask_error=should_mask_error),
    ]
    if not introspection:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    if metrics is not None:
        extensions.append(metrics.extension())
    extensions.extend([WebSocketOperationLimits, RateLimitHeaders, RecordOperations])
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=extensions,
    )
