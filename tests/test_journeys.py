"""Journeys as users run them: the installed console script, one fresh process per step.

No shared server fixture: each test points ``MILVUS_URI`` at a data directory of its own (the
embedded default, so every command starts and stops its own Milvus Lite child, as in a user's
shell), with XDG directories of its own and no ``MILVUS_TUI_HOME``: configuration comes from
the environment only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_lite import lite_pids_for, pid_alive
from tui.milvus.lite import free_port

SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["the moon orbits the earth", "bake bread with yeast", "stocks and bonds", "a goal in football"]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Shell:
    """A user's shell: a working directory, an environment, one command at a time."""

    def __init__(self, root: Path) -> None:
        self.cwd = root
        self.data_dir = root / "milvus_data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "OPENAI_", "XDG_"))}
        env.update(
            MILVUS_URI="./milvus_data", HF_HUB_OFFLINE="1", NO_COLOR="1",
            XDG_DATA_HOME=str(root / "xdg/data"), XDG_CONFIG_HOME=str(root / "xdg/config"),
            XDG_STATE_HOME=str(root / "xdg/state"), XDG_CACHE_HOME=str(root / "xdg/cache"),
            # The console script imports the package under test (this checkout).
            PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        )
        self.env = env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*COMMAND, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def start(self, *args: str, sigint_ignored: bool = False) -> Background:
        argv = [*COMMAND, *args]
        if sigint_ignored:
            # What a shell script's `cmd &` does: the job starts with SIGINT ignored (exec keeps it).
            argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
        # Otherwise what a terminal's foreground command gets: SIGINT at its default, whatever the
        # test run inherited (a suite started as a background job has SIGINT ignored, and a
        # child would keep it ignored: ctrl+c journeys then test the launcher, not the tool).
        reset = None if sigint_ignored else _default_sigint
        return Background(subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, preexec_fn=reset))

    def count(self, collection: str) -> tuple[int | None, bool]:
        listing = self.json("collections")
        info = next(c for c in listing["collections"] if c["name"] == collection)
        return info["row_count"], info["count_exact"]

    def write_notes(self, name: str, n: int) -> Path:
        path = self.cwd / name
        with open(path, "w", encoding="utf-8") as handle:
            for i in range(n):
                handle.write(json.dumps({"text": f"{TOPICS[i % 4]} (note {i})",
                                         "metadata": {"n": i, "topic": ["space", "food", "money", "sport"][i % 4]}})
                             + "\n")
        return path


