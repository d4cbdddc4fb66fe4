"""Sync versus async, measured honestly.

What is compared with what: langchain-milvus's own methods (``add_texts`` / ``aadd_texts``,
``similarity_search`` / ``asimilarity_search`` …, the seed tutorial's API), not the app's data
layer: the panel demonstrates the tutorial's claim on the tutorial's API. Its store is made on
the server and database of the user's ``Session`` (``Session.bench_connection``) and writes only
to a scratch collection. What the explorer itself runs by hand (through the Session, sync or
async with ``x``) is logged beside the panel's runs, so the two can be read side by side.

For each operation and N, the engine runs the same N operations in each chosen mode, one
mode after another, on the same scratch collection:

- ``async``: langchain-milvus's ``a``-methods gathered on the running loop, with an
  optional concurrency limit (the seeds' method was unbounded);
- ``sync``: the plain methods one after another in a worker thread (the loop stays free);
- ``batched``: one call with all N items, where the operation has such a call;
- ``blocking``: the plain methods called *on the event loop* — a demonstration of what
  not to do; the loop monitor reports the freeze it causes.

With ``BenchConfig.simulated_embedding_ms`` / ``simulated_milvus_ms`` the run gets the seed's
network back, offline: embeddings from a loopback OpenAI-compatible endpoint that answers after
that delay, and a delay line in front of the Milvus server (``simulated.py``); they start with
the run, stop when it ends, and every result carries their label (``RunResult.simulated``).

Every run records wall time, ops/s, per-operation latency percentiles, errors, and the
event loop's lag measured by a heartbeat task on the same loop. Each run starts after a full
garbage collection (untimed), so a collection that earlier allocations made due does not
land in whichever run comes next (a gen-2 pass costs 100-200 ms in a big process).

The ideal async speedup with a concurrency limit ``c`` is not ``c``: N operations of equal
latency run in ``ceil(N / c)`` waves, so the best async wall time is ``ceil(N / c)`` times one
operation's and the ideal is ``N / ceil(N / c)`` (N = 100: 25x for c = 25..33, 33.3x for
c = 34..49, 50x for c = 50..99); see ``ideal_speedup``. Write operations only
touch a scratch collection (``milvus_tui_bench_…``) that is dropped afterwards, even on
error or cancel. A run that could not drop it (the process was killed) is listed in a small
ledger with its process id, so the next run drops it at once; others' are dropped after an hour. langchain-milvus swallows errors (``delete`` returns False,
``search_by_metadata`` returns []), so a False return counts as an error here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import importlib
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRATCH_PREFIX = "milvus_tui_bench_"

#: operation key -> (label, has a batched form)
OPERATIONS: dict[str, tuple[str, bool]] = {
    "add": ("add documents", True),
    "search": ("similarity search (text)", True),
    "search_by_vector": ("search by vector", True),
    "mmr": ("max-marginal-relevance search", False),
    "filter": ("filter query (search_by_metadata)", False),
    "get_pks": ("get primary keys", True),
    "delete": ("delete by expression", True),
    "upsert": ("upsert", True),
}
WRITE_OPS = {"add", "delete", "upsert"}
MODES: dict[str, str] = {
    "async": "async (gathered on the loop)",
    "sync": "sync (in a thread)",
    "batched": "batched (one call)",
    "blocking": "sync on the event loop (demonstration: freezes the UI)",
}
QUERIES = [
    "how do I read a file line by line", "parse command line arguments", "compress data with gzip",
    "format a date as a string", "run a subprocess and capture output", "open a network socket",
    "sort a list of dictionaries", "generate a random number", "read environment variables",
    "compute a hash of bytes", "serialize objects to JSON", "match text with regular expressions",
]


def ideal_speedup(n: int, concurrency: int | None) -> float:
    """The best async/sync ratio for ``n`` operations of equal latency with at most
    ``concurrency`` in flight (None = unbounded): ``n / ceil(n / concurrency)``."""
    if n < 1:
        return 1.0
    limit = min(concurrency or n, n)
    return n / math.ceil(n / limit)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (the same definition as numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


class LoopMonitor:
    """A heartbeat on the event loop: how late each 10 ms tick wakes up is the loop's lag."""

    def __init__(self, interval: float = 0.010) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            self._last = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - self._last - self.interval))

    def start(self) -> None:
        """Start beating on the running loop."""
        self.lags = []
        self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> tuple[float, float]:
        """Stop and return (p99, max) lag in milliseconds."""
        # A stall still in progress (the blocking mode just returned) has no tick yet:
        # count the time since the last heartbeat as one more lag sample.
        pending = time.perf_counter() - self._last - self.interval
        if pending > 0:
            self.lags.append(pending)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lags = self.lags or [0.0]
        return percentile(lags, 99) * 1000, max(lags) * 1000


