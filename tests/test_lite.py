"""The embedded default: Milvus Lite as a child process we start, check and always stop.

Every test here starts its own ``milvus-lite server`` child on its own data directory
(the session server from conftest is not touched), and checks the process table, not
just our own bookkeeping, to prove the child is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pymilvus import DataType, MilvusClient

from tui.milvus import MilvusConnection
from tui.session import Session
from tui.errors import DataDirInUse, MilvusTuiError, ServerUnavailable
from tui.milvus.lite import CHILD_SCRIPT, LiteServer

ROOT = Path(__file__).resolve().parent.parent


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running process (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name.
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def lite_pids_for(data_dir: Path) -> list[int]:
    """Every live Milvus Lite process whose command line names ``data_dir``: ``milvus-lite
    server`` or our child (``lite_child.py``, which becomes it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        command = b" ".join(argv)
        if (b"milvus_lite" in command or b"lite_child.py" in command) and str(data_dir).encode() in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _make_small_collection(uri: str, name: str, n: int = 20) -> None:
    client = MilvusClient(uri=uri)
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
        index = MilvusClient.prepare_index_params()
        index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index)
        client.insert(name, [{"pk": i, "vec": [float(i), 0.0, 1.0, 2.0]} for i in range(1, n + 1)])
        client.flush(name)
    finally:
        client.close()


def test_lite_server_starts_answers_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = LiteServer(data)
    uri = server.start()
    try:
        assert server.running
        assert uri == f"http://127.0.0.1:{server.port}"
        pid = server.process.pid
        assert pid_alive(pid)
        assert lite_pids_for(data.resolve()) == [pid]
        client = MilvusClient(uri=uri)
        try:
            assert client.list_collections() == []
            assert client.get_server_version()
        finally:
            client.close()
    finally:
        server.stop()
    assert not server.running
    assert wait_gone(pid, 5), "stop() left the Lite child running"
    assert lite_pids_for(data.resolve()) == []
    # The state file naming the stopped server is removed, so nobody tries to reach it.
    assert not (data / "milvus-tui.server.json").exists()
    server.stop()  # idempotent


def test_second_server_on_same_data_dir_is_refused_with_the_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiteServer(data) as first:
        second = LiteServer(data)
        with pytest.raises(DataDirInUse) as info:
            second.start()
        message = str(info.value)
        assert str(first.port) in message
        assert str(data.resolve()) in message
        assert f"--uri http://127.0.0.1:{first.port}" in message
        assert not second.running
        # The refused start did not disturb the server that holds the directory.
        assert first.running
        assert lite_pids_for(data.resolve()) == [first.process.pid]
    # Once the first one is gone the directory is free again.
    with LiteServer(data) as third:
        assert third.running


def test_connection_to_local_path_owns_its_child(tmp_path: Path) -> None:
    data = tmp_path / "db"
    conn = MilvusConnection(str(data))
    assert conn.kind == "Milvus Lite (embedded)"
    with pytest.raises(ServerUnavailable):
        _ = conn.endpoint  # not started yet
    info = conn.open()
    try:
        assert info.kind == "Milvus Lite (embedded)"
        assert info.uri == str(data)
        assert conn.lite is not None and conn.lite.running
        pid = conn.lite.process.pid
        session = Session(conn)
        assert session.run(session.list_collections()) == []
    finally:
        conn.close()
    assert wait_gone(pid, 5)
    assert lite_pids_for(data.resolve()) == []
    conn.close()  # safe twice


def test_killed_child_raises_server_unavailable_and_reconnect_restarts_with_data(tmp_path: Path) -> None:
    data = tmp_path / "db"
    conn = MilvusConnection(str(data))
    conn.open()
    try:
        _make_small_collection(conn.endpoint, "kept", n=20)
        session = Session(conn)
        assert session.run(session.count("kept")) == 20
        old_pid = conn.lite.process.pid
        os.kill(old_pid, signal.SIGKILL)
        assert wait_gone(old_pid, 5)

        with pytest.raises(MilvusTuiError) as info:
            session.run(session.list_collections())
        assert isinstance(info.value, ServerUnavailable), repr(info.value)
        assert "not answering" in str(info.value)

        server_info = conn.reconnect()
        assert server_info.kind == "Milvus Lite (embedded)"
        new_pid = conn.lite.process.pid
        assert new_pid != old_pid and pid_alive(new_pid)
        assert session.run(session.list_collections()) == ["kept"]
        # Lite reports collections released after a restart; loading brings the data back.
        if session.run(session.describe("kept", with_count=False)).load_state != "Loaded":
            session.run(session.load("kept"))
        assert session.run(session.count("kept")) == 20
    finally:
        conn.close()
    assert lite_pids_for(data.resolve()) == []


