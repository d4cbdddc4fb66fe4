#!/usr/bin/env python3
"""Run a real Milvus server (the Go standalone 2.3.5 from PyPI's ``milvus`` package) as a
child process we own, for the real-server test suite and for trying the app by hand.

    pip install -e ".[realserver]"            # or: pip install milvus==2.3.5
    python scripts/milvus_server.py --data /tmp/milvus-real --port 19530
    milvus-tui --uri http://127.0.0.1:19530

Why not the package's own ``milvus-server`` command: killing that wrapper (SIGTERM,
a test timeout, a crashed pytest) leaves the Go binary running as an orphan that holds
etcd's ports. Here the binary runs under a small supervisor (this file with
``--supervise``) that stops it on SIGTERM/SIGINT, when the supervisor's stdin lifeline
closes (whoever started it is gone, however it died), and via ``PR_SET_PDEATHSIG`` if
the supervisor itself is SIGKILLed.

Ports: the package's template fixes etcd on 2379/2380 and metrics on 9091, so only one
instance fits on a machine. We give the embedded etcd its own config file with free
ports and pass a free metrics port, so every port is chosen free, and several instances
(or another developer's Milvus on the default ports) can coexist. ``--classic-ports``
keeps the template's fixed ports; then busy ports are refused with a clear message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

MILVUS_VERSION = "2.3.5"
#: Ports the package's template and the binary use when we do not move them.
CLASSIC_FIXED_PORTS = {2379: "etcd client", 2380: "etcd peer", 9091: "metrics/health"}


class MilvusServerError(RuntimeError):
    """The server could not be started (the message says why and what to do)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_busy(port: int) -> bool:
    """True when something listens on the port (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as servers use it: connections in TIME_WAIT do not make a port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _try_bind(port: int) -> socket.socket | None:
    """A listening socket on the port (as the server will bind it), or None if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
        sock.listen()
    except OSError:
        sock.close()
        return None
    return sock


def milvus_package():  # noqa: ANN201 - the module, when installed
    try:
        import milvus  # the PyPI package "milvus" (embedded Milvus server), not pymilvus
    except ImportError:
        raise MilvusServerError(
            f"The real Milvus server is not installed. Install it with "
            f"`pip install -e \".[realserver]\"` (PyPI milvus=={MILVUS_VERSION}, ~58 MB, no torch)."
        ) from None
    if getattr(milvus, "__version__", None) != MILVUS_VERSION:
        raise MilvusServerError(
            f"PyPI package 'milvus' is version {getattr(milvus, '__version__', '?')}; "
            f"this suite was written for {MILVUS_VERSION}: pip install milvus=={MILVUS_VERSION}"
        )
    return milvus


