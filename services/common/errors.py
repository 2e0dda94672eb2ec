"""The one place where domain errors become gRPC statuses, and gRPC statuses domain errors."""

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.validation import FieldViolation, InvalidInputError, NotFoundError


async def abort_invalid(context: grpc.aio.ServicerContext, error: InvalidInputError) -> None:
    """End the RPC with INVALID_ARGUMENT and a google.rpc.BadRequest detail naming each field."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, reason=v.code, description=v.message
                )
                for v in error.violations
            ]
        )
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error), details=[detail])
    await context.abort_with_status(rpc_status.to_status(status))


def invalid_input_from_rpc_error(error: grpc.aio.AioRpcError) -> InvalidInputError | None:
    """The InvalidInputError an INVALID_ARGUMENT status carries, or None for any other error."""
    if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return None
    status = rpc_status.from_call(error)
    violations: list[FieldViolation] = []
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(
                FieldViolation(v.field, v.reason or "INVALID", v.description)
                for v in bad_request.field_violations
            )
    if not violations:
        violations.append(FieldViolation("", "INVALID", error.details() or "invalid argument"))
    return InvalidInputError(violations)


class DomainErrorInterceptor(grpc.aio.ServerInterceptor):
    """Servicers raise domain errors; this turns them into INVALID_ARGUMENT and NOT_FOUND."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        behavior = handler.unary_unary

        async def mapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behavior(request, context)
            except InvalidInputError as error:
                await abort_invalid(context, error)
            except NotFoundError as error:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(error))

        return grpc.unary_unary_rpc_method_handler(
            mapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
