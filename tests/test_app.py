"""Pilot tests: drive the real app against the session's Milvus Lite server.

Every test opens ``MilvusTuiApp`` on an http URI, so it connects to the session server
(no child process), presses keys, waits for the real workers and asserts on widgets.
Each test gets its own ``MILVUS_TUI_HOME`` so history, theme and backups never leak
between tests.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
import pytest
from textual.command import CommandPalette
from textual.message import Message
from textual.widgets import Button, Input, OptionList
from textual.worker import WorkerState

from tests.apphelpers import (
    SIZE,
    focus_table,
    idle,
    make_app,
    notifications,
    query_error,
    query_bar,
    query_input,
    result,
    results,
    status,
    submit,
    table,
    title,
    wait_embeddings,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.embedding_server import EmbeddingServer
from tui import messages as msg
from tui.session import Session
from tui.screens.delete import ConfirmDeleteScreen
from tui.screens.entity import EntityScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


# -- browsing ------------------------------------------------------------------------------


async def test_next_page_then_last_page(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_first_page(pilot, app)
        assert first.total == 600 and first.pages == 12
        assert [r["id"] for r in first.rows] == list(range(1, 51))
        assert "page 1 of 12" in title(app)
        assert table(app).row_count == 50

        await focus_table(pilot, app)
        await pilot.press("n")
        second = await wait_result(pilot, app, lambda r: r.page == 1, what="page 2")
        assert [r["id"] for r in second.rows] == list(range(51, 101))
        assert "page 2 of 12" in title(app)

        await pilot.press("G")
        last = await wait_result(pilot, app, lambda r: r.page == 11, what="the last page")
        assert "page 12 of 12" in title(app)
        assert [r["id"] for r in last.rows] == list(range(551, 601))

        await pilot.press("g")
        await wait_result(pilot, app, lambda r: r.page == 0, what="back to page 1")
        assert "page 1 of 12" in title(app)


async def test_next_on_last_page_says_so(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("G")
        await wait_result(pilot, app, lambda r: r.page == 11, what="the last page")
        await pilot.press("n")
        await wait_until(pilot, lambda: any("last page" in n for n in notifications(app)), what="the notice")
        assert result(app).page == 11


# -- search, filter, more like this --------------------------------------------------------


async def test_search_by_meaning(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        await pilot.press("slash")
        assert app.focused is query_input(app)
        await pilot.press(*"read a file line by line")
        assert query_input(app).value == "read a file line by line"
        await pilot.press("enter")

        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="search hits")
        assert len(found.rows) == 10
        assert found.scores is not None and len(found.scores) == 10
        assert found.scores == sorted(found.scores, reverse=True)
        assert found.metric == "COSINE"
        assert "search: 10 hits" in title(app)
        # The table shows a score column first after the mark column.
        assert table(app).ordered_columns[1].label.plain == "score"
        # Reading lines from files: the top hits are readline/readlines/open, not noise.
        top = [r["name"] for r in found.rows[:4]]
        assert any("readline" in name for name in top), top
        assert all(any(w in r["text"].lower() for w in ("line", "read", "file")) for r in found.rows[:3])


async def test_filter_and_page_within_it(milvus_uri: str, docs_collection: str, service: Session) -> None:
    expr = 'category == "class"'
    expected = service.run(service.count(docs_collection, expr))
    assert expected > 50  # the filter spans pages
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("f")
        await pilot.press(*expr)
        await pilot.press("enter")
        page = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr, what="the filter")
        assert page.total == expected
        assert {r["category"] for r in page.rows} == {"class"}
        assert f"matching {expr}" in title(app)
        assert "page 1 of" in title(app)

        # The results take the focus after a query, so n pages instead of typing "n".
        await wait_until(pilot, lambda: app.focused is table(app), what="the table to take focus")
        await pilot.press("n")
        second = await wait_result(pilot, app, lambda r: r.page == 1, what="page 2 of the filter")
        assert second.expr == expr
        assert {r["category"] for r in second.rows} == {"class"}
        assert min(r["id"] for r in second.rows) > max(r["id"] for r in page.rows)
        assert f"matching {expr}" in title(app)


async def test_more_like_this_leaves_out_the_selected_row(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("down", "down")
        chosen = first.rows[2]["id"]
        assert results(app).current_row()["id"] == chosen

        await pilot.press("m")
        similar = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="similar rows")
        ids = [r["id"] for r in similar.rows]
        assert len(ids) == 10
        assert chosen not in ids
        assert similar.scores is not None
        assert "more like this: 10 hits" in title(app)


async def test_bad_filter_shows_server_message_then_a_good_one_works(milvus_uri: str,
                                                                    docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "filter", "n_args >>> 3")
        await wait_until(pilot, lambda: query_error(app), what="the error under the query bar")
        error = query_error(app)
        assert "rejected the filter" in error
        assert "n_args >>> 3" in error  # the server's own text, pointing at the column
        assert app.main.query_one("#query-error").display
        await wait_until(pilot, lambda: any("rejected the filter" in n for n in notifications(app)),
                         what="an error notification")
        # The old rows stay on screen, without a loading line.
        assert result(app).kind == "page" and not results(app).has_class("loading")

        await submit(pilot, app, "filter", "n_args > 3")
        good = await wait_result(pilot, app, lambda r: r.expr == "n_args > 3", what="the valid filter")
        assert good.rows and all(r["n_args"] > 3 for r in good.rows)
        assert query_error(app) == ""


async def test_keys_typed_right_after_slash_go_to_the_query(milvus_uri: str, docs_collection: str) -> None:
    """A fast typist's burst ("/" then "ed" in one read): every key after "/" lands in the query,
    none on the table's shortcuts (e: export, d: delete)."""
    from textual import events

    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        for key, char in (("slash", "/"), ("e", "e"), ("d", "d")):
            app._driver.send_message(events.Key(key, char))  # no wait between keys, as a terminal burst
        await wait_until(pilot, lambda: query_input(app).value == "ed", what="the burst in the query box")
        assert app.screen is app.main and not any(isinstance(s, (ExportScreen, ConfirmDeleteScreen))
                                                  for s in app.screen_stack)


