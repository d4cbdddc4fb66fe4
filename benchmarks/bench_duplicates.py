"""Duplicates and the quality scan at 10k and 100k rows: time, peak Python memory, and the ratio
to the bare pymilvus calls each is built from (same run, same server).

    .venv/bin/python benchmarks/bench_duplicates.py [--sizes 10000,100000] [--dim 16] [--server lite|go]
                                                    [--near-max N]

``--server go`` runs on a Go Milvus 2.3.5 started for the run (``scripts/milvus_server.py``).
``--near-max`` skips near-duplicates above N rows and prints the O(N²) estimate from the smallest
size instead (Milvus Lite 3 searches in Python: 100k rows would take hours).

Each size gets a fresh collection on its own Milvus Lite child: random unit vectors (FLAT index,
COSINE: brute force, the worst case for near-duplicates) with one planted near-duplicate every
100 rows and one zero vector every 1000. Measured per size:

- near-duplicates (threshold 0.99) through the Session vs a bare loop of the same calls
  (primary-key cursor query of 200 keys + vectors, one range search of those 200);
- exact duplicate vectors (hash) vs a bare cursor loop over the same field;
- the quality scan (all fields) vs a bare cursor loop reading all fields.

The bare loops read each row (``dict(row)``): pymilvus converts a row's values only when read, so
a loop that never reads them would time the transport alone.

Peak memory is tracemalloc's peak for the Python side (the server is another process).
"""

# ruff: noqa: B023 - each lambda is called at once, inside its own iteration
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402


