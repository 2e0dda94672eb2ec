"""Run the whole system locally until Ctrl-C: ``python -m services.devstack`` (``make run``)."""

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from services.common.grpc_server import shutdown_requested
from services.devstack.processes import Ports
from services.devstack.stack import Stack

FIRST_QUERY = """\
mutation {
  submitDocument(input: {
    text: "Đường Nguyễn Hữu Cảnh lại ngập sâu sau cơn mưa chiều nay, xe chết máy hàng loạt."
    title: "Mưa lớn, Nguyễn Hữu Cảnh ngập"
  }) {
    document { id sentiment { label score } }
    userErrors { code field message }
  }
}"""


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument(
        "--memory", action="store_true", help="keep the embedded MongoDB in memory only"
    )
    parser.add_argument(
        "--mongodb-uri", help="use this MongoDB instead of starting the embedded one"
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="do not serve and collect the local demo web"
    )
    args = parser.parse_args()
    shutdown = shutdown_requested()
    stack = Stack(
        ports=Ports(),
        data_dir=None if args.memory else args.data_dir,
        mongodb_uri=args.mongodb_uri,
        demo=not args.no_demo,
    )
    print("Starting Lắng Nghe: embedded MongoDB, nlp, ingest, gateway ...", flush=True)
    await stack.start()
    p = stack.ports
    demo = (
        f"  demo web: http://127.0.0.1:{p.demo}/tin-pho-sai-gon/rss.xml and five more outlets,"
        " collected every 30 s or so (seeds/demo.yaml)\n"
        if stack.demosite
        else ""
    )
    print(
        f"\nLắng Nghe is running.\n"
        f"  GraphQL (GraphiQL in a browser): {stack.graphql_url}\n"
        f"  gateway health: http://127.0.0.1:{p.gateway}/readyz"
        f"   metrics: http://127.0.0.1:{p.gateway}/metrics\n"
        f"  nlp gRPC 127.0.0.1:{p.nlp} (metrics :{p.nlp_metrics}),"
        f" ingest gRPC 127.0.0.1:{p.ingest} (metrics :{p.ingest_metrics})\n"
        f"  MongoDB: {stack.mongodb_uri}\n{demo}\n"
        f"Every GraphQL request needs the administrators' API key (LANGNGHE_ADMIN_KEY"
        f"{' as you set it' if os.environ.get('LANGNGHE_ADMIN_KEY') else ', made for this run'}):\n"
        f"  {stack.admin_key}\n"
        f'In GraphiQL, add under Headers: {{"Authorization": "Bearer {stack.admin_key}"}}\n\n'
        f"A first query to try in GraphiQL:\n{FIRST_QUERY}\n\nCtrl-C stops everything.\n",
        flush=True,
    )
    while not shutdown.is_set() and not stack.exited():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), 1.0)
    failed = stack.exited()
    for process in failed:
        print(f"{process.name} exited with code {process.process.returncode}", file=sys.stderr)
    await stack.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
