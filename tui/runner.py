"""Runs the Session's operations as Textual workers and posts typed messages back.

The screen asks ``OpRunner.run`` for an operation and a message class; the runner starts an
async worker on the app's loop (``ExecMode.ASYNC``: the async client) or a thread worker
(``ExecMode.SYNC``: the sync client), in an exclusive group so a new query replaces a stale
one. Each worker ends by posting one message carrying its result (or ``OperationFailed`` with
a sentence for the user), the mode, the elapsed time and the token of its run: a message from
a worker that a newer one replaced is recognised by its token (``is_fresh``) and ignored.

A confirmed write (delete, restore) is never replaced: other cleanup work is refused while it
runs, and it stops only between batches after ``request_stop`` (the screen asks the user
first), so what it reports having done is exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.dom import DOMNode
from textual.worker import get_current_worker

from . import messages as msg
from .errors import Cancelled, DeleteInterrupted, MilvusTuiError, scrub
from .milvus.ops import Progress
from .session import ExecMode, OpKind, Operation, Session


class Group:
    """Exclusive worker groups: a new operation replaces a running one of the same group."""

    QUERY = "query"
    CATALOG = "catalog"
    CLEANUP = "cleanup"
    EXPORT = "export"
    LOAD = "load"
    #: The opened collection's aliases and partition counts: never replaces a catalog read.
    DETAILS = "details"
    BACKUPS = "backups"  # reading and deleting backup files (the backups screen)
    MAP = "map"  # the vector map's reads and projection
    #: the duplicate finder and the quality scan (issue 14): long reads of their own.
    FIND = "find"

    ALL = (QUERY, CATALOG, CLEANUP, EXPORT, LOAD, DETAILS, BACKUPS, MAP, FIND)


def user_message(exc: BaseException) -> str:
    """A sentence for the user from any exception: ours carry one; others get their type."""
    text = str(exc) if isinstance(exc, MilvusTuiError) else f"{type(exc).__name__}: {exc}"
    return scrub(text)


class OpRunner:
    """Starts operations as workers of ``node`` (the screen) and tracks what is running."""

    def __init__(self, node: DOMNode, session: Session, on_change: Callable[[], None] | None = None,
                 on_record: Callable[[msg.Outcome | msg.OperationFailed], None] | None = None) -> None:
        self.node = node
        self.session = session
        #: called when what runs changes (the screen shows it on the status line).
        self.on_change = on_change or (lambda: None)
        #: called with every finished run's message, where it is handled (the status line's "last").
        self.on_record = on_record or (lambda event: None)
        self.mode = ExecMode.ASYNC
        #: what runs now, by kind, with its status-line label.
        self.running: dict[OpKind, str] = {}
        #: the newest run (token, kind) per group; other runs' messages are stale.
        self._current: dict[str, tuple[object, OpKind]] = {}
        #: set when the user confirmed stopping a running write; it stops between batches.
        self.stop_write = False
        self.write_progress: tuple[int, int | None] = (0, None)

    @property
    def writing(self) -> OpKind | None:
        """The confirmed write that runs now, if any."""
        return next((k for k in self.running if k.writes), None)

    def is_fresh(self, event: msg.Outcome | msg.OperationFailed) -> bool:
        """False for a message from a run that a newer one in its group replaced."""
        if event.token is None:
            return True
        current = self._current.get(event.group)
        return current is not None and current[0] is event.token

    def started(self, kind: OpKind, label: str) -> None:
        self.running[kind] = label
        self.on_change()

    def finished(self, kind: OpKind) -> None:
        self.running.pop(kind, None)
        self.on_change()

    def record(self, event: msg.Outcome | msg.OperationFailed) -> None:
        """A run's message arrived where it is handled: it no longer runs; say how it went."""
        self.on_record(event)
        self.finished(event.kind)

    def run(self, make: Callable[[], Operation[Any]], message: type[msg.Outcome], *, group: str,
            node: DOMNode | None = None) -> bool:
        """Start ``make()``'s operation as a worker in the current mode; False if refused.

        The worker belongs to ``node`` (default: the runner's), and its messages go there
        (a pane that owns its results handles them; they bubble on to the screen)."""
        node = node or self.node
        writing = self.writing
        if group == Group.CLEANUP and writing:
            # A confirmed delete or restore runs to its end; another cleanup would replace its
            # worker (one exclusive group) and leave its account wrong.
            self.node.notify(f"A {writing} is running; wait for it, or press esc to stop it.", severity="warning")
            return False
        try:
            operation = make()
        except MilvusTuiError as exc:  # refused before anything ran (e.g. nothing to undo)
            self.node.notify(user_message(exc), severity="warning")
            return False
        kind, mode, session = operation.kind, self.mode, self.session
        if kind.writes:
            self.stop_write = False
            self.write_progress = (0, None)
        token = object()
        self._current[group] = (token, kind)
        self.started(kind, operation.label)
        post = node.post_message

        def on_progress(p: Progress) -> None:
            if kind.writes:
                self.write_progress = (p.done, p.total)
            post(msg.ProgressUpdate(msg.ProgressInfo(kind, p.done, p.total, p.what)))

        def stop() -> bool:
            return kind.writes and self.stop_write

        def finish(result: Any, started: float) -> None:
            post(message(kind, result, mode, time.perf_counter() - started, token=token, group=group))

        def fail(exc: BaseException, started: float) -> None:
            elapsed = time.perf_counter() - started
            if isinstance(exc, DeleteInterrupted):
                # Stopped part-way: reported like a finished delete (exact count, backup, undo).
                report = session.stopped_report(exc, elapsed)
                post(msg.DeleteDone(kind, report, mode, elapsed, token=token, group=group))
                return
            outcome = msg.FailureKind.CANCELLED if isinstance(exc, Cancelled) else msg.FailureKind.ERROR
            post(msg.OperationFailed(kind, user_message(exc), outcome, mode, elapsed, token=token, group=group))

        if mode is ExecMode.ASYNC:
            async def run_async() -> None:
                started = time.perf_counter()
                try:
                    result = await session.arun(operation, session.context(on_progress, stop))
                except asyncio.CancelledError:
                    post(msg.OperationFailed(kind, "Cancelled.", msg.FailureKind.CANCELLED, mode, token=token,
                                             group=group))
                    raise
                except Exception as exc:  # noqa: BLE001 - shown to the user, the app carries on
                    fail(exc, started)
                else:
                    finish(result, started)

            node.run_worker(run_async(), name=str(kind), group=group, exclusive=True, exit_on_error=False)
        else:
            def run_sync() -> None:
                worker = get_current_worker()
                started = time.perf_counter()
                ctx = session.context(on_progress, lambda: worker.is_cancelled or stop())
                try:
                    result = session.run(operation, ctx)
                except Exception as exc:  # noqa: BLE001
                    fail(exc, started)
                else:
                    finish(result, started)

            node.run_worker(run_sync, name=str(kind), group=group, exclusive=True, exit_on_error=False, thread=True)
        return True

    def cancel(self) -> list[str]:
        """Cancel every running read (not a confirmed write); returns what was cancelled."""
        cancelled: list[str] = []
        for worker in list(self.node.app.workers):
            if worker.group in Group.ALL and worker.is_running and not OpKind(worker.name).writes:
                worker.cancel()
                _, kind = self._current.pop(worker.group, (None, OpKind(worker.name)))
                cancelled.append(kind.words)
                self.running.pop(kind, None)
        self.on_change()
        return cancelled