async def test_search_after_a_rejected_filter_works(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        await submit(pilot, app, "filter", "n_args >>> 3")
        await wait_until(pilot, lambda: query_error(app), what="the filter error")
        await submit(pilot, app, "search", "read a file line by line")
        await wait_until(pilot, lambda: idle(app) and (result(app).kind == "search" or query_error(app)),
                         what="the search to finish")
        assert query_error(app) == ""
        assert result(app).kind == "search"


async def test_enter_opens_the_entity_and_m_there_finds_similar(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen), what="the entity view")
        screen = app.screen
        assert screen.row["id"] == first.rows[0]["id"]
        short = json.loads(screen.as_json(full=False))
        assert isinstance(short["vector"], str)  # summarised until v
        assert json.loads(screen.as_json())["vector"].__len__() == 256
        await pilot.press("v")
        assert screen.full_vectors
        await pilot.press("m")
        similar = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="similar rows")
        assert isinstance(app.screen, MainScreen)
        assert first.rows[0]["id"] not in [r["id"] for r in similar.rows]


# -- load state ----------------------------------------------------------------------------


async def test_load_a_released_collection(milvus_uri: str, scratch_collection: str,
                                          service: Session) -> None:
    service.run(service.release(scratch_collection))
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.main.query_one("#banner")
        await wait_until(pilot, lambda: banner.display, what="the released banner")
        assert "not loaded" in str(banner.render())
        assert "released" in title(app)
        assert result(app) is None

        await pilot.press("l")
        page = await wait_first_page(pilot, app, timeout=60)
        assert page.total == 250
        assert not banner.display
        assert app.main.info is not None and app.main.info.loaded
        tree = app.main.query_one("#collections")
        assert tree.infos[scratch_collection].loaded


async def test_load_the_highlighted_collection_updates_its_badge(milvus_uri: str, docs_collection: str,
                                                                 scratch_collection: str,
                                                                 service: Session) -> None:
    service.run(service.release(scratch_collection))
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        tree = app.main.query_one("#collections")
        node = next(n for n in tree._collection_nodes() if n.data == scratch_collection)
        tree.move_cursor(node)
        tree.focus()
        await pilot.pause()
        assert tree.current == scratch_collection
        await pilot.press("l")
        await wait_until(pilot, lambda: service.run(service.describe(scratch_collection, with_count=False)).loaded,
                         timeout=60, what="the server to load it")
        await wait_until(pilot, lambda: idle(app), what="the app to settle")
        await pilot.pause(0.5)
        assert tree.infos[scratch_collection].loaded
        assert "loaded" in str(node.label)


