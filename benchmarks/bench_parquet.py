"""Issue 15: exporting 100k entities to Parquet versus JSONL, time, file size and peak memory.

One collection (``id`` INT64, ``vector`` FLOAT_VECTOR 256, ``text`` VARCHAR, ``grp`` INT64;
100k entities, built once and cached under ``benchmarks/.data/parquet``) on a ``milvus-lite
server`` child. Each export runs the app's own path (``Session.export``, the same intent the
CLI's ``export`` and the app's export dialog run) in a fresh Python process, so its peak memory
is its own: the child connects and describes the collection, notes its resident set size
(baseline), exports, then reports the peak resident set size (``ru_maxrss``) and, for Parquet,
the peak of pyarrow's memory pool (Arrow buffers are not Python objects, so tracemalloc would
not see them). Formats alternate within each repeat (JSONL first in odd repeats), so both
share the machine's state; each repeat ends with the floor, the same reads with no file
(the primary-key cursor, 1000 a batch, float32 vectors). A smaller export (``--small``, default 20k entities of the same
collection, by a filter) shows whether the peak grows with the number of entities: streaming
means it should not.

    .venv/bin/python benchmarks/bench_parquet.py [--rows 100000] [--repeats 3] [--small 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, describe_info, ensure_dataset, header, load_now, median, rss_mb  # noqa: E402

DIM = 256
COLLECTION = "parquet_bench"
FORMATS = ("jsonl", "parquet")


def child(uri: str, fmt: str, out: str, expr: str) -> None:
    """One export in this process; prints a JSON line with its figures."""
    from tui.milvus import MilvusConnection
    from tui.session import Session

    conn = MilvusConnection(uri)
    conn.open()
    session = Session(conn, None)
    info = session.run(session.describe(COLLECTION))
    if fmt == "parquet":
        import pyarrow  # noqa: F401 - imported before the baseline, as the export would
        import pyarrow.parquet  # noqa: F401
    base = rss_mb()
    t0 = time.perf_counter()
    if fmt == "read":
        rows = conn.run(read_only(info, expr))
        Path(out).write_bytes(b"")
    else:
        rows = session.run(session.export(info, Path(out), expr=expr, fmt=fmt)).rows
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    arrow_peak = 0.0
    if fmt == "parquet":
        import pyarrow as pa

        arrow_peak = pa.default_memory_pool().max_memory() / 2**20
    conn.close()
    print(json.dumps({"fmt": fmt, "rows": rows, "s": elapsed, "base_mb": base, "peak_mb": peak,
                      "arrow_peak_mb": arrow_peak, "bytes": Path(out).stat().st_size}))


def read_only(info: Any, expr: str, batch_size: int = 1000) -> Any:
    """The floor: the export's reads (the same primary-key cursor and batch size, float32
    vectors as the Parquet export asks for them), no file."""
    from tui.milvus.queries import rows_after

    cursor, total = None, 0
    while True:
        rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, strict_float32=True)
        total += len(rows)
        if len(rows) < batch_size:
            return total
        cursor = rows[-1][info.primary.name]


def run_child(uri: str, fmt: str, out: Path, expr: str = "") -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", uri, fmt, str(out), expr]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"child failed ({fmt}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=20_000)
    args = parser.parse_args()

    from tui.milvus import MilvusConnection
    from tui.milvus.lite import LiteServer

    header(f"Parquet vs JSONL export, {args.rows:,} entities x {DIM}-dim float vectors + text")
    with LiteServer(DATA / "parquet") as server:
        conn = MilvusConnection(server.uri)
        conn.open()
        data = ensure_dataset(conn.client, COLLECTION, args.rows, DIM, index_type="FLAT")
        conn.close()
        print(f"- data set: {describe_info(data)}")
        results: dict[str, list[dict[str, Any]]] = {f: [] for f in (*FORMATS, "read")}
        small: dict[str, list[dict[str, Any]]] = {f: [] for f in FORMATS}
        with tempfile.TemporaryDirectory(dir=DATA) as tmp:
            for repeat in range(args.repeats):
                order = FORMATS if repeat % 2 == 0 else FORMATS[::-1]
                for fmt in (*order, "read"):
                    out = Path(tmp) / f"export.{fmt}"
                    figures = run_child(server.uri, fmt, out)
                    assert figures["rows"] == args.rows, figures
                    results[fmt].append(figures)
                    print(f"  repeat {repeat + 1} {fmt:8s} {figures['s']:6.2f} s  peak {figures['peak_mb']:7.1f} MiB"
                          f"  ({load_now()})", file=sys.stderr)
                    out.unlink(missing_ok=True)
            if args.small:
                for fmt in FORMATS:
                    out = Path(tmp) / f"small.{fmt}"
                    figures = run_child(server.uri, fmt, out, f"id < {args.small}")
                    assert figures["rows"] == args.small, figures
                    small[fmt].append(figures)
                    out.unlink()

    def med(fmt: str, key: str, table: dict[str, list[dict[str, Any]]] = results) -> float:
        return median([r[key] for r in table[fmt]])

    print(f"\n{args.repeats} exports per format, medians; each export in its own process.\n")
    print("| | JSONL | Parquet | Parquet / JSONL |")
    print("|---|---|---|---|")
    rows = [
        ("export time (s)", "s", "{:.2f}"),
        ("file size (MiB)", "bytes", "{:.1f}"),
        ("peak resident set (MiB)", "peak_mb", "{:.0f}"),
        ("peak growth during the export (MiB)", None, "{:.0f}"),
    ]
    for label, key, form in rows:
        if key is None:
            j = median([r["peak_mb"] - r["base_mb"] for r in results["jsonl"]])
            p = median([r["peak_mb"] - r["base_mb"] for r in results["parquet"]])
        else:
            scale = 2**20 if key == "bytes" else 1
            j, p = med("jsonl", key) / scale, med("parquet", key) / scale
        print(f"| {label} | {form.format(j)} | {form.format(p)} | {p / j:.2f}x |")
    print(f"| the reads alone, no file (s) | {med('read', 's'):.2f} | {med('read', 's'):.2f} | |")
    print(f"| entities per second | {args.rows / med('jsonl', 's'):,.0f} | {args.rows / med('parquet', 's'):,.0f} | "
          f"{med('jsonl', 's') / med('parquet', 's'):.2f}x |")
    print(f"\npyarrow memory pool peak during the Parquet export: {med('parquet', 'arrow_peak_mb'):.1f} MiB")
    if args.small:
        print(f"\nBounded memory: peak growth during the export, {args.small:,} vs {args.rows:,} entities "
              "(one run each for the small one):\n")
        print(f"| format | {args.small:,} entities (MiB) | {args.rows:,} entities (MiB) |")
        print("|---|---|---|")
        for fmt in FORMATS:
            s = small[fmt][0]["peak_mb"] - small[fmt][0]["base_mb"]
            b = median([r["peak_mb"] - r["base_mb"] for r in results[fmt]])
            print(f"| {fmt} | {s:.0f} | {b:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