class RealMilvus:
    """One Milvus standalone server in ``data_dir``, listening on ``port`` (free if None)."""

    def __init__(self, data_dir: str | os.PathLike[str], *, port: int | None = None,
                 startup_timeout: float = 120.0, classic_ports: bool = False, stop_grace: float = 30.0,
                 assignment_expiration_ms: int | None = None, time_tick_ms: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        #: dataCoord.segment.assignmentExpiration (Milvus's default, 2000 ms, when None): a sealed
        #: segment is flushed only once its last row allocation has expired, so a flush waits ~3 s
        #: at 2000 and ~1 s at 500. Milvus asks that the value never shrink across restarts of one
        #: data directory; a fresh directory (the tests') may take any value.
        self.assignment_expiration_ms = assignment_expiration_ms
        #: proxy.timeTickInterval (default 200 ms when None): a Strong read waits for the next
        #: time tick, ~0.2 s a read at 200 and ~0.07 s at 50 (idle CPU 2.3% -> 4.8% of one core).
        self.time_tick_ms = time_tick_ms
        #: Seconds Milvus gets to stop by itself (SIGTERM) before it is killed.
        self.stop_grace = stop_grace
        self.port = port
        self.startup_timeout = startup_timeout
        self.classic_ports = classic_ports
        self.metrics_port: int | None = None
        self.etcd_ports: tuple[int, int] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.binary: Path | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- setup ---------------------------------------------------------------------

    def _check_ports(self) -> None:
        wanted: dict[int, str] = {self.port: "proxy (the port clients dial)"} if self.port else {}
        if self.classic_ports:
            wanted.update(CLASSIC_FIXED_PORTS)
        busy = {p: what for p, what in wanted.items() if port_busy(p)}
        if busy:
            ports = ", ".join(f"{p} ({what})" for p, what in sorted(busy.items()))
            raise MilvusServerError(
                f"Cannot start Milvus {MILVUS_VERSION}: port(s) {ports} already in use on this machine "
                f"(another Milvus or etcd?). Stop it, or choose other ports."
            )

    def prepare(self) -> list[str]:
        """Unpack the binary, write the configs, and return the command to run."""
        milvus = milvus_package()
        self._check_ports()
        if self.port is None:
            self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = milvus.MilvusServerConfig(data_dir=str(self.data_dir), proxy_port=self.port)
        config.try_bind_port = _try_bind  # theirs refuses ports with connections in TIME_WAIT
        if self.classic_ports:
            config.update(etcd_port=2379)
            self.metrics_port = 9091
        else:
            client, peer = free_port(), free_port()
            while peer == client:
                peer = free_port()
            self.etcd_ports = (client, peer)
            config.update(etcd_port=client)
            self.metrics_port = free_port()
        try:
            config.resolve()  # picks free ports for the internal services, writes milvus.yaml
        except RuntimeError as exc:
            raise MilvusServerError(f"Cannot configure Milvus: {exc}") from None
        if self.etcd_ports is not None:
            self._write_etcd_config(*self.etcd_ports)
        if self.assignment_expiration_ms is not None:
            self._edit_config("assignmentExpiration: 2000",
                              f"assignmentExpiration: {int(self.assignment_expiration_ms)}")
        if self.time_tick_ms is not None:
            self._edit_config("timeTickInterval: 200 #", f"timeTickInterval: {int(self.time_tick_ms)} #")
        milvus._initialize_data_files(str(self.data_dir))  # unpacks ~250 MB once per data dir
        self.binary = self.data_dir / "bin" / "milvus"
        return [str(self.binary), "run", "standalone"]

    def _write_etcd_config(self, client: int, peer: int) -> None:
        """Give the embedded etcd free ports (its peer port 2380 is otherwise hard-wired)."""
        etcd_yaml = self.data_dir / "configs" / "etcd.yaml"
        data = self.data_dir / "data" / "etcd.data"
        etcd_yaml.write_text(
            "name: default\n"
            f"data-dir: {data}\n"
            f"listen-client-urls: http://127.0.0.1:{client}\n"
            f"advertise-client-urls: http://127.0.0.1:{client}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n"
            "initial-cluster-state: new\n"
            f"log-outputs: [{self.logs_dir / 'etcd.log'}]\n"
        )
        anchor = "  use:\n    embed: true"
        self._edit_config(anchor, f"  config:\n    path: {etcd_yaml}\n{anchor}")

    def _edit_config(self, old: str, new: str) -> None:
        milvus_yaml = self.data_dir / "configs" / "milvus.yaml"
        text = milvus_yaml.read_text()
        if old not in text:
            raise MilvusServerError(f"Unexpected milvus.yaml template: cannot find {old!r}.")
        milvus_yaml.write_text(text.replace(old, new, 1))

    def env(self) -> dict[str, str]:
        assert self.binary is not None
        env = os.environ.copy()
        env.update({
            "DEPLOY_MODE": "STANDALONE",
            "METRICS_PORT": str(self.metrics_port),
            "MILVUS_RUN_DIR": str(self.data_dir / "run"),
            "LD_LIBRARY_PATH": f"{self.binary.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        })
        return env

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> str:
        """Start the supervised server and block until it answers; return its URI."""
        command = self.prepare()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.logs_dir / "supervisor.log", "ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--supervise", str(self.data_dir),
                 str(self.stop_grace), *command],
                stdin=subprocess.PIPE, stdout=log, stderr=log, env=self.env(), cwd=self.data_dir,
                process_group=0,  # ctrl+c in the terminal goes to us, and we stop it in order
            )
        finally:
            log.close()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.uri

    def wait_ready(self) -> None:
        """Wait until /healthz says OK and the proxy answers a gRPC call, or fail clearly."""
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        health = f"http://127.0.0.1:{self.metrics_port}/healthz"
        stage = "healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MilvusServerError(
                    f"Milvus exited during startup (code {self.process.returncode}). "
                    f"Logs in {self.logs_dir}:\n{self.log_tail()}"
                )
            if stage == "healthz":
                with contextlib.suppress(OSError, urllib.error.URLError), \
                        urllib.request.urlopen(health, timeout=1) as resp:
                    if b"OK" in resp.read():
                        stage = "proxy"
            if stage == "proxy" and self._proxy_answers():
                return
            time.sleep(0.2)
        raise MilvusServerError(
            f"Milvus did not become ready within {self.startup_timeout:.0f} s (stuck at: {stage}; "
            f"proxy port {self.port}, metrics port {self.metrics_port}). Logs in {self.logs_dir}:\n"
            f"{self.log_tail()}"
        )

    def _proxy_answers(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
        try:
            from pymilvus import MilvusClient
        except ImportError:
            return True
        try:
            client = MilvusClient(uri=self.uri, timeout=5)
            try:
                client.list_collections()
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - not ready yet
            return False
        return True

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for name in ("supervisor.log", "milvus-stderr.log"):
            with contextlib.suppress(OSError):
                text = (self.logs_dir / name).read_text(errors="replace").strip()
                if text:
                    out.append(f"--- {name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out) or "(no log output)"

    def stop(self) -> list[int]:
        """Stop the server (graceful, then forced) and wait for the supervisor to exit.

        Returns the pids of server processes that outlived the supervisor and had to be
        killed here: there should be none."""
        timeout = self.stop_grace + 10
        process, self.process = self.process, None
        if process is None:
            return []
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        # A server that outlived its supervisor (there should be none) goes too: only processes
        # running the binary unpacked in our own data directory.
        leftovers = self.leftover_pids()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return leftovers

    def leftover_pids(self) -> list[int]:
        """Processes still running our binary (for tests: there must be none after stop)."""
        if self.binary is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "exe") == str(self.binary):
                    pids.append(int(entry.name))
        return pids

    def __enter__(self) -> RealMilvus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the supervisor (runs as its own process) ---------------------------------------


def _pdeathsig() -> None:
    """In the server's child: die with SIGKILL if the supervisor dies (even by SIGKILL)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def supervise(data_dir: Path, grace: float, command: list[str], *, lifeline: bool = True) -> int:
    """Run the server; stop it on SIGTERM/SIGINT or when stdin (the lifeline) closes."""
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "milvus-stdout.log", "ab") as out, open(logs / "milvus-stderr.log", "ab") as err:
        # The supervisor is single-threaded when it forks, so a preexec_fn is safe here, and
        # PDEATHSIG fires when this main thread (which lives as long as we do) exits.
        server = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=data_dir,
                                  preexec_fn=_pdeathsig if sys.platform.startswith("linux") else None)
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if lifeline:
        def watch() -> None:
            with contextlib.suppress(OSError):
                while os.read(0, 64):
                    pass
            stopping.set()

        threading.Thread(target=watch, name="lifeline", daemon=True).start()
    print(f"supervisor {os.getpid()}: milvus pid {server.pid}", flush=True)
    while not stopping.is_set() and server.poll() is None:
        stopping.wait(0.2)
    if server.poll() is None:
        server.terminate()  # Milvus stops its components in order on SIGTERM
        try:
            server.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"milvus did not stop within {grace:g} s; killing it", flush=True)
            server.kill()
            server.wait(5)
    print(f"milvus exited with {server.returncode}", flush=True)
    return 0 if stopping.is_set() else (server.returncode or 1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--supervise":
        return supervise(Path(argv[1]), float(argv[2]), argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="./milvus-real", help="data directory (default ./milvus-real)")
    parser.add_argument("--port", type=int, default=19530, help="proxy port clients dial (default 19530)")
    parser.add_argument("--timeout", type=float, default=120.0, help="startup timeout in seconds")
    parser.add_argument("--classic-ports", action="store_true",
                        help="keep etcd on 2379/2380 and metrics on 9091 (one instance per machine)")
    args = parser.parse_args(argv)
    server = RealMilvus(args.data, port=args.port, startup_timeout=args.timeout,
                        classic_ports=args.classic_ports)
    started = time.monotonic()
    try:
        server.start()
    except MilvusServerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"Milvus {MILVUS_VERSION} ready at {server.uri} in {time.monotonic() - started:.1f} s "
          f"(data {server.data_dir}). Ctrl+C to stop.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        while not done.is_set() and server.running:
            done.wait(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
