"""The gateway's own CPU per request, in process: the real app, a real store in another process.

Starts the embedded MongoDB (mongoeco, in memory) as a child process loaded with ``--documents``
analysed documents (bench/gateway.py's loader), builds the real gateway app
(``create_app(GatewaySettings(...))``, its lifespan run, logging configured as
``python -m services.gateway`` does, to /dev/null), makes an API key, and then calls the ASGI
app directly (no HTTP server, no HTTP client: what is measured is the middleware, auth, the rate
limiter, GraphQL and the MongoDB driver) with ``--concurrency`` requests in flight. It reports,
per query, the process's CPU time per request (``time.process_time``; the store runs in its own
process, so its CPU is not counted), as the median of ``--rounds`` rounds of ``--requests``.

``--queries`` picks which of ``typename`` (``{ __typename }``: a request's fixed cost),
``feedback``, ``page20`` and ``page100`` run. ``--profile NAME`` runs one query under cProfile
instead and prints the top functions by cumulative and by own time.

``--servers LOOP-HTTP,...`` measures through a real HTTP server instead: for each uvicorn
configuration named (``asyncio-h11``, ``uvloop-httptools``, ...) it runs the app under uvicorn in a
child process, sends the same requests over HTTP/1.1 keep-alive connections (httpx, in this
process), and reports the server process's CPU time per request (user + system, from
/proc/PID/stat: HTTP parsing, the event loop and the app, all threads). The configurations get
the same requests at the same time, so that the load from elsewhere falls on all of them alike;
each also gets its ratio to the first configuration, the median of the rounds' ratios. A
configuration may name another checkout to serve (``asyncio-h11@/path/to/old``), so that two
versions of the code are measured under the same load.

To compare two versions of the code, run this file from each checkout in turn
(``cd other && python /path/to/bench/gateway_cpu.py``): it imports the services of the current
directory.
"""

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

sys.path.insert(0, os.getcwd())

from services.common.logs import configure_logging
from services.common.mongo import connect, database
from services.devstack.processes import ServiceProcess, free_port, http_ready, tcp_open
from services.gateway.app import create_app
from services.gateway.auth import ApiKeyStore
from services.gateway.settings import GatewaySettings

FEEDBACK_UNIT = "Cổng 1022 (bench)"
THIS_FILE = os.path.abspath(__file__)
PAGE = """query Page($first: Int!, $since: DateTime!) {
  documents(first: $first, filter: {sentiment: NEGATIVE, since: $since}) {
    edges { cursor node { id title text url publishedAt outlet sourceKind analysisState
      sentiment { label score } story { id } } }
    pageInfo { hasNextPage endCursor } } }"""
LOOKUP = """query Lookup($id: String!) { feedback(externalId: $id) { id analysisState
  sentiment { label } toxicity { label } sectors { id score } wardCode
  suggestedUnit { id name match } } }"""


def queries(documents: int) -> dict[str, dict]:
    # Every twentieth document is a feedback of the bench's unit (bench/gateway.py).
    last_feedback = (documents - 1) // 20 * 20
    # A window that holds every document, so that the page is always full.
    since = (datetime.now(UTC) - timedelta(minutes=2 * documents + 60)).isoformat()
    return {
        # No field to resolve and no MongoDB command: what every request costs before its own
        # work (the HTTP app, middleware, authentication, the rate limit, Strawberry's view).
        "typename": {"query": "query Ping { __typename }", "variables": {}},
        "feedback": {"query": LOOKUP, "variables": {"id": f"fb-{last_feedback}"}},
        "page20": {"query": PAGE, "variables": {"first": 20, "since": since}},
        "page100": {"query": PAGE, "variables": {"first": 100, "since": since}},
    }


