"""Settings of the nlp service, read from ``LANGNGHE_NLP_*`` environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

MODELS_DIR = Path(__file__).parent / "models"
LOCALITIES_DIR = Path(__file__).parent / "data"
SECTORS_TAXONOMY = Path(__file__).parent / "taxonomy" / "sectors.yaml"


class NlpSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="LANGNGHE_NLP_", extra="forbid", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    models_dir: Path = MODELS_DIR
    # The directory holding localities.json (services.nlp.build_localities writes it).
    localities_dir: Path = LOCALITIES_DIR
    # The city-sector taxonomy (YAML, see taxonomy/sectors.yaml): data, not code.
    sectors_taxonomy: Path = SECTORS_TAXONOMY
    max_texts_per_call: int = Field(default=256, ge=1)
    max_text_chars: int = Field(default=100_000, ge=1)
