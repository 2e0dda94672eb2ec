"""Plain leaf fields answered directly give exactly what graphql-core's full path gives."""

import asyncio
from datetime import UTC, datetime
from enum import Enum

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from services.gateway.schema import build_schema
from services.gateway.schema.execution import plain_field_execution, plain_leaves, plain_objects


@strawberry.enum
class Mood(Enum):
    CALM = "calm"
    ANGRY = "angry"


class Nobody(BasePermission):
    message = "không được phép"

    def has_permission(self, source, info, **kwargs) -> bool:
        return False


@strawberry.type
class Ward(relay.Node):
    code: relay.NodeID[str]
    name: str


@strawberry.type
class Story(relay.Node):
    id: relay.NodeID[str]

    @classmethod
    def resolve_id(cls, root: "Story", *, info) -> str:
        return f"story-{root.id}"


class Later:
    """An awaitable that makes no coroutine until awaited (none is left unawaited)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return self.value


@strawberry.type
class Detail:
    note: str
    later: str


class SubDetail(Detail):
    """Not the type's own class: answered through Strawberry's resolution."""


@strawberry.type
class Post(relay.Node):
    id: relay.NodeID[str]
    title: str
    url: str | None
    mood: Mood
    moods: list[Mood]
    scores: list[float | None]
    published_at: datetime | None
    ward: Ward | None
    story: Story
    # Declared non-null, but some posts have none: an error for that post, as before.
    summary: str
    # An awaitable on a plain attribute is still awaited.
    pending: str
    # A value its scalar cannot represent is an error, as before.
    count: int | None
    # Not a number: Float cannot represent it, an error as before.
    ratio: float | None
    # Objects read from attributes: one whose non-null note is missing (an error, and null in
    # its place), one that must not be null, and one of a subclass.
    detail: Detail | None
    must: Detail
    other: Detail | None
    secret: str | None = strawberry.field(permission_classes=[Nobody])

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.title.upper() * times


def _posts() -> list[Post]:
    published = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    return [
        Post(
            id="1",
            title="Kẹt xe trên cầu Sài Gòn",
            url="https://tin.example/1",
            mood=Mood.ANGRY,
            moods=[Mood.ANGRY, Mood.CALM],
            scores=[0.25, None, 1.0],
            published_at=published,
            ward=Ward(code="26734", name="Phường Bến Nghé"),
            story=Story(id="s1"),
            summary="Xe đứng yên hai giờ",
            pending=Later("chờ"),  # type: ignore[arg-type]
            count=3,
            ratio=float("nan"),
            detail=Detail(note=None, later=Later("sau")),  # type: ignore[arg-type]
            must=Detail(note="ghi chú", later=Later("muộn")),  # type: ignore[arg-type]
            other=SubDetail(note="khác", later=Later("nữa")),  # type: ignore[arg-type]
            secret="bí mật",
        ),
        Post(
            id="2",
            title="Công viên mới ở Thủ Đức",
            url=None,
            mood=Mood.CALM,
            moods=[],
            scores=[],
            published_at=None,
            ward=None,
            story=Story(id="s2"),
            summary=None,  # type: ignore[arg-type]
            pending=Later("xong"),  # type: ignore[arg-type]
            count="ba",  # type: ignore[arg-type]
            ratio=0.5,
            detail=None,
            must=Detail(note=None, later=Later("không")),  # type: ignore[arg-type]
            other=None,
            secret="bí mật",
        ),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def posts(self) -> list[Post | None]:
        return _posts()


QUERY = """{
  posts {
    id title url mood moods scores publishedAt count ratio secret summary pending
    shout(times: 2) __typename
    ward { id name } story { id }
    detail { note later } must { note later } other { note later }
  }
}"""


def _execute(execution_context_class) -> dict:
    schema = strawberry.Schema(query=Query)
    if execution_context_class is not None:
        schema.execution_context_class = execution_context_class(schema._schema)
    result = asyncio.run(schema.execute(QUERY))
    errors = sorted((e.message, tuple(e.path)) for e in result.errors or [])
    return {"data": result.data, "errors": errors}


def test_plain_leaves_answer_as_the_full_path_does() -> None:
    full = _execute(None)
    plain = _execute(plain_field_execution)
    assert plain == full
    # The comparison covers what it should: every kind of outcome is in the answer.
    first, second = full["data"]["posts"]
    assert first["title"] == "Kẹt xe trên cầu Sài Gòn"
    assert first["pending"] == "chờ"
    assert first["mood"] == "ANGRY"
    assert first["moods"] == ["ANGRY", "CALM"]
    assert first["publishedAt"] == "2026-11-30T08:15:00+00:00"
    assert first["story"]["id"] == relay.to_base64("Story", "story-s1")
    assert first["ward"]["id"] == relay.to_base64("Ward", "26734")
    assert first["detail"] is None
    assert first["must"] == {"note": "ghi chú", "later": "muộn"}
    assert first["other"] == {"note": "khác", "later": "nữa"}
    assert second is None  # its non-null summary and count failed
    messages = {path: message for message, path in full["errors"]}
    assert set(messages) == {
        ("posts", 0, "detail", "note"),
        ("posts", 0, "ratio"),
        ("posts", 0, "secret"),
        ("posts", 1, "count"),
        ("posts", 1, "secret"),
        ("posts", 1, "summary"),
    }
    assert "non-nullable" in messages["posts", 1, "summary"]


def test_only_fields_strawberry_resolves_by_attribute_are_planned() -> None:
    schema = strawberry.Schema(query=Query)
    plans = plain_leaves(schema._schema)
    assert set(plans["Post"]) == {
        "id",
        "title",
        "url",
        "mood",
        "moods",
        "scores",
        "publishedAt",
        "summary",
        "pending",
        "count",
        "ratio",
    }
    assert set(plain_objects(schema._schema)["Post"]) == {
        "detail",
        "must",
        "other",
        "ward",
        "story",
    }
    # Ward keeps the default id; Story overrides resolve_id, so its id takes Strawberry's path.
    assert set(plans["Ward"]) == {"id", "name"}
    assert "Story" not in plans


def test_the_gateway_schema_answers_document_pages_by_plain_leaves() -> None:
    schema = build_schema()
    assert issubclass(schema.execution_context_class, StrawberryGraphQLCoreExecutionContext)
    plans = plain_leaves(schema._schema)
    assert {"id", "title", "text", "publishedAt", "sourceKind"} <= set(plans["Document"])
    assert set(plans["DocumentEdge"]) == {"cursor"}
    assert {"label", "score"} <= set(plans["Sentiment"])


def test_a_schema_extension_that_hooks_resolve_keeps_every_resolver() -> None:
    seen: list[str] = []

    class Trace(strawberry.extensions.SchemaExtension):
        def resolve(self, _next, root, info, *args, **kwargs):
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    schema = strawberry.Schema(query=Query, extensions=[Trace])
    schema.execution_context_class = plain_field_execution(schema._schema)
    result = asyncio.run(schema.execute("{ posts { title } }"))
    assert result.data == {"posts": [{"title": p.title} for p in _posts()]}
    assert seen.count("title") == 2
