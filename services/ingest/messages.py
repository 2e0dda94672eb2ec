"""Conversions between the ingest contract's messages and the service's own values."""

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from langnghe.ingest.v1 import ingest_pb2
from services.common.proto_enums import enum_to_str, str_to_enum
from services.common.validation import FieldViolation
from services.ingest.sources import (
    DEFAULT_MAX_INTERVAL_S,
    DEFAULT_MIN_INTERVAL_S,
    SourceFilter,
    SourceSpec,
)

_ANALYSIS_STATES = {
    "pending": ingest_pb2.ANALYSIS_STATE_PENDING,
    "analyzed": ingest_pb2.ANALYSIS_STATE_ANALYZED,
}


def kind_of(value: int) -> str:
    return enum_to_str(ingest_pb2.SourceKind, "SOURCE_KIND_", value)


def channel_of(value: int) -> str:
    return enum_to_str(ingest_pb2.Channel, "CHANNEL_", value)


def health_of(value: int) -> str:
    return enum_to_str(ingest_pb2.SourceHealth, "SOURCE_HEALTH_", value)


def analysis_state(state: str) -> int:
    return _ANALYSIS_STATES[state]


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def datetime_of(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def spec_from_message(message: ingest_pb2.SourceSpec) -> SourceSpec:
    return SourceSpec(
        name=message.name,
        kind=kind_of(message.kind),
        channel=channel_of(message.channel),
        urls=tuple(message.urls),
        outlet=message.outlet,
        districts=tuple(message.districts),
        sectors=tuple(message.sectors),
        language=message.language or "vi",
        min_interval_s=message.min_interval_s or DEFAULT_MIN_INTERVAL_S,
        max_interval_s=message.max_interval_s or DEFAULT_MAX_INTERVAL_S,
        enabled=not message.start_disabled,
    )


def filter_from_message(message: ingest_pb2.ListSourcesRequest) -> SourceFilter:
    return SourceFilter(
        kind=kind_of(message.kind) or None,
        channel=channel_of(message.channel) or None,
        outlet=message.outlet or None,
        district=message.district or None,
        sector=message.sector or None,
        health=health_of(message.health) or None,
    )


def source_message(record: dict[str, Any]) -> ingest_pb2.Source:
    return ingest_pb2.Source(
        id=str(record["_id"]),
        name=record["name"],
        kind=str_to_enum(ingest_pb2.SourceKind, "SOURCE_KIND_", record["kind"]),
        channel=str_to_enum(ingest_pb2.Channel, "CHANNEL_", record["channel"]),
        urls=record["urls"],
        outlet=record["outlet"],
        districts=record["districts"],
        sectors=record["sectors"],
        language=record["language"],
        min_interval_s=record["min_interval_s"],
        max_interval_s=record["max_interval_s"],
        enabled=record["enabled"],
        disabled_reason=record.get("disabled_reason", ""),
        status=ingest_pb2.SourceStatus(
            health=str_to_enum(ingest_pb2.SourceHealth, "SOURCE_HEALTH_", record["health"]),
            last_fetch_at=timestamp(record.get("last_fetch_at")),
            last_success_at=timestamp(record.get("last_success_at")),
            consecutive_failures=record.get("consecutive_failures", 0),
            last_error=record.get("last_error", ""),
            items_per_day=record.get("items_per_day", 0.0),
            interval_s=round(record.get("interval_s", record["min_interval_s"])),
            next_fetch_at=timestamp(record.get("next_fetch_at")),
        ),
        created_at=timestamp(record.get("created_at")),
        updated_at=timestamp(record.get("updated_at")),
    )


def violations_message(violations: list[FieldViolation]) -> list[ingest_pb2.FieldViolation]:
    return [
        ingest_pb2.FieldViolation(field=v.field, code=v.code, message=v.message) for v in violations
    ]
