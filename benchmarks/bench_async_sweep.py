"""Target 4, investigated: what limits the async speedup under the 100 ms embedding endpoint.

``benchmarks/bench_async.py`` gives the headline figures. This script sweeps the async
concurrency limit for add and search (N = 100, the timing engine's own code path:
langchain-milvus ``a``-methods on one scratch collection, embeddings from the local
OpenAI-compatible server answering after 100 ms) and, for every run, charges the CPU time
each process spent to the run: this process (the event loop, openai + its HTTP transport,
langchain, pymilvus/grpc), the embedding server and the Milvus Lite child.

Each limit runs with both async HTTP transports of the embedding client, alternated, in the
same run: ``aiohttp`` (what the provider uses when aiohttp is installed) and ``httpx`` (the
openai SDK's default, used without aiohttp). Sync runs bracket the sweep (first and last) so
drift shows; speedups are against their median.

Ideal speedup for a limit ``c``: ``N / ceil(N / c)`` (the operations run in waves; N = 100:
25x for c = 25..33, 33.3x for c = 34..49). If per-operation work on the client's single
event loop is ``t`` ms, N operations cannot finish faster than ``N * t`` whatever the limit:
the "CPU ceiling" column is sync wall / that.

    .venv/bin/python benchmarks/bench_async_sweep.py [--n 100] [--latency 0.1] [--limits 16,25,32,34,50,0]
        [--repeats 3] [--transports aiohttp,httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, load_now, median  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
SEED = {"search": 14.6, "add": 23.7}  # the seed tutorial's async/sync at 100 items


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return 0.0


class GcWatch:
    """Time spent in garbage collections (and how many were gen 2) while armed."""

    def __init__(self) -> None:
        self.total = 0.0
        self.gen2 = 0
        self.count = 0
        self._t0 = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._t0
            self.gen2 += info["generation"] == 2
            self.count += 1

    def reset(self) -> None:
        self.total, self.gen2, self.count = 0.0, 0, 0


def make_remote(base_url: str, transport: str) -> Any:
    """The provider as the app builds it; ``httpx`` forces the SDK's default transport."""
    from tui.embeddings import EmbeddingSettings, make_embeddings
    from tui.embeddings import openai_provider

    emb = make_embeddings(EmbeddingSettings(provider="openai", base_url=base_url, api_key="bench",
                                            model="bench-embedding", dimensions=256, max_retries=0))
    chooser = openai_provider._async_http_client
    if transport == "httpx":
        openai_provider._async_http_client = lambda: None
    try:
        emb._get_async_client()  # built now, on this loop, and kept for every later call here
    finally:
        openai_provider._async_http_client = chooser
    return emb


