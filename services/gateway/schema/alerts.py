"""Alerts in the schema: the Alert type, its connection, and acknowledging one."""

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Self

import strawberry
from bson import ObjectId
from strawberry import relay

from services.gateway import alerts
from services.gateway.schema.context import Info
from services.gateway.schema.errors import UserError, UserErrorCode, bad_input
from services.gateway.schema.pagination import decode_cursor, encode_cursor, page_size


@strawberry.enum(description="Whether someone has taken an alert in hand.")
class AlertState(Enum):
    OPEN = alerts.OPEN
    ACKNOWLEDGED = alerts.ACKNOWLEDGED


@strawberry.enum(description="What made a tracked topic's hour stand out.")
class AlertReason(Enum):
    VOLUME_SPIKE = alerts.VOLUME_SPIKE
    NEGATIVE_SHIFT = alerts.NEGATIVE_SHIFT


@strawberry.type(
    description="A tracked topic's hour (Ho Chi Minh City time) that stood out from its "
    "baseline: at most one per topic and hour."
)
class Alert(relay.Node):
    id: relay.NodeID[str]
    topic_id: relay.GlobalID
    topic_name: str
    reasons: list[AlertReason]
    window_start: datetime
    window_end: datetime
    volume: int = strawberry.field(description="Analysed documents in the hour when raised.")
    negative_share: float
    expected_volume: float = strawberry.field(description="What the baseline expected.")
    expected_negative_share: float
    baseline: str = strawberry.field(
        description="seasonal (same hour of the week), overall (every hour) or none."
    )
    state: AlertState
    raised_at: datetime
    acknowledged_by: str | None = strawberry.field(
        description="Prefix of the API key that acknowledged it."
    )
    acknowledged_at: datetime | None

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Self:
        return cls(
            id=str(r["_id"]),
            topic_id=relay.GlobalID("TrackedTopic", str(r["topic_id"])),
            topic_name=r["topic_name"],
            reasons=[AlertReason(x) for x in r["reasons"]],
            window_start=r["window_start"],
            window_end=r["window_end"],
            volume=r["volume"],
            negative_share=r["negative_share"],
            expected_volume=r["expected_volume"],
            expected_negative_share=r["expected_negative_share"],
            baseline=r["baseline"],
            state=AlertState(r["state"]),
            raised_at=r["raised_at"],
            acknowledged_by=r.get("acknowledged_by"),
            acknowledged_at=r.get("acknowledged_at"),
        )

    def payload(self) -> dict[str, Any]:
        """The alert as webhooks carry it: the same names as in GraphQL."""
        return {
            "id": str(relay.GlobalID("Alert", self.id)),
            "topicId": str(self.topic_id),
            "topicName": self.topic_name,
            "reasons": [r.value for r in self.reasons],
            "windowStart": self.window_start.isoformat(),
            "windowEnd": self.window_end.isoformat(),
            "volume": self.volume,
            "negativeShare": self.negative_share,
            "expectedVolume": self.expected_volume,
            "expectedNegativeShare": self.expected_negative_share,
            "baseline": self.baseline,
            "raisedAt": self.raised_at.isoformat(),
        }

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        unit = info.context.principal.unit
        nodes: list[Self | None] = []
        for node_id in node_ids:
            record = None
            if ObjectId.is_valid(node_id):
                record = await info.context.alerts.get(ObjectId(node_id), unit)
            nodes.append(cls.from_record(record) if record else None)
        if required and any(n is None for n in nodes):
            raise ValueError("no alert of your unit has this id")
        return nodes


@strawberry.type(name="AlertConnection")
class AlertConnection(relay.Connection[Alert]):
    pass


def topic_object_id(topic_id: relay.GlobalID | None) -> ObjectId | None:
    if topic_id is None:
        return None
    if topic_id.type_name != "TrackedTopic" or not ObjectId.is_valid(topic_id.node_id):
        raise bad_input(f"{topic_id} is not the id of a tracked topic")
    return ObjectId(topic_id.node_id)


async def alert_page(
    info: Info,
    topic_id: relay.GlobalID | None = None,
    state: AlertState | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AlertConnection:
    records, more = await info.context.alerts.page(
        unit=info.context.principal.unit,
        topic_id=topic_object_id(topic_id),
        state=state.value if state else None,
        first=page_size(first),
        after=decode_cursor(after) if after else None,
    )
    edges = [relay.Edge(cursor=encode_cursor(r["_id"]), node=Alert.from_record(r)) for r in records]
    return AlertConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=more,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type
class AcknowledgeAlertPayload:
    alert: Alert | None
    user_errors: list[UserError]


async def acknowledge_alert(info: Info, id: relay.GlobalID) -> AcknowledgeAlertPayload:
    principal = info.context.principal
    store = info.context.alerts
    if id.type_name != "Alert" or not ObjectId.is_valid(id.node_id):
        return _ack_error(UserErrorCode.INVALID, f"{id} is not the id of an alert")
    alert_id = ObjectId(id.node_id)
    record = await store.acknowledge(
        alert_id, principal.unit, principal.key_prefix, datetime.now(UTC)
    )
    if record is not None:
        return AcknowledgeAlertPayload(alert=Alert.from_record(record), user_errors=[])
    existing = await store.get(alert_id, principal.unit)
    if existing is None:
        # Another unit's alert is as good as absent.
        return _ack_error(UserErrorCode.NOT_FOUND, "no alert of your unit has this id")
    return AcknowledgeAlertPayload(
        alert=Alert.from_record(existing),
        user_errors=[
            UserError(
                code=UserErrorCode.INVALID,
                field=["id"],
                message=f"already acknowledged by {existing['acknowledged_by']}",
            )
        ],
    )


def _ack_error(code: UserErrorCode, message: str) -> AcknowledgeAlertPayload:
    return AcknowledgeAlertPayload(
        alert=None, user_errors=[UserError(code=code, field=["id"], message=message)]
    )
