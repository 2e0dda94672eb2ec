"""The caller's rate limit: in RateLimit-* headers on every answer, and as a query."""

from collections.abc import Iterator

import strawberry
from strawberry.extensions import SchemaExtension

from services.gateway.schema.context import Info


class RateLimitHeaders(SchemaExtension):
    """Tell the caller, on every answer, how much of its limit is left."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        quota = getattr(context, "quota", None)
        response = getattr(context, "response", None)
        if quota is not None and response is not None:
            response.headers.update(quota.headers())


@strawberry.type(description="The calling key's rate limit, as of this request.")
class RateLimit:
    limit: int = strawberry.field(description="Requests a minute.")
    remaining: int
    reset_seconds: int = strawberry.field(description="Seconds until the limit is whole again.")


def rate_limit(info: Info) -> RateLimit | None:
    quota = info.context.quota
    if quota is None:
        return None
    return RateLimit(limit=quota.limit, remaining=quota.remaining, reset_seconds=quota.reset_s)
