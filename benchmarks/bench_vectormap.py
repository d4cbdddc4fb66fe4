"""The vector map keeps the UI responsive: projecting and drawing 2,000 points of 256 dimensions.

The real app runs headless (``run_test``, 140x44) against a Milvus Lite child holding a cached
collection of 2,000 vectors x 256 dims in 8 clusters (``grp`` is the cluster: the colour field).
A heartbeat on the app's event loop (every 5 ms) records how late each tick wakes (the loop's
lag). In one run, side by side:

0. the projection alone (no app, no server): the loop idle, with decode + PCA in a thread, and on
   the loop;
1. idle: the explorer showing its first page, nothing running;
2. the map opened with ``v`` (``--repeat`` times, async mode: the reads on the loop with the async
   client, the projection in a thread): lag over the whole open, and lag while the projection
   itself runs (decoding and projecting: its start/end are recorded by wrapping ``_prepare``);
3. the same in sync mode (everything in a thread worker);
4. drawing: a full repaint of the canvas (every line through ``render_line``) and a cursor move;
5. for contrast, the same projection run *on* the event loop once (what the worker avoids).

Target: no loop stall above one frame (16.7 ms) while the projection runs in a worker.

    .venv/bin/python benchmarks/bench_vectormap.py [--repeat 10] [--points 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, create_collection, env_home, header, load_now, median, summary_ms, verdict  # noqa: E402

DIM = 256
CLUSTERS = 8
FRAME_MS = 1000 / 60


class Heartbeat:
    """Ticks every ``interval`` on the loop; each tick's (time, lag)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.ticks: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            last = time.perf_counter()
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.ticks.append((now, max(0.0, now - last - self.interval)))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def lags(self, start: float, end: float, *, spanning: bool = False) -> list[float]:
        """Lags of the ticks whose sleep began in [start, end]: stalls that began in the window
        (one that began before it, e.g. the loop parsing the last read, belongs to that).
        ``spanning``: also the tick that waited across the window (work run *on* the loop)."""
        return [lag for t, lag in self.ticks if start <= t - lag - self.interval <= end
                or (spanning and t - lag - self.interval < start and t > start)]


def ensure_data(uri: str, name: str, n: int) -> str:
    import numpy as np
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        if client.has_collection(name):
            client.load_collection(name)
            rows = client.query(name, filter="", output_fields=["count(*)"])
            if rows and int(rows[0]["count(*)"]) == n:
                return "cached"
            client.drop_collection(name)
        create_collection(client, name, DIM)
        rng = np.random.default_rng(11)
        centres = rng.standard_normal((CLUSTERS, DIM)) * 3
        for first in range(0, n, 1000):
            m = min(1000, n - first)
            grp = (np.arange(first, first + m) % CLUSTERS)
            vecs = (centres[grp] + rng.standard_normal((m, DIM))).astype(np.float32)
            client.insert(name, [{"id": first + i, "vector": vecs[i], "text": f"point {first + i} of cluster {grp[i]}",
                                  "grp": int(grp[i])} for i in range(m)])
        client.flush(name)
        client.release_collection(name)
        client.load_collection(name)
        return "built"
    finally:
        client.close()


