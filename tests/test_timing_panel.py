"""Pilot tests of the timing panel: the real app, the real Lite server, real workers.

The panel is opened from the explorer with ``t``; ``ctrl+g`` runs the bench on a loop of its
own beside the app's, ``escape`` cancels a run (or goes back when idle). Tests poll for the state they
expect instead of sleeping, and never assert on absolute timings.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pymilvus import MilvusClient
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Label, ProgressBar, Select, Static

from tests.apphelpers import (
    SIZE,
    focus_table,
    make_app,
    notifications,
    submit,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.embedding_server import EmbeddingServer
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.screens.timing import BenchFinished, BenchProgress, BenchResult, TimingScreen
from tui.timing.engine import SCRATCH_PREFIX


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


def scratch_names(uri: str) -> set[str]:
    client = MilvusClient(uri=uri)
    try:
        return {n for n in client.list_collections() if n.startswith(SCRATCH_PREFIX)}
    finally:
        client.close()


def title(screen: TimingScreen) -> str:
    return str(screen.query_one("#timing-title", Label).render())


def messages(seen: list[Message], kind: type[Message]) -> list[Any]:
    """Messages of one kind, once each (the hook sees a message again as it bubbles up)."""
    unique = {id(m): m for m in seen if isinstance(m, kind)}
    return list(unique.values())


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def ready(pilot: Any, app: Any) -> None:
    await wait_until(pilot, lambda: app.main.connected and app.main.session.embeddings is not None,
                     timeout=60, what="the connection and the embedding model")
    # The first page loads after connecting, in the explorer's query group; a query sent
    # before it lands could be replaced by it.
    await wait_first_page(pilot, app, timeout=60)


async def open_timing(pilot: Any, app: Any) -> TimingScreen:
    await focus_table(pilot, app)  # so "t" is a key binding, not text in the query input
    await pilot.press("t")
    screen = await wait_until(pilot, lambda: app.screen if isinstance(app.screen, TimingScreen) else None,
                              what="the timing panel")
    await pilot.pause()
    return screen


def choose(screen: TimingScreen, *, n: int, modes: tuple[str, ...], concurrency: int = 0) -> None:
    screen.query_one("#bench-n", Select).value = n
    screen.query_one("#bench-concurrency", Select).value = concurrency
    for mode in ("async", "sync", "batched", "blocking"):
        screen.query_one(f"#mode-{mode}", Checkbox).value = mode in modes


async def test_run_three_modes_and_see_results(milvus_uri: str, docs_collection: str) -> None:
    seen: list[Message] = []
    before = scratch_names(milvus_uri)
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ready(pilot, app)

        # A search by hand in the explorer is logged with its mode...
        await submit(pilot, app, "search", "read a file line by line")
        await wait_result(pilot, app, lambda r: r.kind == "search", timeout=60, what="the search")
        screen = await open_timing(pilot, app)
        log = rows(screen.query_one("#bench-log", DataTable))
        assert any(row[1] == "search" and row[2] == "async" and row[4] == "ok" for row in log), log
        assert "Run a benchmark" in str(screen.query_one("#bench-chart", Static).render())

        # ...no mode chosen: refused, nothing runs.
        choose(screen, n=10, modes=())
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not screen.running
        assert any("at least one mode" in n for n in notifications(app))

        choose(screen, n=10, modes=("async", "sync", "batched", "blocking"))
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.running or "Done" in title(screen), what="the run to start")
        assert screen.query_one("#bench-run").disabled or not screen.running
        await wait_until(pilot, lambda: "Done" in title(screen), timeout=90, what="the bench to finish")

        progress = messages(seen, BenchProgress)
        assert {m.mode for m in progress} == {"async", "sync", "batched", "blocking"}
        assert all(m.op == "search" and m.total == 10 and 0 < m.done <= 10 for m in progress)
        # Progress a wave delivers at once is handed to the UI as one update: always forward.
        sync_done = [m.done for m in progress if m.mode == "sync"]
        assert sync_done == sorted(set(sync_done)) and sync_done[-1] == 10, sync_done
        results = [m.result for m in messages(seen, BenchResult)]
        assert [(r.mode, r.n, r.ok, r.errors) for r in results] == [
            ("async", 10, 10, 0), ("sync", 10, 10, 0), ("batched", 10, 10, 0), ("blocking", 10, 10, 0)]
        # The run has a process of its own, but the demonstration still blocks the UI's loop
        # (the heartbeat there cannot tick while the 10 calls run: it misses all but at most
        # one 10 ms beat of it), and the reader thread is gone now.
        blocking = results[3]
        assert blocking.lag_max_ms >= blocking.wall_s * 1000 - 12, blocking
        assert not [t for t in threading.enumerate() if t.name == "bench-child-reader"]
        finished = messages(seen, BenchFinished)
        assert len(finished) == 1 and finished[0].dropped and not finished[0].cancelled
        assert finished[0].scratch.startswith(SCRATCH_PREFIX)

        done = title(screen)
        assert "Done" in done and "dropped" in done and finished[0].scratch in done
        for mode in ("async", "sync", "batched", "blocking"):
            bar = screen.query_one(f"#progress-{mode}", ProgressBar)
            assert bar.total == 10 and bar.progress == 10
        assert any("blocked the UI for" in n for n in notifications(app))
        history = rows(screen.query_one("#bench-history", DataTable))
        assert [row[2] for row in history] == ["async", "sync (thread)", "batched", "sync on loop (demo)"]
        assert all(row[0] == "similarity search (text)" and row[1] == "10" and row[9] == "0" for row in history)
        assert history[1][8] == "1.0x"  # sync is the baseline
        chart = str(screen.query_one("#bench-chart", Static).render())
        for label in ("async", "sync (thread)", "batched", "sync on loop (demo)", "UI stall"):
            assert label in chart
        assert not screen.running and not screen.query_one("#bench-run").disabled
        assert screen.query_one("#bench-cancel").disabled

        # Idle: escape goes back to the explorer; the panel reopens with its history and
        # a fresh log of what ran by hand.
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="the explorer")
        logged = len(app.main.op_log)
        await submit(pilot, app, "search", "parse command line arguments")
        await wait_until(pilot, lambda: len(app.main.op_log) > logged, timeout=60, what="the second search")
        again = await open_timing(pilot, app)
        assert again is screen and "Done" in title(again)
        assert again.query_one("#bench-history", DataTable).row_count == 4
        assert again.query_one("#bench-log", DataTable).row_count == len(log) + 1
    assert scratch_names(milvus_uri) == before


async def test_cancel_a_slow_run(milvus_uri: str, docs_collection: str) -> None:
    seen: list[Message] = []
    before = scratch_names(milvus_uri)
    with EmbeddingServer(dim=256, latency=0.3) as srv:
        app = make_app(milvus_uri, docs_collection)
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            await ready(pilot, app)
            app.main.session.embeddings = (make_embeddings(EmbeddingSettings(
                provider="openai", base_url=srv.base_url, api_key="test", dimensions=256, max_retries=0)))
            screen = await open_timing(pilot, app)
            # 100 searches, 8 at a time, 0.3 s each: several seconds if left alone.
            choose(screen, n=100, modes=("async",), concurrency=8)
            await pilot.pause()
            await pilot.press("ctrl+g")
            await wait_until(pilot, lambda: any(isinstance(m, BenchProgress) and m.done > 0 for m in seen),
                             timeout=60, what="progress")
            assert screen.running
            assert screen.query_one("#progress-async", ProgressBar).progress > 0

            await pilot.press("escape")
            await wait_until(pilot, lambda: "Cancelled" in title(screen), timeout=10, what="the cancellation")
            assert "dropped" in title(screen)
            assert not screen.running
            assert app.screen is screen  # a cancel does not also close the panel
            finished = messages(seen, BenchFinished)
            assert len(finished) == 1 and finished[0].cancelled and not finished[0].error
            assert not any(isinstance(m, BenchResult) for m in seen)  # the run never completed
            assert screen.query_one("#bench-history", DataTable).row_count == 0
            assert scratch_names(milvus_uri) == before
            assert not [t for t in threading.enumerate() if t.name == "bench-child-reader"]
            await pilot.pause(0.5)
            settled = len(srv.requests)
            await pilot.pause(1.0)
            assert len(srv.requests) == settled < 1 + 100  # the operations stopped

            # The app still responds: back to the explorer, and the panel opens again.
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main, what="the explorer")
            again = await open_timing(pilot, app)
            assert again is screen and "Cancelled" in title(again)
