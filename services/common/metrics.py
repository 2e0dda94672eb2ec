"""Prometheus metrics: a registry per process, its /metrics endpoint, and gRPC server metrics."""

import asyncio
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

VERSION = "0.1.0"

# Latency buckets for RPCs and requests: 1 ms to 30 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

log = structlog.get_logger("rpc")


def new_registry(service: str) -> CollectorRegistry:
    """A fresh registry with process metrics and ``langnghe_build_info`` for one service."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    Gauge(
        "langnghe_build_info",
        "Always 1; its labels say which build of which service is running.",
        ["service", "version", "python_version"],
        registry=registry,
    ).labels(service, VERSION, platform.python_version()).set(1)
    return registry


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Serve ``/metrics`` on a background thread; returns the server so it can be shut down."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


class GrpcServerMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC by service, method and status, and logs one line per RPC."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=registry,
        )
        self._seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time to complete an RPC on the server.",
            ["grpc_service", "grpc_method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = metadata.get("x-request-id", "")
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, service, method, request_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, service, method, request_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behavior: Callable, service: str, method: str, request_id: str) -> Callable:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = _code_of(context, grpc.StatusCode.OK)
                return response
            except grpc.aio.AbortError:
                code = _code_of(context, grpc.StatusCode.UNKNOWN)
                raise
            except asyncio.CancelledError:
                # The caller went away or the server is stopping: not a fault of the handler.
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = grpc.StatusCode.UNKNOWN
                log.exception("rpc failed", service=service, method=method, request_id=request_id)
                raise
            finally:
                self._observe(service, method, code, started, request_id)

        return observed

    def _stream(self, behavior: Callable, service: str, method: str, request_id: str) -> Callable:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                async for item in behavior(request, context):
                    yield item
                code = _code_of(context, grpc.StatusCode.OK)
            except grpc.aio.AbortError:
                code = _code_of(context, grpc.StatusCode.UNKNOWN)
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                self._observe(service, method, code, started, request_id)

        return observed

    def _observe(
        self, service: str, method: str, code: grpc.StatusCode, started: float, request_id: str
    ) -> None:
        elapsed = time.perf_counter() - started
        self._handled.labels(service, method, code.name).inc()
        self._seconds.labels(service, method).observe(elapsed)
        log.info(
            "rpc",
            service=service,
            method=method,
            code=code.name,
            duration_ms=round(elapsed * 1000, 2),
            request_id=request_id,
        )


def _code_of(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), default)
    return default
