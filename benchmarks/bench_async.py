"""Sync vs async, under two conditions that exist on this machine, in one run.

1. embedded Milvus Lite (child process) + the bundled local embedding model;
2. the same, but embeddings come from a local OpenAI-compatible HTTP server (another
   process: the timing panel's simulated remote embedding API, ``tui/timing/simulated.py``)
   that answers after a fixed 100 ms, the way a remote embedding API does — the seed
   tutorial's network-bound conditions, reproduced offline.

For each condition: add and search, N = 100, in async (unbounded and bounded), sync
(thread) and batched modes. Prints Markdown tables with speedups measured side by side, and
each async run against its ideal, N / ceil(N / limit): with at most ``limit`` operations in
flight, N operations of equal latency take ceil(N / limit) waves (limit 34: 3 waves, 33.3x).

    .venv/bin/python benchmarks/bench_async.py [--n 100] [--latency 0.1] [--concurrency 34]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.embeddings import EmbeddingSettings, make_embeddings  # noqa: E402
from tui.milvus.lite import LiteServer  # noqa: E402
from tui.timing import BenchConfig, run_bench, to_markdown  # noqa: E402
from tui.timing.simulated import SimulatedRemote  # noqa: E402

SEED = {"search": 14.6, "add": 23.7}  # the seed tutorial's async/sync at 100 items


def start_embedding_server(latency: float, dim: int) -> tuple[subprocess.Popen[bytes], str]:
    """The timing panel's simulated remote embedding API (``tui/timing/simulated.py``): the
    same child process, serving the local model after ``latency`` seconds per request."""
    remote = SimulatedRemote(round(latency * 1000), dim=dim).start()
    process = remote.children[0].process
    assert process is not None and remote.base_url is not None
    return process, remote.base_url


async def condition(name: str, uri: str, embeddings, args, *, io_bound: bool) -> list:  # noqa: ANN001
    results = []
    for concurrency in (None, args.concurrency):
        modes = ("async", "sync", "batched") if concurrency is None else ("async",)
        config = BenchConfig(ops=("add", "search"), ns=(args.n,), modes=modes, concurrency=concurrency,
                             corpus=args.corpus)
        run = await run_bench(config, {"uri": uri}, embeddings)
        results.extend(run.results)
    # Speedups of the bounded async runs are relative to the sync run of the same op.
    sync = {r.op: r for r in results if r.mode == "sync"}
    for r in results:
        if r.op in sync and r.wall_s:
            r.speedup = sync[r.op].wall_s / r.wall_s
    print(f"\n### Condition {name} (load average {os.getloadavg()[0]:.2f} at its end)\n")
    print(to_markdown(results))
    for r in results:
        if io_bound and r.mode == "async" and r.speedup and r.ideal:
            met = r.speedup >= 0.8 * r.ideal and r.speedup >= SEED.get(r.op, 0)
            print(f"- {r.op} async ≤{r.concurrency or 'unbounded'}: speedup {r.speedup:.1f}x; ideal for this limit "
                  f"{r.ideal:.1f}x; {r.of_ideal:.0%} of ideal; seed {SEED.get(r.op, 0)}x; "
                  f"≥ 0.8 x ideal and ≥ seed: {'yes' if met else 'no'}")
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    # 34: the smallest limit that runs 100 operations in 3 waves (ideal 33.3x; 32 needs 4: 25x).
    parser.add_argument("--concurrency", type=int, default=34)
    parser.add_argument("--corpus", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiteServer(Path(tmp) / "data")
        server.start()
        proc = None
        try:
            local = make_embeddings(EmbeddingSettings(provider="local"))
            local.embed_query("warm up")
            print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; Milvus Lite child at "
                  f"{server.uri}")
            # CPU work in this process: nothing to overlap, so no ideal speedup applies.
            await condition("1: embedded Milvus Lite + local model", server.uri, local, args, io_bound=False)
            proc, base_url = start_embedding_server(args.latency, 256)
            remote = make_embeddings(EmbeddingSettings(provider="openai", base_url=base_url, api_key="bench",
                                                       model="bench-embedding", dimensions=256, max_retries=0))
            remote.embed_query("warm up")
            await condition(f"2: embeddings from an HTTP endpoint with {args.latency * 1000:.0f} ms latency",
                            server.uri, remote, args, io_bound=True)
        finally:
            if proc is not None:
                proc.terminate()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
