"""A record of every request the fetcher sends: when, to which origin, for which path.

Operators answer a site owner's "your crawler hit us twice in a second" from it, and the ingest
bench checks per-host spacing on it. The time is taken as the request is handed to the
transport, after the politeness wait, so it is what the client did, not when a busy server got
round to reading the request.
"""

import itertools
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import TextIO

import httpx

from services.ingest.fetch.robots import origin_of


class RequestLog:
    """Appends one JSON line per request sent: ``{"at": unix seconds, "origin", "path"}``."""

    def __init__(self, path: Path) -> None:
        # Line-buffered: each line is on disk (in the page cache) as soon as it is written, so
        # a reader sees every request sent so far and a killed process loses none of them.
        self._file: TextIO = path.open("a", encoding="utf-8", buffering=1)

    async def request_sent(self, request: httpx.Request) -> None:
        """An httpx ``request`` event hook."""
        line = {"at": time.time(), "origin": origin_of(request.url), "path": request.url.path}
        self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._file.close()


def read_request_log(path: Path) -> list[tuple[float, str, str]]:
    """(time, origin, path) of every request in a log, in the order they were sent."""
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                entry = json.loads(line)
                rows.append((entry["at"], entry["origin"], entry["path"]))
    return rows


def spacing_violations(
    log: list[tuple[float, str, str]], *, min_gap_s: float, slack_s: float = 0.0
) -> tuple[int, float | None]:
    """How many consecutive requests to one origin were closer than ``min_gap_s`` (less
    ``slack_s``), and the closest two requests to one origin; None when no origin had two."""
    by_origin: dict[str, list[float]] = defaultdict(list)
    for at, origin, _path in log:
        by_origin[origin].append(at)
    gaps = [b - a for times in by_origin.values() for a, b in itertools.pairwise(sorted(times))]
    return sum(1 for gap in gaps if gap < min_gap_s - slack_s), min(gaps, default=None)