# -- delete and undo -----------------------------------------------------------------------


async def test_delete_marked_rows_then_undo(milvus_uri: str, scratch_collection: str,
                                            service: Session, home: Path) -> None:
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("space", "space", "space")
        marked = {r["id"] for r in first.rows[:3]}
        assert results(app).marked == marked
        assert "3 marked" in title(app)

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        modal = app.screen
        assert modal.preview.count == 3 and set(modal.preview.keys) == marked
        assert not modal.needs_typing
        assert "Delete 3 entities" in str(modal.query_one("#delete-count").render())
        await pilot.click("#delete-confirm")

        await wait_until(pilot, lambda: app.main.last_delete is not None, what="the delete")
        report = app.main.last_delete
        assert report.deleted == 3
        assert service.run(service.count(scratch_collection)) == 247
        backup = Path(report.backup_path)
        assert backup.exists() and backup.is_relative_to(home)
        # The page reloads without the deleted rows, and the marks are gone.
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.total == 247, what="the recount")
        assert not marked & {r["id"] for r in result(app).rows}
        assert not results(app).marked

        await focus_table(pilot, app)
        await pilot.press("u")
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.total == 250, what="the restore")
        assert service.run(service.count(scratch_collection)) == 250
        assert marked <= {r["id"] for r in result(app).rows}
        assert app.main.last_delete is None
        assert backup.exists()  # the backup is kept after a restore


async def test_deleted_rows_leave_the_search_results(milvus_uri: str, scratch_collection: str,
                                                     service: Session) -> None:
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        await submit(pilot, app, "search", "read a file line by line")
        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="search hits")
        top = found.rows[0]["id"]
        await focus_table(pilot, app)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        await pilot.click("#delete-confirm")
        await wait_until(pilot, lambda: app.main.last_delete is not None and idle(app), what="the delete")
        assert service.run(service.count(scratch_collection, f"id == {top}")) == 0
        await pilot.pause(0.3)
        assert top not in [r["id"] for r in result(app).rows]


async def test_cancel_in_the_delete_modal_deletes_nothing(milvus_uri: str, scratch_collection: str,
                                                          service: Session) -> None:
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("d")  # no marks: the selected row
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        assert app.screen.preview.keys == (1,)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the modal to close")
        await wait_until(pilot, lambda: any("nothing was deleted" in n for n in notifications(app)),
                         what="the notice")
        assert service.run(service.count(scratch_collection)) == 250
        assert app.main.last_delete is None


async def test_delete_by_filter_needs_the_collection_name(milvus_uri: str, scratch_collection: str,
                                                          service: Session) -> None:
    expr = "id > 100"
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "filter", expr)
        await wait_result(pilot, app, lambda r: r.expr == expr and r.total == 150, what="the filter")
        await focus_table(pilot, app)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        modal = app.screen
        previewed = modal.preview.count
        assert previewed == 150 and modal.preview.expr == expr
        confirm = modal.query_one("#delete-confirm", Button)
        typed = modal.query_one("#delete-typed", Input)
        assert confirm.disabled
        assert app.focused is typed

        await pilot.press(*scratch_collection[:-1])
        assert confirm.disabled  # almost the name is not the name
        await pilot.press("enter")  # enter with the wrong name does nothing
        assert app.screen is modal
        await pilot.press(scratch_collection[-1])
        assert not confirm.disabled
        await pilot.click("#delete-confirm")

        await wait_until(pilot, lambda: app.main.last_delete is not None, what="the delete")
        assert app.main.last_delete.deleted == previewed
        assert service.run(service.count(scratch_collection)) == 250 - previewed
        assert service.run(service.count(scratch_collection, expr)) == 0


# -- export --------------------------------------------------------------------------------


