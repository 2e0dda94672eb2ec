"""Scripted HTTP/1.1 servers on loopback ports, fake resolvers, and fetchers that clean up."""

import asyncio
import contextlib
import ipaddress
import math
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest

from services.common.ssrf import IPAddress
from services.ingest.fetch import Fetcher, FetchPolicy, RequestLog

CONTACT_URL = "https://langnghe.test/bot"
USER_AGENT = f"LangNgheBot/0.1 (+{CONTACT_URL})"

# Fast and loopback-friendly; each test overrides what it is about.
TEST_POLICY: dict[str, Any] = {
    "contact_url": CONTACT_URL,
    "ssrf_allow": ("127.0.0.1/32",),
    "per_host_delay_s": 0.001,
    "backoff_base_s": 0.01,
    "backoff_cap_s": 0.05,
    "connect_timeout_s": 2.0,
    "read_timeout_s": 2.0,
    "total_timeout_s": 5.0,
}


@dataclass
class Received:
    """A request as the server saw it, with server-side timestamps (time.monotonic)."""

    port: int
    path: str
    headers: dict[str, str]
    started: float
    finished: float = math.inf


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    # Before the status line: a slow server.
    delay_s: float = 0.0
    # Between body bytes, sent one at a time: a slow-drip server.
    drip_s: float = 0.0
    close: bool = False


type Route = Reply | Callable[[Received], Reply | Awaitable[Reply]]


class LocalServer:
    """Answers each path as the test's ``routes`` say (404 otherwise) and records requests."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls
        self.routes: dict[str, Route] = {}
        self.received: list[Received] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    def hits(self, path: str) -> int:
        return self.paths().count(path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._answer_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            # The peer may have gone already; closing is all that matters here.
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        _method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        received = Received(self.port, path, headers, time.monotonic())
        self.received.append(received)
        route = self.routes.get(path) or self.routes.get(path.partition("?")[0]) or Reply(404)
        reply = route if isinstance(route, Reply) else route(received)
        if not isinstance(reply, Reply):
            reply = await reply
        await _write(writer, reply)
        received.finished = time.monotonic()
        return not reply.close


async def _write(writer: asyncio.StreamWriter, reply: Reply) -> None:
    headers = dict(reply.headers)
    if reply.chunked:
        headers["Transfer-Encoding"] = "chunked"
    elif reply.status != 304 and not any(k.lower() == "content-length" for k in headers):
        headers["Content-Length"] = str(len(reply.body))
    if reply.close:
        headers["Connection"] = "close"
    head = f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    await asyncio.sleep(reply.delay_s)
    writer.write(f"{head}\r\n".encode("latin-1"))
    if reply.chunked:
        for i in range(0, len(reply.body), 16384):
            piece = reply.body[i : i + 16384]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        writer.write(b"0\r\n\r\n")
    elif reply.drip_s:
        for i in range(len(reply.body)):
            writer.write(reply.body[i : i + 1])
            await writer.drain()
            await asyncio.sleep(reply.drip_s)
    else:
        writer.write(reply.body)
    await writer.drain()


class FakeResolver:
    """A DNS under the test's control: each name's answers, and every lookup it was asked."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = dict(answers)
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.answers[host]]


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Awaitable[LocalServer]]]:
    servers: list[LocalServer] = []

    async def start(host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> LocalServer:
        server = LocalServer(host, tls=tls)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[LocalServer]]) -> LocalServer:
    return await start_server()


@pytest.fixture
async def make_fetcher() -> AsyncIterator[Callable[..., Fetcher]]:
    """Fetchers on TEST_POLICY with the given overrides, closed after the test."""
    fetchers: list[Fetcher] = []

    def make(
        *,
        resolver: FakeResolver | None = None,
        observer: Any = None,
        verify: ssl.SSLContext | bool = True,
        request_log: RequestLog | None = None,
        **overrides: Any,
    ) -> Fetcher:
        policy = FetchPolicy(**{**TEST_POLICY, **overrides})
        fetcher = Fetcher(
            policy, resolver=resolver, observer=observer, verify=verify, request_log=request_log
        )
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        await fetcher.aclose()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., Fetcher]) -> Fetcher:
    return make_fetcher()


class RecordingObserver:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def fetch_finished(self, outcome: str, duration_s: float, body_bytes: int) -> None:
        self.outcomes.append(str(outcome))
