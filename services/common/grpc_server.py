"""A grpc.aio server with the standard health and reflection services and a graceful stop."""

import asyncio
import signal
from collections.abc import Callable, Sequence

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = structlog.get_logger(__name__)

# Every service carries documents of up to 100,000 characters, several to a batch.
MESSAGE_LIMIT_BYTES = 32 * 1024 * 1024
SERVER_OPTIONS = (
    ("grpc.max_receive_message_length", MESSAGE_LIMIT_BYTES),
    ("grpc.max_send_message_length", MESSAGE_LIMIT_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Clients balance round-robin over the pods DNS named when they connected; closing each
    # connection after a few minutes makes them look again, so new pods get their share.
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
)


class GrpcServer:
    """Starts NOT_SERVING, is told when it is ready, and drains in-flight calls on stop."""

    def __init__(
        self,
        *,
        register: Callable[[grpc.aio.Server], Sequence[str]],
        address: str,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self._server = grpc.aio.server(interceptors=list(interceptors), options=SERVER_OPTIONS)
        self._service_names = list(register(self._server))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")

    async def start(self) -> None:
        # "" is the whole server's status, which probes without a service name ask for.
        for name in ("", *self._service_names):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        log.info("grpc server listening", port=self.port, services=self._service_names)

    async def set_serving(self) -> None:
        for name in ("", *self._service_names):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving")

    async def stop(self, grace: float, delay: float = 0.0) -> None:
        """Report NOT_SERVING, keep serving ``delay`` seconds so that balancers notice and stop
        sending, then refuse new calls and give in-flight ones ``grace`` seconds to finish."""
        await self._health.enter_graceful_shutdown()
        log.info("draining", delay_s=delay, grace_s=grace)
        if delay > 0:
            await asyncio.sleep(delay)
        await self._server.stop(grace)
        log.info("stopped")


def shutdown_requested() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT; install it before any slow start-up work."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
