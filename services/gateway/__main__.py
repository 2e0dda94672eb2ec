"""Run the gateway: ``python -m services.gateway``."""

import uvicorn

from services.common.logs import configure_logging
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # Named rather than "auto": uvloop's event loop and httptools' parser (in C) take less
        # CPU per request than asyncio's loop and h11 in pure Python (bench/gateway_cpu.py
        # --servers, bench/README.md), and a missing package should stop the gateway, not slow
        # it down unnoticed.
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        server_header=False,
    )


if __name__ == "__main__":
    main()
