"""Target 1: the UI's event loop stays responsive under a heavy search load.

The real app runs headless (``run_test``) on the embedded default: it starts its own
Milvus Lite child process on a cached 20k-row data directory (local-model vectors, 256
dims). A heartbeat (``tui.timing.LoopMonitor``, every 10 ms) runs on the app's loop. The
load, started as the app's own workers on the app's connection:

- 1000 async semantic searches (text -> local embedding -> vector search, k=10, all fields)
  on the app loop, unbounded (``asyncio.gather``, as the seeds do) or bounded (K tasks);
- at the same time, 200 sync semantic searches in a thread worker (the sync client).

While it runs, a key is pressed into the query input every 100 ms the way a terminal
delivers it (a ``Key`` event through the driver) and timed until the Input's value has
it and until the next frame is composed after that.

In the same run, the same load runs against Milvus Lite started *inside this process*
(``milvus_lite``'s ``start_server_in_thread``, what a ``./x.db`` URI does), which shows
why the app runs Lite as a child.

    .venv/bin/python benchmarks/bench_responsiveness.py [--searches 1000] [--sync-searches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, env_home, header, load_now, summary_ms, texts, verdict  # noqa: E402

COLLECTION = "bench_20k"
ROWS = 20_000
DIM = 256
DEFAULT_SWITCH = sys.getswitchinterval()


@dataclass(frozen=True)
class Load:
    """One measured load: how the async searches run and which process settings apply."""

    name: str
    concurrency: int | None = None  # None = unbounded gather
    unfrozen: bool = False  # gc.unfreeze() first: the collector scans everything again, as before
    #                         commit f09f9b5 (the app now freezes after its workers' imports)
    freeze: bool = False  # gc.freeze() first: also freeze what the UI built since (the open
    #                       collection, its first page, widget caches)
    switch: float | None = None  # sys.setswitchinterval during the load (proposed: 1 ms)
    idle: bool = False  # no searches at all: the key-echo baseline


class GcWatch:
    """Durations of the garbage collector's runs (gen 2 pauses are the long ones)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._t0))

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def worst(self) -> str:
        if not self.pauses:
            return "no collections"
        gen2 = [d for g, d in self.pauses if g == 2]
        return (f"{len(self.pauses)} collections, longest {max(d for _, d in self.pauses) * 1000:.1f} ms"
                + (f", {len(gen2)} of gen 2 (longest {max(gen2) * 1000:.1f} ms)" if gen2 else ""))


class FrameClock:
    """Timestamps of the frames the app composes (``App._display`` calls)."""

    def __init__(self, app: Any) -> None:
        self.times: list[float] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                self.times.append(time.perf_counter())
            original(screen, renderable)

        app._display = display

    def first_after(self, t: float) -> float | None:
        later = [s for s in self.times[-20:] if s >= t]
        return min(later) if later else None


async def key_probe(app: Any, clock: FrameClock, stop: asyncio.Event, every: float,
                    out: dict[str, list[float]]) -> None:
    """Press a key every ``every`` s into the focused query input; time value and frame.

    The value change is timestamped by a watcher on the Input (it runs inside the key's
    handling), then the first frame composed after that moment is the echo on screen."""
    from textual import events
    from textual.widgets import Input

    field = app.main.query_one("#query-input", Input)
    changed: list[tuple[str, float]] = []
    app.main.watch(field, "value", lambda value: changed.append((value, time.perf_counter())), init=False)
    chars = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    while not stop.is_set():
        await asyncio.sleep(every)
        if stop.is_set():
            break
        if len(field.value) > 40:
            field.value = ""
            await asyncio.sleep(0.05)
        char = chars[i % len(chars)]
        i += 1
        expected = field.value + char
        t0 = time.perf_counter()
        event = events.Key(char, char)
        event.set_sender(app)
        app._driver.send_message(event)  # how a real terminal's key arrives
        t_value = None
        while t_value is None and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.001)
            t_value = next((t for v, t in reversed(changed) if v == expected and t >= t0), None)
        t_value = t_value or time.perf_counter()
        frame = None
        while frame is None and time.perf_counter() - t0 < 5:
            frame = clock.first_after(t_value)
            if frame is None:
                await asyncio.sleep(0.001)
        out["value"].append(t_value - t0)
        out["frame"].append((frame or time.perf_counter()) - t0)


