"""Settings of the gateway, read from ``LANGNGHE_GATEWAY_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings, mongodb_uri_field

DEFAULT_ROUTING_TABLE = Path(__file__).resolve().parent / "routing.hcmc.yaml"


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="LANGNGHE_GATEWAY_", extra="forbid", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # dev: GraphiQL and introspection on. prod: both off.
    environment: Literal["dev", "prod"] = "dev"
    mongodb_uri: str = mongodb_uri_field("LANGNGHE_GATEWAY_")
    ingest_target: str = "127.0.0.1:50052"
    # The ingest replicas to take live document events from: "host:port" each. Empty: every
    # address the name in ingest_target resolves to (a headless Service lists every ready pod),
    # resolved again every ingest_watch_resolve_s. JSON in the environment.
    ingest_watch_targets: list[str] = Field(default_factory=list)
    ingest_watch_resolve_s: float = Field(default=30.0, gt=0)
    # Event batches a subscription may fall behind before it is ended.
    subscription_queue_size: int = Field(default=256, ge=1)
    # Spike detection on tracked topics (services/gateway/alerts.py says what each one means).
    alert_min_count: int = Field(default=20, ge=1)
    alert_volume_factor: float = Field(default=3.0, gt=1)
    alert_negative_share_min: float = Field(default=0.5, gt=0, le=1)
    alert_negative_share_rise: float = Field(default=0.25, gt=0, le=1)
    alert_tick_s: float = Field(default=60.0, gt=0)
    # AES-256-GCM key (32 bytes, base64) that encrypts webhook signing secrets at rest; without
    # it webhooks cannot be created. Keep it in a Secret; losing it orphans every webhook.
    webhook_secret_key: SecretStr = SecretStr("")
    # Addresses webhook deliveries may reach although private (as ingest's fetch_allow), e.g.
    # ["10.20.0.0/16"] for a city intranet receiver. JSON in the environment.
    webhook_allow: list[str] = Field(default_factory=list)
    # Whether this replica sends webhook deliveries; every replica writes them to the outbox.
    webhook_delivery: bool = True
    # Deliveries one replica sends at once.
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_retry_base_s: float = Field(default=5.0, gt=0)
    webhook_retry_max_s: float = Field(default=3_600.0, gt=0)
    # Longest sleep of the delivery worker when nothing is due.
    webhook_poll_s: float = Field(default=5.0, gt=0)
    # Deadline of a submitDocument call to ingest, which includes a first analysis attempt.
    ingest_timeout_s: float = Field(default=15.0, gt=0)
    # A 100,000-character Vietnamese text is about 300 kB of UTF-8; leave room for the rest.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Run only queries registered with persistQuery (production).
    require_persisted_queries: bool = False
    # Limits that stop a single request from costing the server much: nesting, size, aliases.
    max_query_depth: int = Field(default=12, ge=1)
    max_query_tokens: int = Field(default=2_000, ge=10)
    max_query_aliases: int = Field(default=15, ge=0)
    # Analytics parts (breakdowns, tops, timelines) one request may ask for: each is an
    # aggregation over up to 400 days of documents.
    max_analytics_parts: int = Field(default=30, ge=1)
    # Who runs this deployment, shown on /bot, the page the collector's User-Agent names.
    operator_name: str = "the deploying city government"
    operator_contact: str = ""
    # Requests a minute an API key may make, unless the key carries its own limit.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    # The administrators' API key (all scopes), created at start-up if it does not exist.
    admin_key: str = Field(
        default="",
        validation_alias=AliasChoices(
            "admin_key", "LANGNGHE_GATEWAY_ADMIN_KEY", "LANGNGHE_ADMIN_KEY"
        ),
    )
    # How long submitFeedback waits for the analysis; past it the feedback is stored, pending,
    # and analysed in the background.
    feedback_analysis_timeout_s: float = Field(default=2.0, gt=0.3)
    # Key of the HMAC that turns citizens' phone numbers and e-mails into matchable hashes;
    # without it they are dropped (services/gateway/feedback.py).
    citizen_hash_secret: SecretStr = SecretStr("")
    # Sector x locality -> responsible unit, for feedback (services/gateway/routing.py).
    routing_table: Path = DEFAULT_ROUTING_TABLE
    # Add a Server-Timing header with the request's MongoDB commands and time in them
    # (benchmarks and debugging; it tells callers about the backend, so off by default).
    server_timing: bool = False
    # Record queries in the audit log, not only mutations. Each audited request costs one
    # MongoDB insert; a deployment on a store that cannot take a write per read may turn it off.
    audit_queries: bool = True
