"""Issue 14, bulk edit: ``milvus-tui``'s edit (typed values, Strong preview with the keys
captured, fsynced whole-entity backup, upserts from that backup) vs the bare pymilvus calls it
is built from (a key scan, then per 1000 keys: query the whole entities, change the field,
upsert), on two identical fresh collections on a Milvus Lite child (256-dim float vectors,
``grp = id % 6``; the filter ``grp < 3`` matches half the rows).

The two alternate (raw first in odd rounds); wall time per phase, Python heap peak
(tracemalloc) for each, and the check that every matching entity carries the new value and
the rest do not (``count``).

    .venv/bin/python benchmarks/bench_edit.py [--rows 10000] [--rounds 2] [--index FLAT]
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

from _common import create_collection, header, insert_rows, load_now, median, verdict  # noqa: E402

DIM = 256
GROUPS = 6
FILTER = "grp < 3"


def build(client: Any, name: str, rows: int, index_type: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)
    create_collection(client, name, DIM, index_type=index_type)
    insert_rows(client, name, rows, DIM, groups=GROUPS, progress=False)
    client.flush(name)
    client.load_collection(name)


def raw_edit(client: Any, name: str, value: str) -> dict[str, float]:
    """The floor: scan keys by cursor, then per 1000: query whole entities, set, upsert."""
    t0 = time.perf_counter()
    keys: list[int] = []
    last = None
    while True:
        where = FILTER if last is None else f"({FILTER}) and id > {last}"
        batch = client.query(name, filter=where, output_fields=["id"], limit=16384, consistency_level="Strong")
        got = sorted(r["id"] for r in batch)
        keys += got
        if len(got) < 16384:
            break
        last = got[-1]
    scanned = time.perf_counter()
    for start in range(0, len(keys), 1000):
        part = keys[start:start + 1000]
        rows = client.query(name, filter=f"id in {part}", output_fields=["*"], limit=len(part),
                            consistency_level="Strong")
        client.upsert(name, [{**r, "text": value} for r in rows])
    client.flush(name)
    end = time.perf_counter()
    return {"preview": scanned - t0, "apply": end - scanned, "total": end - t0, "edited": len(keys)}


def tool_edit(svc: Any, name: str, value: str) -> dict[str, float]:
    t0 = time.perf_counter()
    preview = svc.run(svc.preview_edit(name, sets=[f"text={value}"], expr=FILTER))
    previewed = time.perf_counter()
    report = svc.run(svc.edit(name, preview))
    end = time.perf_counter()
    return {"preview": previewed - t0, "apply": end - previewed, "total": end - t0, "edited": report.edited,
            "backup_mb": Path(report.backup_path).stat().st_size / 2**20}


def traced(fn: Any) -> tuple[dict[str, float], float]:
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--index", default="FLAT")
    args = parser.parse_args()

    from pymilvus import MilvusClient

    from tui.milvus import MilvusConnection
    from tui.milvus.lite import LiteServer
    from tui.session import Session

    header(f"bulk edit of {args.rows:,} rows (filter {FILTER}: half), tool vs bare pymilvus; load {load_now()}")
    results: dict[str, list[dict[str, float]]] = {"tool": [], "raw": []}
    ok = True
    with tempfile.TemporaryDirectory() as tmp, LiteServer(Path(tmp) / "data") as server:
        client = MilvusClient(uri=server.uri)
        conn = MilvusConnection(server.uri)
        conn.open()
        svc = Session(conn, None, backup_dir=Path(tmp) / "backups", audit_path=Path(tmp) / "audit.jsonl")
        for rnd in range(args.rounds):
            for which in (("raw", "tool") if rnd % 2 == 0 else ("tool", "raw")):
                name = f"bench_edit_{which}"
                build(client, name, args.rows, args.index)
                value = f"edited {rnd}"
                if which == "raw":
                    out, peak = traced(lambda n=name, v=value: raw_edit(client, n, v))
                else:
                    out, peak = traced(lambda n=name, v=value: tool_edit(svc, n, v))
                out["peak_mb"] = peak
                results[which].append(out)
                want = len([i for i in range(args.rows) if i % GROUPS < 3])
                got = client.query(name, filter=f'text == "{value}"', output_fields=["count(*)"],
                                   consistency_level="Strong")[0]["count(*)"]
                ok = ok and out["edited"] == want == got
                print(f"  round {rnd + 1} {which:4}: preview {out['preview']:.2f} s, apply {out['apply']:.2f} s, "
                      f"total {out['total']:.2f} s, heap peak {peak:.1f} MiB, edited {int(out['edited']):,}")
                client.drop_collection(name)
        conn.close()
        client.close()
    tool_total = median([r["total"] for r in results["tool"]])
    raw_total = median([r["total"] for r in results["raw"]])
    print(f"median total: tool {tool_total:.2f} s, raw {raw_total:.2f} s, ratio {tool_total / raw_total:.2f}x; "
          f"heap peak tool {median([r['peak_mb'] for r in results['tool']]):.1f} MiB vs raw "
          f"{median([r['peak_mb'] for r in results['raw']]):.1f} MiB; backup "
          f"{median([r['backup_mb'] for r in results['tool']]):.1f} MiB")
    print(f"every matching entity edited, no other: {verdict(ok)}")


if __name__ == "__main__":
    main()
