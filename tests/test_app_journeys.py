"""The CLI journeys, in the app through Pilot, on the embedded default.

The data directory is seeded the way a user seeds it (the ``ingest`` command in a shell), then
the app opens it and starts its own Milvus Lite child, as ``milvus-tui`` with no command does.
The user searches (/), filters (f), deletes what the filter matches (D, the name typed to
confirm), undoes it (u) and exports (e); the export is compared, entity by entity, with one
taken before the delete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input

from tests.apphelpers import (
    SIZE,
    focus_table,
    notifications,
    query_input,
    result,
    submit,
    title,
    wait_embeddings,
    wait_result,
    wait_until,
)
from tests.test_journeys import Shell, assert_no_lite_left, entities
from tui.app import MilvusTuiApp
from tui.config import Settings
from tui.screens.delete import ConfirmDeleteScreen
from tui.screens.export import ExportScreen

pytestmark = pytest.mark.usefixtures("home")


async def export_all(pilot: Any, app: MilvusTuiApp, target: Path) -> dict[Any, dict[str, Any]]:
    """e, the whole scope (the current filter, or the collection), JSONL; the entities written."""
    done = len([n for n in notifications(app) if "Exported" in n])
    await focus_table(pilot, app)
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
    path_input = app.screen.query_one("#export-path", Input)
    path_input.value = str(target)
    await pilot.press("enter")
    await wait_until(pilot, lambda: len([n for n in notifications(app) if "Exported" in n]) > done,
                     timeout=30, what="the export")
    return entities([json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()])


async def test_app_journey_on_the_embedded_default(tmp_path: Path, home: Path) -> None:
    shell = Shell(tmp_path)
    shell.env["MILVUS_TUI_HOME"] = str(home)  # the app's state: it remembers the ingest's load
    shell.ok("ingest", str(shell.write_notes("notes.jsonl", 150)), "-c", "notes")
    expr = "n >= 30"

    app = MilvusTuiApp(Settings(uri=str(shell.data_dir), collection="notes"))
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_result(pilot, app, lambda r: r.kind == "page" and r.rows, timeout=60,
                                  what="the first page")
        assert first.total == 150 and app.main.info is not None and app.main.info.loaded
        before = await export_all(pilot, app, tmp_path / "before.jsonl")
        assert len(before) == 150

        await wait_embeddings(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("slash")
        assert app.focused is query_input(app)
        await pilot.press(*"where does the moon go", "enter")
        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="search hits")
        assert "moon" in found.rows[0]["text"] and found.scores == sorted(found.scores, reverse=True)

        await focus_table(pilot, app)
        await pilot.press("f")
        await pilot.press(*expr, "enter")
        matched = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr, what="the filter")
        assert matched.total == 120 and f"matching {expr}" in title(app)

        await focus_table(pilot, app)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        modal = app.screen
        assert modal.preview.count == 120 and modal.needs_typing
        await pilot.press(*"notes")
        assert not modal.query_one("#delete-confirm", Button).disabled
        await pilot.click("#delete-confirm")
        await wait_until(pilot, lambda: app.main.last_delete is not None, timeout=30, what="the delete")
        report = app.main.last_delete
        assert report.deleted == 120 and Path(report.backup_path).is_file()
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr and r.total == 0,
                          what="the recount after the delete")

        await focus_table(pilot, app)
        await pilot.press("u")
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr and r.total == 120,
                          timeout=30, what="the restore")
        assert app.main.last_delete is None
        assert {r["id"] for r in result(app).rows} <= {k for k, row in before.items() if row["n"] >= 30}

        await submit(pilot, app, "filter", "")  # the whole collection again
        await wait_result(pilot, app, lambda r: r.kind == "page" and not r.expr and r.total == 150,
                          what="the whole collection")
        after = await export_all(pilot, app, tmp_path / "after.jsonl")
        assert after == before  # the same keys, with the same fields and vectors
    assert_no_lite_left(shell)  # the app's Lite child went with it
