"""Start, probe and stop the services as child processes; used by ``make run`` and the tests."""

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

type ReadyCheck = Callable[[], Awaitable[bool]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True, slots=True)
class Ports:
    mongo: int = 27027
    nlp: int = 50051
    nlp_metrics: int = 9101
    ingest: int = 50052
    ingest_metrics: int = 9102
    gateway: int = 8080
    demo: int = 8090

    @classmethod
    def free(cls) -> "Ports":
        return cls(*(free_port() for _ in range(7)))


async def tcp_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def grpc_serving(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0
            )
        except grpc.aio.AioRpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def http_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class ServiceProcess:
    """One service as a child process, in its own process group so a signal reaches all of it."""

    name: str
    module: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            env={**os.environ, **self.env},
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_ready(self, check: ReadyCheck, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if not self.running:
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"{self.name} exited with code {code} before it was ready")
            if await check():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} was not ready within {within_s:.0f} s")

    def signal(self, sig: int) -> None:
        if self.running:
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not finished within ``grace`` seconds."""
        if self.process is None:
            return None
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.signal(signal.SIGKILL)
                await self.process.wait()
        return self.process.returncode
