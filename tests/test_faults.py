"""Faults: the Milvus Lite child killed mid-operation, a misbehaving embedding endpoint, quitting.

Kill tests run on their *own* Lite child (a ``MilvusConnection`` on a local path in a temp
dir, never the session server) and SIGKILL it:

* during concurrent searches (async) and a sync search loop;
* during a long delete (2,400 rows, batches of 50), once in the backup phase and once in the
  delete phase (sync and async drivers), then prove *nothing was lost*: the rows still in the
  collection plus the rows in the backup file are exactly the previewed keys, every other row
  is untouched, and restoring the backup gives back the original entities;
* during a bench run.

Each time the error is a clear ``ServerUnavailable`` (or, for the bench, translatable to one),
and ``conn.reconnect()`` restarts the child. Also: preview, insert new matching rows, then
confirm: only the previewed rows go. The embedding endpoint is slow, rate-limits (429) then
succeeds, fails (500), times out: clear final ``EmbeddingError`` naming the status, retries
seen by the server with back-off, and cancel is prompt. In the app: the child killed while
connected (error shown, ctrl+r reconnects, a filter works again), and quitting while a slow
operation runs (exits within 2 s, no child left).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient

from tests.apphelpers import (
    SIZE,
    focus_table,
    query_error,
    result,
    submit,
    wait_embeddings,
    wait_result,
    wait_until,
)
from tests.conftest import unique_name
from tests.embedding_server import EmbeddingServer
from tests.test_lite import lite_pids_for, pid_alive, wait_gone
from tui.app import MilvusTuiApp
from tui.config import Settings
from tui.embeddings import EmbeddingError, EmbeddingSettings, make_embeddings
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.catalog import CollectionInfo
from tui.milvus.cleanup import execute_delete
from tui.errors import MilvusTuiError, ServerUnavailable
from tui.milvus.errors import translate
from tui.milvus.ops import Context, Progress

ROOT = Path(__file__).resolve().parent.parent
DIM = 8


# -- a Lite child of our own ---------------------------------------------------------------


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusConnection]:
    conn = MilvusConnection(str(tmp_path_factory.mktemp("faults") / "lite"), timeout=15)
    conn.open()
    yield conn
    conn.close()
    assert lite_pids_for(conn.lite.data_dir) == []


@pytest.fixture
def svc(lite: MilvusConnection, tmp_path: Path) -> Session:
    return Session(lite, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


def make_collection(conn: MilvusConnection, n: int, name: str | None = None) -> str:
    """``pk`` 1..n, ``grp`` = pk % 2, an 8-d vector that encodes pk (so restores can be compared)."""
    name = name or unique_name("fault")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("grp", DataType.INT64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    conn.client.create_collection(name, schema=schema, index_params=index)
    for start in range(1, n + 1, 1000):
        conn.client.insert(name, [{"pk": i, "grp": i % 2, "vec": _vec(i)} for i in range(start, min(n, start + 999) + 1)])
    conn.client.flush(name)
    return name


def _vec(i: int) -> list[float]:
    return [float(i % 97), float(i // 97), 1.0, 0.5, float(i % 7), 0.25, float(i % 3), 2.0]


def kill_child(conn: MilvusConnection) -> int:
    assert conn.lite is not None and conn.lite.running
    pid = conn.lite.process.pid
    os.kill(pid, signal.SIGKILL)
    return pid


def recover(conn: MilvusConnection, svc: Session, old_pid: int, *names: str) -> dict[str, CollectionInfo]:
    """``reconnect()`` right away (the dead child may not even be reaped yet), then load."""
    conn.reconnect()
    new_pid = conn.lite.process.pid
    assert new_pid != old_pid and pid_alive(new_pid)
    assert wait_gone(old_pid, 5)
    infos = {}
    for name in names:
        if not svc.run(svc.describe(name, with_count=False)).loaded:
            svc.run(svc.load(name))  # Lite reports collections released after a restart
        infos[name] = svc.run(svc.describe(name))
    return infos


def keys_where(conn: MilvusConnection, name: str, expr: str) -> list[int]:
    rows = conn.client.query(name, filter=expr, output_fields=["pk"], limit=16384, consistency_level="Strong")
    return [r["pk"] for r in rows]


def assert_server_unavailable(exc: BaseException) -> None:
    assert isinstance(exc, ServerUnavailable), f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert "not answering" in str(exc) and "ctrl+r" in str(exc)


# -- killed during a search ----------------------------------------------------------------


async def test_kill_during_concurrent_async_searches(lite: MilvusConnection, svc: Session) -> None:
    name = make_collection(lite, 1000)
    info = svc.run(svc.describe(name))
    tasks = [asyncio.ensure_future(svc.arun(svc.search_by_vector(info, _vec(i), k=10))) for i in range(400)]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    old = kill_child(lite)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors, "every search finished before the kill: nothing was tested"
    for error in errors:
        assert_server_unavailable(error)
    await lite.aclose()
    infos = recover(lite, svc, old, name)
    assert infos[name].row_count == 1000
    assert svc.run(svc.search_by_vector(infos[name], _vec(5), k=3)).rows[0]["pk"] == 5


def test_kill_during_sync_search_loop(lite: MilvusConnection, svc: Session) -> None:
    name = make_collection(lite, 500)
    info = svc.run(svc.describe(name))
    done: list[int] = []
    failure: list[BaseException] = []

    def loop() -> None:
        try:
            for i in range(100_000):
                svc.run(svc.search_by_vector(info, _vec(i), k=5))
                done.append(i)
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)

    worker = threading.Thread(target=loop)
    worker.start()
    deadline = time.monotonic() + 30
    while len(done) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    old = kill_child(lite)
    worker.join(30)
    assert not worker.is_alive() and failure
    assert_server_unavailable(failure[0])
    infos = recover(lite, svc, old, name)
    assert infos[name].row_count == 500


# -- killed during a long delete -----------------------------------------------------------


def _backup_rows(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    return json.loads(lines[0]), [r for r in rows if "$backup_end" not in r]  # the trailer of a whole backup


def _audit(svc: Session) -> list[dict[str, Any]]:
    path = svc.audit_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _check_nothing_lost(lite: MilvusConnection, svc: Session, name: str, previewed: tuple[Any, ...],
                        backup: Path, total: int) -> list[int]:
    header, rows = _backup_rows(backup)
    backed = [r["pk"] for r in rows]
    assert header["count"] == len(previewed)
    assert sorted(backed) == sorted(previewed), "the backup must hold every previewed entity, once"
    remaining = keys_where(lite, name, "grp == 0")
    # The invariant: what is still in the collection plus what is in the backup is exactly
    # what was previewed, and nothing outside the preview was touched.
    assert set(remaining) <= set(previewed)
    assert set(remaining) | set(backed) == set(previewed)
    assert len(keys_where(lite, name, "grp == 1")) == total - len(previewed)
    assert header["vectors"] == {"vec": "float32-le-base64"}
    for row in rows:  # every line complete and bit-exact, even in a backup written up to a crash
        assert base64.b64decode(row["vec"], validate=True) == struct.pack("<8f", *_vec(row["pk"]))
        assert row["grp"] == row["pk"] % 2
    return remaining


def _delete_killed_during(lite: MilvusConnection, svc: Session, info: Any, preview: Any,
                          phase: str) -> tuple[Any, int]:
    """Run a backed-up delete (sync driver, batches of 50) and SIGKILL the Lite child once
    ``phase`` ("backing up" or "deleting") has done 300 entities; the raised error and the pid."""
    killed: dict[str, int] = {}

    def progress(p: Progress) -> None:
        if p.what == phase and p.done >= 300 and not killed:
            killed["pid"] = kill_child(lite)

    op = execute_delete(info, preview, backup_dir=svc.backup_dir, audit_path=svc.audit_path,
                        batch_size=50, server="fault-test")
    with pytest.raises(MilvusTuiError) as err:
        lite.run(op, Context(on_progress=progress))
    assert_server_unavailable(err.value)
    return err, killed["pid"]


def test_kill_mid_delete_sync_nothing_lost(lite: MilvusConnection, svc: Session) -> None:
    total = 2400
    name = make_collection(lite, total)
    info = svc.run(svc.describe(name))
    preview = svc.run(svc.preview_delete(info, expr="grp == 0"))
    assert preview.count == total // 2
    err, killed_pid = _delete_killed_during(lite, svc, info, preview, "deleting")
    assert "stopped after 300 of 1200" in str(err.value) and "backup" in str(err.value)
    record = _audit(svc)[-1]
    assert record["status"] == "failed" and record["previewed"] == 1200
    assert record["backed_up"] == 1200 and record["deleted"] == 300
    backup = Path(record["backup"])
    assert str(backup) in str(err.value)

    recover(lite, svc, killed_pid, name)
    remaining = _check_nothing_lost(lite, svc, name, preview.keys, backup, total)
    assert len(remaining) == 1200 - 300, "acknowledged deletes survive the crash"
    # Undo: the backup brings back exactly the original entities.
    svc.run(svc.restore(backup))
    assert sorted(keys_where(lite, name, "grp == 0")) == sorted(preview.keys)
    rows = lite.client.query(name, filter="pk in [2, 600, 2400]", output_fields=["*"], consistency_level="Strong")
    assert {r["pk"]: r["vec"] for r in rows} == pytest.approx({k: _vec(k) for k in (2, 600, 2400)})


async def test_kill_mid_delete_rpc_async_nothing_lost(lite: MilvusConnection, svc: Session) -> None:
    """The async driver, killed from a timer so the kill lands while a delete RPC is in flight."""
    total = 2400
    name = make_collection(lite, total)
    info = svc.run(svc.describe(name))
    preview = await svc.arun(svc.preview_delete(info, expr="grp == 0"))
    loop = asyncio.get_running_loop()
    killed: dict[str, int] = {}

    def progress(p: Progress) -> None:
        if p.what == "deleting" and p.done >= 200 and not killed:
            killed["pid"] = -1
            loop.call_later(0.002, lambda: killed.update(pid=kill_child(lite)))

    op = execute_delete(info, preview, backup_dir=svc.backup_dir, audit_path=svc.audit_path,
                        batch_size=50, server="fault-test")
    with pytest.raises(MilvusTuiError) as err:
        await lite.arun(op, Context(on_progress=progress))
    assert_server_unavailable(err.value)
    await lite.aclose()
    record = _audit(svc)[-1]
    assert record["status"] == "failed" and record["backed_up"] == 1200
    recover(lite, svc, killed["pid"], name)
    remaining = _check_nothing_lost(lite, svc, name, preview.keys, Path(record["backup"]), total)
    # A batch in flight at the kill may or may not have been applied; either way it is backed up.
    assert 1200 - record["deleted"] - 50 <= len(remaining) <= 1200 - record["deleted"]


def test_kill_during_backup_deletes_nothing(lite: MilvusConnection, svc: Session) -> None:
    total = 2400
    name = make_collection(lite, total)
    info = svc.run(svc.describe(name))
    preview = svc.run(svc.preview_delete(info, expr="grp == 0"))
    _, killed_pid = _delete_killed_during(lite, svc, info, preview, "backing up")
    infos = recover(lite, svc, killed_pid, name)
    assert infos[name].row_count == total, "nothing may be deleted before the backup is complete"
    assert sorted(keys_where(lite, name, "grp == 0")) == sorted(preview.keys)
    # The partial backup (written up to the crash, by the writer thread) holds whole lines only.
    (backup,) = svc.backup_dir.iterdir()
    header, rows = _backup_rows(backup)
    assert header["count"] == 1200 and 300 <= len(rows) < 1200
    assert set(r["pk"] for r in rows) < set(preview.keys)
    for row in rows:
        assert base64.b64decode(row["vec"], validate=True) == struct.pack("<8f", *_vec(row["pk"]))


# -- preview, then new matching rows, then confirm ----------------------------------------


async def test_only_previewed_rows_are_deleted(lite: MilvusConnection, svc: Session) -> None:
    name = make_collection(lite, 400)
    info = svc.run(svc.describe(name))
    # sync
    preview = svc.run(svc.preview_delete(info, expr="grp == 0 and pk <= 100"))
    assert preview.count == 50
    lite.client.insert(name, [{"pk": i, "grp": 0, "vec": _vec(i)} for i in range(10_001, 10_021)])
    report = svc.run(svc.delete(info, preview))
    assert report.deleted == 50
    assert sorted(keys_where(lite, name, "grp == 0 and (pk <= 100 or pk > 10000)")) == list(range(10_001, 10_021))
    # async
    apreview = await svc.arun(svc.preview_delete(info, expr="grp == 1 and pk <= 100"))
    lite.client.insert(name, [{"pk": i, "grp": 1, "vec": _vec(i)} for i in range(20_001, 20_011)])
    areport = await svc.arun(svc.delete(info, apreview))
    assert areport.deleted == apreview.count == 50
    assert sorted(keys_where(lite, name, "grp == 1 and (pk <= 100 or pk > 20000)")) == list(range(20_001, 20_011))
    assert svc.run(svc.count(name)) == 400 - 100 + 30
    await lite.aclose()


# -- killed during a bench run -------------------------------------------------------------


async def test_kill_during_bench_run(lite: MilvusConnection, svc: Session, embeddings) -> None:  # noqa: ANN001
    from tui.timing import BenchConfig, run_bench
    from tui.timing.engine import SCRATCH_PREFIX, connection_args_for

    keep = make_collection(lite, 300)  # the user's own data, which must come through untouched
    killed: dict[str, int] = {}

    def progress(op: str, mode: str, done: int, total: int) -> None:
        if op == "add" and done >= 10 and not killed:
            killed["pid"] = kill_child(lite)

    config = BenchConfig(ops=("add", "search"), ns=(40,), modes=("async", "sync"), corpus=60)
    started = time.monotonic()
    with pytest.raises(Exception) as err:  # noqa: PT011 - what it raises is checked below
        await asyncio.wait_for(run_bench(config, connection_args_for(lite), embeddings, progress=progress), 120)
    assert time.monotonic() - started < 110, "the bench must fail, not hang"
    assert killed, "the bench finished before the kill"
    assert_server_unavailable(translate(err.value))
    infos = recover(lite, svc, killed["pid"], keep)
    assert infos[keep].row_count == 300
    assert sorted(keys_where(lite, keep, "pk > 0")) == list(range(1, 301))
    # The run's scratch collection could not be dropped with the server dead; it is the only
    # thing left behind, and only a scratch collection (never user data).
    leftovers = [n for n in svc.run(svc.list_collections()) if n.startswith(SCRATCH_PREFIX)]
    for n in leftovers:
        svc.run(svc.drop(n))


async def test_bench_against_a_dead_server_raises_a_milvus_tui_error(embeddings) -> None:  # noqa: ANN001
    from tui.timing import BenchConfig, run_bench

    with socket_port() as port:
        args = {"uri": f"http://127.0.0.1:{port}", "db_name": "default"}
    with pytest.raises(Exception) as err:  # noqa: PT011
        await asyncio.wait_for(run_bench(BenchConfig(ops=("search",), ns=(2,), modes=("async",), corpus=5), args,
                                         embeddings), 60)
    assert isinstance(err.value, MilvusTuiError), repr(err.value)


class socket_port:  # noqa: N801 - a tiny context manager: a port nothing listens on
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


# -- the embedding endpoint misbehaves -----------------------------------------------------


@pytest.fixture(scope="module")
def emb_server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dim=256, api_key="sk-fault-test-key") as server:
        yield server


@pytest.fixture
def server(emb_server: EmbeddingServer) -> Iterator[EmbeddingServer]:
    emb_server.reset()
    emb_server.latency = 0.0
    yield emb_server
    emb_server.reset()
    emb_server.latency = 0.0


def provider(server: EmbeddingServer, **kw: Any) -> Any:
    return make_embeddings(EmbeddingSettings(provider="openai", base_url=server.base_url, api_key="sk-fault-test-key",
                                             **kw))


@pytest.fixture(scope="module")
def search_info(milvus_uri: str) -> Iterator[CollectionInfo]:
    """A small 256-d collection on the session server (searches need it; no kill here)."""
    conn = MilvusConnection(milvus_uri)
    conn.open()
    name = unique_name("emb_fault")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=256)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="COSINE")
    conn.client.create_collection(name, schema=schema, index_params=index)
    conn.client.insert(name, [{"pk": i, "vec": [float((i * j) % 5) + 0.1 for j in range(256)]} for i in range(20)])
    conn.client.flush(name)
    session = Session(conn)
    yield session.run(session.describe(name))
    conn.client.drop_collection(name)
    conn.close()


@pytest.fixture
def search_collection(milvus_uri: str, search_info: CollectionInfo) -> Iterator[tuple[MilvusConnection, CollectionInfo]]:
    """A connection per test: the async client binds to the test's own event loop."""
    conn = MilvusConnection(milvus_uri)
    conn.open()
    yield conn, search_info
    conn.close()


