"""The app itself (Pilot) against a real Milvus 2.3.5: the last of 400 pages, and a collection
the server cannot load shown as "not supported by this server" with the app still usable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.apphelpers import (
    SIZE,
    focus_table,
    idle,
    make_app,
    notifications,
    title,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.realserver.conftest import BIG_ROWS, make_newer_collection

pytestmark = pytest.mark.realserver


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("MILVUS_TUI_HOME", str(path))
    return path


async def test_app_pages_to_the_last_of_20000_rows(real_uri: str, big: str) -> None:
    app = make_app(real_uri, big)
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_first_page(pilot, app, timeout=60)
        assert first.total == BIG_ROWS and first.pages * len(first.rows) >= BIG_ROWS
        assert [r["id"] for r in first.rows] == list(range(len(first.rows)))
        await focus_table(pilot, app)
        await pilot.press("G")
        last = await wait_result(pilot, app, lambda r: r.page == first.pages - 1, timeout=60, what="the last page")
        assert [r["id"] for r in last.rows] == list(range(BIG_ROWS - len(last.rows), BIG_ROWS))
        assert f"page {first.pages} of {first.pages}" in title(app)
        await pilot.press("p")
        before = await wait_result(pilot, app, lambda r: r.page == first.pages - 2, what="the page before")
        assert before.rows[-1]["id"] == last.rows[0]["id"] - 1


async def test_app_says_not_supported_and_stays_usable(real_uri: str, raw: Any, docs: str) -> None:
    name = "rs_app_sparse"
    make_newer_collection(raw, name, "SPARSE_FLOAT_VECTOR")
    try:
        app = make_app(real_uri, name)
        async with app.run_test(size=SIZE) as pilot:
            banner = app.main.query_one("#banner")
            await wait_until(pilot, lambda: banner.display, timeout=30, what="the released banner")
            await pilot.press("l")
            await wait_until(pilot, lambda: any("Not supported by this server" in n for n in notifications(app)),
                             timeout=30, what="the not-supported message")
            await wait_until(pilot, lambda: idle(app), what="the app to settle")
            assert raw.get_load_state(name)["state"].name == "NotLoad"
            # Still usable: open another collection and page it.
            tree = app.main.query_one("#collections")
            node = next(n for n in tree._collection_nodes() if n.data == docs)
            tree.move_cursor(node)
            tree.focus()
            await pilot.press("enter")
            page = await wait_result(pilot, app, lambda r: r.collection == docs and r.kind == "page", timeout=30,
                                     what="the other collection's first page")
            assert page.rows
    finally:
        raw.drop_collection(name)