class Background:
    """A running command whose stderr is collected as it comes (progress has no newlines)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := self.process.stderr.read(1):
            self.stderr += chunk

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.process.poll() is None, f"exited {self.process.returncode} before {text!r}: {self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {self.stderr}"
            time.sleep(0.01)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        code = self.process.wait(timeout)
        self._reader.join(5)
        assert self.process.stdout is not None
        return code, self.process.stdout.read(), self.stderr


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path)


def assert_no_lite_left(shell: Shell) -> None:
    deadline = time.monotonic() + 3
    while lite_pids_for(shell.data_dir.resolve()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lite_pids_for(shell.data_dir.resolve()) == []


def test_journey_through_milvus_uri(shell: Shell) -> None:
    """The README's journey, a fresh command per step: ingest, search, query, delete preview,
    delete, restore, export; counts exact all along, and no Lite child left behind."""
    notes = shell.write_notes("notes.jsonl", 40)
    assert "Inserted 40 documents" in shell.ok("ingest", str(notes), "-c", "notes").stdout
    assert shell.count("notes") == (40, True)  # exact, though this command's Lite came up released
    assert "(approx.)" not in shell.ok("collections").stdout

    found = shell.json("search", "notes", "where does the moon go", "-k", "3")
    assert len(found["rows"]) == 3 and "moon" in found["rows"][0]["text"]
    food = shell.json("query", "notes", 'topic == "food"')
    assert sorted(r["n"] for r in food["rows"]) == list(range(1, 40, 4))

    preview = shell.json("delete", "notes", "--filter", "n < 8")
    assert preview["matched"] == 8 and preview["applied"] is False
    assert shell.count("notes") == (40, True)
    deleted = shell.json("delete", "notes", "--filter", "n < 8", "--yes")
    assert deleted["deleted"] == 8 and deleted["count_after"] == 32 and Path(deleted["backup"]).is_file()
    assert Path(deleted["backup"]).is_relative_to(shell.cwd / "xdg/data")  # XDG_DATA_HOME, not a shared home
    assert shell.count("notes") == (32, True)

    restored = shell.json("restore", deleted["backup"])
    assert restored["restored"] == 8
    assert shell.count("notes") == (40, True)
    exported = shell.json("export", "notes", "all.jsonl")
    lines = (shell.cwd / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert exported["rows"] == 40 and len(lines) == 40
    assert sorted(json.loads(line)["n"] for line in lines) == list(range(40))
    assert_no_lite_left(shell)


def test_load_and_release_last_between_commands(shell: Shell) -> None:
    """`release` is remembered (commands then refuse with advice they can follow) and so is
    `load`; a flag named in the advice exists on the command."""
    shell.ok("ingest", str(shell.write_notes("notes.jsonl", 12)), "-c", "notes")
    assert "released" in shell.ok("release", "notes").stdout
    for argv in (["query", "notes", "n < 5"], ["search", "notes", "moon"], ["export", "notes", "x.jsonl"],
                 ["delete", "notes", "--filter", "n < 5"]):
        result = shell.run(*argv)
        assert result.returncode == 4, (argv, result.stdout, result.stderr)
        assert "not loaded" in result.stderr and "--load" in result.stderr and "milvus-tui load notes" in result.stderr
        assert "press" not in result.stderr.lower() and "in the app" not in result.stderr
        assert "--load" in shell.run(argv[0], "--help").stdout
    assert shell.json("delete", "notes", "--filter", "n < 5", "--load")["matched"] == 5
    assert shell.json("query", "notes", "n < 5")["rows"]  # --load was seen loaded: remembered
    shell.ok("release", "notes")
    shell.ok("load", "notes")
    assert len(shell.json("query", "notes", "n < 5")["rows"]) == 5


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_command_frees_the_data_directory(shell: Shell, sig: signal.Signals) -> None:
    """A command killed mid-work (started as a script's background job, so with SIGINT ignored)
    takes its Lite child with it: the next command succeeds at once, and no child is left."""
    shell.ok("ingest", str(shell.write_notes("seed.jsonl", 10)), "-c", "notes")
    job = shell.start("ingest", str(shell.write_notes("more.jsonl", 6000)), "-c", "notes", "--batch-size", "100",
                      sigint_ignored=True)
    job.wait_for("inserting: 200")
    job.process.send_signal(sig)
    code, _, stderr = job.finish()
    if sig == signal.SIGTERM:
        assert code == 143 and "Interrupted by SIGTERM" in stderr, (code, stderr)
    else:
        assert code == -signal.SIGKILL
    started = time.monotonic()
    listing = shell.run("collections", "--json")
    assert listing.returncode == 0, listing.stderr
    assert "in use" not in listing.stderr
    assert time.monotonic() - started < 15
    assert_no_lite_left(shell)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_delete_gives_an_exact_account(shell: Shell, sig: signal.Signals) -> None:
    """ctrl+c (or SIGTERM) during `delete --yes`: exit 130 (143), how many were deleted, the
    backup to restore from, and an audit record, all exact; restoring brings every entity back."""
    shell.ok("ingest", str(shell.write_notes("notes.jsonl", 20000)), "-c", "notes", "--batch-size", "1000")
    as_json = ["--json"] if sig == signal.SIGTERM else []
    job = shell.start("delete", "notes", "--filter", "n >= 0", "--yes", *as_json)
    if as_json:  # no progress on stderr with --json: wait until the backup is complete
        backups_dir = shell.cwd / "xdg/data/milvus-tui/backups"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                p.read_bytes().count(b"\n") >= 20002 for p in backups_dir.glob("*.jsonl")):  # header, rows, trailer
            time.sleep(0.005)
    else:
        job.wait_for("deleting: ")
    job.process.send_signal(sig)
    code, stdout, stderr = job.finish()
    assert code == 128 + sig, (code, stdout, stderr)
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    assert ("Interrupted by ctrl+c" if sig == signal.SIGINT else "Interrupted by SIGTERM") in stderr
    backups = list((shell.cwd / "xdg/data/milvus-tui/backups").glob("*.jsonl"))
    audit = [json.loads(line) for line in
             (shell.cwd / "xdg/data/milvus-tui/audit.jsonl").read_text(encoding="utf-8").splitlines()]
    record = audit[-1]
    assert len(backups) == 1 and record["action"] == "delete" and record["backup"] == str(backups[0])
    if as_json and record["deleted"] == 0:  # the signal came between the backup and the first batch
        assert "Nothing was deleted in 'notes'" in stderr and str(backups[0]) in stderr
    else:
        assert 0 < record["deleted"] < 20000, record
        assert f"Deleted {record['deleted']} of 20000 entities" in stderr
        assert f"milvus-tui restore {backups[0]}" in stderr
    if as_json:
        account = json.loads(stdout)
        assert account["interrupted"] == "SIGTERM" and account["deleted"] == record["deleted"]
        assert account["backup"] == str(backups[0])
    remaining, exact = shell.count("notes")
    assert exact and remaining == 20000 - record["deleted"]
    shell.ok("restore", str(backups[0]))
    assert shell.count("notes") == (20000, True)
    assert_no_lite_left(shell)


def test_cli_errors_give_cli_advice(shell: Shell) -> None:
    """No "press ctrl+r in the app" from a command: the advice names what a shell user can do."""
    result = shell.run("--uri", "http://127.0.0.1:9", "collections")
    assert result.returncode == 5 and "not answering" in result.stderr, result.stderr
    assert "ctrl+r" not in result.stderr and "in the app" not in result.stderr
    assert "run the command again" in result.stderr


def test_a_dotenv_milvus_uri_does_not_reach_pymilvus(shell: Shell) -> None:
    """pymilvus loads ``.env`` from the working directory on import; a data directory there must
    not break the embedded default either."""
    del shell.env["MILVUS_URI"]
    (shell.cwd / ".env").write_text("MILVUS_URI=./elsewhere\n", encoding="utf-8")
    assert shell.json("collections")["collections"] == []
    assert (shell.cwd / "milvus_data").is_dir()  # our default, as the README says


def test_demo_then_search_in_a_fresh_command(shell: Shell) -> None:
    """The demo's collection, seeded by one command, is searchable by the next one."""
    shell.ok("demo", "--no-open", "--limit", "50")
    found = shell.json("search", "python_docs", "read a file line by line", "-k", "2")
    assert len(found["rows"]) == 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_ingest_says_exactly_how_many_documents_were_committed(shell: Shell, sig: signal.Signals) -> None:
    """ctrl+c (or SIGTERM) during `ingest`: it stops after the batch under way, exits 130
    (143), and says how many documents were committed; that number is exact (the next
    command counts it), and `--skip` it continues without a gap or a duplicate."""
    notes = shell.write_notes("notes.jsonl", 3000)
    as_json = ["--json"] if sig == signal.SIGTERM else []
    job = shell.start("ingest", str(notes), "-c", "notes", "--batch-size", "100", *as_json)
    if as_json:  # no progress with --json: wait until the collection is created, just before the first insert
        deadline = time.monotonic() + 60
        while not (shell.data_dir / "collections" / "notes").exists():
            assert job.process.poll() is None and time.monotonic() < deadline, job.stderr
            time.sleep(0.005)
    else:
        job.wait_for("inserting: 300")
    job.process.send_signal(sig)
    code, stdout, stderr = job.finish()
    assert code == 128 + sig, (code, stdout, stderr)
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    assert ("Interrupted by ctrl+c" if sig == signal.SIGINT else "Interrupted by SIGTERM") in stderr
    found = re.search(r"(\d+) documents were committed to 'notes'\.", stderr)
    committed = int(found.group(1)) if found else 0
    if found:
        assert 0 < committed < 3000 and committed % 100 == 0, stderr  # whole batches: it stopped between two
        assert f"ingest --skip {committed}" in stderr
    else:
        assert "Nothing was inserted into 'notes'" in stderr, stderr
    if as_json:
        account = json.loads(stdout)
        assert account["interrupted"] == "SIGTERM" and account["inserted"] == committed
        assert account["in_flight"] == 0 and account["created"] is True
    else:
        assert committed >= 300  # the progress said 300 were in before the signal
    assert shell.count("notes") == (committed, True)  # exact, counted by a fresh command
    if as_json:
        return
    shell.ok("ingest", str(notes), "-c", "notes", "--skip", str(committed), "--batch-size", "1000")
    shell.ok("export", "notes", "all.jsonl")
    lines = (shell.cwd / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["n"] for line in lines) == list(range(3000))
    assert_no_lite_left(shell)


def pids_naming(path: Path) -> list[int]:
    """Live processes whose command line names ``path`` (or a path under it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(path).encode() in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[str]:
    """A server the user runs themselves: a `milvus-lite server` of its own, by URL."""
    data = tmp_path / "server"
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(data),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              # As the user's own terminal starts it: a suite run as a background
                              # job has SIGINT ignored, and the SIGINT below then did nothing
                              # (10 s wait, then a kill).
                              preexec_fn=_default_sigint)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "MilvusLite gRPC server listening on …" once it answers
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert pids_naming(tmp_path) == []  # no command left anything running


def entities(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Rows by primary key: the same entities means the same keys with the same fields."""
    by_key = {row["id"]: row for row in rows}
    assert len(by_key) == len(rows)
    return by_key


def test_journey_against_a_server(shell: Shell, remote: str) -> None:
    """The same journey on a server by URL: loading is the user's call (`--load`, named in the
    advice and there on every command), counts are marked approximate while released, and
    a restore brings back the very entities, keys and fields, that the delete took."""
    shell.env["MILVUS_URI"] = remote
    notes = shell.write_notes("notes.jsonl", 40)
    assert "Inserted 40 documents" in shell.ok("ingest", str(notes), "-c", "notes").stdout
    assert shell.count("notes") == (40, True)  # created loaded: counted exactly

    shell.ok("release", "notes")  # as a server restart or another user leaves it
    assert shell.count("notes") == (40, False)
    assert "40 (approx.)" in shell.ok("collections").stdout
    for argv in (["search", "notes", "moon"], ["query", "notes", "n < 5"], ["delete", "notes", "--filter", "n < 5"],
                 ["export", "notes", "x.jsonl"]):
        result = shell.run(*argv)
        assert result.returncode == 4, (argv, result.stdout, result.stderr)
        assert "not loaded" in result.stderr and "Pass --load" in result.stderr, result.stderr
        assert "milvus-tui load notes" in result.stderr
        assert "data directory" not in result.stderr  # nothing is remembered for a server
        assert "--load" in shell.run(argv[0], "--help").stdout
    assert not (shell.cwd / "x.jsonl").exists()

    found = shell.json("search", "notes", "where does the moon go", "-k", "3", "--load")
    assert len(found["rows"]) == 3 and "moon" in found["rows"][0]["text"]
    food = shell.json("query", "notes", 'topic == "food"')  # the server keeps it loaded now
    assert sorted(r["n"] for r in food["rows"]) == list(range(1, 40, 4))
    before = entities(shell.json("query", "notes", "", "--limit", "100")["rows"])
    assert len(before) == 40

    preview = shell.json("delete", "notes", "--filter", "n < 8")
    assert preview["matched"] == 8 and preview["applied"] is False
    assert shell.count("notes") == (40, True)
    deleted = shell.json("delete", "notes", "--filter", "n < 8", "--yes")
    assert deleted["deleted"] == 8 and deleted["count_after"] == 32 and Path(deleted["backup"]).is_file()
    gone = {key for key, row in before.items() if row["n"] < 8}
    assert set(entities(shell.json("query", "notes", "", "--limit", "100")["rows"])) == set(before) - gone
    assert shell.count("notes") == (32, True)

    restored = shell.json("restore", deleted["backup"])
    assert restored["restored"] == 8 and restored["key_map"] in (None, {})
    assert entities(shell.json("query", "notes", "", "--limit", "100")["rows"]) == before
    assert shell.count("notes") == (40, True)

    exported = shell.json("export", "notes", "all.jsonl")
    lines = (shell.cwd / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert exported["rows"] == 40
    assert entities([json.loads(line) for line in lines]) == before
    assert not shell.data_dir.exists()  # a URL: no embedded Lite was started
