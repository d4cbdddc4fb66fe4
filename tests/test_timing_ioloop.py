"""The timing panel's loop of its own (``tui/timing/ioloop.py``), with the real async client.

What must hold: the coroutine runs on another loop in another thread; its result, error or
cancel comes back to the caller; its cleanup runs on cancel; nothing outlives the call (thread,
loop, pymilvus's connections for that loop); and the engine's heartbeat, started from that
loop, measures the caller's (the UI's) loop.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pymilvus import AsyncMilvusClient
from pymilvus.client.connection_manager import AsyncConnectionManager

from tui.timing.engine import LoopMonitor
from tui.timing.ioloop import run_on_own_loop


def threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


async def test_runs_on_its_own_loop_and_thread_and_leaves_nothing() -> None:
    caller = asyncio.get_running_loop()

    async def where(x: int) -> tuple[int, asyncio.AbstractEventLoop, str]:
        await asyncio.sleep(0.01)
        return x * 2, asyncio.get_running_loop(), threading.current_thread().name

    doubled, loop, thread = await run_on_own_loop(where, 21, name="t-io-1")
    assert doubled == 42 and thread == "t-io-1"
    assert loop is not caller and loop.is_closed()
    assert threads("t-io-1") == []


async def test_errors_come_back_with_their_type() -> None:
    async def fails() -> None:
        raise ValueError("bad filter expression")

    with pytest.raises(ValueError, match="bad filter expression"):
        await run_on_own_loop(fails, name="t-io-2")
    assert threads("t-io-2") == []


async def test_cancel_stops_it_there_after_its_cleanup() -> None:
    started = threading.Event()
    cleaned: list[str] = []

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # cleanup that awaits (as the scratch drop does)
            cleaned.append(threading.current_thread().name)

    task = asyncio.ensure_future(run_on_own_loop(forever, name="t-io-3"))
    await asyncio.to_thread(started.wait, 10)
    t0 = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - t0 < 2
    assert cleaned == ["t-io-3"]  # the cleanup ran, on its own loop, before the cancel returned
    assert threads("t-io-3") == []


async def test_async_milvus_client_lives_and_dies_with_the_loop(milvus_uri: str) -> None:
    """Two runs in a row, each with its own AsyncMilvusClient: the second must not be handed
    the first loop's (closed) channel, and no per-loop connection manager is left behind."""

    async def count() -> tuple[int, int]:
        client = AsyncMilvusClient(uri=milvus_uri)
        names = await client.list_collections()
        return len(names), id(asyncio.get_running_loop())

    first, loop1 = await run_on_own_loop(count, name="t-io-4")
    second, loop2 = await run_on_own_loop(count, name="t-io-4")
    assert first == second
    assert loop1 not in AsyncConnectionManager._instances
    assert loop2 not in AsyncConnectionManager._instances
    assert threads("t-io-4") == []


async def test_heartbeat_started_from_another_loop_measures_the_callers_loop() -> None:
    ui = asyncio.get_running_loop()

    async def measure(block: bool) -> tuple[float, float]:
        monitor = LoopMonitor()
        monitor.start(ui)
        await asyncio.sleep(0.1)
        if block:
            done = threading.Event()
            ui.call_soon_threadsafe(lambda: (time.sleep(0.15), done.set()))
            await asyncio.to_thread(done.wait, 5)
        await asyncio.sleep(0.1)
        # Busy here, on this loop, for 150 ms: the caller's loop must not see it.
        end = time.perf_counter() + 0.15
        while time.perf_counter() < end:
            pass
        return await monitor.stop()

    _, calm = await run_on_own_loop(measure, False, name="t-io-5")
    _, blocked = await run_on_own_loop(measure, True, name="t-io-5")
    assert blocked >= 120  # the caller's 150 ms stall
    assert calm < 120  # its own busy loop is not the caller's lag
