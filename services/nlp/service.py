"""Wires the nlp service together: the gRPC server comes up first, NOT_SERVING until models load."""

import asyncio
import json

import structlog

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.common.grpc_server import GrpcServer, shutdown_requested
from services.common.metrics import GrpcServerMetricsInterceptor, new_registry, serve_metrics
from services.nlp.classifiers import TaskHeads
from services.nlp.encoder import MANIFEST_FILE, SentenceEncoder
from services.nlp.server import LoadedModels, NlpServicer
from services.nlp.settings import NlpSettings

log = structlog.get_logger(__name__)

SERVICE_NAME = nlp_pb2.DESCRIPTOR.services_by_name["NlpService"].full_name


def load_models(settings: NlpSettings) -> LoadedModels:
    encoder = SentenceEncoder.load(
        settings.encoder_dir, max_tokens=settings.encoder_max_tokens, verify=True
    )
    manifest = json.loads((settings.encoder_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    return LoadedModels(
        encoder=encoder,
        encoder_sha256=manifest["files"][manifest["model_file"]],
        heads=TaskHeads.load(settings.models_dir / "heads"),
    )


async def serve(settings: NlpSettings) -> None:
    """Serve until SIGTERM, then drain in-flight calls; SIGTERM during model load stops at once."""
    shutdown = shutdown_requested()
    registry = new_registry("nlp")
    metrics_server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    servicer = NlpServicer(settings)

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
        loading = asyncio.ensure_future(asyncio.to_thread(load_models, settings))
        stopping = asyncio.ensure_future(shutdown.wait())
        await asyncio.wait([loading, stopping], return_when=asyncio.FIRST_COMPLETED)
        if loading.done():
            models = loading.result()
            servicer.models_loaded(models)
            log.info("models loaded", heads=models.heads.name, version=models.heads.version)
            await server.set_serving()
            await stopping
    finally:
        await server.stop(settings.shutdown_grace_s, settings.shutdown_delay_s)
        metrics_server.shutdown()
