"""Wires the ingest service together: MongoDB, the nlp channel, the gRPC server, the worker."""

import asyncio
import os
import socket
from datetime import timedelta
from pathlib import Path

import structlog

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from langnghe.nlp.v1 import nlp_pb2_grpc
from services.common.errors import DomainErrorInterceptor
from services.common.grpc_client import open_channel
from services.common.grpc_server import GrpcServer, shutdown_requested
from services.common.heap import freeze_startup_objects
from services.common.metrics import GrpcServerMetricsInterceptor, new_registry, serve_metrics
from services.common.mongo import connect, database, ensure_document_indexes
from services.ingest.analysis import AnalysisMetrics, Analyzer
from services.ingest.collector import Collector, CollectorConfig, CollectorMetrics
from services.ingest.events import DocumentEventHub
from services.ingest.fetch import Fetcher, FetchMetrics, FetchPolicy, RequestLog
from services.ingest.server import IngestServicer
from services.ingest.settings import IngestSettings
from services.ingest.sources import SourceRegistry
from services.ingest.store import DocumentStore

log = structlog.get_logger(__name__)

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


async def serve(settings: IngestSettings) -> None:
    """Serve until SIGTERM, then drain in-flight calls and stop the worker."""
    registry = new_registry("ingest")
    metrics_server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    mongo = connect(settings.mongodb_uri, "langnghe-ingest")
    nlp_channel = open_channel(settings.nlp_target)
    db = database(mongo)
    store = DocumentStore(
        db, {kind: timedelta(days=days) for kind, days in settings.retention_days.items()}
    )
    sources = SourceRegistry(db)
    events = DocumentEventHub(queue_size=settings.watch_queue_size, registry=registry)
    analyzer = Analyzer(
        events=events,
        store=store,
        nlp=nlp_pb2_grpc.NlpServiceStub(nlp_channel),
        settings=settings,
        metrics=AnalysisMetrics(registry),
    )
    servicer = IngestServicer(
        store=store,
        sources=sources,
        analyzer=analyzer,
        settings=settings,
        registry=registry,
        events=events,
    )

    def register(server):
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    server = GrpcServer(
        register=register,
        address=f"{settings.host}:{settings.port}",
        interceptors=[GrpcServerMetricsInterceptor(registry), DomainErrorInterceptor()],
    )
    fetcher = None
    collector = None
    request_log = None
    if settings.collect and settings.contact_url:
        if settings.request_log_path:
            request_log = RequestLog(Path(settings.request_log_path))
        fetcher = Fetcher(
            FetchPolicy(
                contact_url=settings.contact_url,
                per_host_delay_s=settings.per_host_delay_s,
                per_host_concurrency=settings.per_host_concurrency,
                ssrf_allow=tuple(settings.fetch_allow),
            ),
            observer=FetchMetrics(registry),
            request_log=request_log,
        )
        collector = Collector(
            db=db,
            registry=sources,
            store=store,
            fetcher=fetcher,
            analyzer=analyzer,
            metrics=CollectorMetrics(registry),
            config=CollectorConfig(
                owner=f"{socket.gethostname()}-{os.getpid()}",
                concurrency=settings.collect_concurrency,
                lease_s=settings.collect_lease_s,
            ),
        )
    elif settings.collect:
        log.warning(
            "not collecting from sources: set LANGNGHE_INGEST_CONTACT_URL to the public page "
            "that tells site owners who collects and why (it goes into the User-Agent)"
        )
    shutdown = shutdown_requested()
    stop = asyncio.Event()
    workers: list[asyncio.Task] = []
    try:
        await server.start()
        await ensure_document_indexes(db)
        await sources.ensure_indexes()
        if collector is not None:
            await collector.ensure_indexes()
        workers.append(asyncio.create_task(analyzer.run(stop), name="analysis-worker"))
        if collector is not None:
            workers.append(asyncio.create_task(collector.run(stop), name="collector"))
        await server.set_serving()
        log.info("started", frozen_objects=freeze_startup_objects())
        await shutdown.wait()
    finally:
        # Watch streams never finish on their own: end them first, or they hold up the drain.
        events.close()
        await server.stop(settings.shutdown_grace_s, settings.shutdown_delay_s)
        stop.set()
        await asyncio.gather(*workers)
        if fetcher is not None:
            await fetcher.aclose()
        if request_log is not None:
            request_log.close()
        await nlp_channel.close()
        await mongo.close()
        metrics_server.shutdown()
