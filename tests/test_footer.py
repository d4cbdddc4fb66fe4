"""The footer (``KeyFooter``, one widget instead of Textual's Footer of one widget per key):
it shows the bindings the focused widget leaves free, follows focus, and a click runs a key."""

from __future__ import annotations


import pytest

from tests.apphelpers import SIZE, focus_table, make_app, query_bar, query_input, wait_first_page, wait_until
from tui.widgets.status import KeyFooter


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


def footer_text(app) -> str:  # noqa: ANN001
    return str(app.main.query_one(KeyFooter).render())


async def test_footer_follows_focus_and_a_click_runs_the_key(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        footer = app.main.query_one(KeyFooter)
        await focus_table(pilot, app)
        text = footer_text(app)
        assert text.startswith(" / Search  f Filter  m More like this  n Next page ")
        assert text.endswith("▏^p palette ") and len(text) == SIZE[0]
        # Typing in the query input: its printable keys are not bindings, so only "/" shows.
        query_input(app).focus()
        await wait_until(pilot, lambda: "f Filter" not in footer_text(app), what="the footer to follow focus")
        assert footer_text(app).startswith(" / Search ")

        await focus_table(pilot, app)
        x = footer_text(app).index("f Filter")
        await pilot.hover(KeyFooter, offset=(x, 0))
        assert footer._hover is not None and footer._hover.key == "f"
        await pilot.click(KeyFooter, offset=(x, 0))
        await wait_until(pilot, lambda: query_bar(app).mode == "filter", what="f clicked in the footer")
        assert app.focused is query_input(app)
        # The palette key at the right opens the command palette.
        await pilot.click(KeyFooter, offset=(SIZE[0] - 5, 0))
        await wait_until(pilot, lambda: app.screen is not app.main, what="the command palette")
