"""Sources in the schema: the registry ingest keeps, listed with health, managed by admins.

The gateway holds no source state: every field here is an IngestService call over gRPC.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Self

import strawberry
from google.protobuf.field_mask_pb2 import FieldMask
from strawberry import relay

from langnghe.ingest.v1 import ingest_pb2 as pb
from services.common.proto_enums import enum_to_str, str_to_enum
from services.common.validation import FieldViolation, InvalidInputError
from services.gateway.schema.context import Info
from services.gateway.schema.errors import UserError, bad_input
from services.gateway.schema.ingest_calls import call_ingest


@strawberry.enum
class SourceChannel(Enum):
    RSS = "rss"
    ATOM = "atom"
    NEWS_SITEMAP = "news_sitemap"
    SITEMAP = "sitemap"
    HTML_LISTING = "html_listing"
    YOUTUBE_CHANNEL_FEED = "youtube_channel_feed"
    JSON_FEED = "json_feed"
    WEBHOOK = "webhook"


@strawberry.enum
class RegisteredSourceKind(Enum):
    PRESS = "press"
    WEBSITE = "website"
    SOCIAL = "social"
    PUSH = "push"


@strawberry.enum(description="How a source is doing.")
class SourceHealthState(Enum):
    NEW = "new"
    HEALTHY = "healthy"
    FAILING = "failing"
    DISABLED = "disabled"


@strawberry.type(description="The live state of a source, as ingest last saw it.")
class SourceHealth:
    state: SourceHealthState
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str
    items_per_day: float
    interval_seconds: int = strawberry.field(description="Current polling interval.")
    next_fetch_at: datetime | None


@strawberry.type(description="A feed, sitemap, page or pushing system that Lắng Nghe listens to.")
class Source(relay.Node):
    id: relay.NodeID[str]
    name: str
    kind: RegisteredSourceKind
    channel: SourceChannel
    urls: list[str]
    outlet: str
    districts: list[str]
    sectors: list[str]
    language: str
    min_interval_seconds: int
    max_interval_seconds: int
    enabled: bool
    disabled_reason: str
    health: SourceHealth

    @classmethod
    def from_message(cls, m: pb.Source) -> Self:
        status = m.status
        return cls(
            id=m.id,
            name=m.name,
            kind=RegisteredSourceKind(enum_to_str(pb.SourceKind, "SOURCE_KIND_", m.kind)),
            channel=SourceChannel(enum_to_str(pb.Channel, "CHANNEL_", m.channel)),
            urls=list(m.urls),
            outlet=m.outlet,
            districts=list(m.districts),
            sectors=list(m.sectors),
            language=m.language,
            min_interval_seconds=m.min_interval_s,
            max_interval_seconds=m.max_interval_s,
            enabled=m.enabled,
            disabled_reason=m.disabled_reason,
            health=SourceHealth(
                state=SourceHealthState(
                    enum_to_str(pb.SourceHealth, "SOURCE_HEALTH_", status.health)
                ),
                last_fetch_at=_time(status, "last_fetch_at"),
                last_success_at=_time(status, "last_success_at"),
                consecutive_failures=status.consecutive_failures,
                last_error=status.last_error,
                items_per_day=status.items_per_day,
                interval_seconds=status.interval_s,
                next_fetch_at=_time(status, "next_fetch_at"),
            ),
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        nodes: list[Self | None] = []
        for node_id in node_ids:
            try:
                message = await call_ingest(info, "GetSource", pb.GetSourceRequest(id=node_id))
            except InvalidInputError:
                message = None
            nodes.append(cls.from_message(message) if message else None)
        return nodes


@strawberry.type
class SourceEdge:
    cursor: str
    node: Source


@strawberry.type
class SourceConnection:
    edges: list[SourceEdge]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


@strawberry.input
class SourceFilterInput:
    kind: RegisteredSourceKind | None = None
    channel: SourceChannel | None = None
    outlet: str | None = None
    district: str | None = None
    sector: str | None = None
    health: SourceHealthState | None = None


@strawberry.input(description="A source to register. Intervals default to 10 minutes–24 hours.")
class AddSourceInput:
    name: str
    kind: RegisteredSourceKind
    channel: SourceChannel
    urls: list[str] = strawberry.field(default_factory=list)
    outlet: str = ""
    districts: list[str] = strawberry.field(default_factory=list)
    sectors: list[str] = strawberry.field(default_factory=list)
    language: str = "vi"
    min_interval_seconds: int | None = None
    max_interval_seconds: int | None = None


@strawberry.input(description="The fields to change; those left out stay as they are.")
class UpdateSourceInput:
    name: str | None = None
    urls: list[str] | None = None
    outlet: str | None = None
    districts: list[str] | None = None
    sectors: list[str] | None = None
    language: str | None = None
    min_interval_seconds: int | None = None
    max_interval_seconds: int | None = None


@strawberry.type
class SourcePayload:
    source: Source | None
    user_errors: list[UserError]


# GraphQL input names of the registry's fields, for user errors.
_INPUT_NAMES = {
    "min_interval_s": "minIntervalSeconds",
    "max_interval_s": "maxIntervalSeconds",
}


async def sources(
    info: Info,
    filter: SourceFilterInput | None = None,
    first: int | None = None,
    after: str | None = None,
) -> SourceConnection:
    flt = filter or SourceFilterInput()
    request = pb.ListSourcesRequest(
        kind=_enum_value(pb.SourceKind, "SOURCE_KIND_", flt.kind),
        channel=_enum_value(pb.Channel, "CHANNEL_", flt.channel),
        outlet=flt.outlet or "",
        district=flt.district or "",
        sector=flt.sector or "",
        health=_enum_value(pb.SourceHealth, "SOURCE_HEALTH_", flt.health),
        page_size=first or 20,
        page_token=after or "",
    )
    if not 1 <= request.page_size <= 100:
        raise bad_input(f"first must be between 1 and 100; got {first}")
    try:
        listing = await call_ingest(info, "ListSources", request)
    except InvalidInputError as error:
        raise bad_input(error.violations[0].message) from None
    edges = [SourceEdge(cursor=m.id, node=Source.from_message(m)) for m in listing.sources]
    return SourceConnection(
        edges=edges,
        total_count=listing.total_count,
        has_next_page=bool(listing.next_page_token),
        end_cursor=listing.next_page_token or None,
    )


async def add_source(info: Info, input: AddSourceInput) -> SourcePayload:
    spec = pb.SourceSpec(
        name=input.name,
        kind=_enum_value(pb.SourceKind, "SOURCE_KIND_", input.kind),
        channel=_enum_value(pb.Channel, "CHANNEL_", input.channel),
        urls=input.urls,
        outlet=input.outlet,
        districts=input.districts,
        sectors=input.sectors,
        language=input.language,
        min_interval_s=input.min_interval_seconds or 0,
        max_interval_s=input.max_interval_seconds or 0,
    )
    return await _payload(info, "AddSource", pb.AddSourceRequest(source=spec))


async def update_source(info: Info, id: relay.GlobalID, input: UpdateSourceInput) -> SourcePayload:
    fields = {
        "name": input.name,
        "urls": input.urls,
        "outlet": input.outlet,
        "districts": input.districts,
        "sectors": input.sectors,
        "language": input.language,
        "min_interval_s": input.min_interval_seconds,
        "max_interval_s": input.max_interval_seconds,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    request = pb.UpdateSourceRequest(
        id=_source_id(id), source=pb.SourceSpec(**given), update_mask=FieldMask(paths=list(given))
    )
    return await _payload(info, "UpdateSource", request)


async def disable_source(info: Info, id: relay.GlobalID, reason: str) -> SourcePayload:
    request = pb.SetSourceEnabledRequest(id=_source_id(id), enabled=False, reason=reason)
    return await _payload(info, "SetSourceEnabled", request)


async def enable_source(info: Info, id: relay.GlobalID) -> SourcePayload:
    request = pb.SetSourceEnabledRequest(id=_source_id(id), enabled=True)
    return await _payload(info, "SetSourceEnabled", request)


async def _payload(info: Info, method: str, request: object) -> SourcePayload:
    try:
        message = await call_ingest(info, method, request)
    except InvalidInputError as error:
        return SourcePayload(
            source=None,
            user_errors=[
                UserError.from_violation(FieldViolation(_input_name(v.field), v.code, v.message))
                for v in error.violations
            ],
        )
    if message is None:
        return SourcePayload(
            source=None,
            user_errors=[
                UserError.from_violation(FieldViolation("id", "NOT_FOUND", "no such source"))
            ],
        )
    return SourcePayload(source=Source.from_message(message), user_errors=[])


def _source_id(id: relay.GlobalID) -> str:
    if id.type_name != "Source":
        raise bad_input(f"{id} is not the id of a source")
    return id.node_id


def _input_name(field: str) -> str:
    name = _INPUT_NAMES.get(field)
    if name:
        return name
    head, _, rest = field.partition("[")
    parts = head.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return f"{camel}[{rest}" if rest else camel


def _enum_value(enum, prefix: str, member: Enum | None) -> int:
    return str_to_enum(enum, prefix, member.value) if member is not None else 0


def _time(holder: object, field: str) -> datetime | None:
    return getattr(holder, field).ToDatetime(tzinfo=UTC) if holder.HasField(field) else None
