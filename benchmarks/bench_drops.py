"""Issue 14's drops: a backed-up drop and its restore vs the bare pymilvus calls they are built from.

One collection (``id`` INT64, ``vec`` FLOAT_VECTOR, ``tag`` VARCHAR, ``score`` FLOAT; FLAT
index; loaded) on a ``milvus-lite server`` child, made with pymilvus. Each repeat runs, on the
same collection (each restore brings it back for the next), order alternating:

- **app**: ``Session.preview_drop`` (definition, key scan at Strong, a packed sample, the
  disk's answer), ``Session.drop_backed_up`` (key scan again, every entity to a format-3
  backup, fsync, drop), then ``Session.restore`` (re-create schema, index, partitions; load;
  upsert every entity in batches of 1000; flush);
- **raw**: the same work by hand with pymilvus and nothing else: a primary-key cursor scan
  (``id > last``, 16384 a query, every field, ``strict_float32``) writing JSON lines with the
  vectors as base64 float32 and an fsync, ``drop_collection``; then ``create_collection`` with
  the same schema and index, ``load_collection``, ``upsert`` of the file's entities in batches of
  1000, ``flush``.

Wall time per phase and the peak resident memory of this process (the client side: Lite runs in
its own process) sampled every 10 ms, per pass. Ratios are app / raw in the same repeat.

    .venv/bin/python benchmarks/bench_drops.py [--rows 10000,100000] [--repeats 2] [--dim 64]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, load_now, median  # noqa: E402

BATCH = 1000


class PeakRss:
    """The largest resident set of this process while the block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.01)

    def __enter__(self) -> PeakRss:
        self.base = self._rss()
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def grew_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def schema_and_index(dim: int) -> tuple[Any, Any]:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    schema.add_field("score", DataType.FLOAT)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    return schema, index


def make(client: Any, name: str, rows: int, dim: int) -> None:
    import numpy as np

    schema, index = schema_and_index(dim)
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    rng = np.random.default_rng(7)
    for start in range(0, rows, 5000):
        n = min(5000, rows - start)
        vecs = rng.random((n, dim), dtype=np.float32)
        client.insert(name, [{"id": start + i, "vec": vecs[i], "tag": f"t{(start + i) % 97}",
                              "score": float(i % 13)} for i in range(n)])
    client.flush(name)
    client.load_collection(name)


def app_pass(uri: str, name: str, backup_dir: Path) -> dict[str, float]:
    from tui.milvus import MilvusConnection
    from tui.session import Session

    conn = MilvusConnection(uri)
    conn.open()
    svc = Session(conn, None, backup_dir=backup_dir, audit_path=backup_dir / "audit.jsonl")
    out: dict[str, float] = {}
    try:
        with PeakRss() as mem:
            t = time.perf_counter()
            preview = svc.run(svc.preview_drop(name))
            out["preview"] = time.perf_counter() - t
            t = time.perf_counter()
            report = svc.run(svc.drop_backed_up(name, preview))
            out["backup+drop"] = time.perf_counter() - t
            t = time.perf_counter()
            restored = svc.run(svc.restore(Path(report.backup_path)))
            out["restore"] = time.perf_counter() - t
        assert restored.restored == preview.count == report.backed_up
        out["peak_mb"] = mem.grew_mb
        out["estimate/real"] = preview.estimate_bytes / report.backup_bytes
        Path(report.backup_path).unlink()
    finally:
        svc.close()
    return out


