"""Target 2: startup, from the command to the first frame with collections listed.

Method: each command runs as a real process on a pseudo-terminal (120x40, TERM
xterm-256color), exactly as a user starts it; this script reads what the process writes
to the terminal and timestamps, from just before ``Popen``:

- **first frame**: the first time the screen shows the app's own text ("Connecting…" for
  milvus-tui, "Hello, world" for the hello-world);
- **collections listed**: every collection name of the data directory is on screen (for the
  embedded default the app reads them from the data directory, marked unconfirmed, before
  its server answers);
- **connected**: the status bar shows the embedded server's version line;
- **catalog confirmed**: every collection shows its row count, which only the server's
  catalog provides (the names read from disk carry none).

Then ctrl+c quits the app (not timed). milvus-tui runs on an existing data directory
(``benchmarks/.data/startup``: three collections, their index files already built), so it
starts its own Milvus Lite child, as ``milvus-tui`` does by default. Warm: one untimed run
of each command first (bytecode cached, files in the page cache), then the commands
alternate, run by run, and the report quotes medians and the per-pair difference.

``milvus-tui --help`` is timed the same way (to exit), next to ``python -c pass``.
``--compare CHECKOUT`` adds ``python -m tui`` from another checkout (say ``git archive`` of
the commit before a change) to the alternation, for a before/after in the same run.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--module] [--compare DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, ROOT, header, load_now, median, verdict  # noqa: E402

VENV_BIN = Path(sys.executable).parent
COLLECTIONS = ("startup_docs", "startup_notes", "startup_misc")
ROWS = (2000, 500, 100)
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]")
HELLO = (
    "from textual.app import App\n"
    "from textual.widgets import Static\n"
    "class Hello(App):\n"
    "    def compose(self):\n"
    "        yield Static('Hello, world')\n"
    "Hello().run()\n"
)


def build_data() -> str:
    """Three small collections (index files built) in a cached data directory."""
    from pymilvus import MilvusClient

    from _common import ensure_dataset
    from tui.milvus.lite import LiteServer

    parts = []
    with LiteServer(DATA / "startup") as server:
        client = MilvusClient(uri=server.uri)
        for name, n in zip(COLLECTIONS, ROWS):
            info = ensure_dataset(client, name, n, 64)
            parts.append(f"{name} {n} rows ({info['source']})")
        client.close()
    return ", ".join(parts)


def child_env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm means bytecode is cached, as after pip install
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MILVUS_URI", "MILVUS_TOKEN"):
        env.pop(var, None)
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", MILVUS_TUI_HOME=home)
    return env


def run_on_pty(argv: list[str], marks: dict[str, list[str]], env: dict[str, str],
               timeout: float = 60.0, cwd: Path = ROOT) -> dict[str, float]:
    """Start ``argv`` on a pty; seconds until each mark's strings were all on screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            start_new_session=True)
    os.close(slave)
    seen: dict[str, float] = {}
    raw = b""
    try:
        while len(seen) < len(marks) and time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            now = time.perf_counter()
            raw += chunk
            text = ANSI.sub("", raw.decode("utf-8", "replace"))
            for name, needles in marks.items():
                if name not in seen and all(n in text for n in needles):
                    seen[name] = now - t0
        if proc.poll() is None:
            os.write(master, b"\x03")  # ctrl+c: the app quits and stops its Lite child
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                if select.select([master], [], [], 0.1)[0]:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        os.close(master)
    missing = set(marks) - set(seen)
    if missing:
        tail = ANSI.sub("", raw.decode("utf-8", "replace"))[-600:]
        raise RuntimeError(f"{argv[0]}: never saw {sorted(missing)}; screen tail: {tail!r}")
    return seen


def child_boot(launcher: str, env: dict[str, str]) -> float:
    """Seconds from spawning a Milvus Lite server to its port accepting connections."""
    import shutil
    import socket

    from tui.milvus.lite import LiteServer, free_port

    with tempfile.TemporaryDirectory() as tmp:
        if launcher == "app":
            server = LiteServer(Path(tmp) / "data")
            t0 = time.perf_counter()
            server.start()
            elapsed = time.perf_counter() - t0
            server.stop()
            return elapsed
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(Path(tmp) / "d"),
                                 "--host", "127.0.0.1", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.perf_counter() - t0 > 60:
                    raise RuntimeError("milvus-lite server did not start")
                time.sleep(0.005)
            return time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(Path(tmp) / "d", ignore_errors=True)


