"""Lint every service's live /metrics with promtool: ``python -m services.devstack.metrics_check``.

Starts the whole system (demo web included, so collection metrics exist), sends it a document,
scrapes each /metrics endpoint and hands them to ``scripts/ops-check.sh metrics``.
"""

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from services.devstack.processes import Ports
from services.devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


async def main() -> int:
    stack = Stack(ports=Ports.free(), demo=True, demo_period_s=30)
    await stack.start()
    try:
        async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
            await http.post(
                stack.graphql_url,
                json={
                    "query": 'mutation { submitDocument(input: {text: "Cầu vượt mới giúp giảm '
                    'kẹt xe ở nút giao."}) { document { id } } }'
                },
            )
        # Let a round of collection happen, so that its series are in the scrape.
        await asyncio.sleep(10)
        p = stack.ports
        urls = [
            f"http://127.0.0.1:{p.nlp_metrics}/metrics",
            f"http://127.0.0.1:{p.ingest_metrics}/metrics",
            f"http://127.0.0.1:{p.gateway}/metrics",
        ]
        result = await asyncio.to_thread(
            subprocess.run, [str(ROOT / "scripts" / "ops-check.sh"), "metrics", *urls]
        )
        return result.returncode
    finally:
        await stack.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
