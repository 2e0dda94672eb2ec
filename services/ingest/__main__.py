"""Run the ingest service: ``python -m services.ingest``."""

import asyncio

from services.common.logs import configure_logging
from services.ingest.service import serve
from services.ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    configure_logging(settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
