"""Shared helpers for the benchmark scripts: cached data sets, statistics, machine load.

Data sets live under ``benchmarks/.data/`` (gitignored) and are built once. Milvus Lite 3
builds a collection's vector index on the *first* load after a flush and keeps it on
disk, so the first build of a data set pays that once (20k x 256: ~20 s; 100k: ~75 s) and
later runs load it in a fraction of a second.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "file", "socket", "thread", "process", "queue", "parse", "format", "encode", "decode", "compress", "archive", "network", "request", "response", "header", "stream", "buffer", "cache", "index", "vector", "search", "filter", "cluster", "shard", "replica", "segment", "flush", "load", "release", "schema", "field", "table"]


# -- reporting -----------------------------------------------------------------------------


def machine() -> str:
    """One line about the machine and how busy it was, to print next to every figure."""
    one, five, _ = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {one:.2f} (1 min) / {five:.2f} (5 min), "
            f"Python {platform.python_version()}")


def load_now() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def pct(values: Sequence[float], q: float) -> float:
    from tui.timing import percentile

    return percentile(list(values), q)


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of values in seconds."""
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {"n": len(values), "p50": pct(values, 50) * 1000, "p95": pct(values, 95) * 1000,
            "p99": pct(values, 99) * 1000, "max": max(values) * 1000}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "SHORT"


def header(title: str) -> None:
    print(f"\n## {title}\n")
    print(f"- machine: {machine()}")
    print(f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def env_home(path: Path) -> Iterator[None]:
    """Point milvus-tui's config/state (history, theme, backups) at a scratch directory."""
    old = os.environ.get("MILVUS_TUI_HOME")
    os.environ["MILVUS_TUI_HOME"] = str(path)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MILVUS_URI", "MILVUS_TOKEN", "MILVUS_DB_NAME"):
        os.environ.pop(var, None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MILVUS_TUI_HOME", None)
        else:
            os.environ["MILVUS_TUI_HOME"] = old


# -- data sets ------------------------------------------------------------------------------


def texts(n: int, start: int = 0, seed: int = 7) -> list[str]:
    """Deterministic short sentences (so the local model gives varied vectors)."""
    import random

    out = []
    for i in range(start, start + n):
        rnd = random.Random(seed * 1_000_003 + i)
        out.append(f"{i}: " + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))))
    return out


def vectors(n: int, dim: int, *, start: int = 0, local_model: Any = None) -> Any:
    """``n`` float32 vectors: from the local model when given (dim must be 256), else random."""
    import numpy as np

    if local_model is not None:
        return np.asarray(local_model.embed_documents(texts(n, start)), dtype=np.float32)
    rng = np.random.default_rng(1000 + start)
    return rng.standard_normal((n, dim), dtype=np.float32)


def create_collection(client: Any, name: str, dim: int, *, index_type: str = "AUTOINDEX") -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("text", DataType.VARCHAR, max_length=512)
    schema.add_field("grp", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def insert_rows(client: Any, name: str, n: int, dim: int, *, start: int = 0, batch: int = 5000,
                groups: int = 10, local_model: Any = None, progress: bool = True) -> float:
    """Batched inserts of ids ``start..start+n-1``; ``grp = id % groups``; returns seconds."""
    t0 = time.perf_counter()
    for first in range(start, start + n, batch):
        m = min(batch, start + n - first)
        vecs = vectors(m, dim, start=first, local_model=local_model)
        words = texts(m, first)
        client.insert(name, [{"id": first + i, "vector": vecs[i], "text": words[i], "grp": (first + i) % groups}
                             for i in range(m)])
        if progress:
            print(f"  inserted {first + m - start:,}/{n:,}", end="\r", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return time.perf_counter() - t0


def ensure_dataset(client: Any, name: str, n: int, dim: int, *, index_type: str = "AUTOINDEX",
                   local_model: Any = None) -> dict[str, float | str]:
    """The collection ``name`` with ``n`` rows, flushed, indexed and loaded.

    Reused when it already holds ``n`` rows (then only loaded: fast once its index files
    exist); otherwise (re)built: create, batched inserts, flush, then release + load so
    Lite builds and persists the index now rather than on the next run's first load.
    """
    info: dict[str, float | str] = {}
    if client.has_collection(name):
        t, _ = timed(lambda: client.load_collection(name))
        rows = client.query(name, filter="", output_fields=["count(*)"])
        if rows and int(rows[0]["count(*)"]) == n:
            info.update(source="cached", load_s=t)
            return info
        client.drop_collection(name)
    print(f"  building {name}: {n:,} rows x {dim} dims (once; cached under {DATA})", file=sys.stderr)
    t_all = time.perf_counter()
    create_collection(client, name, dim, index_type=index_type)
    info["insert_s"] = insert_rows(client, name, n, dim, local_model=local_model)
    info["flush_s"], _ = timed(lambda: client.flush(name))
    client.release_collection(name)
    info["first_load_s"], _ = timed(lambda: client.load_collection(name))
    info["build_s"] = time.perf_counter() - t_all
    info["source"] = "built"
    return info


def describe_info(info: dict[str, Any]) -> str:
    if info.get("source") == "cached":
        return f"cached data set (load {info['load_s']:.2f} s)"
    return (f"built this run in {info['build_s']:.1f} s (inserts {info['insert_s']:.1f} s, flush "
            f"{info['flush_s']:.1f} s, first load = index build {info['first_load_s']:.1f} s)")


def quiet_gc_between() -> None:
    """A full collection between measured phases, so one phase's garbage does not land in the next."""
    gc.collect()
