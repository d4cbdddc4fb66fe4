"""Issue 10's undo targets: delete-with-backup and restore vs their raw pymilvus counterparts.

One collection per case, 50k entities (``id`` INT64, ``vec`` FLOAT_VECTOR 256 with a FLAT
index, ``grp`` INT64, ``tag`` VARCHAR, ``score`` FLOAT), made with pymilvus directly. Each
repeat is a pair on the same collection, order alternating (app first in repeats 1 and 3):

- **app**: ``preview_delete`` by the filter ``grp >= 0`` (all 50k), ``execute_delete`` with a
  backup directory, then ``restore`` of that backup (the app's sync driver);
- **raw**: a pymilvus ``delete`` of the same keys in the same batches (1000), then a pymilvus
  ``insert`` (Go) or ``upsert`` (Lite) of the same entities (float32 arrays, batches of 1000)
  and a ``flush`` (the restore ends with one too). On Lite, just before the raw delete, the
  floor: the app's own fetch of every entity (``get_entities``, 1000 keys a batch,
  ``strict_float32``, as the backup reads them), no file written. Before every raw delete,
  the **bare floors**: a bare pymilvus ``query`` of the same keys (1000 a call,
  ``strict_float32``) at Strong, at Eventually and (Go) with one ``AllocTimestamp`` as the
  guarantee timestamp ("Customized", what the backup now does).
- **old** (``--compare``): the app pass with the backup's reads at Strong per batch (the
  behaviour before ``read_point``), in the same repeat, so before and after share the machine.

Cases: the Go Milvus 2.3.5 server (``scripts/milvus_server.py``, free ports) with an
``auto_id=False`` collection (restore = upsert keeping the keys) and an ``auto_id=True`` one
(restore = insert with new keys, a journal and a key map); a ``milvus-lite server`` child with
an ``auto_id=False`` collection. Per-phase times come from timing each request the driver
carries out (``ops._step``): preview; backup (fetch + write + fsync) and delete; restore
read/parse (file reads, JSON, base64, the generator's own work), present-check queries,
journal writes, send (upsert/insert calls), flush.

    .venv/bin/python benchmarks/bench_undo.py [--rows 50000] [--repeats 3] [--only go|lite] [--compare]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, header, load_now, median, timed, verdict  # noqa: E402

DIM = 256
BATCH = 1000
FILTER = "grp >= 0"


# -- data -----------------------------------------------------------------------------------


def entities(n: int, *, with_keys: bool) -> list[dict[str, Any]]:
    """Deterministic entities, float vectors as float32 arrays (what a restore sends)."""
    import numpy as np

    rng = np.random.default_rng(10)
    vecs = rng.random((n, DIM), dtype=np.float32)
    rows = []
    for i in range(n):
        row = {"vec": vecs[i], "grp": i % 7, "tag": f"tag-{i % 97}", "score": float(i % 1000) / 10}
        if with_keys:
            row["id"] = i
        rows.append(row)
    return rows


def build(client: Any, name: str, rows: list[dict[str, Any]], auto_id: bool) -> float:
    from pymilvus import DataType

    t0 = time.perf_counter()
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("grp", DataType.INT64)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    schema.add_field("score", DataType.FLOAT)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Bounded")
    for i in range(0, len(rows), 5000):
        client.insert(name, rows[i:i + 5000])
    client.flush(name)
    client.load_collection(name)
    return time.perf_counter() - t0


# -- instrumentation ------------------------------------------------------------------------


class Meter:
    """Seconds spent in each kind of request the sync driver carries out (``ops._step``):
    ``call:<method>`` and ``blocking:<function>``; the rest of an operation's wall time is the
    operation's own Python work (parsing, packing) between requests."""

    def __init__(self) -> None:
        self.times: dict[str, float] = defaultdict(float)

    def __enter__(self) -> Meter:
        from tui.milvus import ops

        self._ops = ops
        self._orig = ops._step
        from tui.milvus.ops import Blocking, Call

        def step(client: Any, op: Any, request: Any, ctx: Any) -> Any:
            if isinstance(request, Call):
                key = f"call:{request.method}"
            elif isinstance(request, Blocking):
                key = f"blocking:{getattr(request.fn, '__qualname__', '?')}"
            else:
                key = "other"
            t0 = time.perf_counter()
            try:
                return self._orig(client, op, request, ctx)
            finally:
                self.times[key] += time.perf_counter() - t0

        ops._step = step
        return self

    def __exit__(self, *exc: object) -> None:
        self._ops._step = self._orig

    def take(self, prefix: str) -> float:
        return sum(v for k, v in self.times.items() if k.startswith(prefix))