async def run_load(app: Any, info: Any, embeddings: Any, *, searches: int, sync_searches: int,
                   concurrency: int | None, probe_every: float, idle: bool = False) -> dict[str, Any]:
    """The load, as the app's own workers, with the heartbeat and key probes on the app loop."""
    from tui.milvus import queries as q
    from tui.milvus.ops import Context
    from tui.timing import LoopMonitor

    screen = app.main
    conn = screen.conn
    queries = texts(searches, start=ROWS + 1000)
    sync_queries = texts(sync_searches, start=ROWS + 5000)
    lat_async: list[float] = []
    lat_sync: list[float] = []
    errors: list[str] = []
    walls: dict[str, float] = {}

    async def one(text: str) -> None:
        t0 = time.perf_counter()
        try:
            await conn.arun(q.semantic_search(info, text, k=10), Context(embeddings))
            lat_async.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"async: {exc}")

    async def async_load() -> None:
        t0 = time.perf_counter()
        if concurrency is None:
            await asyncio.gather(*(one(t) for t in queries))
        else:
            pending = iter(queries)

            async def lane() -> None:
                for text in pending:
                    await one(text)

            await asyncio.gather(*(lane() for _ in range(concurrency)))
        walls["async"] = time.perf_counter() - t0

    def sync_load() -> None:
        t0 = time.perf_counter()
        for text in sync_queries:
            t1 = time.perf_counter()
            try:
                conn.run(q.semantic_search(info, text, k=10), Context(embeddings))
                lat_sync.append(time.perf_counter() - t1)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"sync: {exc}")
        walls["sync"] = time.perf_counter() - t0

    clock = getattr(app, "_bench_clock", None) or FrameClock(app)
    app._bench_clock = clock
    keys: dict[str, list[float]] = {"value": [], "frame": []}
    stop = asyncio.Event()
    monitor = LoopMonitor(0.010)
    gc.collect()
    tracked = (gc.get_freeze_count(), len(gc.get_objects()))  # (frozen, still scanned) objects
    with GcWatch() as gcw:
        monitor.start()
        probe = asyncio.create_task(key_probe(app, clock, stop, probe_every, keys))
        t0 = time.perf_counter()
        if idle:
            await asyncio.sleep(5.0)
        else:
            w_async = screen.run_worker(async_load(), name="bench-async", group="bench-async",
                                        exit_on_error=False)
            w_sync = screen.run_worker(sync_load, name="bench-sync", group="bench-sync", thread=True,
                                       exit_on_error=False)
            await w_async.wait()
            await w_sync.wait()
        wall = time.perf_counter() - t0
        stop.set()
        await probe
        lag_p99, lag_max = await monitor.stop()
    lags = monitor.lags
    return {
        "wall": wall, "walls": walls, "lag": summary_ms(lags), "lag_p99": lag_p99, "lag_max": lag_max,
        "ticks": len(lags), "async": summary_ms(lat_async), "sync": summary_ms(lat_sync),
        "errors": errors, "keys_value": summary_ms(keys["value"]), "keys_frame": summary_ms(keys["frame"]),
        "gc": gcw.worst(), "load": load_now(), "tracked": tracked,
        "throughput": (len(lat_async) + len(lat_sync)) / wall if wall else 0.0,
    }


