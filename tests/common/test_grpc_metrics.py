"""The gRPC metrics interceptor counts each RPC under the status it ended with, cancellation
included, on a real server on a loopback port."""

import asyncio

import grpc
import pytest
from prometheus_client import CollectorRegistry

from services.common.metrics import GrpcServerMetricsInterceptor

SERVICE = "langnghe.test.v1.Probe"


async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return b"ok:" + request


async def stall(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(30)
    return b"late"


async def fail(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("handler bug")


def handled(registry: CollectorRegistry, method: str, code: str) -> float:
    value = registry.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


async def test_ok_failed_and_cancelled_rpcs_are_told_apart() -> None:
    registry = CollectorRegistry()
    server = grpc.aio.server(interceptors=[GrpcServerMetricsInterceptor(registry)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    name: grpc.unary_unary_rpc_method_handler(behavior)
                    for name, behavior in (("Answer", answer), ("Stall", stall), ("Fail", fail))
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Answer")(b"x") == b"ok:x"
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await channel.unary_unary(f"/{SERVICE}/Fail")(b"x")
            assert failed.value.code() == grpc.StatusCode.UNKNOWN
            with pytest.raises(grpc.aio.AioRpcError) as late:
                await channel.unary_unary(f"/{SERVICE}/Stall")(b"x", timeout=0.3)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        for _ in range(50):
            if handled(registry, "Stall", "CANCELLED"):
                break
            await asyncio.sleep(0.1)
    finally:
        await server.stop(grace=None)

    assert handled(registry, "Answer", "OK") == 1
    assert handled(registry, "Fail", "UNKNOWN") == 1
    # The caller gave up: the server records a cancellation, not a handler failure.
    assert handled(registry, "Stall", "CANCELLED") == 1
    assert handled(registry, "Stall", "UNKNOWN") == 0
