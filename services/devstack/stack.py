"""The four processes of a local Lắng Nghe, started in dependency order and stopped in reverse."""

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from services.devstack.processes import (
    Ports,
    ServiceProcess,
    grpc_serving,
    http_ready,
    tcp_open,
)
from services.gateway.auth import new_key
from services.ingest.seed import import_registry

DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "seeds" / "demo.yaml"


@dataclass
class Stack:
    ports: Ports
    data_dir: Path | None = None
    # Extra environment per service name, e.g. {"ingest": {"LANGNGHE_INGEST_...": "..."}}.
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    mongodb_uri: str | None = None
    # Serve the demo web and collect it (seeds/demo.yaml).
    demo: bool = False
    # Seconds between two stories of one demo outlet.
    demo_period_s: float = 120.0
    # More options of the demo web (services/demosite), e.g. ["--crawl-delay", "1"].
    demo_args: tuple[str, ...] = ()
    # The administrators' API key: LANGNGHE_ADMIN_KEY when set, else a new one for this run.
    admin_key: str = field(
        default_factory=lambda: os.environ.get("LANGNGHE_ADMIN_KEY") or new_key()
    )
    # Encrypts webhook secrets; a new one each run unless set, so webhooks made in one run of a
    # kept data directory cannot sign in the next without it.
    webhook_secret_key: str = field(
        default_factory=lambda: (
            os.environ.get("LANGNGHE_GATEWAY_WEBHOOK_SECRET_KEY")
            or base64.b64encode(os.urandom(32)).decode()
        )
    )

    def __post_init__(self) -> None:
        p = self.ports
        embedded = self.mongodb_uri is None
        uri = self.mongodb_uri or f"mongodb://127.0.0.1:{p.mongo}/?directConnection=true"
        self.mongodb_uri = uri
        mongo_args = ["--port", str(p.mongo)]
        if self.data_dir is not None:
            mongo_args += ["--data-dir", str(self.data_dir)]
        self.mongo = (
            ServiceProcess("mongodb", "services.embedded_mongo", args=mongo_args)
            if embedded
            else None
        )
        self.nlp = ServiceProcess(
            "nlp",
            "services.nlp",
            env={
                "LANGNGHE_NLP_PORT": str(p.nlp),
                "LANGNGHE_NLP_METRICS_PORT": str(p.nlp_metrics),
                **self.env.get("nlp", {}),
            },
        )
        self.demosite = (
            ServiceProcess(
                "demosite",
                "services.demosite",
                args=["--port", str(p.demo), "--period", str(self.demo_period_s), *self.demo_args],
            )
            if self.demo
            else None
        )
        collecting = (
            {
                "LANGNGHE_INGEST_CONTACT_URL": f"http://127.0.0.1:{p.gateway}/bot",
                "LANGNGHE_INGEST_FETCH_ALLOW": json.dumps([f"127.0.0.1:{p.demo}"]),
                # One local host serves every demo outlet; keep it polite, but not slow.
                "LANGNGHE_INGEST_PER_HOST_DELAY_S": "0.05",
                "LANGNGHE_INGEST_PER_HOST_CONCURRENCY": "4",
            }
            if self.demo
            else {}
        )
        self.ingest = ServiceProcess(
            "ingest",
            "services.ingest",
            env={
                **collecting,
                "LANGNGHE_INGEST_PORT": str(p.ingest),
                "LANGNGHE_INGEST_METRICS_PORT": str(p.ingest_metrics),
                "LANGNGHE_INGEST_MONGODB_URI": uri,
                "LANGNGHE_INGEST_NLP_TARGET": f"127.0.0.1:{p.nlp}",
                **self.env.get("ingest", {}),
            },
        )
        self.gateway = ServiceProcess(
            "gateway",
            "services.gateway",
            env={
                "LANGNGHE_GATEWAY_PORT": str(p.gateway),
                "LANGNGHE_GATEWAY_MONGODB_URI": uri,
                "LANGNGHE_GATEWAY_INGEST_TARGET": f"127.0.0.1:{p.ingest}",
                "LANGNGHE_ADMIN_KEY": self.admin_key,
                "LANGNGHE_GATEWAY_WEBHOOK_SECRET_KEY": self.webhook_secret_key,
                **self.env.get("gateway", {}),
            },
        )

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}/graphql"

    @property
    def processes(self) -> list[ServiceProcess]:
        every = (self.mongo, self.demosite, self.nlp, self.ingest, self.gateway)
        return [p for p in every if p is not None]

    async def start(self, within_s: float = 90.0) -> None:
        """Start everything; on any failure stop what was started and re-raise."""
        try:
            if self.mongo is not None:
                await self.mongo.start()
                await self.mongo.wait_ready(lambda: tcp_open(self.ports.mongo), within_s)
            # nlp loads its models while ingest and the gateway start.
            await self.nlp.start()
            await self.ingest.start()
            await self.ingest.wait_ready(lambda: grpc_serving(self.ports.ingest), within_s)
            await self.nlp.wait_ready(lambda: grpc_serving(self.ports.nlp), within_s)
            await self.gateway.start()
            await self.gateway.wait_ready(
                lambda: http_ready(f"http://127.0.0.1:{self.ports.gateway}/readyz"), within_s
            )
            if self.demosite is not None:
                await self.demosite.start()
                await self.demosite.wait_ready(
                    lambda: http_ready(f"http://127.0.0.1:{self.ports.demo}/robots.txt"), within_s
                )
                await import_registry(
                    DEMO_REGISTRY,
                    f"127.0.0.1:{self.ports.ingest}",
                    url_map={"http://demo.invalid/": f"http://127.0.0.1:{self.ports.demo}/"},
                )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()

    def exited(self) -> list[ServiceProcess]:
        return [p for p in self.processes if p.process is not None and not p.running]
