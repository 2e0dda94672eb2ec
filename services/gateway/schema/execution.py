"""GraphQL execution that completes plain fields without graphql-core's per-field machinery.

A page of 20 documents asks for about 290 fields, and most of them are an attribute read and a
scalar's output coercion: a title, a date, an enum label, an edge's cursor. graphql-core gives each
one the whole field machinery (a response path, a resolve-info object, argument coercion, an
awaitable check on the value and another on the completed value, a dispatch on the return type),
and Strawberry adds its resolver wrapper. Under a profile that machinery was over half of the
gateway's CPU for a page. Here a field whose answer is known to be exactly "read the attribute,
coerce it" is answered by doing only that; anything else, and any value that is not plainly fine
(null where null is not allowed, a failed coercion, an awaitable, an exception), goes through
graphql-core's own path, which then produces the usual result or error.

Which fields qualify is decided once, from the schema: fields without arguments that Strawberry
itself resolves by its default resolver (``is_basic_field``: no resolver, no field extensions, no
permission classes), of a scalar or enum type or a list of one; and the ``id`` of Relay ``Node``
types that keep Strawberry's default ``resolve_id`` and ``resolve_typename``. Basic fields of an
object type (a document's sentiment, an edge's node) are read the same way, and their own fields
executed directly, when the value is exactly the type's class; their errors are handled by
graphql-core's ``handle_field_error``, as its ``execute_field`` would.
"""

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.field import StrawberryField

# Values of these types are never awaitable; others are asked, as graphql-core would.
_PLAIN_VALUE_TYPES = frozenset({str, int, float, bool})


class _NotPlain(Exception):
    """This value needs graphql-core's full completion (or its error)."""


