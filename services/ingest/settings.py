"""Settings of the ingest service, read from ``LANGNGHE_INGEST_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings, mongodb_uri_field


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="LANGNGHE_INGEST_", extra="forbid", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    mongodb_uri: str = mongodb_uri_field("LANGNGHE_INGEST_")
    nlp_target: str = "127.0.0.1:50051"
    # Deadline of one Analyze call; a submission's own deadline shortens it further.
    nlp_timeout_s: float = Field(default=10.0, gt=0)
    analysis_batch_size: int = Field(default=32, ge=1, le=256)
    # How long a claimed document stays with its claimer before anyone may retry it.
    analysis_lease_s: float = Field(default=60.0, gt=0)
    analysis_retry_base_s: float = Field(default=1.0, gt=0)
    analysis_retry_max_s: float = Field(default=60.0, gt=0)
    # Longest sleep of the analysis worker when it has nothing due.
    analysis_poll_s: float = Field(default=5.0, gt=0)
    # Events a WatchDocuments subscriber may fall behind before it is dropped.
    watch_queue_size: int = Field(default=1_000, ge=1, le=100_000)
    # Collection from polled sources.
    collect: bool = True
    # The public page that tells site owners who collects and why (the gateway serves one at
    # /bot); it is part of the User-Agent. Without it nothing is collected.
    contact_url: str = ""
    collect_concurrency: int = Field(default=32, ge=1, le=1024)
    collect_lease_s: float = Field(default=300.0, gt=0)
    per_host_delay_s: float = Field(default=1.0, ge=0)
    per_host_concurrency: int = Field(default=2, ge=1)
    # A file to which every request sent is appended (time, origin, path) as JSON lines: an
    # audit trail of the crawler's politeness. Empty: none is kept.
    request_log_path: str = ""
    # Addresses the SSRF guard lets through although private, e.g. ["127.0.0.1:8090"] for the
    # local demo site. JSON in the environment.
    fetch_allow: list[str] = Field(default_factory=list)
    # Days to keep documents, per source kind (press, website, social, push, manual); a kind
    # not listed is kept until erased. JSON in the environment: {"social": 365}.
    retention_days: dict[str, int] = Field(default_factory=dict)