# -- one pass each --------------------------------------------------------------------------


def count(conn: Any, name: str) -> int:
    rows = conn.client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])


def _no_read_point() -> Any:
    """``read_point`` for a server that gives no timestamp: the backup reads at Strong per batch."""
    return None
    yield  # a generator, like the real one


def app_pass(conn: Any, name: str, tmp: Path, n: int, *, strong_per_batch: bool = False) -> dict[str, Any]:
    from tui.milvus import catalog as catalog_ops
    from tui.milvus import cleanup

    if strong_per_batch:
        saved, cleanup.read_point = cleanup.read_point, _no_read_point  # type: ignore[attr-defined]
        try:
            return app_pass(conn, name, tmp, n)
        finally:
            cleanup.read_point = saved  # type: ignore[attr-defined]
    info = conn.run(catalog_ops.describe(name))
    gc.collect()
    t_preview, preview = timed(lambda: conn.run(cleanup.preview_delete(info, expr=FILTER)))
    assert preview.count == n, (preview.count, n)
    with Meter() as m:
        t_delete, report = timed(lambda: conn.run(cleanup.execute_delete(
            info, preview, backup_dir=tmp / "backups", audit_path=tmp / "audit.jsonl")))
    assert report.deleted == report.backed_up == n, report
    delete_phase = m.take("call:delete")
    fetch = m.take("call:query") + m.take("call:alloc_timestamp")
    left = count(conn, name)
    path = Path(report.backup_path or "")
    size = path.stat().st_size / 2**20
    gc.collect()
    with Meter() as r:
        t_restore, rep = timed(lambda: conn.run(cleanup.restore(path)))
    assert rep.restored == n and rep.skipped == 0, rep
    send = r.take("call:upsert") + r.take("call:insert")
    present = r.take("call:query")
    journal = r.take("blocking:_send")
    flush = r.take("call:flush")
    setup = r.take("call:") - send - present - flush  # describe, server version
    back = count(conn, name)
    result = {
        "preview": t_preview, "delete_total": t_delete, "backup": t_delete - delete_phase, "backup_fetch": fetch,
        "delete": delete_phase, "restore": t_restore, "send": send, "present": present, "journal": journal,
        "flush": flush, "setup": setup, "parse": t_restore - send - present - journal - flush - setup,
        "method": rep.method, "size_mb": size, "left": left, "back": back, "key_map": len(rep.key_map),
        "path": path, "load": load_now(),
    }
    return result


def bare_fetch(client: Any, name: str, keys: list[Any], level: str) -> float:
    """A bare pymilvus fetch of every key, 1000 a query, at ``level`` ("Customized": one
    ``AllocTimestamp`` first, carried by every query as its guarantee timestamp)."""
    from tui.milvus import expr as exprs

    t0 = time.perf_counter()
    kw: dict[str, Any] = {"consistency_level": level}
    if level == "Customized":
        kw["guarantee_timestamp"] = client._get_connection().alloc_timestamp()
    got = 0
    for i in range(0, len(keys), BATCH):
        batch = keys[i:i + BATCH]
        got += len(client.query(name, filter=exprs.in_list("id", batch), output_fields=["*"], limit=len(batch),
                                strict_float32=True, **kw))
    assert got == len(keys), (level, got)
    return time.perf_counter() - t0


def raw_pass(conn: Any, name: str, rows: list[dict[str, Any]], *, write: str, floor: bool,
             levels: tuple[str, ...]) -> dict[str, Any]:
    from tui.milvus import catalog as catalog_ops
    from tui.milvus import cleanup
    from tui.milvus import expr as exprs
    from tui.milvus.queries import get_entities

    info = conn.run(catalog_ops.describe(name))
    keys = list(conn.run(cleanup.preview_delete(info, expr=FILTER)).keys)  # untimed: which keys exist now
    t_floor = None
    gc.collect()
    if floor:
        def fetch() -> None:
            for i in range(0, len(keys), BATCH):
                conn.run(get_entities(info, keys[i:i + BATCH], strict_float32=True))
        t_floor, _ = timed(fetch)
    bare = {level: bare_fetch(conn.client, name, keys, level) for level in levels}

    def delete() -> None:
        for i in range(0, len(keys), BATCH):
            conn.client.delete(name, filter=exprs.in_list("id", keys[i:i + BATCH]))

    t_delete, _ = timed(delete)
    left = count(conn, name)
    method = getattr(conn.client, write)

    def send() -> None:
        for i in range(0, len(rows), BATCH):
            method(name, rows[i:i + BATCH])

    gc.collect()
    t_send, _ = timed(send)
    t_flush, _ = timed(lambda: conn.client.flush(name))
    return {"floor": t_floor, "bare": bare, "delete": t_delete, "send": t_send, "flush": t_flush, "restore": t_send + t_flush,
            "left": left, "back": count(conn, name), "load": load_now()}


