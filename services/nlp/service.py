"""Wires the nlp service together: the gRPC server comes up first, NOT_SERVING until models load."""

import asyncio

import structlog

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.grpc_server import GrpcServer, shutdown_requested
from services.common.heap import freeze_startup_objects
from services.common.metrics import GrpcServerMetricsInterceptor, new_registry, serve_metrics
from services.nlp.pipeline import load_analyzer
from services.nlp.server import NlpMetrics, NlpServicer
from services.nlp.settings import NlpSettings

log = structlog.get_logger(__name__)

SERVICE_NAME = nlp_pb2.DESCRIPTOR.services_by_name["NlpService"].full_name


async def serve(settings: NlpSettings) -> None:
    """Serve until SIGTERM, then drain in-flight calls; SIGTERM during model load stops at once."""
    shutdown = shutdown_requested()
    registry = new_registry("nlp")
    metrics_server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    servicer = NlpServicer(settings, NlpMetrics(registry))

    def register(server):
        nlp_pb2_grpc.add_NlpServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    server = GrpcServer(
        register=register,
        address=f"{settings.host}:{settings.port}",
        interceptors=[GrpcServerMetricsInterceptor(registry)],
    )
    try:
        await server.start()
        loading = asyncio.ensure_future(asyncio.to_thread(load_analyzer, settings))
        stopping = asyncio.ensure_future(shutdown.wait())
        await asyncio.wait([loading, stopping], return_when=asyncio.FIRST_COMPLETED)
        if loading.done():
            analyzer = loading.result()
            servicer.models_loaded(analyzer)
            log.info(
                "models loaded",
                models_version=analyzer.models_version,
                models={task: f"{m.name} {m.version}" for task, m in analyzer.models},
                frozen_objects=freeze_startup_objects(),
            )
            await server.set_serving()
            await stopping
    finally:
        await server.stop(settings.shutdown_grace_s, settings.shutdown_delay_s)
        await servicer.close()
        metrics_server.shutdown()
