"""Benchmark the embedded MongoDB: SQLite-persisted versus in-memory, side by side in one run.

Inserts documents one at a time, as ingest stores them, and reports the insert latency as the
collection grows, plus a first-page query. ``python bench/embedded_mongo.py [--documents N]``.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from services.common.documents import validate_submission
from services.common.mongo import DOCUMENTS, connect, ensure_document_indexes
from services.common.text import search_terms
from services.embedded_mongo.server import build_server

WORDS = [
    "người",
    "dân",
    "phản",
    "ánh",
    "đường",
    "ngập",
    "nước",
    "sau",
    "mưa",
    "lớn",
    "kẹt",
    "xe",
    "kéo",
    "dài",
    "trên",
    "cầu",
    "rác",
    "thải",
    "công",
    "viên",
    "mới",
    "xây",
    "đẹp",
    "dịch",
    "vụ",
    "công",
    "trực",
    "tuyến",
    "nhanh",
    "gọn",
    "bệnh",
    "viện",
    "quá",
    "tải",
    "trường",
    "học",
]


def text_for(i: int) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(40)]
    return f"Bản tin {i}: " + " ".join(words)


async def measure(data_dir: Path | None, documents: int, checkpoints: list[int]) -> dict:
    server = build_server(host="127.0.0.1", port=0, data_dir=data_dir)
    address = await server.start()
    client = connect(address.uri, "bench")
    db = client["bench"]
    await ensure_document_indexes(db)
    latencies: dict[int, list[float]] = {c: [] for c in checkpoints}
    started = time.perf_counter()
    for i in range(documents):
        draft = validate_submission(text=text_for(i))
        record = {
            "content_hash": draft.content_hash,
            "text": draft.text,
            "search_terms": search_terms(draft.text),
            "analysis_state": "pending",
        }
        t0 = time.perf_counter()
        await db[DOCUMENTS].insert_one(record)
        elapsed = time.perf_counter() - t0
        for c in checkpoints:
            if c - 50 <= i < c:
                latencies[c].append(elapsed)
    total = time.perf_counter() - started
    t0 = time.perf_counter()
    await db[DOCUMENTS].find({}).sort("_id", -1).limit(20).to_list()
    page_ms = (time.perf_counter() - t0) * 1000
    await client.close()
    await server.close()
    return {
        "inserts_per_s": round(documents / total, 1),
        "insert_ms_at": {c: round(statistics.median(v) * 1000, 2) for c, v in latencies.items()},
        "first_page_ms": round(page_ms, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=2000)
    args = parser.parse_args()
    checkpoints = [c for c in (100, 500, 1000, 2000, 5000, 10000) if c <= args.documents]
    memory = await measure(None, args.documents, checkpoints)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await measure(Path(tmp), args.documents, checkpoints)
    for name, figures in (("memory", memory), ("sqlite", sqlite)):
        print(f"{name:>7}: {figures}")
    ratio = {
        c: round(sqlite["insert_ms_at"][c] / memory["insert_ms_at"][c], 1) for c in checkpoints
    }
    print(
        json.dumps(
            {
                "documents": args.documents,
                "memory": memory,
                "sqlite": sqlite,
                "sqlite_over_memory_insert": ratio,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
