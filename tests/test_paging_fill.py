"""Pilot tests of the background page-boundary fill, against the session's Lite server.

After the first page is on screen a worker finds the rest of the pager's page boundaries;
a jump then needs no key scan of its own. A new filter (a new pager) must drop whatever the
old fill still finds, and a jump while the fill runs must still land on the right rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymilvus import MilvusClient

from tests.apphelpers import SIZE, focus_table, make_app, results, submit, wait_first_page, wait_result, wait_until
from tui import messages as msg
from tui.session import Session
from tui.screens.delete import ConfirmDeleteScreen
from tui.widgets.results import ResultsPane


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture(scope="module")
def truth(milvus_uri: str, docs_collection: str) -> Iterator[Any]:
    """Every key matching a filter, in order, straight from pymilvus."""
    client = MilvusClient(uri=milvus_uri)

    def keys(expr: str = "") -> list[int]:
        rows = client.query(docs_collection, filter=expr, output_fields=["id"], limit=16384,
                            consistency_level="Strong")
        return sorted(r["id"] for r in rows)

    yield keys
    client.close()


def collect(found: list[msg.BoundariesFound]) -> Callable[[Any], None]:
    """A message hook keeping each fill result once (it bubbles from the screen to the app)."""
    def hook(message: Any) -> None:
        if isinstance(message, msg.BoundariesFound) and not any(m is message for m in found):
            found.append(message)

    return hook


def slow_fill(monkeypatch: pytest.MonkeyPatch, window: int, pause: float) -> None:
    """Every results pane's fill asks for ``window`` keys at a time and rests ``pause`` s between."""
    monkeypatch.setattr(ResultsPane, "fill_window", window)
    monkeypatch.setattr(ResultsPane, "fill_pause", pause)


