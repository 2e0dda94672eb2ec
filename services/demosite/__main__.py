"""Serve the demo web: ``python -m services.demosite [--port 8090] [--period 120]``."""

import argparse

import uvicorn

from services.common.logs import configure_logging
from services.demosite.app import DemoWeb, create_demo_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--period", type=float, default=120.0, help="seconds between two stories of one outlet"
    )
    args = parser.parse_args()
    configure_logging()
    app = create_demo_app(DemoWeb.default(period_s=args.period))
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