def test_server_started_from_a_finished_thread_keeps_running(tmp_path: Path) -> None:
    """The app connects from a thread worker that ends right after; the server must outlive it.

    (A parent-death signal set with prctl fires when the starting *thread* exits.)"""
    server = LiteServer(tmp_path / "data")
    errors: list[BaseException] = []

    def start() -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=start)
    worker.start()
    worker.join()
    try:
        assert not errors, errors
        time.sleep(1.5)
        assert server.running, f"the server died with its starting thread: {server.log_tail()}"
        client = MilvusClient(uri=server.uri)
        try:
            assert client.list_collections() == []
        finally:
            client.close()
    finally:
        server.stop()


PARENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from tui.milvus.lite import CHILD_SCRIPT, LiteServer

    server = LiteServer(sys.argv[1])
    server.start()
    print(server.process.pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc")
def test_lite_child_exits_when_parent_is_sigkilled(tmp_path: Path) -> None:
    data = tmp_path / "orphan"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(data)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    child_pid = None
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"parent did not report the child pid: {line!r}"
        child_pid = int(line)
        assert pid_alive(child_pid)
        assert lite_pids_for(data.resolve()) == [child_pid]
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        # No Python code ran in the parent: only the kernel closing its end of the lifeline
        # pipe tells the child that its parent is gone.
        assert wait_gone(child_pid, 10), "the Lite child outlived its SIGKILLed parent"
        assert lite_pids_for(data.resolve()) == []
        # It shut down cleanly (closing its database), not by being killed.
        assert "Shutting down" in (data / "milvus-tui.server.log").read_text()
        # And the data directory is free for the next app.
        with LiteServer(data) as again:
            assert again.running
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        if child_pid is not None and pid_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_async_client_is_bound_to_one_loop(lite_server: LiteServer) -> None:
    conn = MilvusConnection(lite_server.uri)
    conn.open()
    try:
        session = Session(conn)
        assert "default" in asyncio.run(session.arun(session.list_databases()))
        # A second loop must get a clear error, not grpc's "Event loop is closed".
        with pytest.raises(MilvusTuiError, match="another event loop"):
            asyncio.run(session.arun(session.list_databases()))
        # The sync client is unaffected, and dropping the clients allows a new loop.
        assert "default" in session.run(session.list_databases())
        conn.close_clients()
        assert "default" in asyncio.run(session.arun(session.list_databases()))
    finally:
        conn.close()


def test_unknown_database_is_refused_on_open(lite_server: LiteServer) -> None:
    conn = MilvusConnection(lite_server.uri, db_name="no_such_db")
    try:
        with pytest.raises(MilvusTuiError, match="Database 'no_such_db' does not exist"):
            conn.open()
    finally:
        conn.close()


def test_the_child_boots_without_the_pymilvus_client_or_our_package(tmp_path: Path) -> None:
    """The child's boot speed: the server needs pymilvus's protobuf modules only (its
    ``__init__`` would load the client, pandas and requests, ~0.9 s), and none of ``tui``."""
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        # stdin is the lifeline: held open until the child has exited ("--help" stops it).
        child = subprocess.Popen([sys.executable, "-X", "importtime", "-P", str(CHILD_SCRIPT), "server", "--help"],
                                 stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, cwd=ROOT,
                                 env={**os.environ, "MILVUS_TUI_PARENT_PID": ""})
        try:
            assert child.wait(60) == 0, err.read_text()[-2000:]
        finally:
            child.stdin.close()
    assert "usage: milvus-lite server" in out.read_text()
    imported = {line.split("|")[-1].strip() for line in err.read_text().splitlines() if line.startswith("import time:")}
    assert "pymilvus.grpc_gen.milvus_pb2" in imported  # what the server does import
    heavy = sorted(m for m in imported if m.split(".")[0] in ("tui", "pandas", "requests")
                   or m.startswith(("pymilvus.milvus_client", "pymilvus.orm")))
    assert heavy == []
