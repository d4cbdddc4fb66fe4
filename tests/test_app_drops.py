"""The app's drops and backups screen through Pilot, on Milvus Lite with zoo collections:
X -> drop (the collection's name typed to confirm), X -> truncate, B -> the backups screen
(this server / all servers), restore a backup that is not the last one, u undoes the last,
open a backup read-only (hostile text safe), delete an old backup (confirmed). Every change is
checked entity by entity with a plain pymilvus client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input

from tests.zoo import ZooCollection, client_for, diff, snapshot

from .apphelpers import SIZE, focus_table, idle, make_app, notifications, wait_first_page, wait_until


def _rows(table: DataTable[Any]) -> list[list[str]]:
    return [[getattr(c, "plain", str(c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_drop_truncate_backups_restore_open_delete(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.screens.backups import BackupsScreen, BackupViewScreen
    from tui.screens.choice import ChoiceScreen
    from tui.screens.drop import ConfirmDropScreen
    from tui.screens.main import MainScreen
    from tui.widgets.collections import CollectionsPane

    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    uri, made = lite_zoo
    dropped, emptied = made["zoo_partitions"], made["zoo_varchar_pk"]
    client = client_for(uri)
    before = {c.name: snapshot(client, c.name) for c in (dropped, emptied)}
    backups = tmp_path / "home" / "state" / "backups"
    app = make_app(uri, dropped.name)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_first_page(pilot, app)
            await focus_table(pilot, app)
            # X -> drop the collection: the confirm button waits for the exact name.
            await pilot.press("X")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the drop menu")
            await pilot.press("enter")  # the first choice: drop collection
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDropScreen), what="the drop confirmation")
            screen = app.screen
            assert screen.preview.count == len(before[dropped.name]) and screen.preview.fits
            confirm = screen.query_one("#drop-confirm", Button)
            assert confirm.disabled
            await pilot.press(*"zoo")
            await pilot.press("enter")  # a wrong name: nothing happens
            assert confirm.disabled and isinstance(app.screen, ConfirmDropScreen)
            screen.query_one(Input).value = ""
            await pilot.press(*dropped.name)
            await pilot.pause()
            assert not confirm.disabled
            await pilot.press("enter")
            await wait_until(pilot, lambda: not client.has_collection(dropped.name) and idle(app)
                             and isinstance(app.screen, MainScreen), timeout=30, what="the drop")
            # The catalog moved on to another collection; open the one to empty.
            await wait_until(pilot, lambda: dropped.name not in app.main.query_one("#collections").infos,
                             what="the catalog without the dropped collection")
            app.main.post_message(CollectionsPane.Selected(emptied.name))
            await wait_until(pilot, lambda: app.main.info is not None and app.main.info.name == emptied.name
                             and idle(app), what="the second collection")
            await focus_table(pilot, app)
            await pilot.press("X")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the drop menu")
            await pilot.press("down", "enter")  # the second choice: truncate
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDropScreen), what="the truncate confirmation")
            assert app.screen.preview.operation == "truncate"
            app.screen.query_one(Input).value = emptied.name
            await pilot.pause()
            await pilot.click("#drop-confirm")
            await wait_until(pilot, lambda: idle(app) and isinstance(app.screen, MainScreen)
                             and app.main.last_delete is not None and "emptied" in " ".join(notifications(app)).lower(),
                             timeout=30, what="the truncate")
            assert snapshot(client, emptied.name) == {}
            assert len(list(backups.glob("*.jsonl"))) == 2

            # B: both backups listed, newest first, with the audit records.
            await pilot.press("B")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupsScreen) and app.screen.listing is not None,
                             what="the backups screen")
            listed = _rows(app.screen.query_one("#backups-table", DataTable))
            assert [(r[1], r[2]) for r in listed] == [("truncate", emptied.name), ("drop_collection", dropped.name)]
            assert listed[1][5] == str(len(before[dropped.name]))
            audit = _rows(app.screen.query_one("#audit-table", DataTable))
            assert [(r[1], r[2]) for r in audit[:4]] == [("truncate", "done"), ("truncate", "started"),
                                                         ("drop_collection", "done"), ("drop_collection", "started")]
            await pilot.press("a")  # all servers: the same two here
            await wait_until(pilot, lambda: app.screen.listing is not None and app.screen.listing.server is None,
                             what="every server's backups")
            assert len(app.screen.listing.backups) == 2

            # Open the drop's backup read-only: every entity, hostile text shown safely.
            await pilot.press("down", "o")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupViewScreen), what="the read-only view")
            view = app.screen.query_one(DataTable)
            assert view.row_count == len(before[dropped.name])
            cells = [c for row in range(view.row_count) for c in view.get_row_at(row)]
            assert all(hasattr(c, "plain") for c in cells)  # Text: never parsed as markup
            assert not any("\x1b" in c.plain or "\x00" in c.plain for c in cells)
            assert any("[/INST]" in c.plain for c in cells) and any("\\x1b" in c.plain for c in cells)
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="back to the list")

            # Restore the drop (not the last backup): the screen closes, the collection comes back.
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the restore question")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and client.has_collection(dropped.name)
                             and idle(app) and "Restored" in " ".join(notifications(app)), timeout=40,
                             what="the restore of the drop")
            assert diff(before[dropped.name], snapshot(client, dropped.name)) == []
            assert snapshot(client, emptied.name) == {}
            # u undoes the last one: the truncate.
            await focus_table(pilot, app)
            await pilot.press("u")
            await wait_until(pilot, lambda: app.main.last_delete is None and idle(app), timeout=30, what="the undo")
            assert diff(before[emptied.name], snapshot(client, emptied.name)) == []

            # Delete the old truncate backup, confirmed.
            await pilot.press("B")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupsScreen) and app.screen.listing is not None,
                             what="the backups screen again")
            first = app.screen.listing.backups[0]
            assert first.operation == "truncate"
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the delete question")
            await pilot.press("down", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupsScreen) and app.screen.listing is not None
                             and len(app.screen.listing.backups) == 1, what="the list without the deleted backup")
            assert not Path(first.path).exists()
            assert app.screen.listing.backups[0].operation == "drop_collection"
            assert app.screen.listing.audit[0].action == "delete_backup"
            assert not any("Traceback" in n for n in notifications(app))
    finally:
        client.close()
