"""/export: the documents matching a filter, streamed as CSV or JSON Lines, for reports."""

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.response import Stream
from strawberry import relay

from services.gateway.auth import admit, authenticate
from services.gateway.schema.document import (
    DocumentFilterInput,
    EntityFilterInput,
    SentimentLabel,
    SourceKind,
)
from services.gateway.schema.errors import ApiError
from services.gateway.schema.findings import (
    EmotionLabel,
    EntityType,
    TopicLabel,
    ToxicityLabel,
    language_of,
)

COLUMNS = (
    "id",
    "url",
    "title",
    "text",
    "published_at",
    "created_at",
    "source_kind",
    "outlet",
    "language",
    "sentiment",
    "sentiment_score",
    "story_id",
    "toxicity",
    "emotion",
    "topic",
    "sectors",
    "localities",
    "entities",
    "keywords",
)
# Lists go into one cell each, their items joined by this.
_ITEMS = "; "
MAX_ROWS = 1_000_000


@get("/export", include_in_schema=False)
async def export_documents(
    request: Request,
    state: State,
    format: str = "jsonl",
    search: str | None = None,
    sentiment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source_kind: list[str] | None = None,
    outlet: list[str] | None = None,
    language: str | None = None,
    story: str | None = None,
    toxicity: str | None = None,
    emotion: str | None = None,
    topic: str | None = None,
    sector: list[str] | None = None,
    locality: list[str] | None = None,
    entity: str | None = None,
    entity_type: str | None = None,
    limit: int = 100_000,
) -> Stream:
    """Newest first. The same filter as GraphQL's ``documents``, as query parameters."""
    principal = await authenticate(request, state.api_keys, ide=False)
    if not principal.may("read"):
        raise PermissionDeniedException("this API key lacks the 'read' scope")
    admit(state.limiter, principal)
    if format not in ("csv", "jsonl") or not 1 <= limit <= MAX_ROWS:
        raise HTTPException(
            status_code=400, detail=f"format must be csv or jsonl, limit 1 to {MAX_ROWS:,}"
        )
    try:
        flt = DocumentFilterInput(
            search=search,
            sentiment=SentimentLabel[sentiment.upper()] if sentiment else None,
            story=relay.GlobalID.from_id(story) if story else None,
            since=since,
            until=until,
            source_kinds=[SourceKind[k.upper()] for k in source_kind or ()],
            outlets=outlet,
            language=language,
            toxicity=ToxicityLabel[toxicity.upper()] if toxicity else None,
            emotion=EmotionLabel[emotion.upper()] if emotion else None,
            topic=TopicLabel[topic.upper()] if topic else None,
            sectors=sector,
            localities=locality,
            entity=(
                EntityFilterInput(
                    text=entity, type=EntityType[entity_type.upper()] if entity_type else None
                )
                if entity
                else None
            ),
        ).to_filter()
    except (KeyError, ValueError, ApiError) as error:
        raise HTTPException(status_code=400, detail=f"invalid filter: {error}") from None
    records = state.documents.stream(flt, limit=limit)
    body = _csv(records) if format == "csv" else _jsonl(records)
    return Stream(
        body,
        media_type="text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="langnghe-documents.{format}"'},
    )


def _row(record: dict[str, Any]) -> dict[str, Any]:
    sentiment = record.get("sentiment") or {}
    return {
        "id": str(record["_id"]),
        "url": record.get("url") or "",
        "title": record.get("title", ""),
        "text": record["text"],
        "published_at": _iso(record.get("published_at")),
        "created_at": _iso(record.get("created_at")),
        "source_kind": record.get("source_kind", "manual"),
        "outlet": record.get("outlet", ""),
        "language": language_of(record)[0] or "",
        "sentiment": sentiment.get("label", ""),
        "sentiment_score": sentiment.get("score", ""),
        "story_id": str(record["story_id"]) if record.get("story_id") else "",
        "toxicity": _label(record.get("toxicity")),
        "emotion": _label(record.get("emotion")),
        "topic": _label(record.get("topic")),
        "sectors": _ITEMS.join(s["id"] for s in record.get("sectors") or ()),
        "localities": _ITEMS.join(
            f"{p['code']} {p.get('name', '')}".strip() for p in record.get("localities") or ()
        ),
        "entities": _ITEMS.join(
            dict.fromkeys(f"{e['type']}:{e['text']}" for e in record.get("entities") or ())
        ),
        "keywords": _ITEMS.join(k["phrase"] for k in record.get("keywords") or ()),
    }


def _label(classification: dict[str, Any] | None) -> str:
    return (classification or {}).get("label", "")


async def _jsonl(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for record in records:
        yield (json.dumps(_row(record), ensure_ascii=False) + "\n").encode()


async def _csv(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    # A byte-order mark, so that spreadsheet software reads the Vietnamese as UTF-8.
    buffer.write("\ufeff")
    writer.writeheader()
    async for record in records:
        writer.writerow(_row(record))
        if buffer.tell() > 64_000:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
