"""The GraphQL endpoint's request path: what a POST's dependencies cost before execution."""

import pytest
import strawberry
from litestar import Litestar
from litestar.types import Scope

from services.gateway.app import graphql_controller


@strawberry.type
class Ping:
    ok: bool = True


async def no_context(scope: Scope) -> None:
    return None


# Strawberry's handlers take their dependencies in the inferred style Litestar 3 will drop;
# mounting them in process warns of it (the gateway's process does at start-up too).
@pytest.mark.filterwarnings("ignore:.*Inferred dependency field")
def test_graphql_post_provides_nothing_through_a_worker_thread() -> None:
    # Strawberry's controller makes the Response in a function Litestar runs in a worker
    # thread; the gateway replaces that provider. A later Strawberry renaming it, or adding
    # another synchronous provider, would bring a thread hop per request back unnoticed. The
    # providers do not depend on the schema, so a schema of one field stands in for the
    # gateway's (which builds once per process).
    app = Litestar(
        route_handlers=[graphql_controller(strawberry.Schema(query=Ping), no_context, dev=False)]
    )
    (post,) = [
        handler
        for route in app.routes
        if route.path == "/graphql"
        for handler in getattr(route, "route_handlers", ())
        if "POST" in handler.http_methods
    ]
    providers = post.resolve_dependencies()
    assert "response" in providers
    assert sorted(name for name, provide in providers.items() if provide.sync_to_thread) == []
    # Nor does it resolve any: the context, root value and response are made in the handler
    # (Litestar resolves dependencies in a task group, a tenth of a request's fixed cost).
    assert set(post.parsed_fn_signature.parameters) == {"request"}