class LoopProbe:
    """Whose loop lag a run reports, and what its "blocking" mode blocks.

    This one: the loop the run is on (the CLI, tests). The timing panel's run lives in a
    process of its own and reports the UI's loop instead (``child.py``, ``UiProbe``).
    """

    def __init__(self) -> None:
        self.monitor = LoopMonitor()

    async def start(self) -> None:
        self.monitor.start()
        await asyncio.sleep(0)

    async def stop(self) -> tuple[float, float]:
        return await self.monitor.stop()

    async def block(self, fn: Callable[[], None]) -> None:
        fn()  # on purpose: this blocks the event loop


@dataclass
class RunResult:
    op: str
    n: int
    mode: str
    concurrency: int | None
    wall_s: float
    ops_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    ok: int
    lag_p99_ms: float
    lag_max_ms: float
    speedup: float | None = None  # sync (thread) wall time / this run's wall time
    note: str = ""
    #: "" for a real run; else what was simulated (``simulated.describe``), shown with the result
    simulated: str = ""

    @property
    def ideal(self) -> float | None:
        """The best speedup this run could show against sync (``ideal_speedup``); None for
        batched runs, whose gain comes from doing less work, not from overlapping it."""
        if self.mode == "async":
            return ideal_speedup(self.n, self.concurrency)
        return 1.0 if self.mode in ("sync", "blocking") else None

    @property
    def of_ideal(self) -> float | None:
        """speedup / ideal: 1.0 means as fast as waiting allows."""
        ideal = self.ideal
        return self.speedup / ideal if self.speedup is not None and ideal else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ideal": self.ideal, "of_ideal": self.of_ideal}


@dataclass(frozen=True)
class BenchConfig:
    ops: tuple[str, ...] = ("add", "search", "delete")
    ns: tuple[int, ...] = (10, 100)
    modes: tuple[str, ...] = ("async", "sync", "batched")
    concurrency: int | None = None  # None = unbounded, as in the seeds
    corpus: int = 500  # documents loaded into the scratch collection for read operations
    k: int = 4
    #: The seed's network on loopback (``tui/timing/simulated.py``); 0 = off. Embeddings then
    #: come from a local OpenAI-compatible endpoint that answers after this many ms.
    simulated_embedding_ms: int = 0
    #: A delay line in front of the Milvus server: ms per round trip; 0 = off.
    simulated_milvus_ms: int = 0

    def validate(self) -> None:
        for op in self.ops:
            if op not in OPERATIONS:
                raise ValueError(f"Unknown operation '{op}'. Choose from: {', '.join(OPERATIONS)}.")
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"Unknown mode '{mode}'. Choose from: {', '.join(MODES)}.")
        for n in self.ns:
            if n < 1 or n > 100_000:
                raise ValueError(f"N must be between 1 and 100000 (got {n}).")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("The concurrency limit must be at least 1 (or unbounded).")
        from .simulated import parse_ms

        parse_ms(self.simulated_embedding_ms)
        parse_ms(self.simulated_milvus_ms)

    @property
    def simulated(self) -> str:
        """The label of this configuration's simulated conditions ("" when none)."""
        from .simulated import describe

        return describe(self.simulated_embedding_ms, self.simulated_milvus_ms)


ProgressFn = Callable[[str, str, int, int], None]  # op, mode, done, total


