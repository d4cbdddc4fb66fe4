"""Startup on the embedded default: collection names from the data directory on the first
frame, then the server's catalog in their place.

The data directories are real: a ``milvus-lite server`` child builds them (a second
database, a dropped and a renamed collection included), then the reader and the app run on
copies. To hold the server back deterministically, the app's own child is spawned and
stopped with SIGSTOP before it can bind its port, then resumed with SIGCONT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import MilvusClient
from textual.pilot import Pilot

from tests.apphelpers import SIZE, notifications, title, wait_first_page, wait_until
from tui.app import MilvusTuiApp
from tui.config import Settings
from tui.milvus import MilvusConnection
from tui.loads import RememberedLoads
from tui.milvus.lite import ON_DISK_MAX_COLLECTIONS, LiteServer, read_on_disk_catalog
from tui.widgets.collections import CollectionsPane

ROWS = {"alpha": 3, "beta": 5, "renamed": 2}


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture(scope="module")
def lite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory written by Milvus Lite itself; tests copy it before changing it."""
    data = tmp_path_factory.mktemp("ondisk") / "data"
    with LiteServer(data) as server:
        client = MilvusClient(uri=server.uri)
        try:
            for name in ("alpha", "beta", "dropped", "to_rename"):
                client.create_collection(name, dimension=4)
            for name, n in (("alpha", 3), ("beta", 5), ("to_rename", 2)):
                client.insert(name, [{"id": i, "vector": [float(i), 0.0, 1.0, 2.0]} for i in range(n)])
                client.flush(name)
            client.drop_collection("dropped")
            client.rename_collection("to_rename", "renamed")
            client.create_database("second")
            other = MilvusClient(uri=server.uri, db_name="second")
            other.create_collection("gamma", dimension=4)
            other.close()
        finally:
            client.close()
    return data


