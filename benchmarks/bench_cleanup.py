"""Target 5: bulk cleanup, a 50k-row delete with a backup vs the same delete without one.

Two identical fresh collections (60k rows, 256-dim vectors like the local model's,
``grp = id % 6``) on a Milvus Lite child; the filter ``grp < 5`` matches 50,000 rows in
each. With the app's own data layer (``tui.milvus.cleanup``, sync driver):

- ``preview_delete`` (Strong count + key capture), the same for both;
- ``execute_delete`` with ``backup_dir`` (every entity, vectors included, streamed to
  JSONL in batches, fsynced, then deleted by key) vs ``backup_dir=None`` (raw delete of
  the same keys in the same batches).

The two alternate (raw first in round 1, backup first in round 2) on freshly built
collections. Just before each raw delete, the floor: plain pymilvus queries of the same keys
with every field (what any backup must read), results unread. Python heap is traced during
a backed-up delete (tracemalloc peak), and compared with holding the 50k entities in a list.
The backup's line count must equal the number deleted, and the collections must end with
10,000 rows. Then the backup phase alone, one variant per step of the format-2 change
(``backup_steps``), side by side on one more fresh collection.

    .venv/bin/python benchmarks/bench_cleanup.py [--rounds 2] [--rows 60000] [--no-steps] [--index FLAT] [--warm]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import create_collection, header, insert_rows, load_now, median, rss_mb, timed, verdict  # noqa: E402

DIM = 256
GROUPS = 6
FILTER = "grp < 5"


def build(client, name: str, rows: int, index_type: str = "AUTOINDEX") -> float:  # noqa: ANN001
    if client.has_collection(name):
        client.drop_collection(name)
    t0 = time.perf_counter()
    create_collection(client, name, DIM, index_type=index_type)
    insert_rows(client, name, rows, DIM, groups=GROUPS, progress=False)
    client.flush(name)
    return time.perf_counter() - t0


class RssPeak:
    """Samples this process's RSS every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        import threading

        self.peak = self.start = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def bare_fetch(conn, name: str, keys: tuple) -> float:  # noqa: ANN001
    """Seconds for plain pymilvus queries of these keys with every field (the backup's reads,
    1000 keys a query, float vectors as float32 arrays), results dropped unread: the floor."""
    from tui.milvus import expr as exprs

    t0 = time.perf_counter()
    for i in range(0, len(keys), 1000):
        batch = list(keys[i:i + 1000])
        conn.client.query(name, filter=exprs.in_list("id", batch), output_fields=["*"], limit=len(batch),
                          consistency_level="Strong", strict_float32=True)
    return time.perf_counter() - t0


def one_delete(conn, name: str, backup_dir: Path | None, audit: Path, *, expr: str = FILTER,  # noqa: ANN001
               trace: bool = False, floor: bool = False) -> dict:
    from tui.milvus import catalog as catalog_ops
    from tui.milvus import cleanup

    info = conn.run(catalog_ops.describe(name))
    t_preview, preview = timed(lambda: conn.run(cleanup.preview_delete(info, expr=expr)))
    t_floor = bare_fetch(conn, name, preview.keys) if floor else None
    gc.collect()
    if trace:
        tracemalloc.start()
    with RssPeak() as rss:
        t_delete, report = timed(lambda: conn.run(cleanup.execute_delete(info, preview, backup_dir=backup_dir,
                                                                         audit_path=audit)))
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    remaining = conn.run(catalog_ops.count(name))
    lines = None
    size = 0
    if report.backup_path:
        path = Path(report.backup_path)
        size = path.stat().st_size
        with open(path, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh) - 1  # minus the header line
        path.unlink()
    return {"preview": t_preview, "delete": t_delete, "floor": t_floor, "matched": preview.count, "deleted": report.deleted,
            "backed_up": report.backed_up, "lines": lines, "size_mb": size / 2**20, "peak_mb": peak,
            "rss_peak": rss.peak - rss.start, "remaining": remaining, "load": load_now()}