def run_plain(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def app_marks() -> dict[str, list[str]]:
    return {
        "first frame": ["Connecting"],
        "collections listed": list(COLLECTIONS),
        "connected": ["· db default"],
        # Counts come only from the server (describe + count(*)): its catalog is on screen.
        "catalog confirmed": [f"{name}  {rows:,}" for name, rows in zip(COLLECTIONS, ROWS)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--module", action="store_true",
                        help="run `python -m tui` from this checkout instead of the installed console script")
    parser.add_argument("--compare", metavar="CHECKOUT",
                        help="also run `python -m tui` from another checkout (e.g. the commit before a change), "
                        "alternating with this one")
    args = parser.parse_args()
    header("Target 2: startup")
    print(f"- data: {build_data()}")

    entry = [sys.executable, "-m", "tui"] if args.module else [str(VENV_BIN / "milvus-tui")]
    tail = ["--uri", str(DATA / "startup"), "--embedding-provider", "local"]
    hello = [sys.executable, "-c", HELLO]
    marks = app_marks()
    with tempfile.TemporaryDirectory() as home:
        env = child_env(home)
        # name: (argv, env, cwd); ``python -m`` imports from its working directory first.
        variants: dict[str, tuple[list[str], dict[str, str], Path]] = {
            "`milvus-tui --uri <data dir>`" + (" (`python -m tui`)" if args.module else ""):
                ([*entry, *tail], {**env, "PYTHONPATH": str(ROOT)} if args.module else env, ROOT),
        }
        if args.compare:
            other = Path(args.compare).resolve()
            variants[f"`python -m tui` from {args.compare}"] = (
                [sys.executable, "-m", "tui", *tail], {**env, "PYTHONPATH": str(other)}, other)
        for argv, venv, cwd in variants.values():
            run_on_pty(argv, marks, venv, cwd=cwd)  # warm-up (writes bytecode, fills the page cache)
        run_on_pty(hello, {"first frame": ["Hello, world"]}, env)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        hello_runs: list[float] = []
        loads = []
        for _ in range(args.runs):
            for name, (argv, venv, cwd) in variants.items():
                runs[name].append(run_on_pty(argv, marks, venv, cwd=cwd))
            hello_runs.append(run_on_pty(hello, {"first frame": ["Hello, world"]}, env)["first frame"])
            loads.append(os.getloadavg()[0])
        boots: dict[str, list[float]] = {"app": [], "plain": []}
        for _ in range(args.runs):
            for launcher in boots:
                boots[launcher].append(child_boot(launcher, env))
        helps, passes = [], []
        run_plain([*entry, "--help"], env)
        for _ in range(args.runs):
            helps.append(run_plain([*entry, "--help"], env))
            passes.append(run_plain([sys.executable, "-c", "pass"], env))

    print(f"\n{args.runs} runs each after a warm-up, alternating; load average during the runs "
          f"{min(loads):.2f}–{max(loads):.2f} ({load_now()} now). Medians (min–max) in seconds.\n")
    print("| command | " + " | ".join(marks) + " |")
    print("|---|" + "---|" * len(marks))
    for name, results in runs.items():
        cells = []
        for mark in marks:
            values = [r[mark] for r in results]
            cells.append(f"{median(values):.3f} ({min(values):.2f}–{max(values):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"| Textual hello-world | {median(hello_runs):.3f} ({min(hello_runs):.2f}–{max(hello_runs):.2f}) |"
          + " – |" * (len(marks) - 1))
    print(f"| `milvus-tui --help` (to exit) | {median(helps):.3f} |" + " |" * (len(marks) - 1))
    print(f"| `python -c pass` (to exit) | {median(passes):.3f} |" + " |" * (len(marks) - 1))
    print()
    for name, results in runs.items():
        # "Listed" counts only when the app's first frame is also up: the later of the two.
        shown = [max(r["collections listed"], r["first frame"]) for r in results]
        diffs = [a - b for a, b in zip(shown, hello_runs)]
        confirmed = [r["catalog confirmed"] for r in results]
        ok = median(shown) <= 0.8 or median(diffs) <= 0.3
        print(f"- {name}: first frame with collections listed median {median(shown):.3f} s, "
              f"{median(diffs):+.3f} s vs hello-world per pair (target ≤ 0.8 s, or ≤ +0.3 s): {verdict(ok)}; "
              f"catalog confirmed (counts from the server) median {median(confirmed):.3f} s, "
              f"{median([c - s for c, s in zip(confirmed, shown)]):+.3f} s after the names")
    if args.compare:
        this, other = list(runs.values())
        diffs = ", ".join(f"{mark} {median([a[mark] - b[mark] for a, b in zip(this, other)]):+.3f} s"
                          for mark in marks)
        print(f"- this checkout minus {args.compare}, per-pair medians: {diffs}")
    print(f"- Milvus Lite child, spawn to port open: `LiteServer.start()` (the app's launcher) median "
          f"{median(boots['app']):.3f} s vs `python -m milvus_lite server` {median(boots['plain']):.3f} s")
    print(f"- `milvus-tui --help`: median {median(helps):.3f} s (target ≤ 0.3 s): {verdict(median(helps) <= 0.3)}")


if __name__ == "__main__":
    main()