@dataclass
class BenchRun:
    """Everything one call to ``run_bench`` produced."""

    config: BenchConfig
    results: list[RunResult] = field(default_factory=list)
    scratch: str = ""
    dropped: bool = False
    started: float = field(default_factory=time.time)
    simulated: str = ""  # the simulated conditions' label, "" for a real run
    embeddings: str = ""  # the embedding provider the run used (``describe()``)
    #: The simulated endpoints' child processes and ports (empty for a real run), so callers
    #: and tests can check that nothing outlives the run.
    remote_pids: list[int] = field(default_factory=list)
    remote_ports: dict[str, int] = field(default_factory=dict)


class _Cancel:
    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()  # the caller's: set it to cancel the run
        # Set by run_bench when it ends: a cancelled task stops awaiting its thread, not the
        # thread, so a thread-mode loop would otherwise run every remaining operation.
        self.ended = threading.Event()

    def check(self) -> None:
        if self.event.is_set() or self.ended.is_set():
            raise asyncio.CancelledError()


def _complete(future: concurrent.futures.Future[Any], fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn`` in this thread and settle ``future`` with its outcome."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
        future.set_exception(exc)


def _drop_after(scratch: _Scratch, fill: concurrent.futures.Future[Any] | None,
                ledger: ScratchLedger | None = None) -> bool:
    """Drop the scratch collection once the fill's thread is done: the fill embeds first and
    creates the collection after, so a drop during a cancelled fill would come too early."""
    if fill is not None:
        fill.cancel()  # not started yet: it never will
        concurrent.futures.wait([fill])
    dropped = scratch.drop()
    if dropped and ledger:
        ledger.remove(scratch.name)
    return dropped


def _texts(n: int, offset: int = 0) -> list[str]:
    from ..demo import stdlib_documents

    docs = [d.text for d in stdlib_documents(min(n + offset, 6000))][offset:]
    while len(docs) < n:  # more than the stdlib has: repeat with a suffix so texts stay distinct
        docs.append(f"{docs[len(docs) % max(1, len(docs))]} #{len(docs)}")
    return docs[:n]


class _Scratch:
    """The scratch collection and its langchain-milvus store, created on the running loop."""

    def __init__(self, connection_args: dict[str, Any], embeddings: Any) -> None:
        from langchain_milvus import Milvus

        # The start time in the name lets a later run drop what a crashed run left behind.
        self.name = f"{SCRATCH_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
        self.store = Milvus(
            embedding_function=embeddings, collection_name=self.name, connection_args=connection_args,
            auto_id=True, enable_dynamic_field=True, consistency_level="Strong",
            index_params={"index_type": "AUTOINDEX", "metric_type": "COSINE"},
        )
        self.embeddings = embeddings

    def fill(self, texts: list[str], tag: str) -> list[Any]:
        """Insert with one batched call (sync: Milvus Lite's async server cannot create collections)."""
        ids = self.store.add_texts(texts, metadatas=[{"tag": f"{tag}{i}", "group": tag} for i in range(len(texts))])
        self.store.client.flush(self.name)
        return ids

    def drop(self) -> bool:
        try:
            client = self.store.client
            if client.has_collection(self.name):
                client.drop_collection(self.name)
            return True
        except Exception:  # noqa: BLE001 - reported as "not dropped"
            return False


def _expect(result: Any) -> Any:
    """langchain-milvus reports some failures as False; never count those as success."""
    if result is False:
        raise RuntimeError("the operation returned False (langchain-milvus swallowed an error)")
    return result


async def _async_op(scratch: _Scratch, op: str, i: int, ctx: dict[str, Any], k: int) -> Any:
    s = scratch.store
    if op == "add":
        return await s.aadd_texts([ctx["texts"][i]], metadatas=[{"tag": f"add{i}", "group": "add"}])
    if op == "search":
        return await s.asimilarity_search(ctx["queries"][i], k=k)
    if op == "search_by_vector":
        return await s.asimilarity_search_by_vector(ctx["vectors"][i], k=k)
    if op == "mmr":
        return await s.amax_marginal_relevance_search(ctx["queries"][i], k=k, fetch_k=4 * k)
    if op == "filter":
        return await _asearch_by_metadata(scratch, f'tag == "c{i % ctx["corpus"]}"')
    if op == "get_pks":
        return _expect(await s.aget_pks(f'tag == "c{i % ctx["corpus"]}"'))
    if op == "delete":
        return _expect(await s.adelete(expr=f'tag == "{ctx["delete_tag"]}{i}"'))
    if op == "upsert":
        return await s.aupsert(ids=[ctx["pks"][i]], documents=[ctx["docs"][i]])
    raise ValueError(op)


async def _asearch_by_metadata(scratch: _Scratch, expr: str) -> Any:
    """langchain-milvus 0.4 has no async ``search_by_metadata``; this is its async twin,
    the same query through the store's own async client."""
    store = scratch.store
    method = getattr(store, "asearch_by_metadata", None)
    if method is not None:
        return await method(expr, limit=10)
    return await store.aclient.query(scratch.name, filter=expr, limit=10, output_fields=[store._text_field, "tag"])


def _sync_op(scratch: _Scratch, op: str, i: int, ctx: dict[str, Any], k: int) -> Any:
    s = scratch.store
    if op == "add":
        return s.add_texts([ctx["texts"][i]], metadatas=[{"tag": f"add{i}", "group": "add"}])
    if op == "search":
        return s.similarity_search(ctx["queries"][i], k=k)
    if op == "search_by_vector":
        return s.similarity_search_by_vector(ctx["vectors"][i], k=k)
    if op == "mmr":
        return s.max_marginal_relevance_search(ctx["queries"][i], k=k, fetch_k=4 * k)
    if op == "filter":
        return s.search_by_metadata(f'tag == "c{i % ctx["corpus"]}"', limit=10)
    if op == "get_pks":
        return _expect(s.get_pks(f'tag == "c{i % ctx["corpus"]}"'))
    if op == "delete":
        return _expect(s.delete(expr=f'tag == "{ctx["delete_tag"]}{i}"'))
    if op == "upsert":
        return s.upsert(ids=[ctx["pks"][i]], documents=[ctx["docs"][i]])
    raise ValueError(op)


def _batched_op(scratch: _Scratch, op: str, n: int, ctx: dict[str, Any], k: int) -> Any:
    s = scratch.store
    if op == "add":
        return s.add_texts(ctx["texts"][:n], metadatas=[{"tag": f"add{i}", "group": "add"} for i in range(n)])
    if op in ("search", "search_by_vector"):
        # One embedding call for all queries, then one search request with N vectors.
        vectors = ctx["vectors"][:n] if op == "search_by_vector" else s.embeddings.embed_documents(ctx["queries"][:n])
        return s.client.search(scratch.name, data=vectors, limit=k, anns_field=s._vector_field
                               if isinstance(s._vector_field, str) else s._vector_field[0],
                               output_fields=[s._text_field])
    if op == "get_pks":
        tags = ", ".join(f'"c{i % ctx["corpus"]}"' for i in range(n))
        return _expect(s.get_pks(f"tag in [{tags}]"))
    if op == "delete":
        tags = ", ".join(f'"{ctx["delete_tag"]}{i}"' for i in range(n))
        return _expect(s.delete(expr=f"tag in [{tags}]"))
    if op == "upsert":
        return s.upsert(ids=ctx["pks"][:n], documents=ctx["docs"][:n])
    raise ValueError(op)


async def _prepare(scratch: _Scratch, op: str, n: int, mode: str, ctx: dict[str, Any], config: BenchConfig) -> None:
    """Per-run setup that is not timed: rows to delete, documents to upsert, query vectors."""
    from langchain_core.documents import Document

    ctx["queries"] = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" ({i})") for i in range(n)]
    if op == "add":
        ctx["texts"] = _texts(n, offset=config.corpus)
    elif op == "search_by_vector":
        ctx["vectors"] = await asyncio.to_thread(scratch.embeddings.embed_documents, ctx["queries"])
    elif op == "delete":
        tag = f"del_{mode}_"
        ctx["delete_tag"] = tag
        texts = _texts(n, offset=config.corpus)
        await asyncio.to_thread(lambda: (scratch.store.add_texts(
            texts, metadatas=[{"tag": f"{tag}{i}", "group": tag} for i in range(n)]),
            scratch.store.client.flush(scratch.name)))
    elif op == "upsert":
        pks = ctx["corpus_pks"]
        ctx["pks"] = [pks[i % len(pks)] for i in range(n)]
        ctx["docs"] = [Document(page_content=f"upserted {mode} {i}", metadata={"tag": f"c{i % ctx['corpus']}",
                                                                                 "group": "c"}) for i in range(n)]
        if n > len(pks):
            ctx["pks"] = pks[:n]
            ctx["docs"] = ctx["docs"][: len(ctx["pks"])]


