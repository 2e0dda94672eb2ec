"""The NlpService gRPC servicer: validates calls and merges concurrent ones into model batches."""

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from langnghe.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from services.nlp.pipeline import Analyzer, model_entries
from services.nlp.settings import NlpSettings

log = structlog.get_logger(__name__)

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
WAIT_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class NlpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_texts = Histogram(
            "langnghe_nlp_batch_texts",
            "Texts in one model batch (concurrent Analyze calls merged).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_calls = Histogram(
            "langnghe_nlp_batch_calls",
            "Analyze calls merged into one model batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_wait = Histogram(
            "langnghe_nlp_batch_wait_seconds",
            "Time an Analyze call waited before its model batch started.",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.batches_running = Gauge(
            "langnghe_nlp_batches_running",
            "Model batches being analysed now (at most max_batches_in_flight).",
            registry=registry,
        )
        self.stage = Histogram(
            "langnghe_nlp_stage_seconds",
            "Time of one analysis stage over one model batch.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.texts = Counter(
            "langnghe_nlp_texts_total",
            "Texts analysed, by identified language.",
            ["language"],
            registry=registry,
        )


class AnalysisFailed(RuntimeError):
    """A model raised while analysing a call's texts."""


@dataclass(slots=True)
class _Call:
    inputs: Sequence[nlp_pb2.TextInput]
    arrived: float
    future: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MicroBatcher:
    """Merges concurrent calls into model batches of at most ``max_texts`` texts, and runs up to
    ``max_in_flight`` batches at once on as many worker threads.

    The oldest waiting call waits at most ``max_wait_s`` for company once a worker is free;
    calls that arrive while every worker is busy go into the next batch. Waiting calls are
    shared out among the idle workers (a call is never split): four clients' calls of eight
    articles make two batches of sixteen on two workers, not one of thirty-two on one. With two
    batches in flight, one batch's Python stages (normalisation, heads, entities, building
    protobufs) run while the other's encoder keeps the cores busy, instead of leaving them
    idle; the event loop stays free for new calls and health checks.
    """

    def __init__(
        self,
        run: Callable[[list[nlp_pb2.TextInput]], list[nlp_pb2.Analysis]],
        *,
        max_texts: int,
        max_wait_s: float,
        max_in_flight: int = 1,
        metrics: NlpMetrics | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._run = run
        self._max_texts = max_texts
        self._max_wait_s = max_wait_s
        self._metrics = metrics
        self._pending: list[_Call] = []
        self._arrival = asyncio.Event()
        self._free_workers = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._busy_workers = 0
        self._executor = ThreadPoolExecutor(
            max_workers=max_in_flight, thread_name_prefix="nlp-batch"
        )
        self._worker: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="nlp-batcher")

    async def close(self) -> None:
        """Stop taking batches, let the running ones answer their calls, fail the waiting ones."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        for call in self._pending:
            if not call.future.done():
                call.future.set_exception(RuntimeError("the nlp service is shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, inputs: Sequence[nlp_pb2.TextInput]) -> list[nlp_pb2.Analysis]:
        if not inputs:
            return []
        call = _Call(inputs, time.perf_counter())
        self._pending.append(call)
        self._arrival.set()
        return await call.future

    def _pending_texts(self) -> int:
        return sum(len(c.inputs) for c in self._pending)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrival.wait()
            self._arrival.clear()
            self._pending = [c for c in self._pending if not c.future.done()]
            if not self._pending:
                continue
            # A batch forms only when a worker can take it, so that calls arriving while every
            # worker is busy join it rather than queue behind it in batches of their own.
            await self._free_workers.acquire()
            self._busy_workers += 1
            try:
                batch, texts = await self._next_batch()
            except BaseException:
                self._release_worker()
                raise
            if not batch:
                self._release_worker()
                continue
            task = loop.create_task(self._run_batch(batch, texts))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _next_batch(self) -> tuple[list[_Call], int]:
        # Wait for company only until the oldest call has waited max_wait_s in all.
        while self._pending_texts() < self._max_texts:
            self._pending = [c for c in self._pending if not c.future.done()]
            if not self._pending:
                break
            left = self._pending[0].arrived + self._max_wait_s - time.perf_counter()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._arrival.wait(), left)
            except TimeoutError:
                break
            self._arrival.clear()
        # This worker's share of what waits, when other workers are idle.
        idle = self._max_in_flight - self._busy_workers + 1
        share = min(self._max_texts, -(-self._pending_texts() // idle))
        batch, texts = [], 0
        while self._pending and (not batch or texts + len(self._pending[0].inputs) <= share):
            call = self._pending.pop(0)
            if call.future.done():  # its caller gave up (deadline, cancellation)
                continue
            batch.append(call)
            texts += len(call.inputs)
        if self._pending:
            self._arrival.set()  # the rest form the next batch without waiting again
        return batch, texts

    async def _run_batch(self, batch: list[_Call], texts: int) -> None:
        loop = asyncio.get_running_loop()
        metrics = self._metrics
        if metrics is not None:
            started = time.perf_counter()
            metrics.batches_running.inc()
            metrics.batch_texts.observe(texts)
            metrics.batch_calls.observe(len(batch))
            for call in batch:
                metrics.batch_wait.observe(started - call.arrived)
        try:
            inputs = [item for call in batch for item in call.inputs]
            try:
                analyses = await loop.run_in_executor(self._executor, self._run, inputs)
            except Exception:
                log.exception("analysis batch failed", texts=texts, calls=len(batch))
                if len(batch) > 1:
                    # One call's text must not fail the others merged with it: run each alone.
                    for call in batch:
                        await self._run_alone(call)
                    return
                analyses = None
            offset = 0
            for call in batch:
                part = None if analyses is None else analyses[offset : offset + len(call.inputs)]
                offset += len(call.inputs)
                self._settle(call, part)
        finally:
            self._release_worker()
            if metrics is not None:
                metrics.batches_running.dec()

    def _release_worker(self) -> None:
        self._busy_workers -= 1
        self._free_workers.release()

    async def _run_alone(self, call: _Call) -> None:
        loop = asyncio.get_running_loop()
        try:
            analyses = await loop.run_in_executor(self._executor, self._run, list(call.inputs))
        except Exception:
            log.exception("analysis call failed", texts=len(call.inputs))
            analyses = None
        self._settle(call, analyses)

    @staticmethod
    def _settle(call: _Call, analyses: list[nlp_pb2.Analysis] | None) -> None:
        if call.future.done():  # its caller gave up meanwhile
            return
        if analyses is None:
            call.future.set_exception(AnalysisFailed("the analysis failed; the nlp log has why"))
        else:
            call.future.set_result(analyses)


class NlpServicer(nlp_pb2_grpc.NlpServiceServicer):
    """Answers UNAVAILABLE until ``models_loaded`` is called, as health says NOT_SERVING."""

    def __init__(self, settings: NlpSettings, metrics: NlpMetrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._analyzer: Analyzer | None = None
        self._batcher: MicroBatcher | None = None

    def models_loaded(self, analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self._batcher = MicroBatcher(
            self._analyze_batch,
            max_texts=self._settings.max_batch_texts,
            max_wait_s=self._settings.max_batch_wait_ms / 1000,
            max_in_flight=self._settings.max_batches_in_flight,
            metrics=self._metrics,
        )
        self._batcher.start()

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()

    def _analyze_batch(self, inputs: list[nlp_pb2.TextInput]) -> list[nlp_pb2.Analysis]:
        metrics = self._metrics
        observe = None if metrics is None else (lambda s, t: metrics.stage.labels(s).observe(t))
        analyses = self._analyzer.analyze(inputs, observe=observe)
        if metrics is not None:
            for analysis in analyses:
                metrics.texts.labels(analysis.language.code).inc()
        return analyses

    async def Analyze(
        self, request: nlp_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.AnalyzeResponse:
        if self._batcher is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "models are still loading")
        if len(request.texts) > self._settings.max_texts_per_call:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{len(request.texts)} texts in one call; the limit is "
                f"{self._settings.max_texts_per_call}",
            )
        for i, item in enumerate(request.texts):
            if len(item.text) + len(item.title) > self._settings.max_text_chars:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"texts[{i}] is longer than {self._settings.max_text_chars:,} characters",
                )
        try:
            analyses = await self._batcher.submit(list(request.texts))
        except AnalysisFailed as exc:
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        return nlp_pb2.AnalyzeResponse(analyses=analyses)

    async def ModelInfo(
        self, request: nlp_pb2.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> nlp_pb2.ModelInfoResponse:
        if self._analyzer is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "models are still loading")
        return nlp_pb2.ModelInfoResponse(models=list(model_entries(self._analyzer)))