async def isolated(points: int, repeat: int) -> dict[str, Any]:
    """The projection alone, no app, no server: the loop's lag idle, while ``_prepare`` (decode +
    PCA) runs in a thread, and while it runs on the loop. Nothing else competes for the loop here."""
    import numpy as np

    from tui.milvus import vectormap
    from tui.milvus.catalog import FieldInfo

    rng = np.random.default_rng(5)
    rows = [{"id": i, "vector": v} for i, v in enumerate(rng.standard_normal((points, DIM)).astype(np.float32))]
    field = FieldInfo("vector", "FLOAT_VECTOR", dim=DIM)
    beat = Heartbeat()
    beat.start()
    t = time.perf_counter()
    await asyncio.sleep(1.0)
    idle = beat.lags(t, time.perf_counter())
    threaded: list[float] = []
    spent: list[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        await asyncio.to_thread(vectormap._prepare, rows, field, rows[0]["vector"], "pca", True)
        spent.append(time.perf_counter() - t)
        threaded += beat.lags(t, time.perf_counter())
        await asyncio.sleep(0.02)
    on_loop: list[float] = []
    for _ in range(3):
        t = time.perf_counter()
        vectormap._prepare(rows, field, rows[0]["vector"], "pca", True)
        await asyncio.sleep(0)
        on_loop += beat.lags(t, time.perf_counter(), spanning=True)
        await asyncio.sleep(0.02)
    await beat.stop()
    return dict(idle=idle, threaded=threaded, on_loop=on_loop, spent=spent)


def row(name: str, lags: list[float]) -> str:
    s = summary_ms(lags)
    return f"| {name} | {s['n']} | {s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |"


async def run(args: argparse.Namespace) -> None:
    from tui.milvus import vectormap
    from tui.milvus.lite import LiteServer
    from tui.milvus.projection import project
    from tui.screens.main import MainScreen
    from tui.screens.vector_map import MapScreen
    from tui.session import ExecMode

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.apphelpers import focus_table, make_app, wait_first_page, wait_until

    name = f"map_{args.points}"
    server = LiteServer(DATA / "vectormap")
    server.start()
    windows: list[tuple[float, float]] = []
    real_project = vectormap._prepare

    def timed_project(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_project(*a, **kw)
        finally:
            windows.append((t0, time.perf_counter()))

    vectormap._prepare = timed_project  # type: ignore[assignment]
    try:
        source = ensure_data(server.uri, name, args.points)
        header("Vector map: loop lag while 2,000 points are projected and drawn")
        alone = await isolated(args.points, args.repeat * 2)
        print(f"- data: {args.points:,} vectors x {DIM} dims, {CLUSTERS} clusters, Lite child ({source}); "
              f"{load_now()} at start")
        with tempfile.TemporaryDirectory() as tmp, env_home(Path(tmp) / "home"):
            app = make_app(server.uri, name)
            async with app.run_test(size=(140, 44)) as pilot:
                await wait_first_page(pilot, app, timeout=120)
                await focus_table(pilot, app)
                beat = Heartbeat()
                beat.start()
                t0 = time.perf_counter()
                await asyncio.sleep(args.idle)
                idle = beat.lags(t0, time.perf_counter())
                results: dict[str, dict[str, Any]] = {}
                draw_ms: list[float] = []
                move_ms: list[float] = []
                for mode in (ExecMode.ASYNC, ExecMode.SYNC):
                    app.main.runner.mode = mode
                    whole: list[float] = []
                    during: list[float] = []
                    project_s: list[float] = []
                    open_s: list[float] = []
                    for _ in range(args.repeat):
                        windows.clear()
                        start = time.perf_counter()
                        await pilot.press("v")
                        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen)
                                                  and app.screen.map is not None and app.screen, 60, "the map")
                        await pilot.pause()  # the first frame of the map is drawn
                        end = time.perf_counter()
                        assert screen.map.size == args.points, screen.map.size
                        open_s.append(end - start)
                        whole += beat.lags(start, end)
                        for a, b in windows:
                            during += beat.lags(a, b)
                            project_s.append(b - a)
                        canvas = screen.canvas
                        t = time.perf_counter()
                        canvas._raster = None  # as after a resize: place the points, draw every line
                        for y in range(canvas.content_size.height):
                            canvas.render_line(y)
                        draw_ms.append((time.perf_counter() - t) * 1000)
                        # A cursor move: the step, then the two lines it changes, drawn again.
                        t = time.perf_counter()
                        canvas.action_move("right")
                        for y in range(canvas.content_size.height):
                            canvas.render_line(y)
                        move_ms.append((time.perf_counter() - t) * 1000)
                        await pilot.press("escape")
                        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), 20, "the explorer")
                    results[str(mode)] = dict(whole=whole, during=during, project=project_s, open=open_s)
                # For contrast: the same projection on the event loop, once.
                screen_points = None
                app.main.runner.mode = ExecMode.ASYNC
                await pilot.press("v")
                screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen)
                                          and app.screen.map is not None and app.screen, 60, "the map")
                screen_points = await app.main.session.arun(app.main.session.get(name, list(screen.map.keys),
                                                                                 output_fields=["vector"]))
                import numpy as np

                matrix = np.asarray([r["vector"] for r in screen_points], dtype=np.float32)
                await asyncio.sleep(0.1)
                t = time.perf_counter()
                project(matrix, normalize=True)
                on_loop_s = time.perf_counter() - t
                await asyncio.sleep(0.1)
                blocked = beat.lags(t, t + on_loop_s, spanning=True)
                await beat.stop()
        print(f"- {load_now()} at the end; {args.repeat} map opens per mode; heartbeat every 5 ms\n")
        print("| phase | ticks | p50 lag (ms) | p99 lag (ms) | max lag (ms) |")
        print("|---|---|---|---|---|")
        print(row("projection alone: idle loop", alone["idle"]))
        print(row(f"projection alone: decode + PCA of {args.points:,} x {DIM} in a thread", alone["threaded"]))
        print(row("projection alone: the same on the loop (contrast)", alone["on_loop"]))
        print(row("app: idle (explorer, nothing running)", idle))
        for mode, r in results.items():
            print(row(f"app, {mode}: while the projection runs (worker thread)", r["during"]))
            print(row(f"app, {mode}: whole open (push the screen, read {args.points:,}, project, draw)", r["whole"]))
        print(row("app: the same projection run on the event loop (contrast)", blocked))
        print()
        for mode, r in results.items():
            print(f"- {mode}: projection median {median(r['project']) * 1000:.0f} ms, open-to-drawn median "
                  f"{median(r['open']) * 1000:.0f} ms")
        print(f"- drawing: full canvas repaint median {median(draw_ms):.1f} ms (max {max(draw_ms):.1f}); "
              f"a cursor move (step + the lines it changes) median {median(move_ms):.2f} ms")
        print(f"- on the loop: the projection took {on_loop_s * 1000:.0f} ms and stalled the loop "
              f"{max(blocked or [0]) * 1000:.0f} ms")
        print(f"- projection alone: median {median(alone['spent']) * 1000:.0f} ms in a thread")
        worst_alone = max(alone["threaded"] or [0]) * 1000
        worst = max(max(r["during"] or [0]) for r in results.values()) * 1000
        print(f"\ntarget: max lag while projecting in a worker <= {FRAME_MS:.1f} ms: projection alone "
              f"{worst_alone:.1f} ms {verdict(worst_alone <= FRAME_MS)}; in the app {worst:.1f} ms "
              f"{verdict(worst <= FRAME_MS)}")
    finally:
        vectormap._prepare = real_project  # type: ignore[assignment]
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle heartbeat")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
