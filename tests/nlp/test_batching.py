"""MicroBatcher on its own: merging, the wait of a lone call, order, limits, failure isolation,
batches in flight at once, and draining on close."""

import asyncio
import threading
import time

import pytest

from langnghe.nlp.v1 import nlp_pb2
from services.nlp.server import AnalysisFailed, MicroBatcher

SLOW = "chậm"  # a text the echo takes SLOW_SECONDS over


class EchoAnalysis:
    """Answers each text with an Analysis carrying its id; records every batch it is given,
    and when each ran."""

    SLOW_SECONDS = 0.4

    def __init__(self, seconds_per_batch: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.spans: dict[str, tuple[float, float]] = {}  # first id of a batch: (start, end)
        self.started = threading.Event()
        self._seconds = seconds_per_batch

    def __call__(self, inputs: list[nlp_pb2.TextInput]) -> list[nlp_pb2.Analysis]:
        begin = time.perf_counter()
        self.threads.add(threading.current_thread().name)
        self.batches.append([t.id for t in inputs])
        self.started.set()
        if any(t.text == "hỏng" for t in inputs):
            raise ValueError("a text this analysis cannot take")
        slow = any(t.text == SLOW for t in inputs)
        time.sleep(self.SLOW_SECONDS if slow else self._seconds)
        self.spans[inputs[0].id] = (begin, time.perf_counter())
        return [nlp_pb2.Analysis(id=t.id, models_version=t.text) for t in inputs]


def call(*ids: str, text: str = "Xin chào") -> list[nlp_pb2.TextInput]:
    return [nlp_pb2.TextInput(id=i, text=text) for i in ids]


async def started(run: EchoAnalysis, **limits) -> MicroBatcher:
    batcher = MicroBatcher(run, **{"max_texts": 64, "max_wait_s": 0.002, **limits})
    batcher.start()
    return batcher


async def test_concurrent_calls_are_merged_and_answered_in_order() -> None:
    run = EchoAnalysis(seconds_per_batch=0.02)
    batcher = await started(run)
    try:
        replies = await asyncio.gather(*(batcher.submit(call(f"{i}a", f"{i}b")) for i in range(20)))
    finally:
        await batcher.close()
    for i, reply in enumerate(replies):
        assert [a.id for a in reply] == [f"{i}a", f"{i}b"]
    assert len(run.batches) < 20
    assert max(len(b) for b in run.batches) > 2
    # Off the event loop, on the batcher's one worker thread.
    assert all(name.startswith("nlp-batch") for name in run.threads)


async def test_a_lone_call_waits_at_most_max_wait() -> None:
    run = EchoAnalysis()
    batcher = await started(run, max_wait_s=0.003)
    try:
        await batcher.submit(call("warm"))
        begin = time.perf_counter()
        (reply,) = await batcher.submit(call("alone"))
        elapsed = time.perf_counter() - begin
    finally:
        await batcher.close()
    assert reply.id == "alone"
    assert elapsed < 0.003 + 0.05  # the wait, plus a shared machine's scheduling


async def test_batches_stay_within_max_texts_unless_one_call_is_bigger() -> None:
    run = EchoAnalysis(seconds_per_batch=0.01)
    batcher = await started(run, max_texts=8)
    try:
        big = batcher.submit(call(*(f"big{i}" for i in range(20))))
        small = [batcher.submit(call(f"s{i}", f"t{i}", f"u{i}")) for i in range(10)]
        replies = await asyncio.gather(big, *small)
    finally:
        await batcher.close()
    assert len(replies[0]) == 20
    for batch in run.batches:
        assert len(batch) <= 8 or all(i.startswith("big") for i in batch)


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_a_failing_call_does_not_fail_the_calls_merged_with_it(in_flight: int) -> None:
    run = EchoAnalysis(seconds_per_batch=0.01)
    batcher = await started(run, max_wait_s=0.05, max_in_flight=in_flight)
    try:
        good1, bad, good2 = await asyncio.gather(
            batcher.submit(call("a")),
            batcher.submit(call("b", text="hỏng")),
            batcher.submit(call("c")),
            return_exceptions=True,
        )
    finally:
        await batcher.close()
    assert [a.id for a in good1] == ["a"]
    assert [a.id for a in good2] == ["c"]
    assert isinstance(bad, AnalysisFailed)
    # The failing call was merged with a good one first (with two workers idle, the three
    # calls are shared out: "a" and "b" together, "c" alone).
    assert (["a", "b", "c"] if in_flight == 1 else ["a", "b"]) in run.batches


async def test_an_empty_call_needs_no_batch() -> None:
    run = EchoAnalysis()
    batcher = await started(run)
    try:
        assert await batcher.submit([]) == []
    finally:
        await batcher.close()
    assert run.batches == []


async def test_a_caller_that_gives_up_does_not_break_the_batcher() -> None:
    run = EchoAnalysis(seconds_per_batch=0.05)
    batcher = await started(run)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit(call("impatient")), 0.01)
        (reply,) = await batcher.submit(call("patient"))
    finally:
        await batcher.close()
    assert reply.id == "patient"


