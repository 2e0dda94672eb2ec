"""The GraphQL endpoint's request path: what a POST's dependencies cost before execution."""

import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


# Strawberry's handlers and the export route declare parameters in the inferred style Litestar 3
# will drop; building the app in process warns of it (the gateway's process does at start-up too).
@pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
def test_graphql_post_provides_nothing_through_a_worker_thread() -> None:
    # Strawberry's controller makes the Response in a function Litestar runs in a worker
    # thread; the gateway replaces that provider. A later Strawberry renaming it, or adding
    # another synchronous provider, would bring a thread hop per request back unnoticed.
    app = create_app(GatewaySettings())
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