def boundaries(keys: list[int], page_size: int = 50) -> list[Any]:
    pages = max(1, -(-len(keys) // page_size))
    return [None, *keys[page_size - 1::page_size]][:pages]


async def test_after_the_fill_the_last_page_needs_no_key_scan(milvus_uri: str, docs_collection: str,
                                                              truth: Any) -> None:
    app = make_app(milvus_uri, docs_collection)
    found: list[msg.BoundariesFound] = []
    async with app.run_test(size=SIZE, message_hook=collect(found)) as pilot:
        await wait_first_page(pilot, app)
        pager = results(app).pager
        assert pager is not None
        await wait_until(pilot, lambda: pager.exhausted, what="the fill")
        keys = truth()
        assert pager.boundaries == boundaries(keys) and pager.key_scans == 0
        # The first page alone tells page 2's boundary; the fill's one request found the other 10.
        fills = [m.result for m in found if m.pager is pager]
        assert [(f.start, len(f.keys)) for f in fills] == [(1, 10)]
        await focus_table(pilot, app)
        await pilot.press("G")
        last = await wait_result(pilot, app, lambda r: r.page == 11, what="the last page")
        assert [r["id"] for r in last.rows] == keys[550:]
        await pilot.press("p")
        prev = await wait_result(pilot, app, lambda r: r.page == 10, what="page 11")
        assert [r["id"] for r in prev.rows] == keys[500:550]
        assert results(app).pager is pager and pager.key_scans == 0


async def test_a_new_filter_during_the_fill_drops_the_old_fill(milvus_uri: str, docs_collection: str,
                                                              truth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(milvus_uri, docs_collection)
    slow_fill(monkeypatch, 50, 0.3)  # a page a request, slowly: still running
    found: list[msg.BoundariesFound] = []
    async with app.run_test(size=SIZE, message_hook=collect(found)) as pilot:
        await wait_first_page(pilot, app)
        old = results(app).pager
        assert old is not None
        await wait_until(pilot, lambda: len(old.boundaries) >= 4, what="the fill under way")
        assert not old.exhausted
        expr = 'category == "class"'
        await submit(pilot, app, "filter", expr)
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr, what="the filter")
        new = results(app).pager
        assert new is not old and new.expr == expr
        stopped_at = len(old.boundaries)
        await wait_until(pilot, lambda: new.exhausted, timeout=30, what="the new filter's fill")
        await pilot.pause(0.7)
        # The old fill stopped (beyond what it had merged, at most a queued result and the
        # request in flight came back; going on would have made 10) and nothing it found was
        # merged after the switch; the new pager's boundaries are the filter's own.
        assert len(old.boundaries) == stopped_at and not old.exhausted
        assert sum(1 for m in found if m.pager is old) <= (stopped_at - 2) + 2 < 10
        assert new.boundaries == boundaries(truth(expr))
        assert all(m.result.total == new.total for m in found if m.pager is new)


async def test_a_jump_while_the_fill_runs_lands_right_and_the_fill_resumes(milvus_uri: str, docs_collection: str,
                                                                          truth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(milvus_uri, docs_collection)
    slow_fill(monkeypatch, 50, 0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        pager = results(app).pager
        assert pager is not None
        await wait_until(pilot, lambda: len(pager.boundaries) >= 3, what="the fill under way")
        assert not pager.exhausted
        await focus_table(pilot, app)
        await pilot.press("G")
        keys = truth()
        last = await wait_result(pilot, app, lambda r: r.page == 11, what="the last page")
        assert [r["id"] for r in last.rows] == keys[550:]
        assert pager.key_scans >= 1  # the jump scanned from where the fill had got to
        assert pager.exhausted and pager.boundaries == boundaries(keys)
        await pilot.press("g")
        first = await wait_result(pilot, app, lambda r: r.page == 0, what="page 1")
        assert [r["id"] for r in first.rows] == keys[:50]


async def test_a_delete_during_the_fill_refills_from_the_new_data(milvus_uri: str, scratch_collection: str,
                                                                  service: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(milvus_uri, scratch_collection)
    slow_fill(monkeypatch, 50, 2.0)  # 5 pages: slow enough to delete mid-fill
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        old = results(app).pager
        assert old is not None and old.total == 250
        await wait_until(pilot, lambda: len(old.boundaries) >= 3, what="the fill under way")
        assert not old.exhausted
        await focus_table(pilot, app)
        await pilot.press("d")  # the first row: id 1
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        await pilot.click("#delete-confirm")
        results(app).fill_pause = 0.05  # for the refill
        await wait_result(pilot, app, lambda r: r.kind == "page" and r.total == 249, what="the recount")
        new = results(app).pager
        assert new is not old
        await wait_until(pilot, lambda: new.exhausted, timeout=30, what="the refill")
        keys = sorted(r["id"] for r in service.conn.client.query(
            scratch_collection, filter="", output_fields=["id"], limit=1000, consistency_level="Strong"))
        assert keys == list(range(2, 251))
        # Every boundary moved by one row: none may come from the fill of the data before.
        assert new.boundaries == boundaries(keys) == [None, 51, 101, 151, 201]
        assert not old.exhausted


async def test_a_fill_that_finds_fewer_rows_than_the_count_is_dropped(milvus_uri: str, scratch_collection: str,
                                                                      service: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows deleted by someone else mid-fill: the fill's end disagrees with the count, so its
    last result is dropped and the pager keeps finding its end itself (G recounts)."""
    app = make_app(milvus_uri, scratch_collection)
    slow_fill(monkeypatch, 50, 2.0)
    found: list[msg.BoundariesFound] = []
    async with app.run_test(size=SIZE, message_hook=collect(found)) as pilot:
        await wait_first_page(pilot, app)
        pager = results(app).pager
        assert pager is not None and pager.total == 250
        await wait_until(pilot, lambda: len(pager.boundaries) == 4, what="the fill under way")
        service.conn.client.delete(scratch_collection, filter="id >= 200")
        await wait_until(pilot, lambda: any(m.result.pages is not None for m in found), timeout=30,
                         what="the fill's last scan")
        assert [m.result.pages for m in found if m.result.pages is not None] == [4]
        assert pager.boundaries == [None, 50, 100, 150] and not pager.exhausted
        await focus_table(pilot, app)
        await pilot.press("G")
        last = await wait_result(pilot, app, lambda r: r.page == 3 and r.total == 199, what="the last page")
        assert [r["id"] for r in last.rows] == list(range(151, 200))