def build(client: Any, name: str, n: int, dim: int) -> int:
    import numpy as np
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("text", DataType.VARCHAR, max_length=64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    rng = np.random.default_rng(5)
    planted = 0
    for start in range(0, n, 5000):
        m = min(5000, n - start)
        vecs = rng.standard_normal((m, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for i in range(m):
            gid = start + i
            if gid % 100 == 99:
                vecs[i] = vecs[i - 1] + 0.001
                planted += 1
            if gid % 1000 == 500:
                vecs[i] = 0
        client.insert(name, [{"id": start + i, "vector": vecs[i], "text": f"row {start + i}"} for i in range(m)])
    client.flush(name)
    client.release_collection(name)
    client.load_collection(name)
    return planted


def measured(fn: Any) -> tuple[float, float, Any]:
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, value


def _as_of(client: Any) -> dict[str, Any]:
    """The same read level as the tools: one server timestamp for the whole run (Strong on Lite)."""
    handler = client._get_connection()
    ts = int(handler.alloc_timestamp() or 0) if hasattr(handler, "alloc_timestamp") else 0
    return {"consistency_level": "Customized", "guarantee_timestamp": ts} if ts else {"consistency_level": "Strong"}


def bare_near(client: Any, name: str, threshold: float) -> int:
    level = _as_of(client)
    pairs = 0
    cursor = None
    while True:
        where = "" if cursor is None else f"id > {cursor}"
        rows = client.query(name, filter=where, output_fields=["id", "vector"], limit=200, iterator="True",
                            **level)
        if not rows:
            break
        rows = sorted((dict(r) for r in rows), key=lambda r: r["id"])
        cursor = rows[-1]["id"]
        usable = [r for r in rows if any(r["vector"])]
        if usable:
            result = client.search(name, data=[[float(x) for x in r["vector"]] for r in usable], anns_field="vector",
                                   limit=65, output_fields=["id"], **level,
                                   search_params={"metric_type": "COSINE", "params": {"radius": threshold - 1e-6}})
            pairs += sum(len(h) - 1 for h in result)
        if len(rows) < 200:
            break
    return pairs


def bare_scan(client: Any, name: str, fields: list[str], batch: int) -> int:
    level = _as_of(client)
    seen = 0
    cursor = None
    while True:
        where = "" if cursor is None else f"id > {cursor}"
        rows = client.query(name, filter=where, output_fields=fields, limit=batch, iterator="True", **level)
        if not rows:
            break
        rows = sorted((dict(r) for r in rows), key=lambda r: r["id"])  # the rows read, as any use reads them
        cursor = rows[-1]["id"]
        seen += len(rows)
        if len(rows) < batch:
            break
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--server", choices=["lite", "go"], default="lite")
    parser.add_argument("--near-max", type=int, default=0, help="skip near-duplicates above this many rows")
    parser.add_argument("--bare-near-max", type=int, default=0,
                        help="time the tool's near-duplicates at every size, but the bare range-search loop only "
                             "up to this many rows (above: its O(N²) estimate from the smallest size)")
    args = parser.parse_args()
    header("Duplicates and the quality scan (issue 14)")
    from pymilvus import MilvusClient

    from tui.milvus import MilvusConnection
    from tui.session import Session

    print(f"- server: {args.server}; vectors: {args.dim} dims, FLAT index, COSINE; near-duplicate threshold 0.99\n")
    print("| rows | tool | milvus-tui s | bare pymilvus s | ratio | peak MiB (tui / bare) | found |")
    print("|---:|---|---:|---:|---:|---|---|")
    first_near: tuple[int, float] | None = None
    first_bare: tuple[int, float] | None = None
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-dupes-") as tmp:
            server = start_server(args.server, Path(tmp))
            try:
                client = MilvusClient(uri=server.uri, timeout=600)
                name = f"dupes_{n}"
                if client.has_collection(name):
                    client.drop_collection(name)
                planted = build(client, name, n, args.dim)
                conn = MilvusConnection(server.uri)
                conn.open()
                session = Session(conn, None)
                info = session.run(session.describe(name))
                rows: list[tuple[str, float, float, float, float, str]] = []
                if args.near_max and n > args.near_max and first_near is not None:
                    m0, t0 = first_near
                    print(f"| {n:,} | near-duplicates | skipped: ~{t0 * (n / m0) ** 2:,.0f} s estimated (O(N²) "
                          f"from {m0:,}) | | | | |", flush=True)
                else:
                    t, m, report = measured(lambda: session.run(session.find_duplicates(info, threshold=0.99)))
                    first_near = first_near or (n, t)
                    if args.bare_near_max and n > args.bare_near_max and first_bare is not None:
                        m0, b0 = first_bare
                        bt, bm = b0 * (n / m0) ** 2, math.nan  # estimated, printed as such below
                    else:
                        bt, bm, _ = measured(lambda: bare_near(client, name, 0.99))
                        first_bare = first_bare or (n, bt)
                    rows.append(("near-duplicates", t, bt, m, bm, f"{len(report.groups)} groups (planted {planted})"))
                t, m, report = measured(lambda: session.run(session.find_duplicates(info, exact_field="vector")))
                bt, bm, _ = measured(lambda: bare_scan(client, name, ["id", "vector"], 1000))
                rows.append(("exact vectors", t, bt, m, bm, f"{len(report.groups)} groups"))
                t, m, scan = measured(lambda: session.run(session.scan_quality(info)))
                bt, bm, _ = measured(lambda: bare_scan(client, name, ["*"], 500))
                zero = next((f.count for f in scan.findings if f.check == "zero_vector"), 0)
                rows.append(("quality scan", t, bt, m, bm, f"{zero} zero vectors"))
                for tool, t, bt, m, bm, found in rows:
                    bare = f"~{bt:,.0f} (O(N²) estimate)" if math.isnan(bm) else f"{bt:.2f}"
                    print(f"| {n:,} | {tool} | {t:.2f} | {bare} | {t / bt:.3f}x | {m:.1f} / {bm:.1f} | {found} |",
                          flush=True)
                conn.close()
                client.drop_collection(name)
                client.close()
            finally:
                server.stop()


def start_server(kind: str, tmp: Path) -> Any:
    if kind == "lite":
        from tui.milvus.lite import LiteServer

        server = LiteServer(tmp / "data")
        server.start()
        return server
    import importlib.util

    spec = importlib.util.spec_from_file_location("milvus_server_helper",
                                                  Path(__file__).resolve().parent.parent / "scripts" / "milvus_server.py")
    assert spec is not None and spec.loader is not None
    helper = importlib.util.module_from_spec(spec)
    sys.modules["milvus_server_helper"] = helper
    spec.loader.exec_module(helper)
    server = helper.RealMilvus(tmp / "real", stop_grace=2)
    server.start()
    return server


if __name__ == "__main__":
    main()
