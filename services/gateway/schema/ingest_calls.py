"""Resolvers' calls to ingest: one deadline, one request id, one mapping of its errors."""

from typing import Any

import grpc

from services.common.errors import invalid_input_from_rpc_error
from services.gateway.schema.context import Info
from services.gateway.schema.errors import ApiError


async def call_ingest(
    info: Info, method: str, request: Any, *, deadline_s: float | None = None
) -> Any:
    """ingest's answer to ``method``; None for NOT_FOUND. ``deadline_s`` overrides the deadline.

    INVALID_ARGUMENT raises InvalidInputError (the resolver turns it into user errors); ingest
    being away raises SERVICE_UNAVAILABLE, which tells the caller nothing happened.
    """
    context = info.context
    try:
        return await getattr(context.ingest, method)(
            request,
            timeout=deadline_s or context.settings.ingest_timeout_s,
            metadata=(("x-request-id", context.request_id),),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        invalid = invalid_input_from_rpc_error(error)
        if invalid is not None:
            raise invalid from None
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise ApiError(
                "the ingest service is unavailable; nothing was stored or changed, try again",
                "SERVICE_UNAVAILABLE",
            ) from error
        raise
