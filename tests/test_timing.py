"""The timing engine against the session's real Milvus Lite server (no Textual).

Operations are counted where they land: embedding requests at the real OpenAI-compatible
``EmbeddingServer`` (or calls through a thin counting ``Embeddings`` wrapper), rows in the
scratch collection through pymilvus. Timings are only asserted where the semantics demand
it (a cancel must be quick; the blocking demonstration must stall the loop).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from pymilvus import MilvusClient

from tests.embedding_server import EmbeddingServer
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.timing import to_csv, to_json, to_markdown
from tui.timing.engine import (
    MODES,
    OPERATIONS,
    SCRATCH_PREFIX,
    BenchConfig,
    RunResult,
    ideal_speedup,
    percentile,
    run_bench,
)

CORPUS = 50


# -- helpers -------------------------------------------------------------------------------


class CountingEmbeddings(Embeddings):
    """Delegates to a real model and records every call as (method, number of texts)."""

    def __init__(self, inner: Any, fail_after: int | None = None) -> None:
        self.inner = inner
        self.calls: list[tuple[str, int]] = []
        self.fail_after = fail_after  # raise on every call after this many

    def _note(self, method: str, n: int) -> None:
        self.calls.append((method, n))
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise RuntimeError("embedding model went away")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self._note("embed_documents", len(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self._note("embed_query", 1)
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self._note("aembed_documents", len(texts))
        return await self.inner.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        self._note("aembed_query", 1)
        return await self.inner.aembed_query(text)


class NoValidate(BenchConfig):
    """A config that skips validation, to reach the engine with an impossible operation."""

    def validate(self) -> None:
        pass


def openai_embeddings(srv: EmbeddingServer) -> Any:
    return make_embeddings(EmbeddingSettings(provider="openai", base_url=srv.base_url, api_key="test",
                                             dimensions=256, max_retries=0))


def scratch_names(client: MilvusClient) -> set[str]:
    return {n for n in client.list_collections() if n.startswith(SCRATCH_PREFIX)}


def row_count(client: MilvusClient, name: str) -> int:
    rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])


def inputs_of(request: dict[str, Any]) -> list[Any]:
    body = request["body"]
    value = body["input"]
    return [value] if isinstance(value, str) else list(value)


@pytest.fixture
def client(milvus_uri: str) -> Iterator[MilvusClient]:
    c = MilvusClient(uri=milvus_uri)
    yield c
    c.close()


@pytest.fixture
def args(milvus_uri: str) -> dict[str, Any]:
    return {"uri": milvus_uri}


@pytest.fixture
def srv() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dim=256, latency=0.0) as server:
        yield server


# -- pure functions --------------------------------------------------------------------------


def test_percentile_matches_numpy_linear() -> None:
    rng = np.random.default_rng(7)
    for size in (1, 2, 3, 5, 10, 101, 1000):
        values = list(rng.exponential(20.0, size))
        for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-12), \
                (size, q)
    assert percentile([], 50) == 0.0
    assert percentile([], 99) == 0.0
    assert percentile([3.0], 1) == 3.0
    assert percentile([1.0, 3.0], 50) == 2.0
    assert percentile([3, 1], 75) == pytest.approx(2.5)  # unsorted input


@pytest.mark.parametrize("bad, message", [
    ({"ops": ("search", "frobnicate")}, "Unknown operation"),
    ({"modes": ("async", "parallel")}, "Unknown mode"),
    ({"ns": (10, 0)}, "N must be"),
    ({"ns": (-3,)}, "N must be"),
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": -1}, "concurrency"),
])
def test_config_validate_rejects(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BenchConfig(**bad).validate()


def test_config_validate_accepts_every_op_and_mode() -> None:
    BenchConfig(ops=tuple(OPERATIONS), modes=tuple(MODES), ns=(1, 100_000), concurrency=1).validate()
    BenchConfig(concurrency=None).validate()


async def test_run_bench_validates_before_touching_the_server(args: dict[str, Any], client: MilvusClient) -> None:
    before = scratch_names(client)
    with pytest.raises(ValueError, match="Unknown operation"):
        await run_bench(BenchConfig(ops=("nope",)), args, object())
    assert scratch_names(client) == before


def _sample_results() -> list[RunResult]:
    return [
        RunResult("search", 10, "async", 8, 0.5, 20.0, 10.0, 20.0, 30.0, 0, 10, 1.0, 2.0, speedup=4.0),
        RunResult("search", 10, "sync", None, 2.0, 5.0, 150.0, 200.0, 210.0, 1, 9, 0.5, 1.5, speedup=1.0),
        RunResult("search", 10, "batched", None, 0.1, 100.0, 100.0, 100.0, 100.0, 0, 10, 0.2, 0.3, speedup=20.0),
        RunResult("mmr", 10, "batched", None, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, note="no batched form"),
        RunResult("delete", 100, "blocking", None, 3.0, 33.3, 30.0, 40.0, 50.0, 0, 100, 2900.0, 3000.0,
                  note="blocked the event loop on purpose"),
    ]


@pytest.mark.parametrize(("n", "limit", "ideal"), [
    (100, None, 100.0), (100, 100, 100.0), (100, 500, 100.0), (100, 50, 50.0), (100, 34, 100 / 3),
    (100, 33, 25.0), (100, 32, 25.0), (100, 25, 25.0), (100, 24, 20.0), (100, 16, 100 / 7), (100, 8, 100 / 13),
    (100, 1, 1.0), (10, 8, 5.0), (1, None, 1.0),
])
def test_ideal_speedup_counts_waves_not_the_limit(n: int, limit: int | None, ideal: float) -> None:
    # N operations of equal latency, at most `limit` at a time: ceil(N / limit) waves.
    assert ideal_speedup(n, limit) == pytest.approx(ideal)
    assert RunResult("search", n, "async", limit, 1.0, 0, 0, 0, 0, 0, n, 0, 0).ideal == pytest.approx(ideal)


def test_reports_contain_every_run() -> None:
    results = _sample_results()

    data = json.loads(to_json(results, scratch_collection="milvus_tui_bench_x", scratch_dropped=True))
    assert data["scratch_dropped"] is True and data["scratch_collection"] == "milvus_tui_bench_x"
    assert [(r["op"], r["n"], r["mode"]) for r in data["results"]] == [(r.op, r.n, r.mode) for r in results]
    assert data["results"][0]["concurrency"] == 8 and data["results"][0]["speedup"] == 4.0

    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert [(r["op"], int(r["n"]), r["mode"]) for r in rows] == [(r.op, r.n, r.mode) for r in results]
    assert rows[1]["errors"] == "1" and rows[3]["note"] == "no batched form"

    md = to_markdown(results).splitlines()
    assert len(md) == 2 + len(results)
    body = md[2:]
    for line, r in zip(body, results, strict=True):
        assert line.startswith(f"| {OPERATIONS[r.op][0]} | {r.n} | {r.mode}")
    assert "(≤8)" in body[0] and "4.0x" in body[0]
    assert "| 5.0x (80%) |" in body[0]  # 10 ops, at most 8 at a time: two waves, so 5x at best
    assert data["results"][0]["ideal"] == 5.0 and data["results"][0]["of_ideal"] == pytest.approx(0.8)
    assert rows[0]["ideal"] == "5.0" and rows[2]["ideal"] == ""  # batched: no ideal
    assert "| — | — |" in body[3]  # no batched form: dashes, not zeros
    assert "3000.0" in body[4]


# -- every operation, once per mode ----------------------------------------------------------


async def test_search_embeds_exactly_once_per_operation(srv: EmbeddingServer, args: dict[str, Any],
                                                        client: MilvusClient) -> None:
    marks: list[int] = []
    results: list[RunResult] = []

    def on_result(r: RunResult) -> None:
        marks.append(len(srv.requests))
        results.append(r)

    config = BenchConfig(ops=("search",), ns=(7,), modes=("async", "sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, openai_embeddings(srv), on_result=on_result)

    assert [r.mode for r in run.results] == ["async", "sync", "batched"] and results == run.results
    # The fill is one request carrying the whole corpus; nothing else runs before the first mode.
    fill = srv.requests[0]
    assert len(inputs_of(fill)) == CORPUS
    per_run = [marks[0] - 1, marks[1] - marks[0], marks[2] - marks[1]]
    assert per_run == [7, 7, 1]
    assert len(srv.requests) == marks[-1]  # nothing embedded after the last run
    # Every query text went out exactly once per mode (the batched one in a single request).
    async_texts = sorted(t for req in srv.requests[1:marks[0]] for t in inputs_of(req))
    sync_texts = sorted(t for req in srv.requests[marks[0]:marks[1]] for t in inputs_of(req))
    batched_texts = sorted(inputs_of(srv.requests[marks[1]]))
    assert async_texts == sync_texts == batched_texts and len(set(async_texts)) == 7
    for r in run.results:
        assert r.ok + r.errors == r.n == 7 and r.errors == 0
        assert r.wall_s > 0 and r.ops_per_s > 0 and 0 < r.p50_ms <= r.p95_ms <= r.p99_ms
    assert run.results[0].concurrency is None  # unbounded, as asked
    assert run.results[1].speedup == pytest.approx(1.0)
    assert run.dropped and run.scratch.startswith(SCRATCH_PREFIX)
    assert run.scratch not in client.list_collections()


async def test_add_inserts_exactly_n_rows_per_mode(embeddings: Any, args: dict[str, Any],
                                                   client: MilvusClient) -> None:
    counting = CountingEmbeddings(embeddings)
    seen: list[tuple[str, int, int, list[tuple[str, int]]]] = []
    progress: list[tuple[str, str, int, int]] = []
    marks = [1]  # the fill's one call comes first

    def on_result(r: RunResult) -> None:
        # Called after the engine's (untimed) flush, before the scratch is dropped.
        name = next(iter(scratch_names(client) - before))
        calls = counting.calls[marks[-1]:]
        marks.append(len(counting.calls))
        seen.append((r.mode, r.ok + r.errors, row_count(client, name), calls))

    before = scratch_names(client)
    config = BenchConfig(ops=("add",), ns=(5,), modes=("async", "sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, counting, on_result=on_result,
                          progress=lambda *p: progress.append(p))

    assert counting.calls[0] == ("embed_documents", CORPUS)
    assert [(mode, n, rows) for mode, n, rows, _ in seen] == [
        ("async", 5, CORPUS + 5), ("sync", 5, CORPUS + 10), ("batched", 5, CORPUS + 15)]
    async_calls, sync_calls, batched_calls = (calls for *_, calls in seen)
    assert async_calls == [("aembed_documents", 1)] * 5
    assert sync_calls == [("embed_documents", 1)] * 5
    assert batched_calls == [("embed_documents", 5)]
    assert all(r.errors == 0 for r in run.results)
    # Progress counts each operation once and ends at N.
    for mode in ("async", "sync"):
        done = [d for op, m, d, total in progress if m == mode]
        assert done == [1, 2, 3, 4, 5]
    assert [p for p in progress if p[1] == "batched"] == [("add", "batched", 5, 5)]
    assert run.dropped and scratch_names(client) == before


async def test_every_operation_runs_in_every_mode(embeddings: Any, args: dict[str, Any],
                                                  client: MilvusClient) -> None:
    before = scratch_names(client)
    config = BenchConfig(ops=tuple(OPERATIONS), ns=(3,), modes=("async", "sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, embeddings)
    assert [(r.op, r.mode) for r in run.results] == [(op, m) for op in OPERATIONS for m in config.modes]
    for r in run.results:
        if r.mode == "batched" and not OPERATIONS[r.op][1]:
            assert r.note == "no batched form" and r.ok == r.errors == 0
            continue
        assert (r.op, r.mode, r.errors) == (r.op, r.mode, 0)
        assert r.ok + r.errors == r.n == 3
    assert run.dropped and scratch_names(client) == before


async def test_delete_removes_exactly_the_rows_it_prepared(embeddings: Any, args: dict[str, Any],
                                                           client: MilvusClient) -> None:
    counts: list[tuple[str, int, int]] = []

    def on_result(r: RunResult) -> None:
        name = run_name[0] if run_name else next(iter(scratch_names(client) - before))
        run_name[:] = [name]
        def tagged(group: str) -> int:
            return client.query(name, filter=f'group == "{group}"', output_fields=["count(*)"],
                                consistency_level="Strong")[0]["count(*)"]

        assert tagged("c") == CORPUS  # the filter does see the metadata: the corpus is intact
        counts.append((r.mode, row_count(client, name), tagged(f"del_{r.mode}_")))

    run_name: list[str] = []
    before = scratch_names(client)
    config = BenchConfig(ops=("delete",), ns=(4,), modes=("async", "sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, embeddings, on_result=on_result)
    # Each mode adds 4 tagged rows (untimed) and its 4 deletes remove exactly those.
    assert counts == [("async", CORPUS, 0), ("sync", CORPUS, 0), ("batched", CORPUS, 0)]
    assert all(r.ok == 4 and r.errors == 0 for r in run.results)


# -- errors, concurrency ---------------------------------------------------------------------


async def test_errors_are_counted_per_run(srv: EmbeddingServer, args: dict[str, Any],
                                          client: MilvusClient) -> None:
    def on_result(r: RunResult) -> None:
        # Faults go to the next requests, which belong to the next mode's run.
        if r.mode == "batched":
            srv.fail_next(500, 500, 500)
        elif r.mode == "async":
            srv.fail_next(500, 500)

    before = scratch_names(client)
    config = BenchConfig(ops=("search",), ns=(8,), modes=("batched", "async", "sync"), corpus=CORPUS)
    run = await run_bench(config, args, openai_embeddings(srv), on_result=on_result)
    by_mode = {r.mode: r for r in run.results}
    assert (by_mode["batched"].ok, by_mode["batched"].errors) == (8, 0)
    assert (by_mode["async"].ok, by_mode["async"].errors) == (5, 3)
    assert (by_mode["sync"].ok, by_mode["sync"].errors) == (6, 2)
    assert len(srv.requests) == 1 + 1 + 8 + 8  # max_retries=0: no request was retried
    assert run.dropped and scratch_names(client) == before


async def test_batched_failure_counts_every_item(srv: EmbeddingServer, args: dict[str, Any]) -> None:
    def on_result(r: RunResult) -> None:
        srv.fail_next(500)

    config = BenchConfig(ops=("search",), ns=(6,), modes=("sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, openai_embeddings(srv), on_result=on_result)
    batched = run.results[1]
    assert (batched.ok, batched.errors, batched.ops_per_s) == (0, 6, 0.0)


async def test_concurrency_limit_is_respected(args: dict[str, Any]) -> None:
    with EmbeddingServer(dim=256, latency=0.05) as slow:
        emb = openai_embeddings(slow)
        limited = await run_bench(BenchConfig(ops=("search",), ns=(20,), modes=("async",), concurrency=4,
                                              corpus=CORPUS), args, emb)
        assert limited.results[0].concurrency == 4 and limited.results[0].ok == 20
        assert 1 <= slow.max_in_flight <= 4

        slow.reset()
        unbounded = await run_bench(BenchConfig(ops=("search",), ns=(20,), modes=("async",), corpus=CORPUS),
                                    args, emb)
        assert unbounded.results[0].concurrency is None and unbounded.results[0].ok == 20
        assert slow.max_in_flight > 4


# -- cancellation -----------------------------------------------------------------------------


async def _wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_cancel_async_run_stops_quickly_and_drops_scratch(args: dict[str, Any],
                                                                client: MilvusClient) -> None:
    before = scratch_names(client)
    with EmbeddingServer(dim=256, latency=0.2) as slow:
        progress: list[tuple[str, str, int, int]] = []
        # 50 searches, 5 at a time, 0.2 s each: ~2 s of work if left alone.
        config = BenchConfig(ops=("search",), ns=(50,), modes=("async",), concurrency=5, corpus=CORPUS)
        task = asyncio.ensure_future(run_bench(config, args, openai_embeddings(slow),
                                               progress=lambda *p: progress.append(p)))
        await _wait_for(lambda: progress, what="the first finished search")
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - started < 2.0
        # In-flight operations were cancelled with the run: no new requests arrive.
        await asyncio.sleep(0.3)
        settled = len(slow.requests)
        await asyncio.sleep(1.0)
        assert len(slow.requests) == settled
        assert settled < 1 + 50
        assert progress[-1][2] < 50
    assert scratch_names(client) == before


async def test_cancel_during_fill_leaves_no_scratch(args: dict[str, Any], client: MilvusClient) -> None:
    """The fill embeds first and creates the collection after: a cancel while it embeds
    must not let the collection appear after the drop."""
    before = scratch_names(client)
    with EmbeddingServer(dim=256, latency=0.4) as slow:
        config = BenchConfig(ops=("search",), ns=(5,), modes=("async",), corpus=CORPUS)
        task = asyncio.ensure_future(run_bench(config, args, openai_embeddings(slow)))
        await _wait_for(lambda: slow.requests, what="the fill's embedding request")
        task.cancel()
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - started < 2.0
        await asyncio.sleep(1.0)  # time for a stray fill thread to create the collection
        assert len(slow.requests) == 1  # only the fill: no search ever started
    assert scratch_names(client) == before


async def test_cancel_event_stops_the_thread_loop_at_the_next_op(srv: EmbeddingServer, args: dict[str, Any],
                                                                 client: MilvusClient) -> None:
    before = scratch_names(client)
    cancel = threading.Event()
    progress: list[tuple[str, str, int, int]] = []

    def on_progress(op: str, mode: str, done: int, total: int) -> None:
        progress.append((op, mode, done, total))
        if mode == "sync" and done == 3:
            cancel.set()  # from the worker thread, between operations

    config = BenchConfig(ops=("search",), ns=(20,), modes=("sync", "async"), corpus=CORPUS)
    with pytest.raises(asyncio.CancelledError):
        await run_bench(config, args, openai_embeddings(srv), progress=on_progress, cancel_event=cancel)
    assert [p[2] for p in progress] == [1, 2, 3]
    assert len(srv.requests) == 1 + 3  # the fill, then exactly three searches
    assert scratch_names(client) == before


async def test_task_cancel_also_stops_a_sync_thread_run(args: dict[str, Any], client: MilvusClient) -> None:
    """Cancelling the task (ctrl+c in the CLI) must stop the thread loop too, not leave it
    running the remaining operations against a dropped collection."""
    before = scratch_names(client)
    with EmbeddingServer(dim=256, latency=0.05) as slow:
        progress: list[tuple[str, str, int, int]] = []
        config = BenchConfig(ops=("search",), ns=(40,), modes=("sync",), corpus=CORPUS)
        task = asyncio.ensure_future(run_bench(config, args, openai_embeddings(slow),
                                               progress=lambda *p: progress.append(p)))
        await _wait_for(lambda: len(progress) >= 2, what="two finished searches")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)
        settled = len(slow.requests)
        await asyncio.sleep(0.6)
        assert len(slow.requests) == settled < 1 + 40
    assert scratch_names(client) == before


# -- the scratch collection is always dropped ------------------------------------------------


async def test_scratch_dropped_when_an_operation_raises(embeddings: Any, args: dict[str, Any],
                                                        client: MilvusClient) -> None:
    before = scratch_names(client)
    with pytest.raises(KeyError):
        await run_bench(NoValidate(ops=("bogus",), ns=(3,), modes=("batched",), corpus=CORPUS), args, embeddings)
    assert scratch_names(client) == before


async def test_scratch_dropped_when_embeddings_fail_after_fill(embeddings: Any, args: dict[str, Any],
                                                               client: MilvusClient) -> None:
    before = scratch_names(client)
    broken = CountingEmbeddings(embeddings, fail_after=1)  # the fill works, then nothing does
    config = BenchConfig(ops=("search_by_vector",), ns=(3,), modes=("async",), corpus=CORPUS)
    with pytest.raises(RuntimeError, match="went away"):
        await run_bench(config, args, broken)
    assert len(broken.calls) == 2
    assert scratch_names(client) == before


async def test_failed_operations_inside_a_run_are_errors_not_crashes(embeddings: Any, args: dict[str, Any],
                                                                     client: MilvusClient) -> None:
    before = scratch_names(client)
    broken = CountingEmbeddings(embeddings, fail_after=1)
    config = BenchConfig(ops=("search",), ns=(4,), modes=("async", "sync", "batched"), corpus=CORPUS)
    run = await run_bench(config, args, broken)
    assert [(r.mode, r.ok, r.errors) for r in run.results] == [("async", 0, 4), ("sync", 0, 4),
                                                               ("batched", 0, 4)]
    assert run.dropped and scratch_names(client) == before


# -- the event loop's lag -----------------------------------------------------------------------


async def test_blocking_mode_stalls_the_loop_and_thread_mode_does_not(args: dict[str, Any]) -> None:
    with EmbeddingServer(dim=256, latency=0.05) as slow:
        config = BenchConfig(ops=("search",), ns=(10,), modes=("sync", "blocking"), corpus=CORPUS)
        run = await run_bench(config, args, openai_embeddings(slow))
    sync, blocking = run.results
    assert blocking.note == "blocked the event loop on purpose"
    assert blocking.ok == sync.ok == 10
    assert blocking.wall_s >= 0.5  # ten requests of 50 ms each, one after another
    # The heartbeat could not tick while the loop was blocked: the stall is the whole run.
    assert blocking.lag_max_ms >= 0.8 * blocking.wall_s * 1000
    # The same work in a thread leaves the loop free.
    assert sync.lag_max_ms < 0.3 * blocking.lag_max_ms
    assert sync.lag_max_ms < 0.5 * sync.wall_s * 1000


# -- the CLI ------------------------------------------------------------------------------------


def _cli(tmp_path: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MILVUS_TUI_HOME": str(tmp_path / "home")}
    exe = Path(sys.executable).with_name("milvus-tui")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tui"]
    return subprocess.run([*cmd, *argv], check=False, capture_output=True, text=True, env=env, timeout=timeout)


def test_cli_bench_json(milvus_uri: str, tmp_path: Path, client: MilvusClient) -> None:
    before = scratch_names(client)
    proc = _cli(tmp_path, "--uri", milvus_uri, "bench", "--ops", "search,add", "--n", "5",
                "--modes", "async,sync,batched", "--corpus", str(CORPUS), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["scratch_dropped"] is True
    assert data["scratch_collection"].startswith(SCRATCH_PREFIX)
    assert [(r["op"], r["mode"]) for r in data["results"]] == [
        (op, mode) for op in ("search", "add") for mode in ("async", "sync", "batched")]
    for r in data["results"]:
        assert r["n"] == 5 and r["ok"] == 5 and r["errors"] == 0
    assert scratch_names(client) == before


def test_cli_bench_rejects_bad_ops(milvus_uri: str, tmp_path: Path) -> None:
    proc = _cli(tmp_path, "--uri", milvus_uri, "bench", "--ops", "search,frobnicate", "--json", timeout=60)
    assert proc.returncode == 2
    assert "Unknown operation" in proc.stderr and proc.stdout == ""
