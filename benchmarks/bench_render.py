"""Target 6: rendering a 1000-row result page, and re-rendering on theme switch and resize.

The real app runs headless (``run_test``, 120x40) on the embedded default (a Lite child
on an empty scratch data directory). ``ResultsPane.show_result`` is called on the app
loop with a synthetic ``QueryResult`` shaped like a search over the local model's
collections (id, score, a ~70-character text, an int, a JSON field, a 256-dim vector);
the time is measured from the call until the next frame is composed (``App._display``),
with a 10 ms heartbeat (``LoopMonitor``) on the same loop catching any stall. The same is
done for a 50-row page in the same run, for comparison. Then, with the 1000 rows on
screen (and again with 50), the theme is switched and the terminal resized, and the
heartbeat reports the longest stall. Each row also gives the CPU time the loop's thread
spent on the action (from the call until 100 ms after its frame): on a loaded machine the
wall-clock stall grows with other processes' load, the CPU time much less.

    .venv/bin/python benchmarks/bench_render.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import env_home, header, load_now, median, texts, verdict  # noqa: E402
from bench_responsiveness import FrameClock, GcWatch, wait_for  # noqa: E402

THEMES = ["textual-light", "nord", "gruvbox", "textual-dark"]
#: ``--gc-off``: collect before each action and keep the collector off during it, so the loop
#: CPU column is the action's own work (compare two checkouts on a loaded machine with it).
GC_OFF = False


def make_result(n: int) -> Any:
    from tui.milvus import QueryResult

    rnd = random.Random(n)
    words = texts(n, start=100)
    rows = [{"id": i, "text": words[i], "grp": i % 10, "meta": {"source": f"doc{i % 37}.md", "page": i % 11},
             "vector": [rnd.gauss(0, 0.06) for _ in range(256)]} for i in range(n)]
    scores = sorted((rnd.random() for _ in range(n)), reverse=True)
    return QueryResult("bench_render", "search", rows, ["id", "text", "grp", "meta", "vector"], 0.012,
                       scores=scores, metric="COSINE", mode="async")


def is_complete(pane: Any) -> bool:
    """Every row of the pane's result is in its table (works with any ResultsPane version)."""
    result = pane.result
    return result is None or pane.table.row_count == len(result.rows)