async def test_two_batches_run_at_once_when_two_may_be_in_flight() -> None:
    run = EchoAnalysis()
    batcher = await started(run, max_texts=1, max_in_flight=2)
    try:
        first, second = await asyncio.gather(
            batcher.submit(call("a", text=SLOW)), batcher.submit(call("b", text=SLOW))
        )
    finally:
        await batcher.close()
    assert [first[0].id, second[0].id] == ["a", "b"]
    assert sorted(run.batches) == [["a"], ["b"]]
    (a_start, a_end), (b_start, b_end) = run.spans["a"], run.spans["b"]
    assert a_start < b_end, "the two batches did not overlap"
    assert b_start < a_end, "the two batches did not overlap"
    assert len(run.threads) == 2


async def test_waiting_calls_are_shared_among_idle_workers() -> None:
    run = EchoAnalysis(seconds_per_batch=0.05)
    batcher = await started(run, max_texts=64, max_wait_s=0.05, max_in_flight=2)
    try:
        replies = await asyncio.gather(
            *(batcher.submit(call(*(f"{c}{i}" for i in range(8)))) for c in "abcd")
        )
    finally:
        await batcher.close()
    assert [[a.id for a in reply] for reply in replies] == [
        [f"{c}{i}" for i in range(8)] for c in "abcd"
    ]
    # Four calls of eight: two batches of sixteen, one on each worker, not one of thirty-two.
    assert sorted(len(batch) for batch in run.batches) == [16, 16]
    assert len(run.threads) == 2


async def test_one_in_flight_runs_batches_in_turn() -> None:
    run = EchoAnalysis()
    batcher = await started(run, max_texts=1, max_in_flight=1)
    try:
        await asyncio.gather(
            batcher.submit(call("a", text=SLOW)), batcher.submit(call("b", text=SLOW))
        )
    finally:
        await batcher.close()
    (_, first_end), (second_start, _) = sorted(run.spans.values())
    assert first_end <= second_start


async def test_a_lone_call_does_not_wait_behind_a_running_batch() -> None:
    run = EchoAnalysis()
    batcher = await started(run, max_wait_s=0.003, max_in_flight=2)
    try:
        slow = asyncio.ensure_future(batcher.submit(call("slow", text=SLOW)))
        await asyncio.to_thread(run.started.wait, 5)
        begin = time.perf_counter()
        (reply,) = await batcher.submit(call("quick"))
        elapsed = time.perf_counter() - begin
        assert not slow.done()
        await slow
    finally:
        await batcher.close()
    assert reply.id == "quick"
    # Well under the slow batch's time: the free worker took the call after its short wait.
    assert elapsed < EchoAnalysis.SLOW_SECONDS / 2


async def test_close_lets_running_batches_answer_and_fails_the_waiting_ones() -> None:
    run = EchoAnalysis()
    batcher = await started(run, max_in_flight=1)
    running = asyncio.ensure_future(batcher.submit(call("running", text=SLOW)))
    await asyncio.to_thread(run.started.wait, 5)
    waiting = asyncio.ensure_future(batcher.submit(call("waiting")))
    await asyncio.sleep(0.05)  # it is queued: the one worker is busy
    await batcher.close()
    assert [a.id for a in await running] == ["running"]
    with pytest.raises(RuntimeError, match="shutting down"):
        await waiting
    assert run.batches == [["running"]]


def test_at_least_one_batch_in_flight() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        MicroBatcher(EchoAnalysis(), max_texts=8, max_wait_s=0.002, max_in_flight=0)
