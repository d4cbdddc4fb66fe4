"""Duplicates and the quality scan at 10k and 100k rows: time, peak Python memory, and the ratio
to the bare pymilvus calls each is built from (same run, same server).

    .venv/bin/python benchmarks/bench_duplicates.py [--sizes 10000,100000] [--dim 16]

Each size gets a fresh collection on its own Milvus Lite child: random unit vectors (FLAT index,
COSINE: brute force, the worst case for near-duplicates) with one planted near-duplicate every
100 rows and one zero vector every 1000. Measured per size:

- near-duplicates (threshold 0.99) through the Session vs a bare loop of the same calls
  (primary-key cursor query of 200 keys + vectors, one range search of those 200);
- exact duplicate vectors (hash) vs a bare cursor loop over the same field;
- the quality scan (all fields) vs a bare cursor loop reading all fields.

Peak memory is tracemalloc's peak for the Python side (the server is another process).
"""

from __future__ import annotations

import argparse
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


def bare_near(client: Any, name: str, threshold: float) -> int:
    pairs = 0
    cursor = None
    while True:
        where = "" if cursor is None else f"id > {cursor}"
        rows = client.query(name, filter=where, output_fields=["id", "vector"], limit=200, iterator="True",
                            consistency_level="Strong")
        if not rows:
            break
        rows.sort(key=lambda r: r["id"])
        cursor = rows[-1]["id"]
        usable = [r for r in rows if any(r["vector"])]
        if usable:
            result = client.search(name, data=[[float(x) for x in r["vector"]] for r in usable], anns_field="vector",
                                   limit=65, output_fields=["id"], consistency_level="Strong",
                                   search_params={"metric_type": "COSINE", "params": {"radius": threshold - 1e-6}})
            pairs += sum(len(h) - 1 for h in result)
        if len(rows) < 200:
            break
    return pairs


def bare_scan(client: Any, name: str, fields: list[str], batch: int) -> int:
    seen = 0
    cursor = None
    while True:
        where = "" if cursor is None else f"id > {cursor}"
        rows = client.query(name, filter=where, output_fields=fields, limit=batch, iterator="True",
                            consistency_level="Strong")
        if not rows:
            break
        rows.sort(key=lambda r: r["id"])
        cursor = rows[-1]["id"]
        seen += len(rows)
        if len(rows) < batch:
            break
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=16)
    args = parser.parse_args()
    header("Duplicates and the quality scan (issue 14)")
    from pymilvus import MilvusClient

    from tui.milvus import MilvusConnection
    from tui.milvus.lite import LiteServer
    from tui.session import Session

    print(f"- vectors: {args.dim} dims, FLAT index, COSINE; near-duplicate threshold 0.99\n")
    print("| rows | tool | milvus-tui s | bare pymilvus s | ratio | peak MiB (tui / bare) | found |")
    print("|---:|---|---:|---:|---:|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-dupes-") as tmp:
            server = LiteServer(Path(tmp) / "data")
            server.start()
            try:
                client = MilvusClient(uri=server.uri)
                name = f"dupes_{n}"
                planted = build(client, name, n, args.dim)
                conn = MilvusConnection(server.uri)
                conn.open()
                session = Session(conn, None)
                info = session.run(session.describe(name))
                rows: list[tuple[str, float, float, float, float, str]] = []
                t, m, report = measured(lambda: session.run(session.find_duplicates(info, threshold=0.99)))
                bt, bm, _ = measured(lambda: bare_near(client, name, 0.99))
                rows.append(("near-duplicates", t, bt, m, bm, f"{len(report.groups)} groups (planted {planted})"))
                t, m, report = measured(lambda: session.run(session.find_duplicates(info, exact_field="vector")))
                bt, bm, _ = measured(lambda: bare_scan(client, name, ["id", "vector"], 1000))
                rows.append(("exact vectors", t, bt, m, bm, f"{len(report.groups)} groups"))
                t, m, scan = measured(lambda: session.run(session.scan_quality(info)))
                bt, bm, _ = measured(lambda: bare_scan(client, name, ["*"], 500))
                zero = next((f.count for f in scan.findings if f.check == "zero_vector"), 0)
                rows.append(("quality scan", t, bt, m, bm, f"{zero} zero vectors"))
                for tool, t, bt, m, bm, found in rows:
                    print(f"| {n:,} | {tool} | {t:.2f} | {bt:.2f} | {t / bt:.2f}x | {m:.1f} / {bm:.1f} | {found} |",
                          flush=True)
                conn.close()
                client.close()
            finally:
                server.stop()


if __name__ == "__main__":
    main()
