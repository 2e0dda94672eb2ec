"""GraphQL operations counted by type and outcome: errors travel in HTTP 200 responses."""

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from strawberry.extensions import SchemaExtension

from services.common.metrics import LATENCY_BUCKETS


class GraphQLMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.operations = Counter(
            "langnghe_gateway_graphql_operations_total",
            "GraphQL operations by type (query, mutation, subscription, invalid) and outcome "
            "(ok, error: the response carries errors).",
            ["operation_type", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "langnghe_gateway_graphql_operation_duration_seconds",
            "Time to execute a GraphQL operation.",
            ["operation_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def extension(self) -> type[SchemaExtension]:
        metrics = self

        class CountOperations(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                started = time.perf_counter()
                yield
                context = self.execution_context
                try:
                    kind = context.operation_type.value
                except RuntimeError:  # the document did not parse
                    kind = "invalid"
                errors = context.pre_execution_errors or (
                    context.result.errors if context.result else None
                )
                metrics.operations.labels(kind, "error" if errors else "ok").inc()
                metrics.seconds.labels(kind).observe(time.perf_counter() - started)

        return CountOperations
