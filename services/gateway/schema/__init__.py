"""The GraphQL schema: root types here, one module per type family."""

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaskErrors, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig

from services.gateway.schema.audit import RecordOperations
from services.gateway.schema.errors import should_mask_error
from services.gateway.schema.metrics import GraphQLMetrics
from services.gateway.schema.mutation import Mutation
from services.gateway.schema.query import Query
from services.gateway.schema.ratelimit import RateLimitHeaders


def build_schema(
    *, max_depth: int = 12, introspection: bool = True, metrics: GraphQLMetrics | None = None
) -> strawberry.Schema:
    # Factories, so that every request gets fresh extension state.
    extensions: list = [
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaskErrors(should_mask_error=should_mask_error),
    ]
    if not introspection:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    if metrics is not None:
        extensions.append(metrics.extension())
    extensions.extend([RateLimitHeaders, RecordOperations])
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=extensions,
    )
