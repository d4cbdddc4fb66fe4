"""Secrets never leak: a canary token and a canary API key, looked for everywhere.

``MILVUS_TOKEN=canary-token-5f3a9`` (Milvus Lite ignores tokens, so it can be sent to the
session server harmlessly) and ``OPENAI_API_KEY=sk-canary-key-77c1`` for the OpenAI provider,
pointed at the test ``EmbeddingServer`` which *requires* that key, so authentication really
happens (and, in the wrong-key case, the server echoes the key back in its 401, the way
careless servers do). The canaries must never appear in:

* screens (Pilot ``export_screenshot()`` at each step, including error states);
* logs: Python logging at DEBUG, Textual's log (``TEXTUAL_LOG`` file) and the stdout/stderr
  of CLI runs;
* files the app writes under ``MILVUS_TUI_HOME``: history, ui.json, backups (header and
  rows), the audit log;
* error messages: a connection failure with the token, a 401 from the embedding endpoint,
  including the chained exceptions a traceback would print;
* ``repr()`` of Settings, MilvusConnection, the embeddings and the service.

Files the app writes are owner-only (0600).
"""

from __future__ import annotations

import html
import logging
import os
import re
import socket
import stat
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.apphelpers import (
    SIZE,
    focus_table,
    idle,
    notifications,
    query_error,
    submit,
    wait_embeddings,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.conftest import unique_name
from tests.embedding_server import EmbeddingServer
from tui.app import MilvusTuiApp
from tui.cli import main as cli_main
from tui.config import Settings, load_settings
from tui.embeddings import EmbeddingError, EmbeddingSettings, make_embeddings
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.errors import MilvusTuiError, ServerUnavailable

TOKEN = "canary-token-5f3a9"
KEY = "sk-canary-key-77c1"
CANARIES = (TOKEN, KEY, "canary")
DIM = 256


def assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} leaked into {where}: …{_around(text, canary)}…"


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 80): at + 80]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screen_text(svg: str) -> str:
    """The characters on screen, in order, from an ``export_screenshot()`` SVG (one text run
    per style span; non-breaking spaces back to spaces), plus the raw SVG itself."""
    runs = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(runs)).replace("\xa0", " ") + "\n" + svg


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def embed_server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dim=DIM, api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def wrong_key_server() -> Iterator[EmbeddingServer]:
    """Requires a different key, so our canary key is refused and echoed back in the 401."""
    with EmbeddingServer(dim=DIM, api_key="sk-the-right-key-0000") as server:
        yield server