def backup_steps(conn, name: str, keys: list, out_dir: Path) -> dict[str, float]:  # noqa: ANN001, C901
    """Seconds for the backup phase alone (fetch + encode + write + fsync of ``keys``, no delete),
    one variant per step of the change, so each step is measured against the previous one:

    - ``v1``: format 1 as before this change: fetch (pymilvus builds a Python float per vector
      component), ``values.dumps`` (floats as JSON text), write, one batch after another;
    - ``v2_seq``: format 2 (vectors packed as base64 float32), same fetch, same sequence;
    - ``v2_strict``: format 2, fetched with ``strict_float32`` (float32 arrays), same sequence;
    - ``v2_pipelined``: what ``execute_delete`` does (``cleanup.write_backup``): the same, with
      batch N encoded and written on a writer thread while batch N+1 is fetched;
    - ``fetch_only``: the floor: the same queries (strict_float32), results dropped unread.
    """
    import os

    from tui.milvus import catalog as catalog_ops
    from tui.milvus import expr as exprs
    from tui.milvus.cleanup import write_backup
    from tui.milvus.queries import get_entities
    from tui.milvus.values import dumps, pack_line, vector_packing

    info = conn.run(catalog_ops.describe(name))
    packing = vector_packing(info)
    batches = [keys[i:i + 1000] for i in range(0, len(keys), 1000)]

    def strict_fetch(batch: list) -> Any:
        return conn.client.query(name, filter=exprs.in_list("id", batch), output_fields=["*"], limit=len(batch),
                                 consistency_level="Strong", strict_float32=True)

    def sequential(path: Path, fetch, encode) -> None:  # noqa: ANN001
        with open(path, "x", encoding="utf-8") as fh:
            fh.write("{}\n")
            for batch in batches:
                rows = fetch(batch)
                fh.write("".join([encode(r) + "\n" for r in rows]))
            fh.flush()
            os.fsync(fh.fileno())

    def v1(path: Path) -> None:
        sequential(path, lambda b: conn.run(get_entities(info, b)), dumps)

    def v2_seq(path: Path) -> None:
        sequential(path, lambda b: conn.run(get_entities(info, b)), lambda r: pack_line(r, packing))

    def v2_strict(path: Path) -> None:
        sequential(path, strict_fetch, lambda r: pack_line(r, packing))

    def v2_pipelined(path: Path) -> None:
        conn.run(write_backup(info, keys, path, {"format": "bench"}))

    def fetch_only(path: Path) -> None:
        for batch in batches:
            strict_fetch(batch)

    variants = {"v1": v1, "v2_seq": v2_seq, "v2_strict": v2_strict, "v2_pipelined": v2_pipelined,
                "fetch_only": fetch_only}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for rnd in range(2):
        order = list(variants) if rnd == 0 else list(reversed(variants))
        for kind in order:
            path = out_dir / f"{kind}-{rnd}.jsonl"
            gc.collect()
            t, _ = timed(lambda fn=variants[kind], path=path: fn(path))
            times[kind].append(t)
            if path.exists():
                lines = sum(1 for _ in open(path, encoding="utf-8")) - 1
                assert lines == len(keys), (kind, lines)
                times.setdefault(f"{kind}_mb", []).append(path.stat().st_size / 2**20)
                path.unlink()
        print(f"  steps round {rnd + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()
                                                      if not k.endswith("_mb")) + f" ({load_now()})", file=sys.stderr)
    return {k: median(v) for k, v in times.items()} | {"load": load_now()}


