"""The GraphQL schema: root types here, one module per type family."""

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from services.gateway.schema.audit import RecordOperations
from services.gateway.schema.errors import should_mask_error
from services.gateway.schema.execution import plain_field_execution
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
    # The limits' validation rules are made once: the limiter extensions build new rule classes
    # each time they are made, which would defeat the validation cache (keyed by the rules).
    rules = [
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    # Factories, so that every request gets fresh extension state. Integrations send the same
    # few queries over and over: each is parsed and validated once (parsing honours the token
    # limit, which is part of the cache key), not on every request.
    extensions: list = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        lambda: MaskErrors(should_mask_error=should_mask_error),
    ]
    if metrics is not None:
        extensions.append(metrics.extension())
    extensions.extend([WebSocketOperationLimits, RateLimitHeaders, RecordOperations])
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=extensions,
    )
    # Known only once the GraphQL schema is built: which fields are plain leaves.
    schema.execution_context_class = plain_field_execution(schema._schema)
    return schema
