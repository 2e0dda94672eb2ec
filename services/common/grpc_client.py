"""Channels to the project's gRPC services: load-balanced, kept alive, and retried where safe."""

import json

import grpc

from services.common.grpc_server import MESSAGE_LIMIT_BYTES

# Transient UNAVAILABLE (a pod restarting, a connection reset) is retried by the channel itself;
# every call still carries its own deadline, which bounds the retries.
_SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure channel for in-cluster traffic; ``dns:///`` targets spread calls over pods."""
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", MESSAGE_LIMIT_BYTES),
            ("grpc.max_send_message_length", MESSAGE_LIMIT_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
        ],
    )
