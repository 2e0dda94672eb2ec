"""Settings shared by every service; each service subclasses them with its own env prefix."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MONGODB_URI = "mongodb://127.0.0.1:27027/?directConnection=true"


class ServiceSettings(BaseSettings):
    """Logging and metrics settings every service has."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True)

    log_level: str = "INFO"
    # None: JSON when stderr is not a terminal, human-readable when it is.
    log_json: bool | None = None
    # /metrics of the gRPC services; the gateway serves its own on its HTTP port.
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # On SIGTERM: seconds to keep serving while reporting NOT_SERVING (so balancers move away),
    # then seconds that in-flight calls get to finish.
    shutdown_delay_s: float = Field(default=0.0, ge=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)


def mongodb_uri_field(prefix: str) -> str:
    """A MongoDB URI from ``<PREFIX>MONGODB_URI`` or the shared ``LANGNGHE_MONGODB_URI``."""
    return Field(
        default=DEFAULT_MONGODB_URI,
        validation_alias=AliasChoices(
            "mongodb_uri", f"{prefix}MONGODB_URI", "LANGNGHE_MONGODB_URI"
        ),
        description="Any MongoDB connection string: the embedded server or a replica set.",
    )
