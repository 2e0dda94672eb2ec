"""Run the nlp service: ``python -m services.nlp``."""

import asyncio
import os

# Before numpy loads: the heads multiply small matrices per batch, where OpenBLAS's thread pool
# costs more than it saves (measured 15 ms vs 0.1 ms for 64x384 @ 384x47 on busy cores), and
# onnxruntime already uses the cores for the encoder.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from services.common.logs import configure_logging
from services.nlp.service import serve
from services.nlp.settings import NlpSettings


def main() -> None:
    settings = NlpSettings()
    configure_logging(settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
