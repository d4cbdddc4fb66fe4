"""Target 3: paging cost does not grow with the page number (primary-key cursors).

On a 100k-row collection (cached under ``benchmarks/.data/paging``; 64-dim vectors, all
fields fetched, 50 rows a page, as the app pages), through the app's own ``Pager`` and
the sync driver on a Milvus Lite child:

- page 500 vs page 1 once the page boundaries are known (the pager has been there), and
  cold (a new pager: count + primary-key scans to find the boundary, then the page);
- the last page, cold (``goto(-1)``), and that it really holds the last rows;
- 100 consecutive pages: per-page time and memory (tracemalloc and RSS) along the way;
- offset paging (``query(offset=..., limit=50)``) at growing offsets, in the same run.
  Real Milvus rejects ``offset + limit > 16384``; Milvus Lite accepts it, so its cost
  past that point is shown too.

Each timing is the median of ``--repeat`` alternating runs.

    .venv/bin/python benchmarks/bench_paging.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, describe_info, ensure_dataset, header, load_now, median, rss_mb, verdict  # noqa: E402

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
        # 2) cold: a new pager for every fetch (count, and key scans up to the page).
        cold_1, cold_500, cold_last = [], [], []
        last_rows: list = []
        for _ in range(args.repeat):
            cold_1.append(t_goto(Pager(info, page_size=PAGE), 0)[0])
            cold_500.append(t_goto(Pager(info, page_size=PAGE), 499)[0])
            t, last_rows = t_goto(Pager(info, page_size=PAGE), -1)
            cold_last.append(t)
        last_ok = bool(last_rows) and last_rows[-1]["id"] == ROWS - 1 and len(last_rows) == PAGE
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
        conn.close()

    r_known = median(known_500) / median(known_1)
    r_cold = median(cold_500) / median(cold_1)
    print("\n| fetch | page 1 (ms) | page 500 (ms) | ratio | target | machine |")
    print("|---|---|---|---|---|---|")
    print(f"| boundaries known (same pager) | {median(known_1) * 1000:.1f} | {median(known_500) * 1000:.1f} | "
          f"{r_known:.2f}x | ≤ 1.5x: {verdict(r_known <= 1.5)} | {load_paging} |")
    print(f"| cold (new pager: count + key scans + page) | {median(cold_1) * 1000:.1f} | "
          f"{median(cold_500) * 1000:.1f} | {r_cold:.2f}x | ≤ 1.5x: {verdict(r_cold <= 1.5)} | {load_paging} |")
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


if __name__ == "__main__":
    main()