def transport_name(emb: Any) -> str:
    http = emb._get_async_client().async_client._client._client  # AsyncEmbeddings -> AsyncOpenAI -> http
    return "aiohttp" if "Aiohttp" in type(getattr(http, "_transport", None)).__name__ else "httpx"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--limits", default="16,25,32,34,50,0", help="concurrency limits; 0 = unbounded")
    parser.add_argument("--repeats", type=int, default=3, help="async runs per (limit, transport); medians shown")
    parser.add_argument("--transports", default="aiohttp,httpx")
    parser.add_argument("--ops", default="search,add")
    args = parser.parse_args()
    header("Target 4: async speedup, swept")

    import bench_async

    import tui.timing.engine as engine
    from tui.milvus.lite import LiteServer
    from tui.timing import BenchConfig, ideal_speedup

    limits = [int(x) or None for x in args.limits.split(",")]
    transports = args.transports.split(",")
    watch = GcWatch()
    rows: list[dict[str, Any]] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        lite = LiteServer(Path(tmp) / "data")
        lite.start()
        emb, base_url = bench_async.start_embedding_server(args.latency, 256)
        try:
            remotes = {t: make_remote(base_url, t) for t in transports}
            for t, remote in remotes.items():
                remote.embed_query("warm up")
                await remote.aembed_query("warm up")
                if transport_name(remote) != t:
                    print(f"  transport {t} unavailable here (aiohttp not installed?): skipped", file=sys.stderr)
            remotes = {t: r for t, r in remotes.items() if transport_name(r) == t}
            await asyncio.to_thread(__import__, "langchain_milvus")
            first = next(iter(remotes.values()))
            scratch = engine._Scratch({"uri": lite.uri}, first)
            pks = await asyncio.to_thread(scratch.fill, engine._texts(500), "c")
            ctx: dict[str, Any] = {"corpus": 500, "corpus_pks": pks}
            gc.freeze()  # as the app does once started (tui/app.py): what is loaded is not rescanned

            async def run(op: str, mode: str, limit: int | None, transport: str) -> None:
                scratch.store.embedding_func = remotes[transport]
                config = BenchConfig(ops=(op,), ns=(args.n,), modes=(mode,), concurrency=limit, corpus=500)
                await engine._prepare(scratch, op, args.n, mode, ctx, config)
                gc.collect()  # as run_bench does before every run, outside the CPU bracket
                watch.reset()
                before = (time.process_time(), proc_cpu(lite.process.pid), proc_cpu(emb.pid))
                r = await engine._measure(op, args.n, mode, config, scratch, ctx, lambda *a: None, engine._Cancel())
                after = (time.process_time(), proc_cpu(lite.process.pid), proc_cpu(emb.pid))
                await asyncio.to_thread(scratch.store.client.flush, scratch.name)  # untimed, as run_bench
                rows.append({"op": op, "mode": mode, "limit": limit, "transport": transport if mode == "async" else "–",
                             "r": r, "client": after[0] - before[0], "lite": after[1] - before[1],
                             "embed": after[2] - before[2], "gc_ms": watch.total * 1000, "gen2": watch.gen2})
                loads.append(os.getloadavg()[0])
                print(f"  {op} {mode} {limit or ''} {transport if mode == 'async' else ''}: {r.wall_s:.3f} s, "
                      f"client CPU {(after[0] - before[0]) / args.n * 1000:.2f} ms/op; GC {watch.count} passes "
                      f"({watch.gen2} gen 2), {watch.total * 1000:.0f} ms", file=sys.stderr)

            for op in args.ops.split(","):
                await run(op, "sync", None, transports[0])
                for rep in range(args.repeats):
                    for limit in limits:
                        order = list(remotes) if rep % 2 == 0 else list(remotes)[::-1]
                        for transport in order:
                            await run(op, "async", limit, transport)
                await run(op, "sync", None, transports[0])
            scratch.drop()
        finally:
            emb.terminate()
            lite.stop()

    print(f"\nN = {args.n} per run, embedding endpoint latency {args.latency * 1000:.0f} ms, {args.repeats} async "
          f"runs per row (medians); load average during the runs {min(loads):.2f}-{max(loads):.2f}, "
          f"{load_now()} at the end.\n")
    print("| op | mode | limit | transport | wall (s) | speedup vs sync | ideal | % of ideal | ≥ 0.8 ideal and ≥ seed "
          "| CPU per op: client / embedding server / Lite (ms) | CPU ceiling | GC during run (ms) | loop lag p99 (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for op in args.ops.split(","):
        mine = [x for x in rows if x["op"] == op]
        sync_wall = median([x["r"].wall_s for x in mine if x["mode"] == "sync"])
        groups: list[list[dict[str, Any]]] = []
        for x in mine:  # each sync run alone; async runs grouped by (limit, transport)
            same = [g for g in groups if x["mode"] == "async" and (g[0]["mode"], g[0]["limit"], g[0]["transport"])
                    == ("async", x["limit"], x["transport"])]
            if same:
                same[0].append(x)
            else:
                groups.append([x])
        for group in groups:
            key = (group[0]["mode"], group[0]["limit"], group[0]["transport"])
            wall = median([x["r"].wall_s for x in group])
            per = {k: median([x[k] for x in group]) / args.n * 1000 for k in ("client", "embed", "lite")}
            speed = sync_wall / wall
            ideal = ideal_speedup(args.n, key[1]) if key[0] == "async" else 1.0
            met = speed >= 0.8 * ideal and speed >= SEED[op] if key[0] == "async" else None
            ceiling = sync_wall / (per["client"] * args.n / 1000) if per["client"] > 0 else float("inf")
            walls = "/".join(f"{x['r'].wall_s:.2f}" for x in group)
            print(f"| {op} | {key[0]} | {key[1] or ('unbounded' if key[0] == 'async' else '–')} | {key[2]} | "
                  f"{wall:.3f}{f' ({walls})' if len(group) > 1 else ''} | {speed:.1f}x | "
                  f"{'' if key[0] == 'sync' else f'{ideal:.1f}x'} | {'' if key[0] == 'sync' else f'{speed / ideal:.0%}'} | "
                  f"{'' if met is None else ('**yes**' if met else 'no')} | {per['client']:.2f} / {per['embed']:.2f} / "
                  f"{per['lite']:.2f} | {ceiling:.0f}x | {median([x['gc_ms'] for x in group]):.0f} | "
                  f"{median([x['r'].lag_p99_ms for x in group]):.0f} |")
    print(f"\n(speedups against the median of the two sync runs of the same op; seed: search {SEED['search']}x, "
          f"add {SEED['add']}x; CPU ceiling = sync wall / client CPU of the run; wall medians with each run in "
          "brackets; every run starts after an untimed gc.collect(), as the timing engine does)")


if __name__ == "__main__":
    asyncio.run(main())