async def test_export_the_whole_filter(milvus_uri: str, docs_collection: str, service: Session,
                                       tmp_path: Path) -> None:
    expr = 'category == "class"'
    expected = service.run(service.count(docs_collection, expr))
    target = tmp_path / "classes.jsonl"
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "filter", expr)
        await wait_result(pilot, app, lambda r: r.expr == expr, what="the filter")
        await focus_table(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        path_input = app.screen.query_one("#export-path", Input)
        assert app.focused is path_input
        assert path_input.value.endswith(".jsonl")
        path_input.value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("Exported" in n for n in notifications(app)), what="the export")

    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == expected
    rows = [json.loads(line) for line in lines]
    assert {r["category"] for r in rows} == {"class"}
    assert len({r["id"] for r in rows}) == expected


async def test_export_only_the_rows_on_screen_as_csv(milvus_uri: str, docs_collection: str,
                                                     tmp_path: Path) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        await pilot.click("#scope-page")
        await pilot.click("#fmt-csv")
        path_input = app.screen.query_one("#export-path", Input)
        assert path_input.value.endswith(".csv")
        path_input.value = str(tmp_path / "page.csv")
        await pilot.click("#export-go")
        await wait_until(pilot, lambda: any("Exported" in n for n in notifications(app)), what="the export")
    with open(tmp_path / "page.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["id", "text"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 51))


# -- cancelling, sync mode -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_escape_cancels_a_slow_search(milvus_uri: str, docs_collection: str, mode: str) -> None:
    seen: list[Message] = []
    with EmbeddingServer(dim=256, latency=2.0) as srv:
        app = make_app(milvus_uri, docs_collection, embedding_provider="openai", base_url=srv.base_url,
                       api_key="test", embedding_model="fake-embedding", embedding_dimensions=256)
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            await wait_first_page(pilot, app)
            await wait_embeddings(pilot, app)
            if mode == "sync":
                await focus_table(pilot, app)
                await pilot.press("x")
                await wait_until(pilot, lambda: app.main.exec_mode == "sync", what="sync mode")
            await submit(pilot, app, "search", "read a file line by line")
            await wait_until(pilot, lambda: srv.requests, what="the embedding request")
            worker = next(w for w in app.main.workers if w.name == "search")
            assert worker.is_running
            assert "search" in app.main.running

            await pilot.press("escape")
            await wait_until(pilot, lambda: any(isinstance(m, msg.OperationFailed) and m.failure == "cancelled"
                                                for m in seen), timeout=10, what="the cancellation")
            assert worker.state == WorkerState.CANCELLED
            await wait_until(pilot, lambda: "search" not in app.main.running, what="the running label to clear")
            assert result(app).kind == "page"  # the old rows stay
            assert not any(isinstance(m, msg.ResultsReady) and m.kind == "search" for m in seen)
            assert any("cancelled" in n for n in notifications(app))

            # Still usable: a filter runs straight after.
            await submit(pilot, app, "filter", "n_args > 3")
            good = await wait_result(pilot, app, lambda r: r.expr == "n_args > 3", what="a filter after cancel")
            assert good.mode == mode


async def test_sync_mode_search_reports_sync(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        assert status(app).mode == "async"
        await pilot.press("x")
        await wait_until(pilot, lambda: app.main.exec_mode == "sync", what="sync mode")
        assert status(app).mode == "sync"
        await submit(pilot, app, "search", "parse command line arguments")
        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="the search")
        assert found.mode == "sync"
        assert status(app).last.startswith("last: search ")
        assert status(app).last.endswith(" sync")
        assert "sync" in title(app)

        await focus_table(pilot, app)
        await pilot.press("x")
        await wait_until(pilot, lambda: app.main.exec_mode == "async", what="back to async")
        await pilot.press("n")  # not a page result: n browses from page 1
        page = await wait_result(pilot, app, lambda r: r.kind == "page", what="a page")
        assert page.mode == "async" and status(app).last.endswith(" async")


async def test_a_new_query_replaces_a_running_one_quietly(milvus_uri: str, docs_collection: str) -> None:
    with EmbeddingServer(dim=256, latency=1.0) as srv:
        app = make_app(milvus_uri, docs_collection, embedding_provider="openai", base_url=srv.base_url,
                       api_key="test", embedding_model="fake-embedding", embedding_dimensions=256)
        async with app.run_test(size=SIZE) as pilot:
            await wait_first_page(pilot, app)
            await wait_embeddings(pilot, app)
            await submit(pilot, app, "search", "first question")
            await wait_until(pilot, lambda: len(srv.requests) == 1, what="the first request")
            await submit(pilot, app, "search", "second question")
            await wait_until(pilot, lambda: len(srv.requests) == 2, what="the second request")
            await pilot.pause(0.2)
            # The second search is still running: the app must still say so.
            assert "search" in app.main.running
            assert results(app).has_class("loading")
            assert not any("cancelled" in n for n in notifications(app))
            await wait_result(pilot, app, lambda r: r.kind == "search", what="the second search")


async def test_reconnect_keeps_the_app_working(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        old_client = app.main.conn.client
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.main.connected and idle(app) and "reconnecting" not in
                         status(app).connection, what="the reconnect")
        assert app.main.conn.client is not old_client
        await focus_table(pilot, app)
        await pilot.press("n")  # an async query on the new clients
        page = await wait_result(pilot, app, lambda r: r.page == 1, what="page 2 after reconnect")
        assert page.mode == "async" and page.rows[0]["id"] == 51


# -- history, theme, help, palette ---------------------------------------------------------


async def test_filter_history_survives_a_restart(milvus_uri: str, docs_collection: str, home: Path) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        for expr in ('category == "function"', "n_args >= 2"):
            await submit(pilot, app, "filter", expr)
            await wait_result(pilot, app, lambda r, expr=expr: r.expr == expr, what=expr)
    assert (home / "state" / "history.json").exists()

    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("f")
        assert app.focused is query_input(app) and query_input(app).value == ""
        await pilot.press("up")
        assert query_input(app).value == "n_args >= 2"
        await pilot.press("up")
        assert query_input(app).value == 'category == "function"'
        await pilot.press("down")
        assert query_input(app).value == "n_args >= 2"
        # Search mode has its own (empty) history. ("/" would type into the focused input.)
        query_bar(app).set_mode("search")
        query_input(app).value = ""
        await pilot.press("up")
        assert query_input(app).value == ""


async def test_history_up_in_another_mode_starts_at_its_newest_entry(milvus_uri: str,
                                                                     docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        history = app.main.history
        for text in ("n_args > 1", "n_args > 2", "n_args > 3"):
            history.add("filter", text)
        for text in ("open a file", "parse json"):
            history.add("search", text)

        query_bar(app).set_mode("filter")
        await pilot.press("up", "up", "up")
        assert query_input(app).value == "n_args > 1"

        query_bar(app).set_mode("search")
        query_input(app).value = ""
        await pilot.press("up")
        assert query_input(app).value == "parse json"


async def test_theme_survives_a_restart(milvus_uri: str, docs_collection: str, home: Path) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        assert app.theme != "nord"
        app.theme = "nord"
        await pilot.pause()
    assert json.loads((home / "state" / "ui.json").read_text())["theme"] == "nord"

    app = make_app(milvus_uri, docs_collection)
    assert app.theme == "nord"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "nord"


async def test_help_opens_with_question_mark_and_closes_with_escape(milvus_uri: str,
                                                                    docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Filter expressions" in str(app.screen.query_one("#help-filters").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert result(app) is not None  # escape closed the help, it did not disturb the results


async def test_palette_opens_a_collection(milvus_uri: str, docs_collection: str,
                                          scratch_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"Open collection")
        options = app.screen.query_one(OptionList)

        def prompts() -> list[str]:
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        wanted = f"Open collection: {scratch_collection}"
        await wait_until(pilot, lambda: any(wanted in p for p in prompts()), what="the collection commands")
        assert any(f"Open collection: {docs_collection}" in p for p in prompts())

        await pilot.press(*f": {scratch_collection}")
        await wait_until(pilot, lambda: prompts() and wanted in prompts()[0], what="the narrowed list")
        await pilot.press("enter")
        page = await wait_result(pilot, app, lambda r: r.collection == scratch_collection and r.kind == "page",
                                 what="the scratch collection")
        assert page.total == 250
        assert app.main.info.name == scratch_collection
        assert scratch_collection in str(results(app).border_title)
