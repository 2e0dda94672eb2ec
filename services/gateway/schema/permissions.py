"""Scopes as Strawberry permission classes: a field names the scope its caller's key needs."""

from functools import cache
from typing import Any, ClassVar

from strawberry.permission import BasePermission

from services.gateway.schema.context import Info


@cache
def requires(scope: str) -> type[BasePermission]:
    """The permission class for ``scope``; one class a scope, so the schema can share it."""

    class HasScope(BasePermission):
        message = f"this API key lacks the '{scope}' scope"
        error_extensions: ClassVar[dict[str, str]] = {"code": "FORBIDDEN"}

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            principal = info.context.principal
            return principal is not None and principal.may(scope)

    HasScope.__name__ = HasScope.__qualname__ = f"Requires_{scope.replace(':', '_')}"
    return HasScope