def _searcher(search_collection: Any, embeddings: Any) -> tuple[Session, CollectionInfo]:
    conn, info = search_collection
    return Session(conn, embeddings), info


def test_429_then_success_is_retried(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, max_retries=2))
    server.fail_next(429, 429)
    assert svc.run(svc.search(info, "read a file", k=3)).rows
    assert len(server.requests) == 3, "two 429s, then the retry that worked"


def test_429_every_time_gives_a_clear_final_error(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, max_retries=2))
    server.fail_next(429, 429, 429)
    with pytest.raises(EmbeddingError) as err:
        svc.run(svc.search(info, "read a file"))
    assert err.value.status == 429
    assert "HTTP 429" in str(err.value) and "after 2 retries" in str(err.value) and "rate limit" in str(err.value)
    assert len(server.requests) == 3


def test_500_is_retried_with_backoff_then_named(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, max_retries=2))
    server.fail_next(500, 500, 500)
    with pytest.raises(EmbeddingError) as err:
        svc.run(svc.search(info, "read a file"))
    assert err.value.status == 500 and "HTTP 500" in str(err.value) and f"127.0.0.1:{server.port}" in str(err.value)
    times = [r["time"] for r in server.requests]
    assert len(times) == 3
    # The client backs off between attempts (exponential, from ~0.5 s with jitter).
    assert all(later - earlier >= 0.2 for earlier, later in zip(times, times[1:])), times


