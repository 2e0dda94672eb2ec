"""Run the nlp service: ``python -m services.nlp``."""

import asyncio

from services.common.logs import configure_logging
from services.nlp.service import serve
from services.nlp.settings import NlpSettings


def main() -> None:
    settings = NlpSettings()
    configure_logging(settings.log_level, settings.log_json)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
