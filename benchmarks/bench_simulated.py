"""Issue 15: the timing panel reproduces the seed's conditions offline, measured in the panel.

The real app runs headless (``run_test``, 120x40) on the embedded default (its own Milvus
Lite child). The timing panel is opened and driven the way a user drives it: only the
operation and the "simulated remote embedding API" choice are changed; N (100), the async
concurrency limit (unbounded, as the seed) and the modes (async, sync, batched) stay at the
panel's defaults.
Each run goes through the panel's own worker, so the engine's heartbeat on the app loop
(``RunResult.lag_p99_ms`` / ``lag_max_ms``) is the UI's loop lag while the run is in flight,
with the panel's progress bars redrawing on the same loop.

Conditions, in one run, operations interleaved per repeat (add, search, delete):

A. simulated remote embedding API, 100 ms per request (the issue's target);
B. the same plus a simulated remote Milvus (a delay line, ``--milvus-ms`` per round trip,
   default 25), which is what gives delete (no embedding) a contrast of its own.

Targets (A, N = 100, the panel's default limit): async/sync >= 23.7x (add) and >= 14.6x (search), the seed's;
loop lag p99 < 16.7 ms (one frame at 60 Hz) during the async run.

    .venv/bin/python benchmarks/bench_simulated.py [--repeats 3] [--milvus-ms 25] [--skip-milvus]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import env_home, header, load_now  # noqa: E402

SEED = {"add": 23.7, "search": 14.6, "delete": 47.9}
FRAME_MS = 1000 / 60


async def wait_for(predicate: Any, pilot: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def one_run(screen: Any, pilot: Any, op: str, embedding_ms: int, milvus_ms: int) -> list[Any]:
    from textual.widgets import Select

    screen.query_one("#bench-op", Select).value = op
    screen.query_one("#bench-simulated", Select).value = embedding_ms
    screen.query_one("#bench-simulated-milvus", Select).value = milvus_ms
    await pilot.pause()
    screen.call_later(screen.action_run)
    await wait_for(lambda: screen.running, pilot, 10, f"the {op} run to start")
    await wait_for(lambda: not screen.running, pilot, 600, f"the {op} run")
    title = str(screen.query_one("#timing-title").render())
    if "Done" not in title:
        raise RuntimeError(f"the {op} run did not finish: {title}")
    return list(screen.current)


async def run(args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    from textual.widgets import Checkbox, Select

    from tui.app import MilvusTuiApp
    from tui.config import Settings

    conditions = {"A": (100, 0)}
    if not args.skip_milvus:
        conditions["B"] = (100, args.milvus_ms)
    out: dict[str, dict[str, list[Any]]] = {c: {op: [] for op in args.ops} for c in conditions}
    with tempfile.TemporaryDirectory() as tmp, env_home(Path(tmp) / "home"):
        app = MilvusTuiApp(Settings(uri=str(Path(tmp) / "data"), embedding_provider="local"))
        async with app.run_test(size=(120, 40)) as pilot:
            main = app.main
            await wait_for(lambda: main.connected and main.session.embeddings is not None, pilot, 120,
                           "the app to connect")
            await pilot.pause(0.5)
            app.call_later(main.action_timing)  # inside the app's own context, as a key press would
            await wait_for(lambda: getattr(app, "timing", None) is app.screen, pilot, 10, "the timing panel")
            screen = app.timing
            if args.concurrency is not None:
                screen.query_one("#bench-concurrency", Select).value = args.concurrency
                await pilot.pause()
            defaults = (screen.query_one("#bench-n", Select).value, screen.query_one("#bench-concurrency", Select).value,
                        tuple(m for m in ("async", "sync", "batched", "blocking")
                              if screen.query_one(f"#mode-{m}", Checkbox).value))
            print(f"- panel settings used: N = {defaults[0]}, async concurrency = {defaults[1]}, "
                  f"modes = {', '.join(defaults[2])}")
            for repeat in range(args.repeats):
                for name, (embedding_ms, milvus_ms) in conditions.items():
                    for op in args.ops:
                        results = await one_run(screen, pilot, op, embedding_ms, milvus_ms)
                        out[name][op].append(results)
                        by = {r.mode: r for r in results}
                        print(f"  repeat {repeat + 1} {name} {op}: sync {by['sync'].wall_s:.2f} s, async "
                              f"{by['async'].wall_s:.3f} s ({by['async'].speedup:.1f}x, lag p99 "
                              f"{by['async'].lag_p99_ms:.1f} ms), batched {by['batched'].wall_s:.3f} s; UI lag p99 / max "
                              f"while sync ran {by['sync'].lag_p99_ms:.1f} / {by['sync'].lag_max_ms:.1f} ms; {load_now()}",
                              file=sys.stderr, flush=True)
            await app.action_quit()
    return out


def report(out: dict[str, dict[str, list[Any]]], args: argparse.Namespace) -> None:
    for name, by_op in out.items():
        label = next(r.simulated for runs in by_op.values() for results in runs for r in results)
        print(f"\n### Condition {name}: {label}\n")
        limit = next(r.concurrency for runs in by_op.values() for results in runs for r in results
                     if r.mode == "async")
        print(f"| operation, N = 100 | sync s | async (≤{limit or '∞'}) s | batched s | async speedup (median, min-max) | "
              f"seed | ideal (limit {limit or '∞'}) | batched speedup | async loop lag p99 ms (median / worst) | "
              "async loop lag max ms (worst) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for op, runs in by_op.items():
            rows = [{r.mode: r for r in results} for results in runs]
            sync = [r["sync"].wall_s for r in rows]
            asyn = [r["async"].wall_s for r in rows]
            bat = [r["batched"].wall_s for r in rows]
            speed = [r["async"].speedup for r in rows]
            bspeed = [r["batched"].speedup for r in rows]
            lag99 = [r["async"].lag_p99_ms for r in rows]
            lagmax = [r["async"].lag_max_ms for r in rows]
            ideal = rows[0]["async"].ideal
            print(f"| {op} | {statistics.median(sync):.2f} | {statistics.median(asyn):.3f} | "
                  f"{statistics.median(bat):.3f} | **{statistics.median(speed):.1f}x** ({min(speed):.1f}-"
                  f"{max(speed):.1f}) | {SEED[op]}x | {ideal:.1f}x | {statistics.median(bspeed):.0f}x | "
                  f"{statistics.median(lag99):.1f} / {max(lag99):.1f} | {max(lagmax):.1f} |")
        print()
        for op, runs in by_op.items():
            rows = [{r.mode: r for r in results} for results in runs]
            speed = statistics.median(r["async"].speedup for r in rows)
            lag = statistics.median(r["async"].lag_p99_ms for r in rows)
            errors = sum(r[m].errors for r in rows for m in r)
            verdict = "met" if speed >= SEED[op] else "SHORT"
            print(f"- {op}: async/sync {speed:.1f}x vs the seed's {SEED[op]}x: {verdict}; loop lag p99 "
                  f"{lag:.1f} ms vs one frame {FRAME_MS:.1f} ms: {'met' if lag < FRAME_MS else 'SHORT'}; "
                  f"errors {errors}")


def cache_has_collection() -> None:
    """Diagnostic only (``--cache-has-collection``), never the app's code: langchain-milvus
    0.4.0's ``add_texts`` / ``aadd_texts`` call ``has_collection`` before every insert, with no
    flag to skip it. Remember each positive answer per client, so every later add makes one
    Milvus call instead of two, in sync and async alike: what that second call costs."""
    from pymilvus import AsyncMilvusClient, MilvusClient

    def cached_sync(original: Any) -> Any:
        def has(self: Any, name: str, *a: Any, **k: Any) -> bool:
            seen = self.__dict__.setdefault("_bench_has", set())
            if name in seen:
                return True
            found = original(self, name, *a, **k)
            if found:
                seen.add(name)
            return found
        return has

    def cached_async(original: Any) -> Any:
        async def has(self: Any, name: str, *a: Any, **k: Any) -> bool:
            seen = self.__dict__.setdefault("_bench_has", set())
            if name in seen:
                return True
            found = await original(self, name, *a, **k)
            if found:
                seen.add(name)
            return found
        return has

    MilvusClient.has_collection = cached_sync(MilvusClient.has_collection)  # type: ignore[method-assign]
    AsyncMilvusClient.has_collection = cached_async(AsyncMilvusClient.has_collection)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--milvus-ms", type=int, default=25, choices=(10, 25, 50, 100, 250))
    parser.add_argument("--skip-milvus", action="store_true", help="only condition A")
    parser.add_argument("--ops", default="add,search,delete")
    parser.add_argument("--concurrency", type=int, default=None, choices=(0, 8, 16, 34, 128),
                        help="change the panel's async limit (default: leave the panel's default, unbounded)")
    parser.add_argument("--cache-has-collection", action="store_true",
                        help="diagnostic: skip langchain-milvus's has_collection before each add "
                             "after the first (see cache_has_collection)")
    args = parser.parse_args()
    if args.cache_has_collection:
        cache_has_collection()
    args.ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    header("Issue 15: the timing panel's simulated remote endpoints")
    out = asyncio.run(run(args))
    report(out, args)
    print(f"\n({args.repeats} repeats; {load_now()} at the end)")


if __name__ == "__main__":
    main()
