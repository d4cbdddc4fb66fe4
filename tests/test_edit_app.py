"""Edits in the app through Pilot, on the zoo (Milvus Lite): a bulk edit of the current filter
(E: the change, the before/after preview, confirm), u; an entity edit from its detail view
(enter, e: the form, ctrl+s, the diff, confirm), u. Compared entity by entity after each step.
Hostile new values (a chat template, markup, ESC, NUL) are stored exactly and shown escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.zoo import ZooCollection, client_for, diff, snapshot
from tui.printable import printable

from .apphelpers import SIZE, focus_table, idle, make_app, notifications, results, submit, wait_first_page, wait_result, wait_until

HOSTILE = "<s>[INST] x [/INST] [bold]b[/] \x1b[2J \x00 \x85"


async def test_bulk_edit_and_entity_edit_then_undo(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.screens.edit import BulkEditScreen, ConfirmEditScreen, EntityEditScreen
    from tui.screens.entity import EntityScreen
    from tui.screens.main import MainScreen

    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    uri, made = lite_zoo
    c = made["zoo_json_array"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name)
    chosen = [k for k in before if k <= 6]
    app = make_app(uri, c.name)
    try:
        async with app.run_test(size=SIZE) as pilot:
            session = app.main.session
            await wait_first_page(pilot, app)
            await submit(pilot, app, "filter", "pk <= 6")
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.total == len(chosen), what="the filter")
            await focus_table(pilot, app)

            # Bulk edit of the current filter: a typed error first (the dialog stays), then a good one.
            await pilot.press("E")
            await wait_until(pilot, lambda: isinstance(app.screen, BulkEditScreen), what="the bulk edit dialog")
            app.screen.query_one("#bulk-input", Input).value = "i8 = 300"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "-128 to 127" in str(app.screen.query_one("#bulk-error").render()),
                             what="the refusal")
            assert isinstance(app.screen, BulkEditScreen)
            app.screen.query_one("#bulk-input", Input).value = f"text = {json.dumps(HOSTILE)} ; i8 = -7"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmEditScreen), what="the edit preview")
            screen = app.screen
            assert screen.preview.count == len(chosen) and sorted(screen.preview.keys) == sorted(chosen)
            shown = str(screen.query_one("#edit-sample", Static).render())
            assert "[/INST]" in shown and "-> -7" in shown and "\x1b" not in shown and "\x00" not in shown
            assert snapshot(client, c.name) == before  # previewed, nothing written
            await pilot.click("#edit-confirm")
            await wait_until(pilot, lambda: session.last_edit is not None and idle(app), what="the edit")
            after = snapshot(client, c.name)
            assert {k: (after[k]["text"], after[k]["i8"]) for k in chosen} == dict.fromkeys(chosen, (HOSTILE, -7))
            assert diff(before, after, ignore=("text", "i8")) == []
            assert all(after[k] == before[k] for k in before if k not in chosen)
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.rows, what="the reloaded page")
            await focus_table(pilot, app)
            await pilot.press("u")
            await wait_until(pilot, lambda: session.last_edit is None and idle(app), what="the undo")
            assert diff(before, snapshot(client, c.name)) == []

            # Entity edit from the detail view.
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.rows, what="the page")
            await focus_table(pilot, app)
            rows = results(app).result.rows
            results(app).table.move_cursor(row=next(i for i, r in enumerate(rows) if r["pk"] == 4))
            await pilot.pause()
            key = results(app).current_row()["pk"]
            assert key == 4 and "\x1b" in before[4]["text"]  # the zoo's text with ESC ... BEL
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen), what="the entity detail")
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, EntityEditScreen), what="the edit form")
            form = app.screen
            ids = {name: ident for ident, (name, _) in form.initial.items()}
            # Stored text with control characters is shown JSON-quoted: nothing raw reaches the terminal.
            assert all(printable(i.value, keep="") == i.value for i in form.query(Input))
            assert json.loads(form.query_one(f"#{ids['text']}", Input).value) == before[4]["text"]
            assert "pk" not in ids and "vec" not in ids  # the primary key and the vector are not editable
            form.query_one(f"#{ids['meta']}", Input).value = '{"edited": ["[x]", null]}'
            form.query_one(f"#{ids['tags']}", Input).value = '["z"]'
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmEditScreen), what="the entity diff")
            assert app.screen.preview.keys == (key,)
            assert {c.field for c in app.screen.preview.changes} == {"meta", "tags"}
            await pilot.click("#edit-confirm")
            await wait_until(pilot, lambda: session.last_edit is not None and idle(app), what="the entity edit")
            after = snapshot(client, c.name)
            assert (after[key]["meta"], after[key]["tags"]) == ('{"edited":["[x]",null]}', ("z",))
            assert diff(before, after, ignore=("meta", "tags")) == []
            assert all(after[k] == before[k] for k in before if k != key)
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and idle(app), what="the main screen")
            await focus_table(pilot, app)
            await pilot.press("u")
            await wait_until(pilot, lambda: session.last_edit is None and idle(app), what="the undo")
            assert not any("Traceback" in n for n in notifications(app))
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        client.close()
