"""The audit log in the schema: an extension that writes it, and a query that reads it."""

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from services.gateway.schema.context import Info
from services.gateway.schema.pagination import decode_cursor, encode_cursor, page_size


class RecordOperations(SchemaExtension):
    """Append one audit entry per operation, after it ran, with its outcome."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        execution = self.execution_context
        context = execution.context
        principal = getattr(context, "principal", None)
        audit = getattr(context, "audit", None)
        if principal is None or audit is None:
            return
        try:
            kind = execution.operation_type.value
        except RuntimeError:
            kind = "invalid"
        if kind == "query" and not context.settings.audit_queries:
            return
        errors = execution.pre_execution_errors or (
            execution.result.errors if execution.result else None
        )
        await audit.record(
            {
                "operation_name": execution.operation_name or "",
                "operation_type": kind,
                "key_id": principal.key_id,
                "unit": principal.unit,
                "outcome": "error" if errors else "ok",
                "errors": [e.message[:200] for e in errors or ()][:5],
                "request_id": getattr(context, "request_id", ""),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        )


@strawberry.type(description="One call to the API: who, what, when and how it went.")
class AuditEntry:
    at: datetime
    unit: str
    operation_name: str
    operation_type: str
    outcome: str = strawberry.field(description="ok, or error when the answer carried errors.")
    request_id: str
    duration_ms: float

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> "AuditEntry":
        return cls(
            at=r["at"],
            unit=r["unit"],
            operation_name=r["operation_name"],
            operation_type=r["operation_type"],
            outcome=r["outcome"],
            request_id=r.get("request_id", ""),
            duration_ms=r.get("duration_ms", 0.0),
        )


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    has_next_page: bool
    end_cursor: str | None


async def audit_log(
    info: Info, unit: str | None = None, first: int | None = None, after: str | None = None
) -> AuditEntryConnection:
    records, more = await info.context.audit.page(
        unit=unit, first=page_size(first), after=decode_cursor(after) if after else None
    )
    edges = [
        AuditEntryEdge(cursor=encode_cursor(r["_id"]), node=AuditEntry.from_record(r))
        for r in records
    ]
    return AuditEntryConnection(
        edges=edges, has_next_page=more, end_cursor=edges[-1].cursor if edges else None
    )