@pytest.fixture
def data_copy(lite_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(lite_dir, copy)
    return copy


# -- the reader --------------------------------------------------------------------------


def test_reader_lists_what_the_server_lists(lite_dir: Path) -> None:
    found = read_on_disk_catalog(lite_dir)
    assert found is not None
    assert found.collections == ("alpha", "beta", "renamed")  # not "dropped", not "to_rename"
    assert found.databases == ("default", "second")
    second = read_on_disk_catalog(lite_dir, "second")
    assert second is not None and second.collections == ("gamma",)
    with LiteServer(shutil.copytree(lite_dir, lite_dir.parent / "check")) as server:
        client = MilvusClient(uri=server.uri)
        assert tuple(sorted(client.list_collections())) == found.collections
        assert tuple(sorted(client.list_databases())) == found.databases
        client.close()


def test_reader_refuses_layouts_it_does_not_know(tmp_path: Path, data_copy: Path) -> None:
    assert read_on_disk_catalog(tmp_path / "missing") is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_on_disk_catalog(empty) is None
    # A Lite 2 style file URI, or any plain file.
    (tmp_path / "milvus.db").write_bytes(b"SQLite format 3\x00")
    assert read_on_disk_catalog(tmp_path / "milvus.db") is None
    # Something else with a collections/ folder, never opened by Lite (no LOCK, no databases/).
    other = tmp_path / "other"
    (other / "collections" / "photos").mkdir(parents=True)
    (other / "collections" / "photos" / "schema.json").write_text('{"collection_name": "photos"}')
    assert read_on_disk_catalog(other) is None
    # A database that does not exist is the server's to report.
    assert read_on_disk_catalog(data_copy, "nope") is None


def test_reader_skips_collections_whose_schema_it_cannot_vouch_for(data_copy: Path) -> None:
    collections = data_copy / "collections"
    (collections / "garbage").mkdir()
    (collections / "garbage" / "schema.json").write_bytes(b"\x00\xffnot json")
    (collections / "no_schema").mkdir()
    (collections / "half").mkdir()
    (collections / "half" / "schema.json").write_text("[]")
    shutil.copytree(collections / "alpha", collections / "copied")  # schema names "alpha"
    newer = json.loads((collections / "beta" / "schema.json").read_text())
    newer["schema_format_version"] = 99
    (collections / "beta" / "schema.json").write_text(json.dumps(newer))
    (collections / "stray.txt").write_text("not a collection")
    found = read_on_disk_catalog(data_copy)
    assert found is not None and found.collections == ("alpha", "renamed")


def test_reader_gives_up_on_more_collections_than_it_reads_cheaply(data_copy: Path) -> None:
    schema = json.loads((data_copy / "collections" / "alpha" / "schema.json").read_text())
    for i in range(ON_DISK_MAX_COLLECTIONS):
        folder = data_copy / "collections" / f"c{i:04d}"
        folder.mkdir()
        (folder / "schema.json").write_text(json.dumps({**schema, "collection_name": folder.name}))
    assert read_on_disk_catalog(data_copy) is None


# -- the app -----------------------------------------------------------------------------


def labels(pane: CollectionsPane) -> dict[str, str]:
    return {str(node.data): str(node.label) for node in pane._collection_nodes()}


@pytest.fixture
def held_connection(data_copy: Path) -> Iterator[tuple[MilvusConnection, int]]:
    """The app's connection with its Lite child spawned and stopped before it binds."""
    conn = MilvusConnection(str(data_copy))
    assert conn.lite is not None
    conn.lite.spawn()
    assert conn.lite.process is not None
    pid = conn.lite.process.pid
    os.kill(pid, signal.SIGSTOP)
    stop = conn.lite.stop

    def resume_then_stop(timeout: float = 10.0) -> None:
        # A test that ends with the child still paused (the app closing stops it): a paused child
        # cannot take the stop's SIGINT, so the stop waited its whole 10 s and then killed it.
        if conn.lite is not None and conn.lite.running:
            os.kill(pid, signal.SIGCONT)
        stop(timeout)

    conn.lite.stop = resume_then_stop  # type: ignore[method-assign]
    try:
        yield conn, pid
    finally:
        if conn.lite.running:
            os.kill(pid, signal.SIGCONT)
        conn.close()


async def test_names_from_disk_on_the_first_frame_then_the_servers_catalog(
        data_copy: Path, held_connection: tuple[MilvusConnection, int]) -> None:
    conn, pid = held_connection
    app = MilvusTuiApp(Settings(uri=str(data_copy)), conn)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.main.query_one(CollectionsPane)
        # The server cannot have answered: its process is stopped.
        assert not conn.lite.ready and not app.main.connected
        assert pane.unconfirmed and pane.infos == {}
        shown = labels(pane)
        assert list(shown) == ["alpha", "beta", "renamed"]
        assert all("starting…" in label and "loaded" not in label and "released" not in label
                   for label in shown.values()), shown
        assert "from disk" in str(pane.border_subtitle)
        db_labels = [str(node.label) for node in pane.root.children]
        assert db_labels[0].endswith("default") and "second" in db_labels[1]

        # The user picks a collection before the server is up: no error, it opens later.
        beta = next(n for n in pane._collection_nodes() if n.data == "beta")
        pane.focus()
        pane.move_cursor(beta)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "opens as soon as the server is up" in title(app),
                         what="the deferred-open message")
        await pilot.press("l")  # load needs the server: a warning, not a trace
        await pilot.pause()
        assert any("Not connected yet" in n for n in notifications(app))

        # Meanwhile another client drops "renamed" (its folder goes); the server's word wins.
        shutil.rmtree(data_copy / "collections" / "renamed")
        os.kill(pid, signal.SIGCONT)
        await wait_until(pilot, lambda: not pane.unconfirmed, timeout=60, what="the server's catalog")
        shown = labels(pane)
        assert list(shown) == ["alpha", "beta"]
        assert all("starting…" not in label for label in shown.values())
        assert f"{ROWS['beta']:,}" in shown["beta"] or "released" in shown["beta"]
        assert set(pane.infos) == {"alpha", "beta"}
        assert pane.border_subtitle == ""
        await wait_until(pilot, lambda: app.main.info is not None, what="the chosen collection")
        assert app.main.info.name == "beta"
        if app.main.info.loaded:
            page = await wait_first_page(pilot, app)
            assert page.collection == "beta"
        else:
            assert "press l to load" in title(app)
        assert not any("error" in n.lower() or "Traceback" in n for n in notifications(app))


async def test_chosen_collection_dropped_before_the_server_answers(
        data_copy: Path, held_connection: tuple[MilvusConnection, int]) -> None:
    conn, pid = held_connection
    app = MilvusTuiApp(Settings(uri=str(data_copy)), conn)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.main.query_one(CollectionsPane)
        renamed = next(n for n in pane._collection_nodes() if n.data == "renamed")
        pane.focus()
        pane.move_cursor(renamed)
        await pilot.press("enter")
        await pilot.pause()
        shutil.rmtree(data_copy / "collections" / "renamed")
        os.kill(pid, signal.SIGCONT)
        await wait_until(pilot, lambda: app.main.info is not None, timeout=60, what="a collection to open")
        assert app.main.info.name == "alpha"  # the first that exists
        assert "renamed" not in labels(pane)
        assert any("'renamed' is not in the server's catalog" in n for n in notifications(app))


