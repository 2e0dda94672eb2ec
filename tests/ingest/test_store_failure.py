"""A round that the store fails under is the store's trouble, not the source's."""

import grpc
from bson import ObjectId
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from langnghe.nlp.v1 import nlp_pb2_grpc
from services.devstack.processes import free_port
from services.ingest.analysis import AnalysisMetrics, Analyzer
from services.ingest.collector import Collector, CollectorConfig, CollectorMetrics
from services.ingest.fetch import Fetcher, FetchPolicy
from services.ingest.settings import IngestSettings
from services.ingest.sources import SourceRegistry
from services.ingest.store import DocumentStore
from tests.ingest.fetch.conftest import TEST_POLICY, LocalServer, Reply

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Tin phường</title><link>{base}/</link>
<item><title>Phường Tân Phong nạo vét cống trước mùa mưa</title><link>{base}/bai-1</link>
<pubDate>Mon, 30 Nov 2026 08:00:00 +0700</pubDate></item>
</channel></rss>"""


async def test_a_store_failure_is_not_counted_against_the_source() -> None:
    web = LocalServer()
    await web.start()
    base = f"http://127.0.0.1:{web.port}"
    web.routes["/rss.xml"] = Reply(
        body=FEED.format(base=base).encode(), headers={"Content-Type": "application/rss+xml"}
    )
    # A MongoDB that does not answer: nothing listens on the port.
    mongo = AsyncMongoClient(f"mongodb://127.0.0.1:{free_port()}", serverSelectionTimeoutMS=300)
    db = mongo["langnghe"]
    fetcher = Fetcher(FetchPolicy(**TEST_POLICY))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    registry = CollectorRegistry()
    metrics = CollectorMetrics(registry)
    store = DocumentStore(db)
    collector = Collector(
        db=db,
        registry=SourceRegistry(db),
        store=store,
        fetcher=fetcher,
        analyzer=Analyzer(
            store=store,
            nlp=nlp_pb2_grpc.NlpServiceStub(channel),
            settings=IngestSettings(),
            metrics=AnalysisMetrics(CollectorRegistry()),
        ),
        metrics=metrics,
        config=CollectorConfig(owner="test"),
    )
    source = {
        "_id": ObjectId(),
        "name": "Cổng tin phường Tân Phong",
        "kind": "website",
        "channel": "rss",
        "urls": [f"{base}/rss.xml"],
        "outlet": "Phường Tân Phong",
        "language": "vi",
        "districts": [],
        "sectors": [],
    }
    try:
        outcome = await collector.collect_and_record(source)
    finally:
        await fetcher.aclose()
        await channel.close()
        await mongo.close()
        await web.stop()
    # The feed was read; the store then failed: the round is interrupted, not failed.
    assert [r.path for r in web.received if r.path == "/rss.xml"] == ["/rss.xml"]
    assert outcome.error is None
    assert outcome.interrupted is not None
    assert outcome.interrupted.startswith("store: ServerSelectionTimeoutError")
    labels = {"kind": "website", "channel": "rss", "outcome": "store_error"}
    assert registry.get_sample_value("langnghe_ingest_source_fetches_total", labels) == 1