async def _measure(op: str, n: int, mode: str, config: BenchConfig, scratch: _Scratch, ctx: dict[str, Any],
                   progress: ProgressFn, cancel: _Cancel, probe: LoopProbe | None = None) -> RunResult:
    latencies: list[float] = []
    errors = 0
    done = 0
    probe = probe or LoopProbe()
    count = len(ctx.get("pks", [])) if op == "upsert" else n

    def tick() -> None:
        progress(op, mode, done, count)

    await probe.start()
    started = time.perf_counter()
    note = ""
    try:
        if mode == "async":
            limit = asyncio.Semaphore(config.concurrency) if config.concurrency else None

            async def one(i: int) -> None:
                nonlocal errors, done
                if limit is not None:
                    await limit.acquire()
                t0 = time.perf_counter()
                try:
                    await _async_op(scratch, op, i, ctx, config.k)
                    latencies.append(time.perf_counter() - t0)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - counted, shown as errors
                    errors += 1
                finally:
                    if limit is not None:
                        limit.release()
                    done += 1
                    tick()

            tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
            try:
                await asyncio.gather(*tasks)
            except asyncio.CancelledError:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        elif mode in ("sync", "blocking"):
            def loop_body() -> None:
                nonlocal errors, done
                for i in range(count):
                    cancel.check()
                    t0 = time.perf_counter()
                    try:
                        _sync_op(scratch, op, i, ctx, config.k)
                        latencies.append(time.perf_counter() - t0)
                    except Exception:  # noqa: BLE001
                        errors += 1
                    done += 1
                    if mode == "sync":
                        tick()

            if mode == "sync":
                await asyncio.to_thread(loop_body)
            else:
                await probe.block(loop_body)
                tick()
                note = "blocked the event loop on purpose"
        elif mode == "batched":
            if not OPERATIONS[op][1]:
                note = "no batched form"
                await probe.stop()
                return RunResult(op, n, mode, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, note=note)
            t0 = time.perf_counter()
            try:
                await asyncio.to_thread(_batched_op, scratch, op, count, ctx, config.k)
                latencies = [time.perf_counter() - t0]
            except Exception:  # noqa: BLE001
                errors += count
            done = count
            tick()
    finally:
        wall = time.perf_counter() - started
        lag_p99, lag_max = await probe.stop()
    ok = count - errors if mode != "batched" else (count if latencies else 0)
    return RunResult(
        op=op, n=count, mode=mode, concurrency=config.concurrency if mode == "async" else None,
        wall_s=wall, ops_per_s=(ok / wall) if wall > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000, p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000, errors=errors, ok=ok,
        lag_p99_ms=lag_p99, lag_max_ms=lag_max, note=note,
    )