def run_case(conn: Any, name: str, auto_id: bool, n: int, repeats: int, tmp: Path, *, write: str,
             floor: bool, levels: tuple[str, ...], compare: bool) -> dict[str, list[dict[str, Any]]]:
    rows = entities(n, with_keys=not auto_id)
    built = build(conn.client, name, rows, auto_id)
    print(f"  {name}: built in {built:.1f} s", file=sys.stderr)
    out: dict[str, list[dict[str, Any]]] = {"app": [], "raw": [], "old": []}
    kinds = ("app", "old", "raw") if compare else ("app", "raw")
    for rnd in range(repeats):
        order = kinds if rnd % 2 == 0 else kinds[::-1]
        for kind in order:
            if kind in ("app", "old"):
                res = app_pass(conn, name, tmp, n, strong_per_batch=kind == "old")
                res["path"].unlink()
                (res["path"].with_name(res["path"].name + ".restored")).unlink(missing_ok=True)
            else:
                res = raw_pass(conn, name, rows, write=write, floor=floor, levels=levels)
            out[kind].append(res)
            assert res["left"] == 0 and res["back"] == n, (kind, res["left"], res["back"])
            print(f"  {name} repeat {rnd + 1} {kind}: delete {res.get('delete_total', res['delete']):.2f} s, "
                  f"restore {res['restore']:.2f} s ({res['load']})", file=sys.stderr)
    conn.client.drop_collection(name)
    return out


# -- report ---------------------------------------------------------------------------------


