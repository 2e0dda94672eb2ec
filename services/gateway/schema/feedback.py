"""The 1022 integration: citizens' feedback submitted, analysed on the spot, routed to a unit.

Feedback is a document (source kind ``feedback``) that ingest stores and analyses like any other,
idempotent by the calling unit's own id for it. ``submitFeedback`` waits for the analysis at most
``feedback_analysis_timeout_s``; past that, or with nlp away, the feedback is stored all the same
and comes back PENDING, and ingest's worker analyses it later. The suggested unit is worked out
whenever feedback is read, from the routing table and the latest analysis, so a pending feedback
is routed by its ward until its sectors are known.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Self

import strawberry
from bson import ObjectId
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry import relay

from langnghe.ingest.v1 import ingest_pb2
from services.common.documents import validate_submission
from services.common.validation import FieldViolation, InvalidInputError
from services.gateway.feedback import (
    CitizenContact,
    citizen_keys,
    contact_violations,
    external_id_violations,
    ward_code_violations,
)
from services.gateway.routing import RouteMatch
from services.gateway.schema import findings
from services.gateway.schema.context import Info
from services.gateway.schema.document import (
    AnalysisState,
    Document,
    Sentiment,
    in_city_time,
)
from services.gateway.schema.errors import ApiError, UserError, UserErrorCode, bad_input
from services.gateway.schema.findings import Locality, SectorScore, Toxicity
from services.gateway.schema.ingest_calls import call_ingest

# The fields the caller sent under other names in ingest's and the shared validation's terms.
_INPUT_FIELDS = {"publishedAt": "submittedAt", "published_at": "submittedAt"}


def feedback_key(unit: str, external_id: str) -> str:
    """The document's ``ext_key``: ingest scopes a unit's external ids by the unit (Origin)."""
    return f"unit:{unit}:{external_id}"


@strawberry.enum(description="How the citizen sent the feedback.")
class FeedbackChannel(Enum):
    WEB = "web"
    APP = "app"
    PHONE = "phone"
    EMAIL = "email"
    ZALO = "zalo"
    SMS = "sms"
    IN_PERSON = "in_person"
    OTHER = "other"


@strawberry.enum(description="Which rule of the routing table chose the unit.")
class RoutingMatch(Enum):
    SECTOR_AND_LOCALITY = RouteMatch.SECTOR_AND_LOCALITY.value
    SECTOR = RouteMatch.SECTOR.value
    LOCALITY = RouteMatch.LOCALITY.value
    DEFAULT = RouteMatch.DEFAULT.value


@strawberry.type(description="The unit the routing table names as responsible, and why.")
class SuggestedUnit:
    id: str
    name: str
    match: RoutingMatch
    sector: str | None = strawberry.field(description="The sector of the rule, if it has one.")
    locality: str | None = strawberry.field(description="The locality code of the rule, if any.")


@strawberry.type(description="A citizen's feedback, as the 1022 portal sent it, with analysis.")
class Feedback(relay.Node):
    id: relay.NodeID[str]
    external_id: str = strawberry.field(description="The portal's own id for it.")
    channel: FeedbackChannel
    text: str
    ward_code: str | None
    submitted_at: datetime | None
    received_at: datetime = strawberry.field(description="When Lắng Nghe stored it.")
    analysis_state: AnalysisState = strawberry.field(
        description="PENDING: not analysed yet (nlp slow or away); it will be, in the background."
    )
    sentiment: Sentiment | None
    toxicity: Toxicity | None
    sectors: list[SectorScore] = strawberry.field(description="Best first; empty until known.")
    localities: list[Locality] = strawberry.field(
        description="Units the text mentions; the ward code is in wardCode."
    )
    suggested_unit: SuggestedUnit
    record: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="The feedback as a document, as listings show it.")
    def document(self) -> Document:
        return Document.from_record(self.record)

    @classmethod
    def from_record(cls, record: dict[str, Any], info: Info) -> Self:
        feedback = record.get("feedback") or {}
        sentiment = Document.from_record(record).sentiment if record.get("sentiment") else None
        sector_scores = findings.sectors(record.get("sectors"))
        places_found = findings.localities(record.get("localities"))
        ward = feedback.get("ward_code") or None
        places = [ward] if ward else []
        for loc in places_found:
            places += [loc.code, *loc.current_codes]
        route = info.context.routing.route(
            [s.id for s in sector_scores], list(dict.fromkeys(places))
        )
        return cls(
            id=str(record["_id"]),
            external_id=record.get("external_id") or "",
            channel=FeedbackChannel(feedback.get("channel", "other")),
            text=record["text"],
            ward_code=ward,
            submitted_at=record.get("published_at"),
            received_at=record["created_at"],
            analysis_state=findings.member(AnalysisState, record["analysis_state"]),
            sentiment=sentiment,
            toxicity=findings.classification(
                Toxicity, findings.ToxicityLabel, record.get("toxicity")
            ),
            sectors=sector_scores,
            localities=places_found,
            suggested_unit=SuggestedUnit(
                id=route.unit_id,
                name=route.unit_name,
                match=RoutingMatch(route.match.value),
                sector=route.sector,
                locality=route.locality,
            ),
            record=record,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        """Feedback by id; a unit sees only the feedback it submitted."""
        node_ids = list(node_ids)
        ids = [ObjectId(n) if ObjectId.is_valid(n) else None for n in node_ids]
        records = await info.context.loaders.document.load_many([i for i in ids if i])
        unit = info.context.principal.unit if info.context.principal else None
        mine = {
            r["_id"]: r
            for r in records
            if r is not None and "feedback" in r and r.get("submitter_unit") == unit
        }
        nodes = [cls.from_record(mine[i], info) if i in mine else None for i in ids]
        if required and None in nodes:
            raise ValueError(f"no feedback of yours with id {', '.join(node_ids)}")
        return nodes


@strawberry.input(description="Who sent the feedback. Never stored in clear: see the docs.")
class CitizenContactInput:
    name: str | None = strawberry.field(default=None, description="Dropped, never stored.")
    phone: str | None = strawberry.field(
        default=None, description="Kept only as a keyed hash, to recognise repeat submitters."
    )
    email: str | None = strawberry.field(default=None, description="As phone.")


@strawberry.input
class SubmitFeedbackInput:
    external_id: str = strawberry.field(
        description="The portal's id; sending it again returns the first submission."
    )
    channel: FeedbackChannel
    text: str
    ward_code: str | None = strawberry.field(
        default=None,
        description="The ward or commune concerned: its five-digit GSO code, of the current "
        "structure or the one before July 2025.",
    )
    submitted_at: datetime = strawberry.field(
        description="When the citizen sent it; without an offset, Ho Chi Minh City time."
    )
    citizen: CitizenContactInput | None = None


@strawberry.type
class SubmitFeedbackPayload:
    feedback: Feedback | None
    created: bool = strawberry.field(
        description="False when this externalId was submitted before (the first one is returned)."
    )
    user_errors: list[UserError]


def _user_error(violation: FieldViolation) -> UserError:
    parts = [_INPUT_FIELDS.get(p, p) for p in violation.field.split(".")] if violation.field else []
    code = (
        UserErrorCode[violation.code]
        if violation.code in UserErrorCode.__members__
        else UserErrorCode.INVALID
    )
    return UserError(
        code=code, field=["input", *parts] if parts else None, message=violation.message
    )


def _violations(input: SubmitFeedbackInput, contact: CitizenContact) -> list[FieldViolation]:
    """Every mistake in the input at once, checked here before anything is sent to ingest."""
    found = external_id_violations(input.external_id)
    try:
        validate_submission(text=input.text, published_at=in_city_time(input.submitted_at))
    except InvalidInputError as invalid:
        found += invalid.violations
    if input.ward_code is not None:
        found += ward_code_violations(input.ward_code.strip())
    found += contact_violations(contact)
    return found


async def submit_feedback(info: Info, input: SubmitFeedbackInput) -> SubmitFeedbackPayload:
    context = info.context
    unit = context.principal.unit
    contact = CitizenContact(**vars(input.citizen)) if input.citizen else CitizenContact()
    violations = _violations(input, contact)
    if violations:
        return SubmitFeedbackPayload(
            feedback=None, created=False, user_errors=[_user_error(v) for v in violations]
        )
    external_id = input.external_id.strip()
    stamp = Timestamp()
    stamp.FromDatetime(in_city_time(input.submitted_at))
    request = ingest_pb2.SubmitDocumentRequest(
        text=input.text,
        published_at=stamp,
        external_id=external_id,
        submitter_unit=unit,
        feedback=ingest_pb2.Feedback(
            channel=input.channel.value,
            ward_code=(input.ward_code or "").strip(),
            citizen_keys=citizen_keys(
                contact, context.settings.citizen_hash_secret.get_secret_value().encode()
            ),
        ),
    )
    called_at = datetime.now(UTC)
    response = None
    try:
        response = await call_ingest(
            info, "SubmitDocument", request, deadline_s=context.settings.feedback_analysis_timeout_s
        )
    except InvalidInputError as invalid:
        return SubmitFeedbackPayload(
            feedback=None, created=False, user_errors=[_user_error(v) for v in invalid.violations]
        )
    except ApiError as error:
        # ingest away or past the deadline: it may have stored the feedback before the deadline
        # passed, in which case it is there, pending, and is returned as such.
        if error.extensions.get("code") != "SERVICE_UNAVAILABLE":
            raise
    record = await context.loaders.by_external_key.load(feedback_key(unit, external_id))
    if response is not None:
        created = response.created
    else:
        created = record is not None and record["created_at"] >= called_at
    if record is None:
        raise ApiError(
            "the feedback could not be stored now; nothing was stored, send it again "
            "(the same externalId is safe to resend)",
            "SERVICE_UNAVAILABLE",
        )
    return SubmitFeedbackPayload(
        feedback=Feedback.from_record(record, info), created=created, user_errors=[]
    )


async def feedback(
    info: Info, external_id: str | None = None, id: relay.GlobalID | None = None
) -> Feedback | None:
    """Your unit's feedback by the portal's id or by its global id; null when there is none."""
    if (external_id is None) == (id is None):
        raise bad_input("give exactly one of externalId and id")
    if id is not None:
        if id.type_name != "Feedback":
            raise bad_input(f"{id} is the id of a {id.type_name}, not a Feedback")
        (node,) = await Feedback.resolve_nodes(info=info, node_ids=[id.node_id])
        return node
    key = feedback_key(info.context.principal.unit, external_id.strip())
    record = await info.context.loaders.by_external_key.load(key)
    return Feedback.from_record(record, info) if record else None