async def run_bench(config: BenchConfig, connection_args: dict[str, Any], embeddings: Any, *,
                    progress: ProgressFn | None = None, on_result: Callable[[RunResult], None] | None = None,
                    cancel_event: threading.Event | None = None,
                    on_scratch: Callable[[str], None] | None = None,
                    ledger: ScratchLedger | None = None,
                    probe: LoopProbe | None = None) -> BenchRun:
    """Run every (op, N, mode) of ``config``; must be called on the loop that will use the store.

    ``probe``: whose loop lag to report and what "blocking" blocks (default: this loop).

    Raises ``ValueError`` for a bad config and a ``MilvusTuiError`` for what the server or
    the embedding endpoint refused (with their own words).
    """
    config.validate()
    from ..errors import MilvusTuiError
    from ..milvus.errors import translate

    try:
        return await _run_bench(config, connection_args, embeddings, progress=progress, on_result=on_result,
                                cancel_event=cancel_event, on_scratch=on_scratch, ledger=ledger, probe=probe)
    except MilvusTuiError:
        raise
    except Exception as exc:
        # The server's and the client's errors (langchain-milvus lets pymilvus's through), in
        # the user's words; anything else is a bug and keeps its traceback.
        if type(exc).__module__.split(".")[0] in ("pymilvus", "grpc"):
            raise translate(exc) from None
        raise