@pytest.fixture
def secret_env(embed_server: EmbeddingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MILVUS_TUI_HOME", str(home))
    monkeypatch.setenv("MILVUS_TOKEN", TOKEN)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", embed_server.base_url)
    return home


@pytest.fixture(scope="module")
def secret_collection(lite_server, embed_server: EmbeddingServer) -> Iterator[str]:  # noqa: ANN001
    """A writable collection ingested with the OpenAI provider (the canary key at work)."""
    from tui.demo import DEMO_FIELDS, stdlib_documents

    name = unique_name("secret")
    conn = MilvusConnection(lite_server.uri, token=TOKEN)
    conn.open()
    model = make_embeddings(EmbeddingSettings(provider="openai", base_url=embed_server.base_url, api_key=KEY))
    svc = Session(conn, model)
    svc.run(svc.ingest(name, list(stdlib_documents(80)), extra=DEMO_FIELDS, auto_id=False))
    try:
        yield name
    finally:
        try:
            svc.run(svc.drop(name))
        finally:
            conn.close()


# -- repr and messages -----------------------------------------------------------------------


def test_reprs_hide_token_and_key(secret_env: Path, embed_server: EmbeddingServer, milvus_uri: str) -> None:
    settings = load_settings({"uri": milvus_uri})
    assert settings.token == TOKEN and settings.api_key == KEY  # really loaded from the environment
    conn = MilvusConnection(milvus_uri, token=settings.token)
    model = make_embeddings(settings.embedding_settings())
    service = Session(conn, model, backup_dir=settings.backup_dir, audit_path=settings.audit_path)
    for obj in (settings, Settings(token=TOKEN, api_key=KEY), conn, model, settings.embedding_settings(),
                service, service.embeddings):
        assert_clean(repr(obj), f"repr({type(obj).__name__})")
        assert_clean(str(obj), f"str({type(obj).__name__})")
    assert_clean(model.describe(), "embeddings.describe()")
    conn.close()


def _full_text(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` would print, chained exceptions included."""
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


def test_connection_failure_with_token_is_scrubbed(secret_env: Path) -> None:
    port = _dead_port()
    for token in (TOKEN, f"root:{TOKEN}"):
        conn = MilvusConnection(f"http://127.0.0.1:{port}", token=token, timeout=3)
        with pytest.raises(MilvusTuiError) as info:
            conn.open()
        assert isinstance(info.value, ServerUnavailable), repr(info.value)
        assert_clean(_full_text(info.value), "the connection error")
        conn.close()


def test_embedding_401_with_echoed_key_is_scrubbed(wrong_key_server: EmbeddingServer, embed_server: EmbeddingServer,
                                                   milvus_uri: str, secret_collection: str) -> None:
    model = make_embeddings(EmbeddingSettings(provider="openai", base_url=wrong_key_server.base_url, api_key=KEY))
    with pytest.raises(EmbeddingError) as info:
        model.embed_query("hello")
    assert info.value.status == 401
    assert wrong_key_server.auth_headers[-1] == f"Bearer {KEY}"  # the key was sent, and refused
    assert_clean(_full_text(info.value), "the 401 error")
    # The same through the data layer's semantic search.
    conn = MilvusConnection(milvus_uri, token=TOKEN)
    conn.open()
    try:
        svc = Session(conn, model)
        coll = svc.run(svc.describe(secret_collection))
        with pytest.raises(EmbeddingError) as info:
            svc.run(svc.search(coll, "hello"))
        assert info.value.status == 401 and "401" in str(info.value)
        assert_clean(_full_text(info.value), "the 401 error from a search")
        # And with the right key, the server accepts it: auth really works.
        svc.embeddings = (make_embeddings(EmbeddingSettings(provider="openai", base_url=embed_server.base_url,
                                                             api_key=KEY)))
        assert svc.run(svc.search(coll, "hello", k=3)).rows
        assert embed_server.auth_headers[-1] == f"Bearer {KEY}"
    finally:
        conn.close()


def test_config_may_reference_the_token_by_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nuri = "http://127.0.0.1:1"\ntoken_env = "PROD_MILVUS_TOKEN"\n'
                      'api_key_env = "PROD_OPENAI_KEY"\n')
    monkeypatch.setenv("PROD_MILVUS_TOKEN", TOKEN)
    monkeypatch.setenv("PROD_OPENAI_KEY", KEY)
    import tomllib

    settings = load_settings({}, profile="prod", config=tomllib.loads(config.read_text()), env=os.environ)
    assert settings.token == TOKEN and settings.api_key == KEY
    assert_clean(config.read_text(), "config.toml")
    assert_clean(repr(settings), "repr(Settings)")


# -- logs and the CLI ------------------------------------------------------------------------


def test_logs_at_debug_never_hold_secrets(secret_env: Path, embed_server: EmbeddingServer,
                                          wrong_key_server: EmbeddingServer, milvus_uri: str,
                                          secret_collection: str, caplog: pytest.LogCaptureFixture,
                                          tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpcore", "langchain_openai", "langchain_milvus", "tui", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings = load_settings({"uri": milvus_uri})
    conn = MilvusConnection(milvus_uri, token=settings.token)
    conn.open()
    try:
        svc = Session(conn, make_embeddings(settings.embedding_settings()), backup_dir=tmp_path / "b",
                      audit_path=tmp_path / "a.jsonl")
        coll = svc.run(svc.describe(secret_collection))
        assert svc.run(svc.search(coll, "read a file", k=3)).rows
        preview = svc.run(svc.preview_delete(coll, keys=[1, 2]))
        svc.run(svc.delete(coll, preview))
        svc.run(svc.restore(next((tmp_path / "b").iterdir())))
        svc.embeddings = (make_embeddings(EmbeddingSettings(provider="openai", base_url=wrong_key_server.base_url,
                                                             api_key=KEY, max_retries=0)))
        with pytest.raises(EmbeddingError):
            svc.run(svc.search(coll, "read a file"))
    finally:
        conn.close()
    with pytest.raises(MilvusTuiError):
        MilvusConnection(f"http://127.0.0.1:{_dead_port()}", token=TOKEN, timeout=3).open()
    assert caplog.records, "debug logging captured nothing: the test would prove nothing"
    assert_clean(caplog.text, "Python logging")
    for record in caplog.records:
        assert_clean(repr(record.args) + str(record.msg), f"a log record from {record.name}")


def _cli_env(home: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "OPENAI_"))}
    env.update(MILVUS_TUI_HOME=str(home), MILVUS_TOKEN=TOKEN, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=base_url)
    return env


def test_cli_runs_never_print_secrets_and_write_private_files(secret_env: Path, embed_server: EmbeddingServer,
                                                               wrong_key_server: EmbeddingServer, milvus_uri: str,
                                                               secret_collection: str) -> None:
    script = Path(sys.executable).parent / "milvus-tui"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tui"]
    home = secret_env
    home.mkdir(parents=True, exist_ok=True)

    def run(*args: str, base_url: str = embed_server.base_url, uri: str = milvus_uri) -> subprocess.CompletedProcess:
        proc = subprocess.run([*command, "--uri", uri, *args], cwd=home, env=_cli_env(home, base_url),
                              capture_output=True, text=True, timeout=120)
        assert_clean(proc.stdout, f"stdout of milvus-tui {' '.join(args)}")
        assert_clean(proc.stderr, f"stderr of milvus-tui {' '.join(args)}")
        return proc

    ok = run("search", secret_collection, "read a file line by line", "-k", "3", "--json")
    assert ok.returncode == 0, ok.stderr
    assert embed_server.auth_headers[-1] == f"Bearer {KEY}"
    deleted = run("delete", secret_collection, "--ids", "3,4", "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    refused = run("search", secret_collection, "x", base_url=wrong_key_server.base_url)
    assert refused.returncode != 0 and "401" in refused.stderr
    unreachable = run("collections", uri=f"http://127.0.0.1:{_dead_port()}")
    assert unreachable.returncode == 5 and "Error:" in unreachable.stderr
    # In-process too, with click's runner (catches anything printed from this interpreter).
    runner = CliRunner()
    for args in (["collections", "--json"], ["query", secret_collection, "id < 5", "--json"],
                 ["restore", next((home / "state" / "backups").iterdir()).as_posix()]):
        res = runner.invoke(cli_main, ["--uri", milvus_uri, *args], env=_cli_env(home, embed_server.base_url))
        assert res.exit_code == 0, (args, res.output, res.exception)
        assert_clean(res.output, f"output of {args}")
    _check_home(home)


def _check_home(home: Path) -> None:
    """No canary in any file the app or the CLI wrote; private files are 0600."""
    files = _files_under(home)
    assert files, "nothing was written: the test would prove nothing"
    for path in files:
        assert_clean(path.read_text(encoding="utf-8", errors="replace"), str(path.relative_to(home)))
    private = [p for p in files if p.name in ("history.json", "ui.json", "audit.jsonl") or p.suffix == ".jsonl"]
    for path in private:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path.relative_to(home)} is {oct(mode)}, not 0600"


# -- the app -------------------------------------------------------------------------------


@pytest.fixture
def textual_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Route Textual's log (``self.log``, ``textual.log``) to a file, as TEXTUAL_LOG would."""
    from textual import constants

    path = tmp_path / "textual.log"
    monkeypatch.setattr(constants, "LOG_FILE", str(path))
    return path


async def test_app_screens_logs_and_files_hold_no_secret(secret_env: Path, embed_server: EmbeddingServer,
                                                         wrong_key_server: EmbeddingServer, milvus_uri: str,
                                                         secret_collection: str, textual_log: Path,
                                                         caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    settings = load_settings({"uri": milvus_uri, "collection": secret_collection})
    assert settings.token == TOKEN and settings.api_key == KEY
    app = MilvusTuiApp(settings)
    shots: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        shots.append(screen_text(app.export_screenshot()))
        await wait_embeddings(pilot, app)
        await submit(pilot, app, "search", "read a file line by line")
        await wait_result(pilot, app, lambda r: r.kind == "search" and r.rows, 30, "a search")
        assert embed_server.auth_headers[-1] == f"Bearer {KEY}"
        shots.append(screen_text(app.export_screenshot()))
        await submit(pilot, app, "filter", "id <= 20")
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == "id <= 20", 30, "a filter")
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"  # writes ui.json
        await focus_table(pilot, app)
        await pilot.press("d")
        from tui.screens.delete import ConfirmDeleteScreen

        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), 20, "the delete modal")
        shots.append(screen_text(app.export_screenshot()))
        await pilot.click("#delete-confirm")
        try:
            await wait_until(pilot, lambda: app.main.last_delete is not None and idle(app), 60, "the delete")
        except AssertionError:
            raise AssertionError(f"no delete: running={app.main.running} ops={app.main.op_log} "
                                 f"notes={notifications(app)}") from None
        shots.append(screen_text(app.export_screenshot()))
        # The wrong key: the endpoint refuses it and echoes it back; the app must not show it.
        app.main.session.embeddings = (make_embeddings(EmbeddingSettings(
            provider="openai", base_url=wrong_key_server.base_url, api_key=KEY, max_retries=0)))
        await submit(pilot, app, "search", "anything")
        await wait_until(pilot, lambda: "401" in query_error(app), 30, "the 401 error")
        assert wrong_key_server.auth_headers[-1] == f"Bearer {KEY}"
        shots.append(screen_text(app.export_screenshot()))
        texts = notifications(app) + [query_error(app)]
        await focus_table(pilot, app)
        await pilot.press("u")  # undo: restore the backup
        await wait_until(pilot, lambda: app.main.last_delete is None and idle(app), 30, "the restore")
    assert secret_collection in shots[0] and "read a file line by line" in shots[1]  # the text extraction works
    for i, shot in enumerate(shots):
        assert_clean(shot, f"screenshot {i}")
    for text in texts:
        assert_clean(text, "a notification")
    out, err = capfd.readouterr()
    assert_clean(out + err, "the app's stdout/stderr")
    assert_clean(caplog.text, "Python logging during the app run")
    log_text = textual_log.read_text(encoding="utf-8", errors="replace") if textual_log.exists() else ""
    assert_clean(log_text, "Textual's log")
    _check_home(secret_env)
    state = secret_env / "state"
    assert (state / "history.json").exists() and (state / "ui.json").exists()
    assert list((state / "backups").glob("*.jsonl")) and (state / "audit.jsonl").exists()


async def test_app_connection_failure_with_token_shows_no_secret(secret_env: Path, textual_log: Path) -> None:
    settings = load_settings({"uri": f"http://127.0.0.1:{_dead_port()}", "timeout": 3})
    assert settings.token == TOKEN
    app = MilvusTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        from tui.widgets.results import ResultsPane

        pane = app.main.query_one(ResultsPane)
        await wait_until(pilot, lambda: "Could not connect" in str(pane.query_one("#results-title").render()), 30,
                         "the connection error")
        shot = screen_text(app.export_screenshot())
        texts = notifications(app)
    assert "Could not connect" in shot or "not connected" in shot
    assert_clean(shot, "the connection-error screen")
    for text in texts:
        assert_clean(text, "a notification")
    if textual_log.exists():
        assert_clean(textual_log.read_text(errors="replace"), "Textual's log")