async def test_names_stay_marked_unconfirmed_when_the_server_never_answers(data_copy: Path) -> None:
    with LiteServer(data_copy):  # another Milvus Lite holds the directory
        app = MilvusTuiApp(Settings(uri=str(data_copy)))
        async with app.run_test(size=SIZE) as pilot:
            pane = app.main.query_one(CollectionsPane)
            await wait_until(pilot, lambda: "Could not connect" in title(app),
                             what="the connect failure")
            shown = labels(pane)
            assert list(shown) == ["alpha", "beta", "renamed"]
            assert all("not confirmed" in label for label in shown.values()), shown
            pane.focus()
            alpha = next(n for n in pane._collection_nodes() if n.data == "alpha")
            pane.move_cursor(alpha)
            # The cursor lands on a later refresh; under load an early enter selected another node
            # (a fresh-clone run beside `make demo` once saw no message at all).
            await wait_until(pilot, lambda: pane.cursor_node is alpha and pane.has_focus, what="the cursor on alpha")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Not connected" in title(app),
                             what="the not-connected message")
            assert app.main.info is None


def test_snapshot_before_the_server_answers(snap_compare: Any, data_copy: Path,  # noqa: ANN401
                                             held_connection: tuple[MilvusConnection, int]) -> None:
    """The first frame on the embedded default: names from disk, dim, marked starting…"""
    conn, _ = held_connection

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MilvusTuiApp)
        await wait_until(pilot, lambda: app.main.query_one(CollectionsPane).cursor_node is not None,
                         what="the cursor on the first collection")
        assert not app.main.connected
        await pilot.pause()

    assert snap_compare(MilvusTuiApp(Settings(uri=str(data_copy)), conn), terminal_size=SIZE, run_before=run_before)


# -- load state across restarts of the app's own Lite --------------------------------------


async def test_a_collection_loaded_last_time_is_loaded_again_on_the_next_start(data_copy: Path, home: Path) -> None:
    """Milvus Lite forgets load state when its server restarts; the app remembers what the
    user loaded, loads that collection again when it opens, and forgets it on a release."""

    def loaded(app: MilvusTuiApp) -> bool:
        return app.main.info is not None and app.main.info.loaded

    # First start: Lite reports 'alpha' released (its server was restarted); the user presses l.
    app = MilvusTuiApp(Settings(uri=str(data_copy), collection="alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.info is not None, timeout=60, what="alpha to open")
        assert not app.main.info.loaded and "press l to load it" in title(app)
        await pilot.pause(0.5)
        assert not loaded(app)  # nothing was loaded on its own: never loaded before
        app.main.action_load()
        await wait_until(pilot, lambda: loaded(app), timeout=60, what="alpha to load")
        await wait_first_page(pilot, app)
    remembered = json.loads((home / "state" / "loaded.json").read_text())
    assert list(remembered.values()) == [["alpha"]]

    # Second start: loaded again without a key, rows on screen; then the user releases it.
    app = MilvusTuiApp(Settings(uri=str(data_copy), collection="alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: loaded(app), timeout=60, what="alpha to be loaded again")
        page = await wait_first_page(pilot, app)
        assert [row["id"] for row in page.rows] == [0, 1, 2]
        assert not app.main.query_one(CollectionsPane).infos["beta"].loaded  # only the one opened
        app.main.action_release()
        await wait_until(pilot, lambda: not loaded(app), timeout=60, what="alpha to be released")

    # Third start: released, as the user left it.
    app = MilvusTuiApp(Settings(uri=str(data_copy), collection="alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.info is not None, timeout=60, what="alpha to open")
        await pilot.pause(0.5)
        assert not loaded(app) and "press l to load it" in title(app)


def test_remembered_loads_are_per_data_directory_and_survive_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "loaded.json"
    one, two = RememberedLoads(path, "/data/one|default"), RememberedLoads(path, "/data/two|default")
    one.remember("alpha", "beta")
    two.remember("gamma")
    one.forget("beta")
    assert one.names() == {"alpha"} and two.names() == {"gamma"}
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"\x00not json")
    assert one.names() == set()
    one.remember("alpha")
    assert one.names() == {"alpha"}
