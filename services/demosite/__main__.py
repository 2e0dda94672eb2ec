"""Serve the demo web: ``python -m services.demosite [--port 8090] [--period 120]
[--feed-length 30] [--crawl-delay SECONDS]``."""

import argparse

import uvicorn

from services.common.logs import configure_logging
from services.demosite.app import FEED_LENGTH, DemoWeb, create_demo_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--period", type=float, default=120.0, help="seconds between two stories of one outlet"
    )
    parser.add_argument(
        "--feed-length", type=int, default=FEED_LENGTH, help="stories each feed and sitemap lists"
    )
    parser.add_argument(
        "--crawl-delay", type=float, help="a Crawl-delay for robots.txt to ask of every crawler"
    )
    args = parser.parse_args()
    configure_logging()
    web = DemoWeb.default(period_s=args.period)
    web.feed_length = args.feed_length
    web.crawl_delay_s = args.crawl_delay
    app = create_demo_app(web)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
