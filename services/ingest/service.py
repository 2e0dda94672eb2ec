"""Wires the ingest service together: MongoDB, the nlp channel, the gRPC server, the worker."""

import asyncio
from datetime import timedelta

import structlog

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from langnghe.nlp.v1 import nlp_pb2_grpc
from services.common.errors import DomainErrorInterceptor
from services.common.grpc_client import open_channel
from services.common.grpc_server import GrpcServer, shutdown_requested
from services.common.metrics import GrpcServerMetricsInterceptor, new_registry, serve_metrics
from services.common.mongo import connect, database, ensure_document_indexes
from services.ingest.analysis import AnalysisMetrics, Analyzer
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
    analyzer = Analyzer(
        store=store,
        nlp=nlp_pb2_grpc.NlpServiceStub(nlp_channel),
        settings=settings,
        metrics=AnalysisMetrics(registry),
    )
    servicer = IngestServicer(
        store=store, sources=sources, analyzer=analyzer, settings=settings, registry=registry
    )

    def register(server):
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    server = GrpcServer(
        register=register,
        address=f"{settings.host}:{settings.port}",
        interceptors=[GrpcServerMetricsInterceptor(registry), DomainErrorInterceptor()],
    )
    shutdown = shutdown_requested()
    stop = asyncio.Event()
    worker: asyncio.Task | None = None
    try:
        await server.start()
        await ensure_document_indexes(db)
        await sources.ensure_indexes()
        worker = asyncio.create_task(analyzer.run(stop), name="analysis-worker")
        await server.set_serving()
        await shutdown.wait()
    finally:
        await server.stop(settings.shutdown_grace_s, settings.shutdown_delay_s)
        stop.set()
        if worker is not None:
            await worker
        await nlp_channel.close()
        await mongo.close()
        metrics_server.shutdown()
