"""SVG snapshots of the screens whose look matters, at 120x40.

Snapshots must not depend on the run: collection names carry the pid, the Lite server
has a random port, the state dir is a temp path and every operation shows its latency.
So the app runs against its own database ``snapshots`` holding one collection with a
fixed name (the same 600 stdlib docstrings as ``docs_collection``, with the file-mtime
``modified`` field pinned), the state dir is a relative path, and ``settle`` pins the
port and latencies after the data arrives. Update with ``--snapshot-update``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.apphelpers import SIZE, focus_table, results, status, wait_embeddings, wait_first_page, wait_until
from tui.app import MilvusTuiApp
from tui.config import Settings
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.ingest import Document
from tui.milvus.lite import LiteServer
from tui.screens.delete import ConfirmDeleteScreen
from tui.screens.entity import EntityScreen
from tui.screens.help import HelpScreen

DB = "snapshots"
COLLECTION = "python_docs"
FIXED_PORT = "19530"
FIXED_DATE = "2024-05-01"


@pytest.fixture(scope="module")
def snapshot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    """A Lite child of the snapshots' own: the collections pane lists every database, so other
    tests' databases on the session's server (the zoo's db1) must not show up here."""
    server = LiteServer(tmp_path_factory.mktemp("snaplite") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def snapshot_uri(snapshot_server: LiteServer, embeddings: Any) -> str:  # noqa: ANN401
    """Its own server, with database ``snapshots`` holding ``python_docs`` (600 rows)."""
    from tui.demo import DEMO_FIELDS, stdlib_documents

    lite_server = snapshot_server
    conn = MilvusConnection(lite_server.uri)
    conn.open()
    try:
        if DB not in conn.client.list_databases():
            conn.client.create_database(DB)
    finally:
        conn.close()
    conn = MilvusConnection(lite_server.uri, db_name=DB)
    conn.open()
    try:
        service = Session(conn, embeddings)
        if service.run(service.exists(COLLECTION)):
            service.run(service.drop(COLLECTION))
        docs = [Document(d.text, {**d.metadata, "modified": FIXED_DATE}, d.id) for d in stdlib_documents(600)]
        service.run(service.ingest(COLLECTION, docs, extra=DEMO_FIELDS, auto_id=False))
    finally:
        conn.close()
    return lite_server.uri


@pytest.fixture(autouse=True)
def fixed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The delete modal shows the backup dir: make it the same short path every run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILVUS_TUI_HOME", "home")
    yield


def make_app(uri: str) -> MilvusTuiApp:
    return MilvusTuiApp(Settings(uri=uri, db_name=DB, collection=COLLECTION))


def pin(app: MilvusTuiApp) -> None:
    """Overwrite what changes between runs: the server's port and every latency."""
    bar = status(app)
    bar.connection = re.sub(r":\d+\b", f":{FIXED_PORT}", bar.connection)
    bar.last = ""
    pane = results(app)
    if pane.result is not None and pane.result.elapsed != 0.012:
        pane.show_result(replace(pane.result, elapsed=0.012))


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the first page and the embedding model, then pin."""
    app = pilot.app
    assert isinstance(app, MilvusTuiApp)
    await wait_first_page(pilot, app)
    await wait_embeddings(pilot, app)
    pin(app)
    await pilot.pause()


def test_main_screen_first_page(snap_compare: Any, snapshot_uri: str) -> None:  # noqa: ANN401
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        assert "page 1 of 12" in str(pilot.app.main.query_one("#results-title").render())

    assert snap_compare(make_app(snapshot_uri), terminal_size=SIZE, run_before=run_before)


def test_delete_modal(snap_compare: Any, snapshot_uri: str) -> None:  # noqa: ANN401
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await settle(pilot)
        await focus_table(pilot, app)
        await pilot.press("space", "space", "space", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        await wait_until(pilot, lambda: not app.main.running, what="the preview to finish")
        pin(app)
        await pilot.pause()

    assert snap_compare(make_app(snapshot_uri), terminal_size=SIZE, run_before=run_before)


def test_entity_detail(snap_compare: Any, snapshot_uri: str) -> None:  # noqa: ANN401
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await settle(pilot)
        await focus_table(pilot, app)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen), what="the entity view")
        assert app.screen.row["id"] == 2
        await pilot.pause()

    assert snap_compare(make_app(snapshot_uri), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any, snapshot_uri: str) -> None:  # noqa: ANN401
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        await pilot.pause()

    assert snap_compare(make_app(snapshot_uri), terminal_size=SIZE, run_before=run_before)