def report(title: str, res: dict[str, list[dict[str, Any]]], raw_write: str, *, lite: bool) -> None:
    app, raw = res["app"], res["raw"]

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return median([r[key] for r in rows])

    print(f"\n### {title} (restore method: {app[0]['method']})\n")
    print("| repeat | order | preview | backup (fetch) | delete | app delete total | raw delete | "
          + ("floor: fetch | " if lite else "")
          + f"restore: read/parse | present | journal | send | flush | app restore total | raw {raw_write} + flush |"
          " machine |")
    print("|---" * (16 if lite else 15) + "|")
    for i, (a, r) in enumerate(zip(app, raw)):
        print(f"| {i + 1} | {'app first' if i % 2 == 0 else 'raw first'} | {a['preview']:.2f} | "
              f"{a['backup']:.2f} ({a['backup_fetch']:.2f}) | {a['delete']:.2f} | {a['delete_total']:.2f} | "
              f"{r['delete']:.2f} | " + (f"{r['floor']:.2f} | " if lite else "")
              + f"{a['parse']:.2f} | {a['present']:.2f} | {a['journal']:.2f} | {a['send']:.2f} | {a['flush']:.2f} | "
              f"{a['restore']:.2f} | {r['send']:.2f} + {r['flush']:.2f} | {a['load']} / {r['load']} |")
    d_ratio = med(app, "delete_total") / med(raw, "delete")
    d_ratio_p = (med(app, "delete_total") + med(app, "preview")) / med(raw, "delete")
    r_ratio = med(app, "restore") / med(raw, "restore")
    r_ratio_nf = (med(app, "restore") - med(app, "flush")) / med(raw, "send")
    print(f"\n- medians of {len(app)}: app delete {med(app, 'delete_total'):.2f} s (backup {med(app, 'backup'):.2f}, "
          f"delete {med(app, 'delete'):.2f}; preview {med(app, 'preview'):.2f} more), raw delete "
          f"{med(raw, 'delete'):.2f} s; restore {med(app, 'restore'):.2f} s (read/parse {med(app, 'parse'):.2f}, "
          f"present {med(app, 'present'):.2f}, journal {med(app, 'journal'):.2f}, send {med(app, 'send'):.2f}, "
          f"flush {med(app, 'flush'):.2f}), raw {raw_write} {med(raw, 'send'):.2f} s + flush {med(raw, 'flush'):.2f} s; "
          f"backup {app[0]['size_mb']:.0f} MiB")
    if lite:
        f_ratio = med(app, "delete_total") / med(raw, "floor")
        print(f"- delete with backup / floor (the app's fetch of the entities, no file): {f_ratio:.2f}x "
              f"(target ≤ 1.3x): {verdict(f_ratio <= 1.3)}; / raw delete {d_ratio:.2f}x "
              f"(floor / raw delete {med(raw, 'floor') / med(raw, 'delete'):.2f}x)")
    else:
        print(f"- delete with backup / raw delete: {d_ratio:.2f}x (target ≤ 2x): {verdict(d_ratio <= 2.0)}; "
              f"with the preview: {d_ratio_p:.2f}x")
    print(f"- restore / raw {raw_write} + flush: {r_ratio:.2f}x (target ≤ 2x): {verdict(r_ratio <= 2.0)}; "
          f"without the flush on either side: {r_ratio_nf:.2f}x")
    old = res.get("old") or []
    if old:
        print(f"- before (backup reads at Strong per batch), same repeats: app delete {med(old, 'delete_total'):.2f} s "
              f"(backup {med(old, 'backup'):.2f}, fetch {med(old, 'backup_fetch'):.2f}, delete {med(old, 'delete'):.2f}) "
              f"= {med(old, 'delete_total') / med(raw, 'delete'):.2f}x the raw delete; now "
              f"{med(app, 'delete_total'):.2f} s (fetch {med(app, 'backup_fetch'):.2f}), "
              f"{med(old, 'delete_total') / med(app, 'delete_total'):.1f}x faster")
    raw_delete = med(raw, "delete")
    for level in raw[0]["bare"]:
        fetch = median([r["bare"][level] for r in raw])
        print(f"- bare pymilvus fetch of the same entities at {level}: {fetch:.2f} s = {fetch / raw_delete:.2f}x the raw "
              f"delete; fetch + raw delete = {(fetch + raw_delete) / raw_delete:.2f}x (the least a backed-up delete "
              f"reading at this level can cost, before writing a byte)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("go", "lite"), default=None)
    parser.add_argument("--compare", action="store_true",
                        help="also run the app with the backup's reads at Strong per batch (before read_point)")
    args = parser.parse_args()
    header("Issue 10: undo (delete with backup, restore) vs raw pymilvus")

    from tui.milvus import MilvusConnection

    results: list[tuple[str, dict[str, list[dict[str, Any]]], str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "go"):
            import importlib.util

            spec = importlib.util.spec_from_file_location("milvus_server", ROOT / "scripts" / "milvus_server.py")
            assert spec is not None and spec.loader is not None
            helper = importlib.util.module_from_spec(spec)
            sys.modules["milvus_server"] = helper
            spec.loader.exec_module(helper)
            server = helper.RealMilvus(tmp / "go", stop_grace=2)
            t0 = time.perf_counter()
            server.start()
            print(f"  Go Milvus ready at {server.uri} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            try:
                conn = MilvusConnection(server.uri)
                conn.open()
                version = conn.client.get_server_version()
                for auto_id in (False, True):
                    res = run_case(conn, f"undo_go_{'auto' if auto_id else 'keys'}", auto_id, args.rows,
                                   args.repeats, tmp, write="insert", floor=False,
                                   levels=("Strong", "Eventually", "Customized"), compare=args.compare)
                    results.append((f"Go Milvus {version}, auto_id={auto_id}", res, "insert", False))
                conn.close()
            finally:
                outlived = server.stop()
                left = server.leftover_pids()
                print(f"  Go Milvus stopped (outlived: {outlived}, left: {left})", file=sys.stderr)
        if args.only in (None, "lite"):
            from tui.milvus.lite import LiteServer

            with LiteServer(tmp / "lite") as lite:
                conn = MilvusConnection(lite.uri)
                conn.open()
                version = conn.client.get_server_version()
                res = run_case(conn, "undo_lite_keys", False, args.rows, args.repeats, tmp, write="upsert",
                               floor=True, levels=("Strong", "Eventually"), compare=args.compare)
                results.append((f"Milvus Lite {version}, auto_id=False", res, "upsert", True))
                conn.close()
    print(f"\nData: {args.rows:,} entities x {DIM}-dim float vectors (FLAT) + grp/tag/score, batches of {BATCH}, "
          f"{args.repeats} repeats per case, order alternating; times in seconds.")
    for title, res, write, lite in results:
        report(title, res, write, lite=lite)


if __name__ == "__main__":
    main()