def materialized_mb(conn, name: str, n: int) -> float:  # noqa: ANN001
    """What holding n entities in a list would cost: one 1000-entity batch traced, times n/1000."""
    from tui.milvus import catalog as catalog_ops
    from tui.milvus.queries import get_entities

    info = conn.run(catalog_ops.describe(name))
    keys = [r["id"] for r in conn.client.query(name, filter="", limit=1000, output_fields=["id"])]
    gc.collect()
    tracemalloc.start()
    rows = conn.run(get_entities(info, keys))
    size = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del rows
    return size * n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--no-steps", action="store_true", help="skip the backup-phase variants (~2 min)")
    parser.add_argument("--index", default="AUTOINDEX",
                        help="vector index of the collections: AUTOINDEX (HNSW on Lite, which Lite builds in the "
                             "background after the flush, in the server process, for minutes) or FLAT (nothing "
                             "to build, so the deletes meet a settled server)")
    parser.add_argument("--warm", action="store_true",
                        help="before the deletes, read every matching entity of both collections once (untimed), "
                             "so Lite's post-flush work is over and both deletes meet a settled collection")
    args = parser.parse_args()
    header("Target 5: bulk cleanup")

    from tui.milvus import MilvusConnection
    from tui.milvus.lite import LiteServer

    results: dict[str, list[dict]] = {"backup": [], "raw": []}
    builds = []
    warmups: list[float] = []
    steps = None
    with tempfile.TemporaryDirectory() as tmp, LiteServer(Path(tmp) / "data") as server:
        conn = MilvusConnection(server.uri)
        conn.open()
        audit = Path(tmp) / "audit.jsonl"
        estimate = None
        for rnd in range(args.rounds):
            order = ("raw", "backup") if rnd % 2 == 0 else ("backup", "raw")
            for kind in order:
                builds.append(build(conn.client, f"cleanup_{kind}", args.rows, args.index))
            if estimate is None:
                estimate = materialized_mb(conn, "cleanup_raw", args.rows * (GROUPS - 1) // GROUPS)
            if args.warm:
                matching = tuple(i for i in range(args.rows) if i % GROUPS < GROUPS - 1)
                for kind in order:
                    warmups.append(bare_fetch(conn, f"cleanup_{kind}", matching))
            for kind in order:
                print(f"  round {rnd + 1}: {kind} delete", file=sys.stderr)
                backup_dir = Path(tmp) / "backups" if kind == "backup" else None
                results[kind].append(one_delete(conn, f"cleanup_{kind}", backup_dir, audit, floor=kind == "raw"))
        # Heap, traced (slow: not timed): a backed-up delete of the 10,000 rows left in one collection.
        traced = one_delete(conn, "cleanup_backup", Path(tmp) / "backups", audit, expr="grp == 5", trace=True)
        if not args.no_steps:
            builds.append(build(conn.client, "cleanup_steps", args.rows, args.index))
            keys = [i for i in range(args.rows) if i % GROUPS < GROUPS - 1]
            steps = backup_steps(conn, "cleanup_steps", keys, Path(tmp))
        conn.close()

    raw, bak = results["raw"], results["backup"]
    ratio = median([r["delete"] for r in bak]) / median([r["delete"] for r in raw])
    total_ratio = (median([r["delete"] + r["preview"] for r in bak])
                   / median([r["delete"] + r["preview"] for r in raw]))
    floor_ratio = median([r["floor"] for r in raw]) / median([r["delete"] for r in raw])
    print(f"\nData: {args.rows:,} rows x {DIM} dims per collection ({args.index} index), filter `{FILTER}` matches "
          f"{bak[0]['matched']:,}; collections rebuilt for every round (build median {median(builds):.1f} s, "
          f"not timed)"
          + (f"; warmed: every matching entity read once before the deletes (first reads "
             f"{', '.join(f'{w:.1f}' for w in warmups)} s, not timed)" if warmups else "") + ".\n")
    print("| round | delete | preview (s) | delete (s) | matched | deleted | backup lines | backup size | "
          "RSS peak during delete | rows left | machine |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i in range(args.rounds):
        for kind, r in (("with backup", bak[i]), ("raw (no backup)", raw[i])):
            print(f"| {i + 1} | {kind} | {r['preview']:.2f} | {r['delete']:.2f} | {r['matched']:,} | "
                  f"{r['deleted']:,} | {r['lines'] if r['lines'] is not None else '–'} | "
                  f"{r['size_mb']:.0f} MiB | {r['rss_peak']:+.0f} MiB | {r['remaining']:,} | {r['load']} |")
    lines_ok = all(r["lines"] == r["deleted"] == r["matched"] for r in bak)
    left_ok = all(r["remaining"] == args.rows - r["matched"] for r in bak + raw)
    rss_peak = max(r["rss_peak"] for r in bak)
    print(f"\n- delete with backup / raw delete (median of {args.rounds}): {ratio:.2f}x; including the shared "
          f"preview: {total_ratio:.2f}x (target ≤ 2x): {verdict(ratio <= 2.0)}")
    print(f"- the floor, same collections, just before each raw delete: plain pymilvus queries of the "
          f"{raw[0]['matched']:,} keys with every field, results unread: "
          + ", ".join(f"{r['floor']:.2f} s" for r in raw)
          + f" = {floor_ratio:.2f}x the raw delete (median); a backup cannot read the entities faster than that, "
          f"so the best possible backed-up delete is ~{floor_ratio + 1:.1f}x")
    print(f"- memory: RSS peak during the backed-up 50k delete {rss_peak:+.0f} MiB (raw delete "
          f"{max(r['rss_peak'] for r in raw):+.0f} MiB); Python heap peak (tracemalloc) of a backed-up delete of "
          f"{traced['matched']:,} rows {traced['peak_mb']:.1f} MiB; holding {bak[0]['matched']:,} entities as a list "
          f"would take ~{estimate:.0f} MiB (measured on a 1000-entity batch): bounded "
          f"{verdict(rss_peak < (estimate or 0) / 4 and traced['lines'] == traced['deleted'])}")
    print(f"- backup line count == deleted == previewed in every round: {verdict(lines_ok)}; rows left "
          f"correct: {verdict(left_ok)}")
    if steps:
        print(f"\nThe backup phase alone (no delete), {len(keys):,} entities, one fresh collection, each variant "
              f"twice in alternating order, medians ({steps['load']} at the end):\n")
        print("| variant | backup phase (s) | vs previous | backup size |")
        print("|---|---|---|---|")
        prev = None
        names = {"v1": "format 1 (before): Python floats, JSON numbers, sequential",
                 "v2_seq": "format 2: vectors base64 float32, same fetch, sequential",
                 "v2_strict": "format 2 + fetch with strict_float32, sequential",
                 "v2_pipelined": "format 2 + strict + writer thread (`write_backup`, what ships)",
                 "fetch_only": "floor: the same queries alone, results unread"}
        for kind, label in names.items():
            rel = f"{steps[kind] / prev:.2f}x" if prev else "–"
            size = f"{steps[kind + '_mb']:.0f} MiB" if kind + "_mb" in steps else "–"
            print(f"| {label} | {steps[kind]:.2f} | {rel} | {size} |")
            prev = steps[kind]


if __name__ == "__main__":
    main()