async def wait_for(predicate: Any, pilot: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def session(settings: Any, label: str, loads: list[Load], args: argparse.Namespace,
                  connection: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """Open the app, wait for the collection and the model, run each load in turn."""
    from tui.app import MilvusTuiApp
    from textual.widgets import Input

    app = MilvusTuiApp(settings, connection)
    out = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.main
        await wait_for(lambda: screen.info is not None and screen.info.name == COLLECTION, pilot, 120,
                       "the collection to be described")
        if not screen.info.loaded:
            t0 = time.perf_counter()
            await pilot.press("l")
            await wait_for(lambda: screen.info.loaded, pilot, 600, "the collection to load")
            print(f"  [{label}] loaded {COLLECTION} in {time.perf_counter() - t0:.2f} s (index files cached)",
                  file=sys.stderr)
        await wait_for(lambda: screen.session.embeddings is not None, pilot, 60, "the embedding model")
        await wait_for(lambda: not screen.running, pilot, 60, "startup work to finish")
        embeddings = screen.session.embeddings
        embeddings.embed_query("warm up")
        screen.query_one("#query-input", Input).focus()
        await pilot.pause(0.3)
        for load in loads:
            if load.unfrozen:
                gc.unfreeze()
            if load.freeze:
                gc.freeze()
            sys.setswitchinterval(load.switch or DEFAULT_SWITCH)
            print(f"  [{label}] running: {load.name}", file=sys.stderr)
            try:
                result = await run_load(app, screen.info, embeddings, searches=args.searches,
                                        sync_searches=args.sync_searches, concurrency=load.concurrency,
                                        probe_every=args.probe_every, idle=load.idle)
            finally:
                sys.setswitchinterval(DEFAULT_SWITCH)
                if load.unfrozen:
                    gc.freeze()  # back to the app's own state
            out.append((f"{label}, {load.name}", result))
            await pilot.pause(0.5)
        await app.action_quit()
    return out


def report(rows: list[tuple[str, dict[str, Any]]], args: argparse.Namespace) -> None:
    print(f"\nLoad: {args.searches} async semantic searches (k=10, all fields) + {args.sync_searches} sync "
          f"searches in a thread worker at the same time, over {ROWS:,} rows x {DIM} dims; heartbeat 10 ms; a key "
          f"every {args.probe_every * 1000:.0f} ms. The app freezes the objects alive once pymilvus and the model "
          f"are loaded; 'GC unfrozen' = gc.unfreeze() first (no freeze at all, worse than before commit f09f9b5); "
          f"'gc.freeze before the load' = also freeze what the UI built since (open collection, first page); "
          f"'switch 1 ms' = sys.setswitchinterval(0.001) (default 5 ms).\n")
    print("| Lite | load | loop lag p50 / p99 / max (ms) | key → value p50 / max (ms) | "
          "key → frame p50 / max (ms) | searches/s | wall (s) | GC during the load | errors | machine |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        where, load = name.split(", ", 1)
        lag, kv, kf = r["lag"], r["keys_value"], r["keys_frame"]
        print(f"| {where} | {load} | {lag['p50']:.1f} / {r['lag_p99']:.1f} / {r['lag_max']:.1f} | "
              f"{kv['p50']:.1f} / {kv['max']:.1f} | {kf['p50']:.1f} / {kf['max']:.1f} | {r['throughput']:.0f} | "
              f"{r['wall']:.1f} | {r['gc']}; {r['tracked'][1] // 1000}k objects scanned at the start | "
              f"{len(r['errors'])} | {r['load']} |")
    print()
    for name, r in rows:
        if "idle" in name:
            continue
        ok = r["lag_p99"] <= 16 and r["lag_max"] <= 50 and r["keys_frame"]["max"] < 50
        print(f"- {name}: p99 {r['lag_p99']:.1f} ms (target ≤ 16), max {r['lag_max']:.1f} ms (≤ 50), "
              f"key echo max {r['keys_frame']['max']:.1f} ms (< 50): {verdict(ok)}; per-search latency async "
              f"p50 {r['async']['p50']:.0f} ms, sync p50 {r['sync']['p50']:.0f} ms")
        for err in r["errors"][:3]:
            print(f"  - error: {err}")
    by = dict(rows)
    for load in ("unbounded gather", BOUNDED):
        child, inproc = by.get(f"child (embedded default), {load}"), by.get(f"in-process, {load}")
        if child and inproc:
            print(f"- {load}: in-process Lite vs child, loop lag p99 {inproc['lag_p99']:.1f} vs "
                  f"{child['lag_p99']:.1f} ms, max {inproc['lag_max']:.1f} vs {child['lag_max']:.1f} ms, key echo "
                  f"max {inproc['keys_frame']['max']:.1f} vs {child['keys_frame']['max']:.1f} ms")


BOUNDED = "bounded 16"

BUILD = """
import sys
sys.path.insert(0, sys.argv[1])
from _common import ensure_dataset, describe_info
from pymilvus import MilvusClient
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.milvus.lite import LiteServer
model = make_embeddings(EmbeddingSettings(provider="local"))
with LiteServer(sys.argv[2]) as server:
    client = MilvusClient(uri=server.uri)
    info = ensure_dataset(client, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), local_model=model)
    client.close()
print(describe_info(info))
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--sync-searches", type=int, default=200)
    parser.add_argument("--probe-every", type=float, default=0.1)
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--quick", action="store_true", help="only the as-shipped and proposed rows")
    args = parser.parse_args()

    import subprocess

    from tui.config import Settings
    from tui.milvus import MilvusConnection

    header("Target 1: responsiveness under load")
    data_dir = DATA / "responsiveness"
    # Build (or find) the data set in another process: this process must not import pymilvus
    # or the model before the app does, or the app's on_ready gc.freeze would cover them.
    built = subprocess.run([sys.executable, "-c", BUILD, str(Path(__file__).resolve().parent), str(data_dir),
                            COLLECTION, str(ROWS), str(DIM)], check=True, capture_output=True, text=True)
    print(f"- data: {ROWS:,} rows, {DIM}-dim local-model vectors, {built.stdout.strip()}")

    child_loads = [
        Load("idle (no load): key-echo baseline", idle=True),
        Load("unbounded gather"),
        Load(BOUNDED, 16),
        Load("bounded 16 + switch 1 ms", 16, switch=0.001),
        Load("bounded 16, GC unfrozen", 16, unfrozen=True),
        Load("bounded 16 + gc.freeze before the load", 16, freeze=True),
    ]
    if args.quick:
        child_loads = child_loads[:3]
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as home, env_home(Path(home)):
        settings = Settings(uri=str(data_dir), collection=COLLECTION, embedding_provider="local")
        rows += await session(settings, "child (embedded default)", child_loads, args)
        if not args.skip_inprocess:
            # Last: it imports milvus_lite (and its server threads) into this process.
            from milvus_lite.adapter.grpc.server import start_server_in_thread

            server, db, port = start_server_in_thread(str(data_dir))
            try:
                uri = f"http://127.0.0.1:{port}"
                conn = MilvusConnection(uri)
                rows += await session(Settings(uri=uri, collection=COLLECTION, embedding_provider="local"),
                                      "in-process", [Load("unbounded gather"), Load(BOUNDED, 16)],
                                      args, connection=conn)
            finally:
                server.stop(grace=1)
                db.close()
    report(rows, args)


if __name__ == "__main__":
    asyncio.run(main())