async def until_frame(clock: FrameClock, after: float, timeout: float = 5.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        frame = clock.first_after(after)
        if frame is not None:
            return frame
        await asyncio.sleep(0.001)
    raise RuntimeError("no frame")


async def measure(app: Any, clock: FrameClock, action: Any,
                  done: Any = None) -> tuple[float, float, float, float, float, float]:
    """For one UI action, in ms: (call returns, first frame after it, frame once ``done()``
    holds, longest heartbeat stall, longest GC pause, CPU time of the loop's thread from
    the call until 100 ms after the frame). The CPU time hardly moves with the machine's
    load, where the wall-clock stall does: it is the figure to compare across runs."""
    from tui.timing import LoopMonitor

    monitor = LoopMonitor(0.010)
    monitor.start()
    await asyncio.sleep(0.05)
    if GC_OFF:
        gc.collect()
        gc.disable()
    gcw = GcWatch().__enter__()
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    result = action()
    if asyncio.iscoroutine(result):
        await result
    t_call = time.perf_counter()
    frame = await until_frame(clock, t0)
    complete = frame
    if done is not None:
        while not done():
            await asyncio.sleep(0.001)
        complete = await until_frame(clock, time.perf_counter())
    await asyncio.sleep(0.1)  # let any follow-up work (layout, timers) run under the heartbeat
    cpu = (time.thread_time() - cpu0) * 1000
    _, lag_max = await monitor.stop()
    gcw.__exit__()
    if GC_OFF:
        gc.enable()
    gc_max = max((d for _, d in gcw.pauses), default=0.0) * 1000
    return (t_call - t0) * 1000, (frame - t0) * 1000, (complete - t0) * 1000, lag_max, gc_max, cpu


async def exercise(app: Any, pilot: Any, pane: Any, clock: FrameClock, big: Any, small: Any,
                   args: argparse.Namespace, rows: dict, prefix: str) -> None:
    import tui.widgets.results as results_module

    chunk = getattr(results_module, "CHUNK", None)
    for _ in range(0 if args.rerender_only else args.repeat):
        for label, result in (("1000 rows", big), ("50 rows", small)):
            rows.setdefault(f"{prefix}show {label}", []).append(
                await measure(app, clock, lambda r=result: pane.show_result(r), lambda: is_complete(pane)))
            await pilot.pause(0.1)
        if not prefix and hasattr(results_module, "CHUNK"):
            # The same 1000 rows added in one go (CHUNK unlimited), for comparison.
            results_module.CHUNK = 10**9
            rows.setdefault("show 1000 rows, all in one frame", []).append(
                await measure(app, clock, lambda: pane.show_result(big), lambda: is_complete(pane)))
            results_module.CHUNK = chunk
            await pilot.pause(0.1)
    for label, result in (("1000 rows", big), ("50 rows", small)):
        pane.show_result(result)
        await wait_for(lambda: is_complete(pane), pilot, 10, "the rows")
        await pilot.pause(0.3)
        for theme in THEMES * max(1, args.repeat // 2):
            def switch(t: str = theme) -> None:
                app.theme = t
            rows.setdefault(f"{prefix}theme switch, {label} on screen", []).append(await measure(app, clock, switch))
        for size in [(160, 50), (100, 30), (120, 40)] * max(1, args.repeat // 2):
            rows.setdefault(f"{prefix}resize, {label} on screen", []).append(
                await measure(app, clock, lambda s=size: pilot.resize_terminal(*s)))


async def bare(args: argparse.Namespace, big: Any, small: Any, rows: dict) -> None:
    """The same ResultsPane alone in a bare Textual app: the framework's own floor."""
    import gc

    from textual.app import App, ComposeResult

    from tui.widgets.results import ResultsPane

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield ResultsPane(id="results")

    app = Bare()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        if not args.no_freeze:
            gc.freeze()  # as the app does once its workers are done
        pane = app.query_one(ResultsPane)
        pane.set_schema("id", {"vector"})
        await exercise(app, pilot, pane, FrameClock(app), big, small, args, rows, "bare app: ")


async def run(args: argparse.Namespace) -> None:
    from tui.app import MilvusTuiApp
    from tui.config import Settings
    from tui.widgets.results import ResultsPane

    big, small = make_result(1000), make_result(50)
    rows: dict[str, list[tuple[float, ...]]] = {}
    with tempfile.TemporaryDirectory() as tmp, env_home(Path(tmp) / "home"):
        app = MilvusTuiApp(Settings(uri=str(Path(tmp) / "data"), embedding_provider="local"))
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.main
            await wait_for(lambda: screen.connected and not screen.running, pilot, 120, "the app to connect")
            await wait_for(lambda: screen.session.embeddings is not None, pilot, 60, "the embedding model")
            await pilot.pause(0.5)
            if args.no_freeze:
                import gc

                gc.unfreeze()  # the collector scans everything again (worse than before commit f09f9b5)
            pane = screen.query_one(ResultsPane)
            pane.set_schema("id", {"vector"})
            clock = FrameClock(app)
            await exercise(app, pilot, pane, clock, big, small, args, rows, "")
            await app.action_quit()
    await bare(args, big, small, rows)

    print(f"\n{args.repeat} repeats, 120x40 terminal; {load_now()}.\n")
    print("| action | call returns (ms) | first frame (ms) | all rows in, frame (ms) | longest loop stall (ms) | "
          "longest GC pause (ms) | loop CPU (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, values in rows.items():
        calls, frames, complete, stalls, gcs, cpus = ([v[i] for v in values] for i in range(6))
        done = f"{median(complete):.1f} / {max(complete):.1f}" if "show" in name else "–"
        print(f"| {name} | {median(calls):.1f} | {median(frames):.1f} / {max(frames):.1f} | {done} | "
              f"{median(stalls):.1f} / {max(stalls):.1f} | {max(gcs):.1f} | {median(cpus):.1f} |")
    print("\n(median / max of the repeats)" + (" GC off during each action" if GC_OFF else ""))
    if args.rerender_only:
        summary_rerender(rows)
        return
    show = rows["show 1000 rows"]
    first = [v[1] for v in show]
    stall = max(v[3] for k, vs in rows.items() if "1000 rows on screen" in k and not k.startswith("bare")
                for v in vs)
    one_frame = rows.get("show 1000 rows, all in one frame")
    print(f"\n- 1000-row result: first frame with rows median {median(first):.1f} ms, all 1000 rows in "
          f"{median([v[2] for v in show]):.1f} ms, longest stall {max(v[3] for v in show):.1f} ms (target: "
          f"renders ≤ 100 ms): {verdict(median(first) <= 100 and max(v[3] for v in show) <= 100)}; "
          + (f"in one frame instead: {median([v[1] for v in one_frame]):.1f} ms; " if one_frame else "")
          + f"50-row page: {median([v[1] for v in rows['show 50 rows']]):.1f} ms")
    print(f"- theme switch / resize with 1000 rows on screen: longest stall {stall:.1f} ms (target ≤ 50 ms): "
          f"{verdict(stall <= 50)}")
    summary_rerender(rows)


def summary_rerender(rows: dict) -> None:
    for what in ("theme switch", "resize"):
        app_rows, bare_rows = rows[f"{what}, 1000 rows on screen"], rows[f"bare app: {what}, 1000 rows on screen"]
        print(f"- {what}, 1000 rows: stall median {median([v[3] for v in app_rows]):.1f} ms vs bare app "
              f"{median([v[3] for v in bare_rows]):.1f} ms; loop CPU {median([v[5] for v in app_rows]):.1f} ms vs "
              f"{median([v[5] for v in bare_rows]):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-freeze", action="store_true",
                        help="gc.unfreeze() once the app is up: what the app's gc.freeze() buys")
    parser.add_argument("--gc-off", action="store_true",
                        help="no garbage collection during each measured action (its own work only)")
    parser.add_argument("--rerender-only", action="store_true",
                        help="only the theme switches and resizes (the result is shown once, untimed)")
    args = parser.parse_args()
    global GC_OFF
    GC_OFF = args.gc_off
    header("Target 6: rendering")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
