"""Target 4, investigated: what limits the async speedup under the 100 ms embedding endpoint.

``benchmarks/bench_async.py`` gives the headline figures. This script sweeps the async
concurrency limit for add and search (N = 100, the timing engine's own code path:
langchain-milvus ``a``-methods on a scratch collection, embeddings from the local
OpenAI-compatible server answering after 100 ms) and, for every run, charges the CPU time
each process spent to the run: this process (the event loop, openai/httpx, langchain,
pymilvus/grpc), the embedding server and the Milvus Lite child. Sync runs bracket the
sweep (first and last) so drift shows.

If per-operation work on the client's single event loop is ``c`` ms, N concurrent
operations cannot finish faster than ``N * c``, so the speedup cannot exceed
``sync wall / (N * c)`` whatever the concurrency limit: that is the "CPU ceiling" column.

    .venv/bin/python benchmarks/bench_async_sweep.py [--n 100] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, load_now, median  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--limits", default="8,16,32,64,0", help="concurrency limits; 0 = unbounded")
    args = parser.parse_args()
    header("Target 4: async speedup, swept")

    import bench_async

    import tui.timing.engine as engine
    from tui.embeddings import EmbeddingSettings, make_embeddings
    from tui.milvus.lite import LiteServer
    from tui.timing import BenchConfig, run_bench

    cpu: list[dict[str, float]] = []
    original = engine._measure

    async def measured(*a: Any, **kw: Any) -> Any:
        before = (time.process_time(), proc_cpu(lite.process.pid), proc_cpu(emb.pid))
        result = await original(*a, **kw)
        after = (time.process_time(), proc_cpu(lite.process.pid), proc_cpu(emb.pid))
        cpu.append({"client": after[0] - before[0], "lite": after[1] - before[1], "embed": after[2] - before[2]})
        return result

    engine._measure = measured
    limits = [int(x) or None for x in args.limits.split(",")]
    rows: list[tuple[str, Any, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        lite = LiteServer(Path(tmp) / "data")
        lite.start()
        emb, base_url = bench_async.start_embedding_server(args.latency, 256)
        try:
            remote = make_embeddings(EmbeddingSettings(provider="openai", base_url=base_url, api_key="bench",
                                                       model="bench-embedding", dimensions=256, max_retries=0))
            remote.embed_query("warm up")
            uri = {"uri": lite.uri}
            for op in ("search", "add"):
                plan = [("sync", None)] + [("async", k) for k in limits] + [("sync", None)]
                for mode, limit in plan:
                    config = BenchConfig(ops=(op,), ns=(args.n,), modes=(mode,), concurrency=limit, corpus=500)
                    run = await run_bench(config, uri, remote)
                    rows.append((op, run.results[0], cpu[-1]))
                    print(f"  {op} {mode} {limit or ''}: {run.results[0].wall_s:.2f} s", file=sys.stderr)
        finally:
            emb.terminate()
            lite.stop()

    print(f"\nN = {args.n} per run, embedding endpoint latency {args.latency * 1000:.0f} ms; {load_now()} at the end.\n")
    print("| op | mode | limit | wall (s) | speedup vs sync | ideal | % of ideal | CPU per op: client / "
          "embedding server / Lite (ms) | CPU ceiling | loop lag p99 (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for op in ("search", "add"):
        mine = [(r, c) for o, r, c in rows if o == op]
        sync_wall = median([r.wall_s for r, _ in mine if r.mode == "sync"])
        for r, c in mine:
            n = r.n
            per = {k: v / n * 1000 for k, v in c.items()}
            ideal = min(r.concurrency or n, n) if r.mode == "async" else 1
            speed = sync_wall / r.wall_s
            ceiling = sync_wall / (c["client"]) if c["client"] > 0 else float("inf")
            print(f"| {op} | {r.mode} | {r.concurrency or ('unbounded' if r.mode == 'async' else '–')} | "
                  f"{r.wall_s:.2f} | {speed:.1f}x | {ideal}x | {speed / ideal:.0%} | {per['client']:.1f} / "
                  f"{per['embed']:.1f} / {per['lite']:.1f} | {ceiling:.0f}x | {r.lag_p99_ms:.0f} |")
    print("\n(speedups against the median of the two sync runs of the same op; CPU ceiling = sync wall / "
          "client CPU of the run)")


if __name__ == "__main__":
    asyncio.run(main())
