"""Settings of the nlp service, read from ``LANGNGHE_NLP_*`` environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

MODELS_DIR = Path(__file__).parent / "models"
LOCALITIES_DIR = Path(__file__).parent / "data"
SECTORS_TAXONOMY = Path(__file__).parent / "taxonomy" / "sectors.yaml"
# Where python -m services.nlp.build_encoder puts the encoder by default (run from the repo root).
ENCODER_DIR = Path(__file__).resolve().parents[2] / ".cache" / "models" / "e5-small"


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
    # The sentence encoder, built at set-up (make models); every document gets one forward pass
    # over at most this many tokens of title + text (an article's title and lead).
    encoder_dir: Path = ENCODER_DIR
    encoder_max_tokens: int = Field(default=128, ge=16, le=512)
    # onnxruntime threads for one batch; 0: the cores this process may use (its affinity and
    # cgroup CPU limit) shared among the batches in flight, at least one each.
    intra_op_threads: int = Field(default=0, ge=0)
    # Let onnxruntime's idle threads spin: worth it only on cores nothing else uses.
    intra_op_spinning: bool = False
    # Dynamic micro-batching: concurrent Analyze calls share one model batch of up to this many
    # texts; the first call waits at most max_batch_wait_ms for company.
    max_batch_texts: int = Field(default=64, ge=1)
    max_batch_wait_ms: float = Field(default=2.0, ge=0, le=100)
    # Model batches analysed at once, each on its own thread: with two, one batch's Python
    # stages run while the other's encoder keeps the cores busy. One runs them strictly in turn.
    max_batches_in_flight: int = Field(default=2, ge=1, le=8)
