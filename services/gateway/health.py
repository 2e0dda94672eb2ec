"""Liveness and readiness endpoints for probes and load balancers."""

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from litestar import Response, get
from litestar.datastructures import State

_PROBE_TIMEOUT_S = 2.0


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict]:
    """Ready when MongoDB answers a ping: every query is served from it.

    Ingest's health is reported too, but does not take the gateway out of service: while ingest
    is away the API still answers queries, and submissions fail with SERVICE_UNAVAILABLE.
    """
    mongo, ingest = await asyncio.gather(_mongo_ok(state), _ingest_ok(state))
    checks = {"mongodb": mongo, "ingest": ingest}
    if mongo != "ok":
        status = "unavailable"
    elif ingest != "ok":
        status = "degraded"
    else:
        status = "ok"
    return Response(
        {"status": status, "checks": checks}, status_code=503 if status == "unavailable" else 200
    )


async def _mongo_ok(state: State) -> str:
    try:
        await asyncio.wait_for(state.mongo.admin.command("ping"), _PROBE_TIMEOUT_S)
    except Exception as error:  # any failure means not ready; say which
        return f"{type(error).__name__}: {error}"[:200]
    return "ok"


async def _ingest_ok(state: State) -> str:
    stub = health_pb2_grpc.HealthStub(state.ingest_channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=_PROBE_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details()}"[:200]
    return "ok" if reply.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