class ScratchLedger:
    """The scratch collections this machine's runs created, each with its owner's process id.

    An entry is removed once its collection is dropped; one left behind means the run died
    (killed, crashed, or quit before its drop finished), so when its process is gone the
    next run drops the collection at once instead of after an hour.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, int]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(self.path.name + ".tmp")
            temp.write_text(json.dumps(entries), encoding="utf-8")
            os.replace(temp, self.path)
        except OSError:
            pass  # the hour rule still cleans up; a read-only state dir must not stop a run

    def add(self, name: str) -> None:
        with self._lock:
            self._write({**self._read(), name: os.getpid()})

    def remove(self, name: str) -> None:
        with self._lock:
            entries = self._read()
            if entries.pop(name, None) is not None:
                self._write(entries)

    def orphans(self) -> list[str]:
        """Entries whose owning process is gone."""
        return [name for name, pid in self._read().items() if not _alive(pid)]


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours to signal
        return True
    return True


def drop_stale_scratch(client: Any, older_than: float = 3600.0, ledger: ScratchLedger | None = None) -> list[str]:
    """Drop scratch collections a crashed or killed run left behind: at once for this
    machine's runs whose process is gone (the ledger), after an hour for any other."""
    dropped = []
    now = time.time()
    orphans = set(ledger.orphans()) if ledger else set()
    for name in client.list_collections():
        if not name.startswith(SCRATCH_PREFIX):
            continue
        stamp = name[len(SCRATCH_PREFIX):].split("_", 1)[0]
        if name in orphans or (stamp.isdigit() and now - int(stamp) > older_than):
            client.drop_collection(name)
            dropped.append(name)
    if ledger:
        for name in orphans:  # dropped now, or already gone
            ledger.remove(name)
    return dropped


async def _run_bench(config: BenchConfig, connection_args: dict[str, Any], embeddings: Any, *,
                     progress: ProgressFn | None, on_result: Callable[[RunResult], None] | None,
                     cancel_event: threading.Event | None,
                     on_scratch: Callable[[str], None] | None, ledger: ScratchLedger | None,
                     probe: LoopProbe | None = None) -> BenchRun:
    run = BenchRun(config, simulated=config.simulated)
    if not run.simulated:
        run.embeddings = _describe(embeddings)
        return await _run_measured(run, connection_args, embeddings, progress=progress, on_result=on_result,
                                   cancel_event=cancel_event, on_scratch=on_scratch, ledger=ledger, probe=probe)
    from .simulated import SimulatedRemote

    remote = SimulatedRemote(config.simulated_embedding_ms, config.simulated_milvus_ms,
                             milvus_uri=connection_args.get("uri"))
    simulated_embeddings = None
    try:
        await asyncio.to_thread(remote.start)  # ~1 s: the child imports and loads the model
        run.remote_pids = remote.pids
        run.remote_ports = {k: v for k, v in (("embedding", remote.embedding_port),
                                              ("milvus", remote.milvus_port)) if v}
        if config.simulated_embedding_ms:
            simulated_embeddings = remote.embeddings()
            embeddings = simulated_embeddings
            # Built now, untimed, on this loop: an OpenAI client creates its TLS context as it
            # is built (20-40 ms here), which would otherwise land inside the first async run.
            # (The sync client is built by the fill, untimed as well.) The app's own provider
            # is usually warm already: the explorer's searches used it on this loop.
            await simulated_embeddings.aembed_query("warm up")
        run.embeddings = _describe(embeddings)
        return await _run_measured(run, remote.milvus_connection(connection_args), embeddings,
                                   progress=progress, on_result=on_result, cancel_event=cancel_event,
                                   on_scratch=on_scratch, ledger=ledger, probe=probe)
    finally:
        # The scratch collection is dropped by now (through the delay line, if any). Close the
        # loop's HTTP client before its server goes, then the server: nothing outlives the run.
        try:
            if simulated_embeddings is not None:
                await asyncio.shield(simulated_embeddings.aclose())
        finally:
            # Shielded: a second cancel stops the wait, not the stop (its thread runs on).
            await asyncio.shield(asyncio.to_thread(remote.stop))


