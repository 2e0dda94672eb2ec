"""Run the embedded MongoDB until SIGTERM or Ctrl-C: ``python -m services.embedded_mongo``."""

import argparse
import asyncio
from pathlib import Path

import structlog

from services.common.grpc_server import shutdown_requested
from services.common.logs import configure_logging
from services.embedded_mongo.server import build_server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27027)
    parser.add_argument(
        "--data-dir", type=Path, help="persist to a SQLite file here; in memory when omitted"
    )
    args = parser.parse_args()
    configure_logging()
    log = structlog.get_logger("embedded_mongo")
    stop = shutdown_requested()
    server = build_server(host=args.host, port=args.port, data_dir=args.data_dir)
    address = await server.start()
    log.info("embedded mongodb listening", uri=address.uri, data_dir=str(args.data_dir or ""))
    try:
        await stop.wait()
    finally:
        await server.close()
        log.info("embedded mongodb stopped")


if __name__ == "__main__":
    asyncio.run(main())