class AsgiCaller:
    """POSTs a JSON body to the app as an ASGI server would, and returns status and body."""

    def __init__(self, app, key: str) -> None:
        self.app = app
        self.headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
        ]

    async def post(self, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [*self.headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def run(caller: AsgiCaller, body: bytes, requests: int, concurrency: int) -> float:
    """CPU seconds per request for ``requests`` requests, ``concurrency`` at a time."""
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            status, answer = await caller.post(body)
            if status != 200 or b'"errors"' in answer:
                raise RuntimeError(f"{status}: {answer[:300]!r}")

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / requests


def gateway_settings(mongo_port: int) -> GatewaySettings:
    return GatewaySettings(
        mongodb_uri=f"mongodb://127.0.0.1:{mongo_port}/langnghe?directConnection=true",
        ingest_target=f"127.0.0.1:{free_port()}",
        audit_queries=False,
        server_timing=True,
        webhook_delivery=False,
        log_json=True,
    )


def serve_http(port: int, mongo_port: int, loop: str, http: str) -> None:
    """The app under uvicorn with the given event loop and HTTP parser (a child process)."""
    import uvicorn

    settings = gateway_settings(mongo_port)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process's whole life
    configure_logging(settings.log_level, True)
    logging.getLogger("services").setLevel(logging.INFO)
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        loop=loop,
        http=http,
        log_config=None,
        access_log=False,
        server_header=False,
        # The bench's connections idle while the other servers start; uvicorn's 5 s default
        # would close them under a request now and then.
        timeout_keep_alive=600,
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields; the split starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_http(
    client: httpx.AsyncClient, pid: int, body: bytes, requests: int, concurrency: int
) -> float:
    """The server's CPU seconds per request for ``requests`` requests over HTTP."""
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            answer = await client.post("/graphql", content=body)
            if answer.status_code != 200 or b'"errors"' in answer.content:
                raise RuntimeError(f"{answer.status_code}: {answer.content[:300]!r}")

    started = process_cpu_seconds(pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (process_cpu_seconds(pid) - started) / requests


async def compare_servers(args: argparse.Namespace, mongo_port: int) -> None:
    """CPU per request of the app under each uvicorn configuration, taking turns by round."""
    mongo = connect(f"mongodb://127.0.0.1:{mongo_port}/langnghe?directConnection=true", "bench")
    try:
        key, _ = await ApiKeyStore(database(mongo)).create(
            unit=FEEDBACK_UNIT, scopes=["read", "feedback:write"], rate_per_minute=100_000
        )
    finally:
        await mongo.close()
    bodies = {
        name: json.dumps(q).encode()
        for name, q in queries(args.documents).items()
        if name in args.queries
    }
    servers: dict[str, tuple[asyncio.subprocess.Process, httpx.AsyncClient]] = {}
    try:
        for config in args.servers.split(","):
            server_config, _, checkout = config.partition("@")
            loop, http = server_config.split("-")
            port = free_port()
            # This file, not the checkout's copy: the checkout under test may predate this mode.
            # Its working directory decides which checkout's services it serves.
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                THIS_FILE,
                *("--serve-http", str(port), str(mongo_port), loop, http),
                cwd=checkout or None,
            )
            servers[config] = (server, None)
            for _ in range(300):
                if await http_ready(f"http://127.0.0.1:{port}/readyz"):
                    break
                if server.returncode is not None:
                    raise RuntimeError(f"the {config} server exited with {server.returncode}")
                await asyncio.sleep(0.1)
            client = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                limits=httpx.Limits(max_connections=args.concurrency),
                timeout=30,
            )
            servers[config] = (server, client)
        for server, client in servers.values():
            for body in bodies.values():  # warm: connections, caches, the key
                await run_http(client, server.pid, body, 20, args.concurrency)
        rounds = {(config, name): [] for config in servers for name in bodies}
        for _ in range(args.rounds):
            for name, body in bodies.items():
                # All configurations at once, so that each sees the same load from elsewhere.
                results = await asyncio.gather(
                    *(
                        run_http(client, server.pid, body, args.requests, args.concurrency)
                        for server, client in servers.values()
                    )
                )
                for config, seconds in zip(servers, results, strict=True):
                    rounds[config, name].append(seconds)
        first = next(iter(servers))
        result = {
            config: {
                name: {
                    "cpu_ms_median": round(statistics.median(rounds[config, name]) * 1000, 2),
                    "cpu_ms_rounds": [round(v * 1000, 2) for v in rounds[config, name]],
                    "ratio_to_first": round(
                        statistics.median(
                            v / w
                            for v, w in zip(rounds[config, name], rounds[first, name], strict=True)
                        ),
                        3,
                    ),
                }
                for name in bodies
            }
            for config in servers
        }
        print(json.dumps(result), file=sys.__stdout__, flush=True)
    finally:
        for server, client in servers.values():
            if client is not None:
                await client.aclose()
            server.terminate()
            await server.wait()


async def main(quiet: io.TextIOBase) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--requests", type=int, default=200, help="per query and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    names = ["typename", "feedback", "page20", "page100"]
    parser.add_argument("--queries", nargs="+", choices=names, default=names)
    parser.add_argument("--profile", choices=names)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--callers", help="also print who calls functions matching this")
    parser.add_argument("--profile-out", help="also save the profile here, for pstats")
    parser.add_argument(
        "--servers",
        help="compare uvicorn configurations over HTTP, e.g. asyncio-h11@../old,uvloop-httptools",
    )
    args = parser.parse_args()

    mongo_port = free_port()
    mongo = ServiceProcess(
        "mongodb-loaded",
        "bench.gateway",
        args=["--serve-mongo", str(mongo_port), str(args.documents)],
    )
    await mongo.start()
    try:
        await mongo.wait_ready(lambda: tcp_open(mongo_port), 300)
        if args.servers:
            await compare_servers(args, mongo_port)
            return
        settings = gateway_settings(mongo_port)
        # As the service logs, but to nowhere: the log line's cost counts, not the terminal's.
        sys.stderr = quiet
        configure_logging(settings.log_level, True)
        logging.getLogger("services").setLevel(logging.INFO)
        app = create_app(settings)
        async with app.lifespan():
            key, _ = await app.state.api_keys.create(
                unit=FEEDBACK_UNIT, scopes=["read", "feedback:write"], rate_per_minute=100_000
            )
            caller = AsgiCaller(app, key)
            bodies = {
                name: json.dumps(q).encode()
                for name, q in queries(args.documents).items()
                if name in args.queries or name == args.profile
            }
            for body in bodies.values():  # warm: connections, caches, the key
                await run(caller, body, 20, args.concurrency)
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await run(caller, bodies[args.profile], args.requests, args.concurrency)
                profile.disable()
                if args.profile_out:
                    profile.dump_stats(args.profile_out)
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out)
                stats.sort_stats(args.sort).print_stats(45)
                if args.callers:
                    stats.print_callers(args.callers)
                print(out.getvalue(), file=sys.__stdout__)
                return
            rounds: dict[str, list[float]] = {name: [] for name in bodies}
            for _ in range(args.rounds):
                for name, body in bodies.items():
                    rounds[name].append(await run(caller, body, args.requests, args.concurrency))
            result = {
                name: {
                    "cpu_ms_median": round(statistics.median(values) * 1000, 2),
                    "cpu_ms_rounds": [round(v * 1000, 2) for v in values],
                }
                for name, values in rounds.items()
            }
            print(json.dumps(result), file=sys.__stdout__, flush=True)
    finally:
        await mongo.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-http"]:
        port, mongo_port, loop, http = sys.argv[2:6]
        serve_http(int(port), int(mongo_port), loop, http)
        sys.exit()
    with open(os.devnull, "w") as devnull:
        asyncio.run(main(devnull))