_NOT_PLAIN = object()


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """How to answer one field: read its value, coerce it as its leaf type does."""

    read: Callable[[Any], Any]
    coerce: Callable[[Any], Any]
    nullable: bool
    # A list of leaves, and whether its items may be null.
    many: bool = False
    items_nullable: bool = True
    # Values the coercion would return unchanged (a str for String or ID, a bool for Boolean,
    # a finite float for Float), and each enum member's coerced name: the same answers the
    # coercion gives (Strawberry's enum coercion searches the values one by one).
    unchanged: type | None = None
    enum_names: dict[Any, str] | None = None

    def answer(self, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
        value = self.read(source)
        if value is None:
            if self.nullable:
                return None
            raise _NotPlain
        if not self.many:
            return self._coerce(value, is_awaitable)
        if isinstance(value, (str, bytes, dict)) or is_awaitable(value):
            raise _NotPlain
        out = []
        for item in value:
            if item is None:
                if not self.items_nullable:
                    raise _NotPlain
                out.append(None)
            else:
                out.append(self._coerce(item, is_awaitable))
        return out

    def _coerce(self, value: Any, is_awaitable: Callable[[Any], bool]) -> Any:
        kind = type(value)
        if kind is self.unchanged and (kind is not float or math.isfinite(value)):
            return value
        if self.enum_names is not None and (name := self.enum_names.get(value)) is not None:
            return name
        if kind not in _PLAIN_VALUE_TYPES and (isinstance(value, Exception) or is_awaitable(value)):
            raise _NotPlain
        coerced = self.coerce(value)
        if coerced is None or coerced is Undefined:
            raise _NotPlain
        return coerced


def _plans_by_type[P](
    schema: GraphQLSchema, plan: Callable[[GraphQLObjectType, str, GraphQLField], P | None]
) -> dict[str, dict[str, P]]:
    """For each object type of ``schema``, the fields ``plan`` gives a plan for."""
    plans: dict[str, dict[str, P]] = {}
    for name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or name.startswith("__"):
            continue
        fields = {}
        for field_name, field in graphql_type.fields.items():
            found = plan(graphql_type, field_name, field)
            if found is not None:
                fields[field_name] = found
        if fields:
            plans[name] = fields
    return plans


def plain_leaves(schema: GraphQLSchema) -> dict[str, dict[str, PlainLeaf]]:
    """For each object type, its fields that can be answered as plain leaves."""
    return _plans_by_type(schema, _plan_leaf)


def _plan_leaf(parent: GraphQLObjectType, field_name: str, field: GraphQLField) -> PlainLeaf | None:
    if field.args:
        return None
    nullable, of_type = _unwrap(field.type)
    many = isinstance(of_type, GraphQLList)
    items_nullable = True
    if many:
        items_nullable, of_type = _unwrap(of_type.of_type)
    if not is_leaf_type(of_type):
        return None
    leaf = dict(
        coerce=of_type.coerce_output_value,
        nullable=nullable,
        many=many,
        items_nullable=items_nullable,
        unchanged=_UNCHANGED.get(of_type),
        enum_names=_enum_names(of_type),
    )
    read = _basic_reader(field)
    if read is not None:
        return PlainLeaf(read=read, **leaf)
    node = _default_node(parent)
    if node is not None and field_name == "id" and not many:
        return PlainLeaf(read=_global_id_reader(parent.name, node), **leaf)
    return None


def _definition(graphql_object: GraphQLField | GraphQLObjectType) -> Any:
    """The Strawberry definition a GraphQL field or type was made from, if any."""
    return (graphql_object.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def _basic_reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How Strawberry reads a basic field (no resolver, extension or permission), or None."""
    definition = _definition(field)
    if not (
        isinstance(definition, StrawberryField)
        and definition.is_basic_field
        # The resolver Strawberry gives basic fields that no exception handler covers.
        and getattr(field.resolve, "__name__", None) == "_get_basic_result"
    ):
        return None
    if definition.default_resolver is getattr:
        return operator.attrgetter(definition.python_name)
    resolve = field.resolve
    return lambda source: resolve(source, None)


@dataclass(frozen=True, slots=True)
class PlainObject:
    """A basic field of an object type: its value is read, checked to be exactly the type's
    class, and its own fields are executed; errors are handled as graphql-core does."""

    read: Callable[[Any], Any]
    return_type: GraphQLOutputType
    object_type: GraphQLObjectType
    origin: type
    nullable: bool


def plain_objects(schema: GraphQLSchema) -> dict[str, dict[str, PlainObject]]:
    """For each object type, its basic fields of an object type without arguments."""
    return _plans_by_type(schema, _plan_object)


def _plan_object(
    parent: GraphQLObjectType, field_name: str, field: GraphQLField
) -> PlainObject | None:
    nullable, of_type = _unwrap(field.type)
    read = _basic_reader(field)
    if field.args or read is None or not isinstance(of_type, GraphQLObjectType):
        return None
    definition = _definition(of_type)
    # Strawberry's own type test (for types with interfaces) accepts any instance of the class
    # not cast to another type; a type test of the schema's own is left to it.
    if (
        not isinstance(definition, StrawberryObjectDefinition)
        or not isinstance(definition.origin, type)
        or definition.is_type_of is not None
    ):
        return None
    return PlainObject(
        read=read,
        return_type=field.type,
        object_type=of_type,
        origin=definition.origin,
        nullable=nullable,
    )


_UNCHANGED = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLFloat: float}


def _enum_names(leaf: Any) -> dict[Any, str] | None:
    """Each member of a Strawberry enum type's Python enum, coerced once by the type itself."""
    members = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(members, type):
        return None
    if not issubclass(members, Enum):
        return None
    return {member: leaf.coerce_output_value(member) for member in members}


def _unwrap(graphql_type: GraphQLOutputType) -> tuple[bool, Any]:
    if isinstance(graphql_type, GraphQLNonNull):
        return False, graphql_type.of_type
    return True, graphql_type


def _default_node(parent: GraphQLObjectType) -> type[relay.Node] | None:
    """The Node class behind ``parent``, if it resolves its id the default way."""
    definition = _definition(parent)
    if not isinstance(definition, StrawberryObjectDefinition):
        return None
    origin = definition.origin
    if not (
        isinstance(origin, type)
        and issubclass(origin, relay.Node)
        and origin.resolve_id.__func__ is relay.Node.resolve_id.__func__
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__
    ):
        return None
    return origin


def _global_id_reader(type_name: str, node: type[relay.Node]) -> Callable[[Any], relay.GlobalID]:
    # Strawberry's default: the parent type's name and the NodeID attribute of the object. Other
    # objects (a subclass that may override either method, a dict) take Strawberry's path.
    attribute = node.resolve_id_attr()

    def read(source: Any) -> relay.GlobalID:
        if type(source) is not node:
            raise _NotPlain
        node_id = getattr(source, attribute)
        if node_id is None:
            raise _NotPlain
        return relay.GlobalID(type_name=type_name, node_id=node_id)

    return read


def plain_field_execution(schema: GraphQLSchema) -> type[StrawberryGraphQLCoreExecutionContext]:
    """Strawberry's execution context for ``schema``, answering plain fields directly."""
    plans = plain_leaves(schema)
    objects = plain_objects(schema)

    class PlainFieldExecutionContext(StrawberryGraphQLCoreExecutionContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Strawberry always passes a middleware manager; it wraps resolvers only when a
            # schema extension hooks ``resolve``, and then every field keeps its resolver.
            manager = self.middleware_manager
            plain = manager is None or not manager.middlewares
            self._plain_leaves = plans if plain else {}
            self._plain_objects = objects if plain else {}

        def execute_fields(
            self,
            parent_type: GraphQLObjectType,
            source_value: Any,
            path: Path | None,
            grouped_field_set: Any,
            position_context: Any,
        ) -> Any:
            """graphql-core's execute_fields, with plain fields answered in place: no resolve
            info is made for them, and for leaves no response path or awaitable check."""
            fields = self._plain_leaves.get(parent_type.name)
            object_fields = self._plain_objects.get(parent_type.name)
            if fields is None and object_fields is None:
                return super().execute_fields(
                    parent_type, source_value, path, grouped_field_set, position_context
                )
            fields = fields or {}
            object_fields = object_fields or {}
            is_awaitable = self.is_awaitable
            results: dict[str, Any] = {}
            pending: list[str] = []
            try:
                for response_name, field_details_list in grouped_field_set.items():
                    field_name = field_details_list[0].node.name.value
                    plan = fields.get(field_name)
                    if plan is not None:
                        try:
                            results[response_name] = plan.answer(source_value, is_awaitable)
                            continue
                        except Exception:  # graphql-core's path reports it properly
                            pass
                    field_path = Path(path, response_name, parent_type.name)
                    object_plan = object_fields.get(field_name)
                    result = _NOT_PLAIN
                    if object_plan is not None:
                        result = self._complete_plain_object(
                            object_plan, source_value, field_details_list, field_path,
                            position_context,
                        )  # fmt: skip
                    if result is _NOT_PLAIN:
                        result = self.execute_field(
                            parent_type,
                            source_value,
                            field_details_list,
                            field_path,
                            position_context,
                        )
                    if result is Undefined:
                        continue
                    results[response_name] = result
                    if is_awaitable(result):
                        pending.append(response_name)
            except Exception:
                # Awaitables already made must still be settled, as graphql-core does.
                if pending:
                    self.settle_in_background([results[name] for name in pending])
                raise
            if not pending:
                return results

            async def awaited() -> dict[str, Any]:
                if len(pending) == 1:
                    # One awaitable (a connection, a loader's answer) needs no gathering.
                    results[pending[0]] = await results[pending[0]]
                else:
                    values = await gather_with_cancel(*(results[name] for name in pending))
                    results.update(zip(pending, values, strict=True))
                return results

            return awaited()

        def _complete_plain_object(
            self,
            plan: PlainObject,
            source: Any,
            field_details_list: Any,
            path: Path,
            position_context: Any,
        ) -> Any:
            """The object's own fields, as graphql-core's execute_field would complete them,
            without resolving the field through Strawberry; _NOT_PLAIN when it must."""
            try:
                value = plan.read(source)
            except Exception:  # graphql-core's path reports it properly
                return _NOT_PLAIN
            if value is None:
                return None if plan.nullable else _NOT_PLAIN
            if type(value) is not plan.origin or get_strawberry_type_cast(value) is not None:
                return _NOT_PLAIN
            try:
                completed = self.collect_and_execute_subfields(
                    plan.object_type, field_details_list, path, value, position_context
                )
            except Exception as raw_error:
                # Raises again where the field may not be null, as graphql-core does.
                self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                return None
            if not self.is_awaitable(completed):
                return completed

            async def completed_later() -> Any:
                try:
                    return await completed
                except Exception as raw_error:
                    self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                    return None

            return completed_later()

    return PlainFieldExecutionContext
