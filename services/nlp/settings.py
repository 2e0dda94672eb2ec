"""Settings of the nlp service, read from ``LANGNGHE_NLP_*`` environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

MODELS_DIR = Path(__file__).parent / "models"


class NlpSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="LANGNGHE_NLP_", extra="forbid", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    models_dir: Path = MODELS_DIR
    # Built by python -m services.nlp.build_encoder (make run does it when missing).
    encoder_dir: Path = Path(".cache/models/e5-small")
    encoder_max_tokens: int = Field(default=256, ge=3, le=512)
    max_texts_per_call: int = Field(default=256, ge=1)
    max_text_chars: int = Field(default=100_000, ge=1)
