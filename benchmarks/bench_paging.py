"""Target 3: paging cost does not grow with the page number (primary-key cursors).

On a 100k-row collection (cached under ``benchmarks/.data/paging``; 64-dim vectors, all
fields fetched, 50 rows a page, as the app pages), through the app's own ``Pager`` and
the sync driver on a Milvus Lite child:

- page 500 vs page 1 once the page boundaries are known (the pager has been there), and
  cold (a new pager: count + primary-key scans to find the boundary, then the page);
- the last page, cold (``goto(-1)``), and that it really holds the last rows;
- page 500 vs page 1 after the app's background fill (``BoundaryFill``, driven as the
  screen's worker drives it: one pk-only scan a step, a pause between steps), with the
  fill's own wall time, and that the jump ran no key scan of its own;
- the fill's cost to the rest of the app: page fetches (async client) and an event-loop
  heartbeat in this thread while a fill runs in a thread, vs the same with no fill;
- 100 consecutive pages: per-page time and memory (tracemalloc and RSS) along the way;
- offset paging (``query(offset=..., limit=50)``) at growing offsets, in the same run.
  Real Milvus rejects ``offset + limit > 16384``; Milvus Lite accepts it, so its cost
  past that point is shown too.

Each timing is the median of ``--repeat`` alternating runs.

    .venv/bin/python benchmarks/bench_paging.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import threading
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DATA, describe_info, ensure_dataset, header, load_now, median, rss_mb, summary_ms, verdict,
)

COLLECTION = "bench_100k"
ROWS = 100_000
DIM = 64
PAGE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    header("Target 3: paging at scale")

    from tui.milvus import MilvusConnection, Pager
    from tui.milvus import catalog as catalog_ops
    from tui.milvus.queries import FILL_MAX_PAGES, BoundaryFill
    from tui.screens.main import FILL_PAUSE
    from tui.milvus.lite import LiteServer

    with LiteServer(DATA / "paging") as server:
        conn = MilvusConnection(server.uri)
        conn.open()
        # FLAT: paging never touches the vector index, and a 100k HNSW build costs ~75 s once.
        data = ensure_dataset(conn.client, COLLECTION, ROWS, DIM, index_type="FLAT")
        print(f"- data: {ROWS:,} rows x {DIM} dims, {describe_info(data)}; page size {PAGE}, all fields")
        info = conn.run(catalog_ops.describe(COLLECTION))

        def t_goto(pager: Pager, page: int) -> tuple[float, list]:
            t0 = time.perf_counter()
            result = conn.run(pager.goto(page))
            return time.perf_counter() - t0, result.rows

        # Warm-up: one pass over the paths measured below.
        warm = Pager(info, page_size=PAGE)
        t_goto(warm, 0)
        t_goto(warm, 499)

        # 1) boundaries known: the same pager, pages 1 and 500 alternately.
        known_1, known_500 = [], []
        for _ in range(args.repeat):
            known_1.append(t_goto(warm, 0)[0])
            t, rows = t_goto(warm, 499)
            known_500.append(t)
        assert rows[0]["id"] == 499 * PAGE, rows[0]["id"]
        def run_fill(pager: Pager, busy: threading.Event | None = None, polite: bool = True) -> tuple[float, int]:
            """The screen's fill worker, minus Textual: wait while a page is being fetched
            (``busy``), step, merge, rest as long as the step took. ``polite=False``: no
            waiting, 50 ms rests (the comparison)."""
            t0 = time.perf_counter()
            fill = BoundaryFill(pager)
            while not fill.done:
                if polite and busy is not None and busy.is_set():
                    time.sleep(FILL_PAUSE)
                    continue
                t1 = time.perf_counter()
                pager.merge(conn.run(fill.step()))
                if not fill.done:
                    time.sleep(fill.rest(time.perf_counter() - t1, FILL_PAUSE) if polite else FILL_PAUSE)
            return time.perf_counter() - t0, fill.requests

        # 2) cold: a new pager for every fetch (count, and key scans up to the page); and
        #    after the background fill: a new pager shows page 1, the fill runs, then the jump.
        cold_1, cold_500, cold_last = [], [], []
        filled_1, filled_500, filled_last, fill_wall, fill_requests = [], [], [], [], 0
        last_rows: list = []
        filled_ok = True
        for _ in range(args.repeat):
            cold_1.append(t_goto(Pager(info, page_size=PAGE), 0)[0])
            cold_500.append(t_goto(Pager(info, page_size=PAGE), 499)[0])
            t, last_rows = t_goto(Pager(info, page_size=PAGE), -1)
            cold_last.append(t)
            filled = Pager(info, page_size=PAGE)
            t_goto(filled, 0)
            t, fill_requests = run_fill(filled)
            fill_wall.append(t)
            for _ in range(3):  # a fill per repeat is slow: three alternating pairs from each
                filled_1.append(t_goto(filled, 0)[0])
                t, rows = t_goto(filled, 499)
                filled_500.append(t)
                filled_ok &= rows[0]["id"] == 499 * PAGE and filled.exhausted
            t, rows = t_goto(filled, -1)
            filled_last.append(t)
            filled_ok &= rows[-1]["id"] == ROWS - 1 and filled.key_scans == 0
        last_ok = bool(last_rows) and last_rows[-1]["id"] == ROWS - 1 and len(last_rows) == PAGE
        gc.collect()
        tracemalloc.start()
        held = Pager(info, page_size=PAGE)
        t_goto(held, 0)
        before = tracemalloc.get_traced_memory()[0]
        run_fill(held)
        gc.collect()
        per_boundary = (tracemalloc.get_traced_memory()[0] - before) / len(held.boundaries)
        tracemalloc.stop()
        load_paging = load_now()

        # 3) 100 consecutive pages with memory sampled along the way.
        gc.collect()
        tracemalloc.start()
        pager = Pager(info, page_size=PAGE)
        per_page, mem, rss = [], {}, {}
        seen = 0
        for page in range(100):
            t, rows = t_goto(pager, page)
            per_page.append(t)
            seen += len(rows)
            if page + 1 in (1, 10, 50, 100):
                gc.collect()
                mem[page + 1] = tracemalloc.get_traced_memory()[0] / 1024
                rss[page + 1] = rss_mb()
        peak = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
        load_consecutive = load_now()

        # 4) offset paging at growing offsets, same run.
        offsets = [0, 50 * PAGE, 16384 - PAGE, 499 * PAGE, 1000 * PAGE, ROWS - PAGE]
        offset_times: dict[int, list[float]] = {o: [] for o in offsets}
        offset_errors: dict[int, str] = {}
        client = conn.client
        for _ in range(args.repeat):
            for o in offsets:
                t0 = time.perf_counter()
                try:
                    client.query(COLLECTION, filter="", offset=o, limit=PAGE, output_fields=["*"])
                    offset_times[o].append(time.perf_counter() - t0)
                except Exception as exc:  # noqa: BLE001
                    offset_errors[o] = str(exc).splitlines()[0][:120]
        # The same pages by cursor, same run (boundaries known).
        cursor_times: dict[int, list[float]] = {o: [] for o in offsets}
        for _ in range(args.repeat):
            for o in offsets:
                cursor_times[o].append(t_goto(warm, o // PAGE)[0])
        load_offsets = load_now()

        # 5) the key scans behind a cold jump to page 500: what the pager does now (only the
        #    24,950 keys it needs) vs full 16,384-key windows (what it did before), alternated.
        from tui.milvus.queries import MAX_WINDOW, scan_keys

        need = 499 * PAGE
        trimmed, full = [], []
        for _ in range(args.repeat):
            for limits, out in (((MAX_WINDOW, need - MAX_WINDOW), trimmed), ((MAX_WINDOW, MAX_WINDOW), full)):
                t0 = time.perf_counter()
                first = conn.run(scan_keys(info, None, limit=limits[0]))
                conn.run(scan_keys(info, first[-1], limit=limits[1]))
                out.append(time.perf_counter() - t0)
        load_scans = load_now()

        # 6) the fill's cost to everything else: with a fill in a thread (as the app runs it)
        #    vs none, alternated: page fetches through the async client and a 10 ms heartbeat
        #    on this thread's event loop (the UI's loop in the app).
        contention = asyncio.run(_contention(conn, info, run_fill, args.repeat))
        load_contention = load_now()
        conn.close()

    r_known = median(known_500) / median(known_1)
    r_cold = median(cold_500) / median(cold_1)
    r_filled = median(filled_500) / median(filled_1)
    print("\n| fetch | page 1 (ms) | page 500 (ms) | ratio | target | machine |")
    print("|---|---|---|---|---|---|")
    print(f"| boundaries known (same pager) | {median(known_1) * 1000:.1f} | {median(known_500) * 1000:.1f} | "
          f"{r_known:.2f}x | ≤ 1.5x: {verdict(r_known <= 1.5)} | {load_paging} |")
    print(f"| cold (new pager: count + key scans + page) | {median(cold_1) * 1000:.1f} | "
          f"{median(cold_500) * 1000:.1f} | {r_cold:.2f}x | ≤ 1.5x: {verdict(r_cold <= 1.5)} | {load_paging} |")
    print(f"| after the background fill (new pager, page 1, fill, jump) | {median(filled_1) * 1000:.1f} | "
          f"{median(filled_500) * 1000:.1f} | {r_filled:.2f}x | ≤ 1.5x: {verdict(r_filled <= 1.5)} | "
          f"{load_paging} |")
    print(f"\n- the fill: {median(fill_wall) * 1000:.0f} ms wall (median; {fill_requests} pk-only requests, "
          f"each followed by a rest as long as itself); then page 500 and the last page "
          f"({median(filled_last) * 1000:.1f} ms, count + page) ran no key scan and held the right rows: "
          f"{verdict(filled_ok)}; boundaries held: {per_boundary:.0f} B each after gc "
          f"({per_boundary * ROWS / PAGE / 1024:.0f} KiB for 100k rows, "
          f"{per_boundary * FILL_MAX_PAGES / 1024 / 1024:.1f} MiB at the fill's cap of {FILL_MAX_PAGES:,} pages)")
    print(f"\n- last page, cold (`goto(-1)`): {median(cold_last) * 1000:.1f} ms; holds ids "
          f"{last_rows[0]['id'] if last_rows else '-'}..{last_rows[-1]['id'] if last_rows else '-'} "
          f"({len(last_rows)} rows): reachable {verdict(last_ok)}")
    first10 = per_page[:10]
    last10 = per_page[-10:]
    growth = mem[100] - mem[10]
    print(f"- 100 consecutive pages ({seen:,} rows): per page p50 {median(per_page) * 1000:.1f} ms, "
          f"first 10 median {median(first10) * 1000:.1f} ms vs last 10 median {median(last10) * 1000:.1f} ms; "
          f"Python heap (tracemalloc, after gc) at page 1/10/50/100: "
          + " / ".join(f"{mem[k]:.0f}" for k in (1, 10, 50, 100))
          + f" KiB (peak {peak:.0f} KiB); RSS " + " / ".join(f"{rss[k]:.0f}" for k in (1, 10, 50, 100))
          + f" MiB; growth from page 10 to 100: {growth:+.0f} KiB: flat {verdict(abs(growth) < 512)} "
          f"({load_consecutive})")
    print("\n| offset | page | offset paging (ms) | cursor paging (ms) | offset / cursor |")
    print("|---|---|---|---|---|")
    for o in offsets:
        page = o // PAGE + 1
        cur = median(cursor_times[o]) * 1000
        if o in offset_errors and not offset_times[o]:
            print(f"| {o:,} | {page:,} | error: {offset_errors[o]} | {cur:.1f} | – |")
            continue
        off = median(offset_times[o]) * 1000
        note = " (past real Milvus's 16,384 window)" if o + PAGE > 16384 else ""
        print(f"| {o:,}{note} | {page:,} | {off:.1f} | {cur:.1f} | {off / cur:.1f}x |")
    print(f"\n(offset table: {load_offsets})")
    print(f"\n- key scans for a cold jump to page 500: {median(trimmed) * 1000:.0f} ms for the "
          f"{need:,} keys needed (the pager now) vs {median(full) * 1000:.0f} ms for two full {MAX_WINDOW:,}-key "
          f"windows (the pager before), medians of {args.repeat} alternating runs ({load_scans})")
    print("\n| while a user pages (a fetch, 0.25 s, the next…) | page fetch p50 (ms) | page fetch max (ms) | "
          "loop lag p99 (ms) | loop lag max (ms) | fetches |")
    print("|---|---|---|---|---|---|")
    for name in contention:
        fetch, lag = contention[name]
        f, g = summary_ms(fetch), summary_ms(lag)
        print(f"| {name} | {f['p50']:.1f} | {f['max']:.1f} | {g['p99']:.1f} | {g['max']:.1f} | {len(fetch)} |")
    print(f"\n(contention table: {load_contention})")


async def _contention(conn, info, run_fill, repeat: int) -> dict[str, tuple[list[float], list[float]]]:  # noqa: ANN001
    """Pages of a known pager fetched through the async client with 0.25 s between them (a
    user pressing n), and a 10 ms heartbeat's lag, while a thread fills a new pager's
    boundaries as the app does (waiting while a page is in flight, resting), greedily, or
    not at all (a thread that sleeps as long as the slowest fill so far)."""
    from tui.milvus import Pager

    known = Pager(info, page_size=PAGE)
    await conn.arun(known.goto(0))
    variants = {"the app's fill (waits for pages, rests)": True, "a greedy fill (50 ms rests)": False,
                "no fill": None}
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in variants}
    span = 0.0
    for _ in range(repeat):
        for name, polite in variants.items():
            took = await _while_filling(conn, info, run_fill, known, polite, span, *out[name])
            span = max(span, took)
    return out


async def _while_filling(conn, info, run_fill, known, polite: bool | None, span: float,  # noqa: ANN001
                         fetches: list[float], lags: list[float]) -> float:
    from tui.milvus import Pager

    done, busy = threading.Event(), threading.Event()
    took = 0.0

    def fill() -> None:
        nonlocal took
        if polite is None:
            time.sleep(span)
        else:
            pager = Pager(info, page_size=PAGE)
            conn.run(pager.goto(0))
            took = run_fill(pager, busy, polite)[0]
        done.set()

    async def heartbeat() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(max(0.0, time.perf_counter() - t0 - 0.01))

    async def pages() -> None:
        page = 0
        while not done.is_set():
            busy.set()
            t0 = time.perf_counter()
            await conn.arun(known.goto(page % 20))
            fetches.append(time.perf_counter() - t0)
            busy.clear()
            page += 1
            await asyncio.sleep(0.25)

    worker = threading.Thread(target=fill)
    worker.start()
    await asyncio.gather(heartbeat(), pages())
    worker.join()
    return took


if __name__ == "__main__":
    main()
