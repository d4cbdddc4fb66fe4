"""Issue 15, the loop-lag target investigated: CPU per turn of the event loop during async runs.

The timing engine alone (no Textual) on a bare loop, embeddings from the simulated remote
embedding API (100 ms per request), N = 100, limits 34 and 16, search and add, two rounds.
Each turn of the loop (``BaseEventLoop._run_once``) is timed with ``time.thread_time``: the
loop's own CPU per turn, next to the engine's heartbeat lag, separates the loop's bursts from
time the loop thread did not get a core.

    .venv/bin/python benchmarks/bench_simulated_turns.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncio
import gc
import tempfile
import time
from typing import Any

import _common  # noqa: E402,F401  (puts the repository on sys.path)

import tui.timing.engine as eng
from tui.milvus.lite import LiteServer
from tui.timing import BenchConfig, percentile, run_bench

turns: list[tuple[float, float]] = []  # (wall, CPU) of each turn of the loop, seconds
recording = False
_run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]


def timed_run_once(self: Any) -> None:
    if not recording:
        return _run_once(self)
    wall, cpu = time.perf_counter(), time.thread_time()
    _run_once(self)  # an idle wait in epoll costs wall time, not CPU: the CPU column is the work
    turns.append((time.perf_counter() - wall, time.thread_time() - cpu))
    return None


asyncio.BaseEventLoop._run_once = timed_run_once  # type: ignore[attr-defined]
_measure = eng._measure


async def measure(op: str, n: int, mode: str, *args: Any, **kwargs: Any) -> Any:
    global recording
    turns.clear()
    recording = mode == "async"
    try:
        return await _measure(op, n, mode, *args, **kwargs)
    finally:
        recording = False
        if mode == "async" and turns:
            cpus = [c * 1000 for _, c in turns]
            print(f"  {op} limit {args[0].concurrency}: {len(turns)} turns, turn CPU p99 {percentile(cpus, 99):.1f} ms, "
                  f"max {max(cpus):.1f} ms; loop CPU in the run {sum(cpus):.0f} ms", flush=True)


eng._measure = measure


async def main() -> None:
    from _common import header, load_now

    header("Issue 15: loop turns during simulated async runs")
    with tempfile.TemporaryDirectory() as tmp:
        server = LiteServer(Path(tmp) / "data")
        server.start()
        try:
            for _round in range(2):
                for limit in (34, 16):
                    for op in ("search", "add"):
                        config = BenchConfig(ops=(op,), ns=(100,), modes=("async",), concurrency=limit, corpus=200,
                                             simulated_embedding_ms=100)
                        gc.collect()
                        gc.freeze()
                        run = await run_bench(config, {"uri": server.uri}, None)
                        r = run.results[0]
                        print(f"{op} ≤{limit}: wall {r.wall_s:.3f} s, heartbeat lag p99 {r.lag_p99_ms:.1f} ms, "
                              f"max {r.lag_max_ms:.1f} ms; {load_now()}", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