async def test_timeout_is_retried_then_named_async(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, max_retries=1, timeout=0.3))
    server.latency = 1.0
    with pytest.raises(EmbeddingError) as err:
        await svc.arun(svc.search(info, "read a file"))
    await svc.conn.aclose()  # the async client's channel belongs to this test's loop
    assert "timed out after 0.3 s" in str(err.value) and "after 1 retries" in str(err.value)
    assert len(server.requests) == 2


def test_slow_endpoint_is_not_an_error(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, timeout=10))
    server.latency = 0.5
    assert svc.run(svc.search(info, "read a file", k=2)).rows


async def test_cancel_while_embedding_is_prompt(server: EmbeddingServer, search_collection: Any) -> None:
    svc, info = _searcher(search_collection, provider(server, timeout=30))
    server.latency = 5.0
    task = asyncio.ensure_future(svc.arun(svc.search(info, "read a file")))
    await wait_for_requests(server, 1)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0, "cancel must not wait for the slow endpoint"
    await svc.conn.aclose()


async def wait_for_requests(server: EmbeddingServer, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(server.requests) < n:
        assert time.monotonic() < deadline, "the endpoint was never called"
        await asyncio.sleep(0.01)


# -- the app ---------------------------------------------------------------------------


@pytest.fixture
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _local_data_with_collection(path: Path, n: int = 200) -> str:
    """A Lite data dir holding collection ``c``; the child that made it is stopped again."""
    conn = MilvusConnection(str(path))
    conn.open()
    try:
        make_collection(conn, n, "c")
    finally:
        conn.close()
    return str(path)


async def _open_loaded(pilot: Any, app: MilvusTuiApp) -> None:
    await wait_until(pilot, lambda: app.main.info is not None and not app.main.running, 60, "the collection")
    if not app.main.info.loaded:
        app.main.action_load()
    await wait_result(pilot, app, lambda r: r.kind == "page" and r.page == 0 and r.rows, 60, "the first page")


async def test_app_kill_child_then_error_then_ctrl_r_reconnects(tmp_path: Path, app_home: Path) -> None:
    data = _local_data_with_collection(tmp_path / "data")
    app = MilvusTuiApp(Settings(uri=data, collection="c"))
    async with app.run_test(size=SIZE) as pilot:
        await _open_loaded(pilot, app)
        old = kill_child(app.main.conn)
        await submit(pilot, app, "filter", "pk > 150")
        message = await wait_until(pilot, lambda: query_error(app).strip(), 30, "the error")
        assert "not answering" in message and "ctrl+r" in message
        assert app.is_running
        await focus_table(pilot, app)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.main.connected and app.main.conn.lite.running
                         and app.main.conn.lite.process.pid != old, 60, "the reconnect")
        assert wait_gone(old, 5)
        await wait_until(pilot, lambda: app.main.info is not None and not app.main.running, 60, "the catalog")
        if not app.main.info.loaded:
            app.main.action_load()
            await wait_until(pilot, lambda: app.main.info.loaded and not app.main.running, 60, "the load")
        await submit(pilot, app, "filter", "pk > 150")
        got = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == "pk > 150", 60, "the filter")
        assert got.total == 50 and [r["pk"] for r in got.rows] == list(range(151, 201))
        assert result(app) is got
        pid = app.main.conn.lite.process.pid
    assert wait_gone(pid, 5)
    assert lite_pids_for(Path(data).resolve()) == []


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_app_quit_while_a_slow_search_runs(mode: str, tmp_path: Path, app_home: Path,
                                                  emb_server: EmbeddingServer) -> None:
    data = _local_data_with_collection(tmp_path / "data", 20)
    emb_server.reset()
    emb_server.latency = 3.0  # long enough to be mid-request at quit; short, so no thread lingers
    settings = Settings(uri=data, collection="c", embedding_provider="openai", base_url=emb_server.base_url,
                        api_key="sk-fault-test-key", embedding_dimensions=None)
    app = MilvusTuiApp(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await _open_loaded(pilot, app)
            await wait_embeddings(pilot, app)
            if mode == "sync":
                app.main.query_one("#exec-mode").value = "sync"
                await wait_until(pilot, lambda: app.main.exec_mode == "sync", 5, "sync mode")
            pid = app.main.conn.lite.process.pid
            requests = len(emb_server.requests)
            await submit(pilot, app, "search", "a slow search")
            await wait_until(pilot, lambda: len(emb_server.requests) > requests and app.main.running, 10,
                             "the slow search")
            started = time.monotonic()
            await pilot.press("ctrl+c")
        elapsed = time.monotonic() - started
    finally:
        emb_server.latency = 0.0
    assert elapsed < 2.0, f"quit took {elapsed:.2f} s with a {mode} search running"
    assert not pid_alive(pid) or wait_gone(pid, 0.5), "the Lite child outlived the app"
    assert lite_pids_for(Path(data).resolve()) == []


QUIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from tui.app import MilvusTuiApp, run_app
    from tui.config import Settings

    data, base_url, out = sys.argv[1:4]

    def note(*parts):
        with open(out, "a") as f:
            f.write(" ".join(map(str, parts)) + "\\n")

    settings = Settings(uri=data, collection="c", embedding_provider="openai", base_url=base_url,
                        api_key="sk-fault-test-key")
    app = MilvusTuiApp(settings)

    async def auto(pilot):
        main = app.main
        while not (main.connected and main.session.embeddings is not None and main.info is not None):
            await asyncio.sleep(0.05)
        if not main.info.loaded:
            main.action_load()
        while not (main.info.loaded and not main.running):
            await asyncio.sleep(0.05)
        note("PID", main.conn.lite.process.pid)
        main.query_one("#exec-mode").value = "sync"
        await pilot.pause(0.2)
        main.query_one("#query-mode").value = "search"
        main.query_one("#query-input").value = "a slow search"
        main.query_one("#query-input").focus()
        await pilot.press("enter")
        await asyncio.sleep(0.5)
        note("RUNNING", ",".join(main.running))
        note("QUIT", time.monotonic())
        await pilot.press("ctrl+c")

    app.run(headless=True, auto_pilot=auto)
    app.main.conn.close()
    note("RETURNED", time.monotonic())
    """
)


def test_process_exits_within_2s_after_quit_with_a_sync_worker_blocked(tmp_path: Path,
                                                                      emb_server: EmbeddingServer) -> None:
    data = _local_data_with_collection(tmp_path / "data", 20)
    out = tmp_path / "out.txt"
    env = {**os.environ, "MILVUS_TUI_HOME": str(tmp_path / "home")}
    emb_server.reset()
    emb_server.latency = 20.0
    proc = subprocess.Popen([sys.executable, "-c", QUIT_SCRIPT, data, emb_server.base_url, str(out)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "QUIT" not in (out.read_text() if out.exists() else "") and time.monotonic() < deadline:
            assert proc.poll() is None, "the app ended before the quit"
            time.sleep(0.05)
        notes = dict(line.split(" ", 1) for line in out.read_text().splitlines())
        assert "search" in notes.get("RUNNING", ""), notes
        quit_at = float(notes["QUIT"])
        try:
            proc.wait(max(0.1, quit_at + 2.0 - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        exited = proc.poll() is not None
    finally:
        emb_server.latency = 0.0
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    pid = int(notes["PID"])
    assert wait_gone(pid, 10), "the Lite child outlived the app"
    assert exited, "the process was still running 2 s after ctrl+c"


def _embedding_app(uri: str, info: CollectionInfo, server: EmbeddingServer) -> MilvusTuiApp:
    return MilvusTuiApp(Settings(uri=uri, collection=info.name, embedding_provider="openai",
                                 base_url=server.base_url, api_key="sk-fault-test-key"))


async def test_app_embedding_failures_are_clear_and_cancel_is_prompt(milvus_uri: str, search_info: CollectionInfo,
                                                                     server: EmbeddingServer, app_home: Path) -> None:
    app = _embedding_app(milvus_uri, search_info, server)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.rows, 60, "the first page")
        except AssertionError:
            from tests.apphelpers import notifications, status, title

            raise AssertionError(f"no first page: running={app.main.running} connected={app.main.connected} "
                                 f"status={status(app).connection!r} title={title(app)!r} "
                                 f"notes={notifications(app)} ops={app.main.op_log}") from None
        await wait_embeddings(pilot, app)
        # A 500 on every attempt: retried by the client, then one clear error naming the status.
        server.reset()
        server.fail_next(500, 500, 500)
        await submit(pilot, app, "search", "read a file")
        message = await wait_until(pilot, lambda: query_error(app).strip(), 30, "the final error")
        assert "HTTP 500" in message and f"127.0.0.1:{server.port}" in message and "retries" in message
        assert len(server.requests) == 3
        await wait_until(pilot, lambda: not app.main.running, 10, "idle")
        # A slow endpoint: esc cancels the search at once, and the app stays usable.
        server.latency = 5.0
        await submit(pilot, app, "search", "a slow search")
        await wait_until(pilot, lambda: app.main.running and server.requests[3:], 10, "the slow search")
        await focus_table(pilot, app)
        started = time.monotonic()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.main.running, 5, "the cancel")
        assert time.monotonic() - started < 1.0
        server.latency = 0.0
        await submit(pilot, app, "search", "read a file")
        got = await wait_result(pilot, app, lambda r: r.kind == "search" and r.rows, 30, "a search after cancel")
        assert got.rows


async def test_app_shows_embedding_retries_while_they_happen(milvus_uri: str, search_info: CollectionInfo,
                                                            server: EmbeddingServer, app_home: Path) -> None:
    from tests.apphelpers import notifications, status, title

    app = _embedding_app(milvus_uri, search_info, server)
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.rows, 30, "the first page")
        await wait_embeddings(pilot, app)
        server.reset()
        server.fail_next(500, 500)
        await submit(pilot, app, "search", "read a file")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            seen.append(" ".join([status(app).running, title(app), *notifications(app)]))
            r = result(app)
            if r is not None and r.kind == "search" and not app.main.running:
                break
            await pilot.pause(0.05)
    assert len(server.requests) == 3  # the retries did happen
    assert any("retr" in text.lower() for text in seen), "no retry was ever shown"


async def test_app_kill_mid_delete_shows_error_and_loses_nothing(tmp_path: Path, app_home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.apphelpers import notifications
    from tui.screens.delete import ConfirmDeleteScreen

    monkeypatch.setitem(execute_delete.__kwdefaults__, "batch_size", 50)  # many batches, so the kill lands mid-way
    data = _local_data_with_collection(tmp_path / "data", 2400)
    app = MilvusTuiApp(Settings(uri=data, collection="c"))
    killed: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        await _open_loaded(pilot, app)
        conn = app.main.conn
        real_arun = conn.arun

        async def arun(op: Any, ctx: Context | None = None) -> Any:  # the driver the app uses, instrumented
            if ctx is not None and ctx.on_progress is not None:
                report = ctx.on_progress

                def on_progress(p: Progress) -> None:
                    report(p)
                    if p.what == "deleting" and p.done >= 300 and not killed:
                        killed.append(kill_child(conn))

                ctx.on_progress = on_progress
            return await real_arun(op, ctx)

        conn.arun = arun  # type: ignore[method-assign]
        await submit(pilot, app, "filter", "grp == 0")
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == "grp == 0", 30, "the filter")
        await focus_table(pilot, app)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), 30, "the delete modal")
        preview = app.screen.preview
        assert preview.count == 1200 and app.screen.needs_typing
        app.screen.query_one("#delete-typed").value = "c"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("not answering" in n for n in notifications(app)), 60, "the error")
        failure = next(n for n in notifications(app) if "not answering" in n)
        assert "stopped after 300 of 1200" in failure
        assert "backup" in failure and "ctrl+r" in failure
        await focus_table(pilot, app)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.main.connected and conn.lite.running
                         and conn.lite.process.pid != killed[0], 60, "the reconnect")
        await wait_until(pilot, lambda: app.main.info is not None and not app.main.running, 60, "the catalog")
        if not app.main.info.loaded:
            app.main.action_load()
            await wait_until(pilot, lambda: app.main.info.loaded and not app.main.running, 60, "the load")
        audit = [json.loads(line) for line in (app_home / "state" / "audit.jsonl").read_text().splitlines()]
        record = audit[-1]
        assert record["status"] == "failed" and record["deleted"] == 300 and record["backed_up"] == 1200
        svc = Session(conn, None, backup_dir=app_home / "state" / "backups", audit_path=app_home / "state" / "audit.jsonl")
        remaining = _check_nothing_lost(conn, svc, "c", preview.keys, Path(record["backup"]), 2400)
        assert len(remaining) == 900
        svc.run(svc.restore(Path(record["backup"])))
        assert svc.run(svc.count("c")) == 2400