def _describe(embeddings: Any) -> str:
    describe = getattr(embeddings, "describe", None)
    return str(describe()) if callable(describe) else type(embeddings).__name__


async def _run_measured(run: BenchRun, connection_args: dict[str, Any], embeddings: Any, *,
                        progress: ProgressFn | None, on_result: Callable[[RunResult], None] | None,
                        cancel_event: threading.Event | None,
                        on_scratch: Callable[[str], None] | None, ledger: ScratchLedger | None,
                        probe: LoopProbe | None = None) -> BenchRun:
    config = run.config
    cancel = _Cancel(cancel_event)
    report = progress or (lambda *a: None)
    # langchain_milvus takes a second to import: never on the loop.
    await asyncio.to_thread(importlib.import_module, "langchain_milvus")
    scratch = _Scratch(connection_args, embeddings)  # on the loop its async client will use
    await asyncio.to_thread(drop_stale_scratch, scratch.store.client, ledger=ledger)
    run.scratch = scratch.name
    if ledger:
        await asyncio.to_thread(ledger.add, scratch.name)
    if on_scratch:
        on_scratch(scratch.name)  # so a cancelled run can still say which collection it dropped
    fill: concurrent.futures.Future[list[Any]] | None = None
    try:
        corpus_texts = _texts(config.corpus)
        # Its own thread and future (not to_thread), so the drop below can wait for it.
        fill = concurrent.futures.Future()
        threading.Thread(target=_complete, args=(fill, scratch.fill, corpus_texts, "c"), daemon=True,
                         name="bench-fill").start()
        corpus_pks = await asyncio.wrap_future(fill)
        ctx: dict[str, Any] = {"corpus": config.corpus, "corpus_pks": corpus_pks}
        for op in config.ops:
            for n in config.ns:
                by_mode: dict[str, RunResult] = {}
                for mode in config.modes:
                    cancel.check()
                    await _prepare(scratch, op, n, mode, ctx, config)
                    gc.collect()  # untimed, before every mode alike: see the module docstring
                    result = await _measure(op, n, mode, config, scratch, ctx, report, cancel, probe)
                    result.simulated = run.simulated
                    if op in WRITE_OPS:
                        # Untimed: Milvus Lite searches unflushed rows slowly, which would
                        # penalise whichever run happens to come next.
                        await asyncio.to_thread(scratch.store.client.flush, scratch.name)
                    by_mode[mode] = result
                    run.results.append(result)
                    if on_result:
                        on_result(result)
                sync = by_mode.get("sync")
                for result in by_mode.values():
                    if sync is not None and sync.wall_s > 0 and result.wall_s > 0:
                        result.speedup = sync.wall_s / result.wall_s
    finally:
        cancel.ended.set()  # a thread-mode loop still running stops at its next operation
        # Dropped even on error or cancel; shielded so a second cancel cannot skip it.
        run.dropped = await asyncio.shield(asyncio.to_thread(_drop_after, scratch, fill, ledger))
    return run


def connection_args_for(conn: Any) -> dict[str, Any]:
    """langchain-milvus connection arguments for a ``MilvusConnection`` (its live endpoint)."""
    args: dict[str, Any] = {"uri": conn.endpoint, "db_name": conn.db_name}
    token = getattr(conn, "_token", None)
    if token:
        args["token"] = token
    return args

