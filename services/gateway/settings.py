"""Settings of the gateway, read from ``LANGNGHE_GATEWAY_*`` environment variables."""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings, mongodb_uri_field


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
