"""The timing engine against a real Milvus 2.3.5: every run counted, no errors, and the
scratch collection dropped afterwards (also after a cancel)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tui.milvus import MilvusConnection
from tui.timing import BenchConfig, run_bench
from tui.timing.engine import SCRATCH_PREFIX, connection_args_for

pytestmark = pytest.mark.realserver


def scratch_collections(raw: Any) -> set[str]:
    return {n for n in raw.list_collections() if n.startswith(SCRATCH_PREFIX)}


async def test_bench_runs_every_mode_and_drops_its_scratch(real_uri: str, embeddings: Any, raw: Any) -> None:
    before = scratch_collections(raw)
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        config = BenchConfig(ops=("add", "search", "delete"), ns=(5,), modes=("async", "sync", "batched"),
                             corpus=30, concurrency=4)
        run = await run_bench(config, connection_args_for(conn), embeddings)
    finally:
        conn.close()
    assert len(run.results) == 9
    for result in run.results:
        assert result.errors == 0, result
        assert result.ok == 5 and result.wall_s > 0, result
    assert {(r.op, r.mode) for r in run.results} == {
        (op, mode) for op in config.ops for mode in config.modes}
    assert run.scratch.startswith(SCRATCH_PREFIX)
    assert run.dropped
    assert scratch_collections(raw) == before


async def test_cancelled_bench_still_drops_its_scratch(real_uri: str, embeddings: Any, raw: Any) -> None:
    before = scratch_collections(raw)
    conn = MilvusConnection(real_uri)
    conn.open()
    cancel = threading.Event()
    try:
        config = BenchConfig(ops=("search",), ns=(2000,), modes=("sync",), corpus=30)

        def progress(op: str, mode: str, done: int, total: int) -> None:
            if done >= 20:
                cancel.set()

        task = asyncio.ensure_future(run_bench(config, connection_args_for(conn), embeddings,
                                               progress=progress, cancel_event=cancel))
        try:
            run = await asyncio.wait_for(task, timeout=120)
        except asyncio.CancelledError:
            run = None
    finally:
        conn.close()
    assert run is None or run.dropped
    assert scratch_collections(raw) == before
