"""Quitting never waits for a thread worker stuck in a blocking call.

The real command (``python -m tui``) runs on a pseudo-terminal against its own embedded
Milvus Lite, in sync mode, with an embedding endpoint that holds every request for a
minute: a search's thread worker sits in the openai client's blocking read. Then q, and
the process (its Lite child too) must be gone within 2 s. With a plain
``ThreadPoolExecutor`` as the loop's default executor it is not: ``asyncio.run`` and then
the interpreter's exit join the stuck thread (checked when ``tui/executor.py`` was written).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.embedding_server import EmbeddingServer
from tui.milvus.lite import STATE_FILE, LiteServer

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]")
API_KEY = "sk-quit-test-key"
DIM = 64


class Terminal:
    """A process on a wide pty (200x40: the status bar shows the embedding model); a thread keeps reading, so the app never blocks on output."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                                     start_new_session=True)
        os.close(slave)
        self._raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the process and every holder of the pty are gone
                return
            if not chunk:
                return
            with self._lock:
                self._raw += chunk

    def text(self) -> str:
        with self._lock:
            raw = bytes(self._raw)
        return ANSI.sub("", raw.decode("utf-8", "replace"))

    def mark(self) -> int:
        """Where the output is now: ``wait_for(..., since=mark)`` looks only at what follows."""
        return len(self.text())

    def wait_for(self, what: str, ready: Callable[[str], bool], timeout: float, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready(self.text()[since:]):
                return
            assert self.proc.poll() is None, f"the app exited ({self.proc.returncode}) before {what}: {self.tail()!r}"
            time.sleep(0.05)
        raise AssertionError(f"never saw {what} within {timeout} s; screen tail: {self.tail()!r}")

    def tail(self) -> str:
        return self.text()[-800:]

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)
        self._reader.join(5)


@pytest.fixture
def emb_server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dim=DIM, api_key=API_KEY) as server:
        yield server


def _data_dir_with_collection(path: Path) -> str:
    """A Lite data directory holding collection ``c`` (20 rows, loaded); its server stopped again."""
    from pymilvus import DataType, MilvusClient

    with LiteServer(path) as server:
        client = MilvusClient(uri=server.uri)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        index = MilvusClient.prepare_index_params()
        index.add_index("vec", index_type="AUTOINDEX", metric_type="COSINE")
        client.create_collection("c", schema=schema, index_params=index)
        client.insert("c", [{"pk": i, "vec": [float((i * j) % 5) + 0.1 for j in range(DIM)]} for i in range(20)])
        client.flush("c")
        client.close()
    return str(path)


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_q_exits_within_2s_while_a_sync_search_waits_on_the_embedding_endpoint(
        tmp_path: Path, emb_server: EmbeddingServer, request: pytest.FixtureRequest) -> None:
    # A short path, so the status bar has room for the embedding model's name.
    short = Path(tempfile.mkdtemp(prefix="mtq-"))
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    data = _data_dir_with_collection(short / "data")
    env = {**os.environ, "MILVUS_TUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color",
           "COLUMNS": "200", "LINES": "40", "OPENAI_API_KEY": API_KEY}
    term = Terminal([sys.executable, "-m", "tui", "--uri", data, "-c", "c", "--embedding-provider", "openai",
                     "--base-url", emb_server.base_url], env)
    try:
        # Connected to its own Lite child with collection c open (released: its server stopped).
        term.wait_for("collection c", lambda s: "· db default" in s and ("press l to load" in s or "20 entities" in s),
                      90)
        if "20 entities" not in term.text():
            term.press(b"l")
        term.wait_for("the first page and the embedding model",
                      lambda s: "20 entities" in s and "openai · text-embedding" in s, 60)
        child = json.loads((Path(data) / STATE_FILE).read_text())["pid"]
        since = term.mark()
        term.press(b"x")
        term.wait_for("sync mode", lambda s: "sync (thread)" in s, 10, since)
        term.press(b"/")
        time.sleep(0.3)
        emb_server.latency = 60.0  # the next request hangs well past the 30 s client timeout's first try
        before = len(emb_server.requests)
        since = term.mark()
        term.press(b"a slow search\r")
        term.wait_for("the stuck search", lambda s: "searching for" in s and len(emb_server.requests) > before,
                      30, since)
        term.press(b"\x1b[Z")  # shift+tab: out of the search input, so q is a key binding, not text
        time.sleep(0.3)
        pressed = time.monotonic()
        term.press(b"q")
        try:
            term.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            pass
        elapsed = time.monotonic() - pressed
        exited = term.proc.poll() is not None
        assert exited, f"still running 2 s after q, with a sync search stuck; screen tail: {term.tail()!r}"
        assert term.proc.returncode == 0, term.tail()
        assert _gone(child, 2.0), "the Lite child outlived the app"
        print(f"exited {elapsed:.2f} s after q")
    finally:
        emb_server.latency = 0.0
        term.close()


STUCK_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from tui.executor import DaemonThreadPool

    pool = DaemonThreadPool(max_workers=2)
    started = threading.Event()
    pool.submit(lambda: (started.set(), time.sleep(60)))
    pool.submit(time.sleep, 60)  # on the second thread
    queued = pool.submit(time.sleep, 60)  # behind both: shutdown cancels it
    started.wait(5)
    pool.shutdown(wait=True)  # as asyncio.run asks: must not wait
    print("SHUT", queued.cancelled(), flush=True)
    """
)


def test_a_stuck_job_delays_neither_shutdown_nor_interpreter_exit() -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", STUCK_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "SHUT True" in out.stdout
    assert time.monotonic() - started < 10  # interpreter start and imports; the jobs sleep 60 s


def test_the_pool_runs_calls_reuses_threads_and_reports_errors() -> None:
    from tui.executor import DaemonThreadPool

    pool = DaemonThreadPool(max_workers=3)
    try:
        assert pool.submit(lambda a, b=0: a + b, 1, b=2).result(5) == 3
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(5)
        names = {pool.submit(lambda: threading.current_thread().name).result(5) for _ in range(20)}
        assert len(names) == 1 and names.pop().startswith("milvus-tui-worker-")  # one at a time: reused
        gate = threading.Event()
        running = [pool.submit(gate.wait, 10) for _ in range(3)]
        queued = pool.submit(lambda: "late")
        time.sleep(0.2)
        assert not queued.done()  # three threads at most, all busy
        assert all(t.daemon for t in threading.enumerate() if t.name.startswith("milvus-tui-worker-"))
        gate.set()
        assert queued.result(5) == "late" and all(f.result(5) for f in running)
    finally:
        pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(print)
