"""The timing panel's run in a process of its own (``tui/timing/child.py``), against the real
Lite server and a real OpenAI-compatible endpoint; no Textual (the panel's tests drive it through
Pilot). What is checked: results and progress come back; the loop lag reported is this (the
caller's) loop's; the blocking demonstration blocks this loop; secrets travel on the pipe only;
a cancel, a closed pipe or a killed child leave no scratch collection and no process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import MilvusClient

from tests.embedding_server import EmbeddingServer
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.timing.child import BenchChild, BenchFailed
from tui.timing.engine import SCRATCH_PREFIX, BenchConfig, LoopMonitor, ScratchLedger

KEY = "sk-child-secret-4f9a2b7c"


@pytest.fixture
def client(milvus_uri: str) -> Iterator[MilvusClient]:
    c = MilvusClient(uri=milvus_uri)
    yield c
    c.close()


def scratch_names(client: MilvusClient) -> set[str]:
    return {n for n in client.list_collections() if n.startswith(SCRATCH_PREFIX)}


def embeddings(srv: EmbeddingServer) -> Any:
    return make_embeddings(EmbeddingSettings(provider="openai", base_url=srv.base_url, api_key=KEY,
                                             dimensions=256, max_retries=0))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def slow_run(child: BenchChild, uri: str, slow: EmbeddingServer, **hooks: Any) -> asyncio.Future[Any]:
    """100 searches, 5 at a time, 0.3 s each: a run still going when the test acts on it."""
    return asyncio.ensure_future(child.run(
        BenchConfig(ops=("search",), ns=(100,), modes=("async",), concurrency=5, corpus=20),
        {"uri": uri}, embeddings(slow), **hooks))


async def test_run_in_child_reports_results_progress_and_this_loops_lag(milvus_uri: str, client: MilvusClient,
                                                                       tmp_path: Path) -> None:
    before = scratch_names(client)
    # 20 ms per request: the blocking mode's 8 calls take long enough to see on a 10 ms beat.
    with EmbeddingServer(dim=256, latency=0.02, api_key=KEY) as srv:
        child = BenchChild()
        pid = child.pid
        # The secrets are on the pipe only: not on its command line, not in its environment.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        progress: list[tuple[str, str, int, int]] = []
        results: list[Any] = []
        scratch: list[str] = []
        config = BenchConfig(ops=("search",), ns=(8,), modes=("async", "sync", "batched", "blocking"),
                             concurrency=4, corpus=20)
        run = await child.run(config, {"uri": milvus_uri}, embeddings(srv),
                              progress=lambda *p: progress.append(p), on_result=results.append,
                              on_scratch=scratch.append, ledger=tmp_path / "ledger.json")
        assert KEY.encode() not in cmdline and KEY.encode() not in environ
        # The endpoint saw the key: it did reach the child, over the pipe.
        assert srv.auth_headers and all(h == f"Bearer {KEY}" for h in srv.auth_headers)
        # 20 corpus texts + 8 async + 8 sync + one batched call + 8 blocking.
        assert len(srv.requests) == 1 + 8 + 8 + 1 + 8
    assert [(r.mode, r.n, r.ok, r.errors) for r in run.results] == [
        ("async", 8, 8, 0), ("sync", 8, 8, 0), ("batched", 8, 8, 0), ("blocking", 8, 8, 0)]
    assert [(r.mode, r.ok) for r in results] == [(r.mode, r.ok) for r in run.results]
    assert run.results[1].speedup == pytest.approx(1.0)
    assert all(r.speedup and r.speedup > 0 for r in run.results)
    sync_done = [d for op, mode, d, t in progress if mode == "sync"]
    assert sync_done == sorted(set(sync_done)) and sync_done[-1] == 8, sync_done
    assert {mode for _, mode, _, _ in progress} == {"async", "sync", "batched", "blocking"}
    assert scratch == [run.scratch] and run.dropped and run.scratch.startswith(SCRATCH_PREFIX)
    # The blocking demonstration blocked *this* loop for the length of its calls.
    blocking = run.results[3]
    assert blocking.wall_s > 0.15 and blocking.lag_max_ms >= blocking.wall_s * 1000 - 12, blocking
    assert scratch_names(client) == before
    assert not alive(pid)
    assert ScratchLedger(tmp_path / "ledger.json").orphans() == []


async def test_async_burst_there_does_not_stall_this_loop(milvus_uri: str) -> None:
    """The run's CPU is in the child: while it runs, a heartbeat here stays close to its beat
    (generous bound: the machine is shared; a blocked loop would miss by the run's length)."""
    with EmbeddingServer(dim=256, latency=0.05, api_key=KEY) as srv:
        monitor = LoopMonitor()
        monitor.start()
        run = await BenchChild().run(BenchConfig(ops=("search",), ns=(60,), modes=("async",), corpus=20),
                                     {"uri": milvus_uri}, embeddings(srv))
        _, worst = await monitor.stop()
    assert run.results[0].ok == 60
    assert worst < 0.5 * run.results[0].wall_s * 1000 + 100, (worst, run.results[0].wall_s)


async def test_cancel_drops_scratch_and_ends_the_child(milvus_uri: str, client: MilvusClient) -> None:
    before = scratch_names(client)
    with EmbeddingServer(dim=256, latency=0.3, api_key=KEY) as slow:
        child = BenchChild()
        progress: list[Any] = []
        task = slow_run(child, milvus_uri, slow, progress=lambda *p: progress.append(p))
        await wait_for(lambda: progress, what="the first search")
        assert scratch_names(client) - before  # the scratch collection exists while it runs
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        settled = len(slow.requests)
        await asyncio.sleep(1.0)
        assert len(slow.requests) == settled < 20 + 100
    assert scratch_names(client) == before
    assert not alive(child.pid)


async def test_a_closed_pipe_cancels_the_run_and_drops_its_scratch(milvus_uri: str, client: MilvusClient) -> None:
    """The app died (its end of the pipe closed): the child still drops what it made."""
    before = scratch_names(client)
    with EmbeddingServer(dim=256, latency=0.3, api_key=KEY) as slow:
        child = BenchChild()
        scratch: list[str] = []
        task = slow_run(child, milvus_uri, slow, on_scratch=scratch.append)
        await wait_for(lambda: scratch and scratch[0] in scratch_names(client), what="the scratch collection")
        assert child.process is not None and child.process.stdin is not None
        child.process.stdin.close()  # what the app's death does
        await wait_for(lambda: not alive(child.pid), timeout=30, what="the child to end")
        with pytest.raises((BenchFailed, asyncio.CancelledError)):
            await task
    assert scratch_names(client) == before


async def test_a_killed_child_is_a_clear_error_and_the_next_run_drops_its_scratch(
        milvus_uri: str, client: MilvusClient, tmp_path: Path) -> None:
    before = scratch_names(client)
    ledger = tmp_path / "ledger.json"
    with EmbeddingServer(dim=256, latency=0.3, api_key=KEY) as slow:
        child = BenchChild()
        scratch: list[str] = []
        task = slow_run(child, milvus_uri, slow, on_scratch=scratch.append, ledger=ledger)
        await wait_for(lambda: scratch and scratch[0] in scratch_names(client), what="the scratch collection")
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(BenchFailed, match="ended before the run did"):
            await task
        assert scratch[0] in scratch_names(client)  # nobody could drop it...
        # ...until the next run, which finds it in the ledger under a dead process id.
        run = await BenchChild().run(BenchConfig(ops=("search",), ns=(2,), modes=("async",), corpus=5),
                                     {"uri": milvus_uri}, embeddings(slow), ledger=ledger)
        assert run.dropped
    assert scratch_names(client) == before


async def test_a_server_error_comes_back_in_the_users_words() -> None:
    with EmbeddingServer(dim=256, latency=0.0, api_key=KEY) as srv:
        child = BenchChild()
        with pytest.raises(BenchFailed) as failed:
            # Nothing listens there.
            await child.run(BenchConfig(ops=("search",), ns=(2,), modes=("async",), corpus=5),
                            {"uri": "http://127.0.0.1:9", "token": "root:" + KEY}, embeddings(srv))
    text = f"{failed.value.kind}: {failed.value}"
    assert KEY not in text
    assert "127.0.0.1:9" in text or "connect" in text.lower(), text
    assert not alive(child.pid)


async def test_a_tui_folder_in_the_working_directory_is_not_imported(milvus_uri: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m`` puts the working directory first on the path: a user's own ``tui/`` there
    must not replace ours in the run's process."""
    (tmp_path / "tui").mkdir()
    (tmp_path / "tui" / "__init__.py").write_text('raise SystemExit("the wrong tui package")\n')
    monkeypatch.chdir(tmp_path)
    with EmbeddingServer(dim=256, latency=0.0, api_key=KEY) as srv:
        run = await BenchChild().run(BenchConfig(ops=("search",), ns=(2,), modes=("async",), corpus=5),
                                     {"uri": milvus_uri}, embeddings(srv))
    assert run.results[0].ok == 2 and run.dropped
