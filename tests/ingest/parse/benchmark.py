"""Time the parsing library per call, as the ingest pipeline runs it on one core.

``python -m tests.ingest.parse.benchmark [--repeat N]``: prints a table of median per-call times
and ends with one JSON line, as the scripts in bench/ do.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from services.ingest.dedup import minhash, minhash_bands
from services.ingest.parse.encoding import decode_markup
from services.ingest.parse.extract import extract_article
from services.ingest.parse.feeds import parse_feed
from services.ingest.parse.sitemaps import parse_sitemap
from tests.ingest.parse.pages import article, rss_feed, with_site_chrome

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
URL = "https://thoisuthanhpho.vn/do-thi/4711.html"


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()  # warm caches and imports
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    repeat = parser.parse_args().repeat

    page, heavy_page, feed = article(), with_site_chrome(article()), rss_feed(50)
    text = extract_article(page, url=URL, now=NOW).text
    sitemap = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + b"".join(
            f"<url><loc>https://thoisuthanhpho.vn/tin-{i}.html</loc>"
            f"<lastmod>2024-02-27T0{i % 10}:00:00+07:00</lastmod></url>".encode()
            for i in range(1000)
        )
        + b"</urlset>"
    )
    cases = {
        f"extract, article page ({len(page) // 1024} KB, {len(text.split())} words)": lambda: (
            extract_article(page, url=URL, now=NOW)
        ),
        f"extract, same page in full site chrome ({len(heavy_page) // 1024} KB)": lambda: (
            extract_article(heavy_page, url=URL, now=NOW)
        ),
        f"decode_markup, full page ({len(heavy_page) // 1024} KB)": lambda: decode_markup(
            heavy_page
        ),
        "parse_feed, RSS 2.0 of 50 items": lambda: parse_feed(feed, now=NOW),
        "parse_sitemap, 1,000 URLs": lambda: parse_sitemap(sitemap, now=NOW),
        f"minhash + bands, {len(text.split())} words": lambda: minhash_bands(minhash(text)),
    }
    results = {}
    for name, call in cases.items():
        results[name] = round(median_ms(call, repeat), 2)
        print(f"{results[name]:8.2f} ms  {name}")
    print(json.dumps({"median_ms": results, "repeat": repeat}, ensure_ascii=False))


if __name__ == "__main__":
    main()
