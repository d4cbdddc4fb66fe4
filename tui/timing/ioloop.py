"""An event loop of its own, in a thread of its own: where the timing panel's async run lives.

Why: when a wave of 34 answers arrives, the loop that awaits them runs all their next steps in
one turn (openai response parsing, langchain, pymilvus request building: 23-33 ms of CPU on
this machine, docs/BENCHMARKS.md section 10). On the UI's loop that turn is a dropped frame.
On a loop of its own, the UI's loop only receives progress messages; the two threads still
share the GIL, which the interpreter hands over every few milliseconds (``sys.getswitchinterval``),
so a burst no longer holds the UI for its whole length.

``run_on_own_loop`` starts a thread, runs one coroutine function on a fresh event loop there
and hands its outcome back to the calling loop. Everything async the coroutine creates (the
langchain-milvus store's ``AsyncMilvusClient``, the OpenAI client's aiohttp session) is made on
that loop and used only there (an ``AsyncMilvusClient`` is bound to the first loop it is used
on). Cancelling the awaiting task cancels the coroutine on its loop and waits for its cleanup
(the scratch collection's drop); the thread, its loop, its default executor's threads and
pymilvus's connections for that loop are all closed before the call returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def _close_milvus_connections() -> None:
    """Close pymilvus's async connections for the running loop and forget the loop.

    pymilvus keeps one ``AsyncConnectionManager`` per event loop, keyed by ``id(loop)``; a
    later loop can get the same id once this one is gone, and would then be handed channels
    bound to a closed loop ("Event loop is closed"). So the loop's manager goes with the loop.
    (Private attributes of pymilvus 3.0: if they change, this does nothing and the channels
    close when garbage collected.)
    """
    try:
        from pymilvus.client.connection_manager import AsyncConnectionManager
    except ImportError:
        return
    instances = getattr(AsyncConnectionManager, "_instances", None)
    lock = getattr(AsyncConnectionManager, "_instances_lock", None)
    if not isinstance(instances, dict) or lock is None:
        return
    with lock:
        manager = instances.pop(id(asyncio.get_running_loop()), None)
    if manager is not None:
        with contextlib.suppress(Exception):
            await manager.close_all()


class OwnLoop:
    """One coroutine on a new event loop in a new (daemon) thread."""

    def __init__(self, name: str = "milvus-tui-io-loop") -> None:
        self.name = name
        self.done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False

    def start(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> None:
        self.thread = threading.Thread(target=self._main, args=(fn, args, kwargs), name=self.name, daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        """Cancel the coroutine on its loop (from any thread); its cleanup still runs."""
        with self._lock:
            self._cancelled = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    self._loop.call_soon_threadsafe(self._task.cancel)

    async def _wrap(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            if self._cancelled:  # cancelled before the loop existed
                raise asyncio.CancelledError()
        try:
            return await fn(*args, **kwargs)
        finally:
            await asyncio.shield(_close_milvus_connections())

    def _main(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        outcome: tuple[bool, Any] = (False, RuntimeError("the I/O loop ended without an outcome"))
        try:
            # Runner.close cancels the tasks left (the OpenAI client's closer among them),
            # shuts down async generators and joins the default executor's threads.
            with asyncio.Runner() as runner:
                try:
                    outcome = (True, runner.run(self._wrap(fn, args, kwargs)))
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting loop
                    outcome = (False, exc)
        except BaseException as exc:  # noqa: BLE001 - closing the loop failed
            if outcome[0]:
                outcome = (False, exc)
        finally:
            with self._lock:
                self._loop = self._task = None
            if outcome[0]:
                self.done.set_result(outcome[1])
            else:
                self.done.set_exception(outcome[1])

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)


async def run_on_own_loop(fn: Callable[..., Awaitable[T]], *args: Any, name: str = "milvus-tui-io-loop",
                          **kwargs: Any) -> T:
    """Await ``fn(*args, **kwargs)`` run on an event loop of its own, in a thread of its own.

    A cancel of the caller cancels it there and waits for its cleanup (a second cancel stops
    the wait, not the cleanup, which ends on its own thread). Its result or exception is
    returned or raised here; its thread has ended by then.
    """
    own = OwnLoop(name)
    own.start(fn, *args, **kwargs)
    try:
        return await asyncio.shield(asyncio.wrap_future(own.done))
    except asyncio.CancelledError:
        if not own.done.done():  # cancelled here, not there: cancel it there and wait for it
            own.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(asyncio.wrap_future(own.done))
        raise
    finally:
        # ``done`` is the thread's last act: once it is set the join is immediate. (After a
        # second cancel it may not be set yet; the thread then ends on its own, a daemon.)
        own.join(5 if own.done.done() else 0)
