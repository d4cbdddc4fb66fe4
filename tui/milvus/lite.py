"""The embedded default: Milvus Lite run as a child process that we own.

Milvus Lite 3 is a pure-Python gRPC server. Started inside our process it competes
with the UI for the GIL (the brief measured event-loop lag p99 113 ms that way, 4.9 ms
with a child process), so we start ``milvus-lite server`` as a child on a free
loopback port, wait until it answers, and stop it on every exit path:
``stop()``/``atexit`` for normal exits, and a lifeline pipe for the paths no Python code
runs on (SIGKILL of the app): the child's stdin is a pipe only we hold open, and a thread
in the child stops the server when it reads EOF.

Why not ``prctl(PR_SET_PDEATHSIG)`` in a ``preexec_fn``? Two measured reasons: the
signal fires when the *thread* that started the child exits, and the app connects from
a thread worker, so the server died as soon as the connection was made; and a
``preexec_fn`` forces ``fork()`` of a process running gRPC threads, whose fork handlers
made ~4% of starts abort ("epoll_wait error: Bad file descriptor", exit -6). So the child
sets it on itself, after ``exec``, and only when the parent asks for it: a spawn from the
main thread (the CLI's), whose exit is the process's. A thread in the child also watches
the parent's pid, for the case where the lifeline's write end leaked into another process.

A killed parent's child used to hold the data directory's lock for 3-10 s (measured):
started from a shell script's background job, it inherits SIGINT *ignored*, so our SIGINT
did nothing and only the 10 s fallback ended it; and a graceful stop drains in-flight
requests for up to 5 s. So the child restores the SIGINT handler, and a new start waits
(bounded) for a lock whose holder's parent is gone, instead of failing with "in use".
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataDirInUse, InvalidInput, ServerUnavailable

STATE_FILE = "milvus-tui.server.json"
LOG_FILE = "milvus-tui.server.log"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The child's entry point, run as a script by its file path (``lite_child.py`` says what it
#: does). Not ``-m tui.milvus.lite_child``: that needs ``tui`` importable in the child, which
#: holds only if the app found it through the environment (installed, PYTHONPATH, the working
#: directory) and not through a script's own ``sys.path`` edit, and it would run
#: ``tui/__init__`` and ``tui/milvus/__init__`` (~0.1 s of imports) before the server's. ``-P``
#: keeps the script's directory off ``sys.path`` (tui/milvus: its ``errors``, ``values``,
#: ``export``... could shadow top-level modules of the server's dependencies).
CHILD_SCRIPT = Path(__file__).with_name("lite_child.py")


def data_dir_holder(data_dir: Path) -> dict | None:
    """Who holds the data directory's lock, if anyone (from our state file)."""
    lock = data_dir / "LOCK"
    if not lock.exists():
        return None
    import fcntl

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            return json.loads((data_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


#: How long a start waits for the lock of a server whose parent is gone: Lite drains
#: in-flight requests for up to 5 s when it stops, then closes its database.
ORPHAN_WAIT = 12.0
#: ... and for a lock whose holder left no state file (killed while starting, or not ours).
UNKNOWN_HOLDER_WAIT = 3.0


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_orphan(data_dir: Path) -> dict | None:
    """The lock's holder (as ``data_dir_holder``), after waiting while it is a server whose
    parent died (it is stopping: the previous command was killed) or one with no state file."""
    start = time.monotonic()
    while True:
        holder = data_dir_holder(data_dir)
        if holder is None:
            return None
        if holder.get("app_pid") is None:
            limit = UNKNOWN_HOLDER_WAIT
        elif not _alive(holder.get("app_pid")):
            limit = ORPHAN_WAIT
        else:
            return holder
        if time.monotonic() - start >= limit:
            return holder
        time.sleep(0.05)


class LiteServer:
    """A ``milvus-lite server`` child process on 127.0.0.1 and a free port."""

    def __init__(self, data_dir: str | os.PathLike[str], *, startup_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        #: True once ``wait_ready`` saw the spawned child answer.
        self.ready = False

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> str:
        """Start the server and block until it answers; return its URI."""
        self.spawn()
        return self.wait_ready()

    def spawn(self) -> None:
        """Start the child without waiting for it; ``wait_ready`` waits (the caller may do
        other work meanwhile: the child takes ~0.5 s to import and bind)."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise data_dir_error(self.data_dir, exc) from None
        holder = wait_for_orphan(self.data_dir)
        if holder is not None:
            raise DataDirInUse(_in_use_message(self.data_dir, holder))
        self.port = free_port()
        self.ready = False
        env = dict(os.environ, MILVUS_TUI_PARENT_PID=str(os.getpid()))
        # pymilvus (imported lazily in the child) would parse a data directory as its own URI.
        env["MILVUS_URI"] = ""
        if threading.current_thread() is threading.main_thread():
            env["MILVUS_TUI_PDEATHSIG"] = "1"
        try:  # the first write: a read-only directory fails here, not in the child
            log = open(self.data_dir / LOG_FILE, "ab")
        except OSError as exc:
            raise data_dir_error(self.data_dir, exc) from None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", str(CHILD_SCRIPT), "server", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.PIPE, stdout=log, stderr=log, env=env,
                # A new process group: ctrl+c in the terminal reaches the app, which then stops
                # the server gracefully, instead of killing the server mid-write.
                process_group=0,
            )
        finally:
            log.close()
        atexit.register(self.stop)

    def wait_ready(self) -> str:
        """Block until the spawned child answers (stopping it on failure); return its URI."""
        if self.process is None:
            raise ServerUnavailable("The embedded Milvus Lite server was not started.")
        if self.ready and self.running:
            return self.uri
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.ready = True
        with contextlib.suppress(OSError):
            (self.data_dir / STATE_FILE).write_text(
                json.dumps({"pid": self.process.pid, "port": self.port, "app_pid": os.getpid()})
            )
        return self.uri

    def _wait_until_ready(self) -> None:
        assert self.process is not None and self.port is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                if "DataDirLockedError" in tail or "holds the lock" in tail:
                    raise DataDirInUse(_in_use_message(self.data_dir, {}))
                raise ServerUnavailable(
                    f"Milvus Lite exited during startup (code {self.process.returncode}). "
                    f"Last lines of {self.data_dir / LOG_FILE}:\n{tail}"
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)  # the child is up ~0.5 s after spawn; poll finely
        raise ServerUnavailable(
            f"Milvus Lite did not answer within {self.startup_timeout:.0f} s "
            f"(data directory {self.data_dir}). See {self.data_dir / LOG_FILE}."
        )

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = (self.data_dir / LOG_FILE).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGINT lets it close the database cleanly; then force it.

        The wait is long because a forced stop can cut Milvus Lite 3.2.2 in the middle of writing
        an index file (it writes them in place, with no temporary file): the next load of that
        collection then fails ("This file contains pickled (object) data", seen in a full run
        when `delete` followed `ingest` of 20,000 entities; stopped after 1.5 s, SIGKILL came mid-write).
        An idle server closes in well under a second."""
        process, self.process = self.process, None
        self.ready = False
        if process is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Lite keeps a write-ahead log, so a forced stop loses nothing acknowledged (but
                # see above: an index file being written is left broken).
                process.kill()
                process.wait(5)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        with contextlib.suppress(OSError):
            state = self.data_dir / STATE_FILE
            if json.loads(state.read_text()).get("pid") == process.pid:
                state.unlink()

    def __enter__(self) -> LiteServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class OnDiskCatalog:
    """Names read from a Lite data directory before its server answers: not confirmed."""

    databases: tuple[str, ...]
    collections: tuple[str, ...]


#: More collections than this and the pre-listing is skipped: reading thousands of schema
#: files would delay the first frame, and the server's catalog would take long anyway.
ON_DISK_MAX_COLLECTIONS = 300
#: ``schema_format_version`` values of the Lite releases whose layout this reader knows.
_KNOWN_SCHEMA_FORMATS = (1, 2)


def read_on_disk_catalog(data_dir: str | os.PathLike[str], db_name: str = "default") -> OnDiskCatalog | None:
    """The databases and ``db_name``'s collections that Milvus Lite 3 would list for
    ``data_dir``, read from its files (a few ``listdir`` calls and one small JSON file per
    collection; no Milvus import), or None when the directory is not a layout we know.

    Layout (milvus_lite 3.2, ``milvus_lite/db.py``): ``LOCK``, ``collections/<name>/schema.json``
    for the default database, ``databases/<db>/collections/<name>/schema.json`` for the others.
    Lite lists a collection when its directory holds ``schema.json``, and drops one by
    removing its directory. We are stricter: the schema must parse and name that collection,
    so nothing half-written or foreign is shown. The result is a hint for the first frame;
    the server's own catalog replaces it.
    """
    root = Path(data_dir).expanduser()
    try:
        if not ((root / "LOCK").is_file() and (root / "collections").is_dir() and (root / "databases").is_dir()):
            return None
        databases = ["default"]
        for entry in os.scandir(root / "databases"):
            if entry.is_dir() and entry.name != "default":
                databases.append(entry.name)
        home = root if db_name in ("", "default") else root / "databases" / db_name
        if not (home / "collections").is_dir():
            return None
        entries = [e for e in os.scandir(home / "collections") if e.is_dir()]
        if len(entries) > ON_DISK_MAX_COLLECTIONS:
            return None
        names = [e.name for e in entries if _names_collection(Path(e.path) / "schema.json", e.name)]
    except OSError:
        return None
    return OnDiskCatalog(tuple(sorted(databases)), tuple(sorted(names)))


def _names_collection(schema_path: Path, name: str) -> bool:
    try:
        if schema_path.stat().st_size > 1_000_000:
            return False
        schema = json.loads(schema_path.read_bytes())
    except (OSError, ValueError):
        return False
    return (
        isinstance(schema, dict)
        and schema.get("collection_name") == name
        and isinstance(schema.get("fields"), list)
        and "version" in schema
        and schema.get("schema_format_version", 1) in _KNOWN_SCHEMA_FORMATS
    )


def _in_use_message(data_dir: Path, holder: dict) -> str:
    where = ""
    if holder.get("port"):
        where = (
            f" (server pid {holder.get('pid')}, port {holder['port']}). "
            f"To share it, connect to that server: --uri http://127.0.0.1:{holder['port']}"
        )
    return f"The data directory {data_dir} is in use by another Milvus Lite{where}."


def data_dir_error(data_dir: Path, exc: OSError) -> InvalidInput:
    """The embedded server's data directory cannot be used: say which and why, not "[Errno 30]"."""
    why = {
        errno.EROFS: "it is on a read-only file system",
        errno.EACCES: "you do not have permission to write there",
        errno.EPERM: "you do not have permission to write there",
        errno.ENOSPC: "the disk is full",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
        errno.EEXIST: "a file, not a directory, has that name",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return InvalidInput(f"Cannot use {data_dir} as the Milvus Lite data directory: {why}. "
                        "Choose a writable directory with --uri or MILVUS_URI.")