def raw_pass(uri: str, name: str, backup_dir: Path, dim: int) -> dict[str, float]:
    import numpy as np
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    out: dict[str, float] = {}
    path = backup_dir / f"raw-{name}.jsonl"
    try:
        with PeakRss() as mem:
            t = time.perf_counter()
            written = 0
            with open(path, "w", encoding="utf-8") as handle:
                last = None
                while True:
                    where = "" if last is None else f"id > {last}"
                    rows = client.query(name, filter=where, output_fields=["*"], limit=16384,
                                        consistency_level="Strong", strict_float32=True)
                    rows = sorted(rows, key=lambda r: r["id"])
                    lines = []
                    for r in rows:
                        r = dict(r)
                        r["vec"] = base64.b64encode(np.asarray(r["vec"], dtype="<f4").tobytes()).decode()
                        lines.append(json.dumps(r) + "\n")
                    handle.write("".join(lines))
                    written += len(rows)
                    if len(rows) < 16384:
                        break
                    last = rows[-1]["id"]
                handle.flush()
                os.fsync(handle.fileno())
            client.drop_collection(name)
            out["backup+drop"] = time.perf_counter() - t
            t = time.perf_counter()
            schema, index = schema_and_index(dim)
            client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
            client.load_collection(name)
            sent = 0
            with open(path, encoding="utf-8") as handle:
                batch: list[dict[str, Any]] = []
                for line in handle:
                    r = json.loads(line)
                    r["vec"] = np.frombuffer(base64.b64decode(r["vec"]), dtype="<f4")
                    batch.append(r)
                    if len(batch) == BATCH:
                        client.upsert(name, batch)
                        sent += len(batch)
                        batch = []
                if batch:
                    client.upsert(name, batch)
                    sent += len(batch)
            client.flush(name)
            out["restore"] = time.perf_counter() - t
        assert sent == written
        out["peak_mb"] = mem.grew_mb
        out["preview"] = 0.0
        path.unlink()
    finally:
        client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    from pymilvus import MilvusClient

    from tui.milvus.lite import LiteServer

    header("bench_drops: backed-up drop + restore vs bare pymilvus (Milvus Lite child)")
    with tempfile.TemporaryDirectory() as tmp:
        server = LiteServer(Path(tmp) / "data")
        server.start()
        try:
            client = MilvusClient(uri=server.uri)
            for rows in [int(x) for x in args.rows.split(",")]:
                name = f"bench_drop_{rows}"
                t = time.perf_counter()
                make(client, name, rows, args.dim)
                print(f"\n{rows:,} rows x dim {args.dim}: made in {time.perf_counter() - t:.1f} s ({load_now()})")
                results: dict[str, list[dict[str, float]]] = {"app": [], "raw": []}
                for rep in range(args.repeats):
                    order = ["app", "raw"] if rep % 2 == 0 else ["raw", "app"]
                    for who in order:
                        backups = Path(tmp) / f"b-{who}-{rows}-{rep}"
                        backups.mkdir()
                        run = app_pass(server.uri, name, backups) if who == "app" else raw_pass(
                            server.uri, name, backups, args.dim)
                        results[who].append(run)
                        print(f"  repeat {rep + 1} {who}: " + ", ".join(
                            f"{k} {v:.2f}" + ("" if k in ("peak_mb", "estimate/real") else " s")
                            for k, v in run.items()) + f" ({load_now()})")
                print(f"  median of {args.repeats}:   {'phase':<12} {'app':>8} {'raw':>8} {'app/raw':>8}")
                for phase in ("preview", "backup+drop", "restore", "peak_mb"):
                    a = median([r[phase] for r in results["app"]])
                    b = median([r[phase] for r in results["raw"]])
                    ratio = f"{a / b:.2f}x" if b else "-"
                    unit = " MB" if phase == "peak_mb" else " s"
                    print(f"  {'':<16}{phase:<12} {a:>7.2f}{unit[1]} {b:>7.2f}{unit[1]} {ratio:>8}")
                total_a = median([r["preview"] + r["backup+drop"] + r["restore"] for r in results["app"]])
                total_b = median([r["backup+drop"] + r["restore"] for r in results["raw"]])
                print(f"  {'':<16}{'total':<12} {total_a:>7.2f}s {total_b:>7.2f}s {total_a / total_b:>7.2f}x")
                print(f"  backup size estimate / real: {median([r['estimate/real'] for r in results['app']]):.3f}")
                client.drop_collection(name)
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
