"""The event loop's executor for thread workers: a pool of daemon threads, so quitting
never waits for a worker stuck in a blocking call.

A sync-mode worker can sit in a blocking call (a slow embedding request, a dead server's
timeout) for many seconds, and a sync call cannot be interrupted; Textual cancels a thread
worker only by setting a flag. A ``ThreadPoolExecutor``'s threads are joined when
``asyncio.run`` ends (``shutdown_default_executor``) and again at interpreter exit
(concurrent.futures registers that join with threading's exit hooks), so quitting would
hang until the call returns. These threads are daemons that nothing joins: the app exits at
once, after ``on_unmount`` has stopped the Lite child (whose write-ahead log keeps every
acknowledged write; deletes back up before they start).

Why this shape, of the options we weighed:

- ``ThreadPoolExecutor`` with daemon threads needs its private ``_adjust_thread_count`` and
  ``concurrent.futures.thread._worker`` (what we had; ``_worker``'s signature changed in
  Python 3.14).
- A standard pool plus ``os._exit`` once the app returns skips every ``atexit`` handler and
  buffered write in the process, on every path that runs the app (CLI commands, demo,
  tests), to fix one.
- So: the two public methods an executor has, ``submit`` and ``shutdown``, on a queue and
  daemon threads of our own (~40 lines). It subclasses ``ThreadPoolExecutor`` only because
  ``loop.set_default_executor`` accepts nothing else; the base class's own machinery is
  never used, so it never starts a thread that exit would join.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: A submitted call: its future, the callable and its arguments; None tells a thread to end.
_Job = tuple[Future, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadPool(ThreadPoolExecutor):
    """Up to ``max_workers`` daemon threads, started on demand and reused.

    ``shutdown`` never waits, whatever its caller asks (``asyncio.run`` asks to wait), and
    cancels the calls that have not started; the running ones finish or die with the process.
    """

    def __init__(self, max_workers: int = 32, thread_name_prefix: str = "milvus-tui-worker") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        # Names of our own: the base class keeps private state under the usual ones.
        self._daemon_limit = max_workers
        self._daemon_prefix = thread_name_prefix
        self._daemon_jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._daemon_idle = threading.Semaphore(0)
        self._daemon_lock = threading.Lock()
        self._daemon_threads: list[threading.Thread] = []
        self._daemon_closed = False
        # The threads hold the queue, not the pool: a pool nobody references any more (an
        # app replaced by the next in one test process) is collected and its threads end.
        weakref.finalize(self, self._daemon_jobs.put, None)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._daemon_lock:
            if self._daemon_closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._daemon_jobs.put((future, fn, args, kwargs))
            if not self._daemon_idle.acquire(blocking=False) and len(self._daemon_threads) < self._daemon_limit:
                thread = threading.Thread(
                    target=_run_jobs, args=(self._daemon_jobs, self._daemon_idle),
                    name=f"{self._daemon_prefix}-{len(self._daemon_threads)}", daemon=True,
                )
                thread.start()
                self._daemon_threads.append(thread)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls, cancel the queued ones and let idle threads end; never wait."""
        with self._daemon_lock:
            self._daemon_closed = True
            while True:
                try:
                    job = self._daemon_jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
            self._daemon_jobs.put(None)


def _run_jobs(jobs: queue.SimpleQueue[_Job | None], idle: threading.Semaphore) -> None:
    while True:
        job = jobs.get()
        if job is None:
            jobs.put(None)  # for the next thread
            return
        future, fn, args, kwargs = job
        del job
        if future.set_running_or_notify_cancel():
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - the caller sees it, as with ThreadPoolExecutor
                future.set_exception(exc)
                del exc
            else:
                future.set_result(result)
                del result
        # Drop the finished call's objects before waiting: an idle thread keeps nothing alive.
        del future, fn, args, kwargs
        idle.release()
