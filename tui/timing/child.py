"""The timing panel's run, in a process of its own.

Why a process: the async run's client CPU (openai response parsing, langchain, pymilvus request
building) comes in bursts (a wave of answers arrives at once: 23-33 ms of CPU in one loop turn,
docs/BENCHMARKS.md section 10). On the UI's loop that is a dropped frame; on a loop of its own
in a thread of the app it still takes the GIL from the UI for up to a switch interval at a
time (section 10b). In a process of its own it takes nothing from the UI but a core, and the
run gets an interpreter of its own, as the seed's script had.

What stays with the UI, on purpose:

- the heartbeat: the UI's loop lag is what the panel reports for each mode, measured in the
  app while the child times that mode (``UiProbe`` asks for it before its timer starts and
  reads it after its timer stops);
- the "sync on the event loop" demonstration: the UI's loop waits, without yielding, while the
  child makes the same sync calls one after another, which is what sync code on the loop does
  to a UI.

Protocol: JSON lines. The parent writes ``{"run": {...}}`` (the config, connection arguments
with any token, the embedding settings with any API key: on a pipe, never on the command line
or in the environment), then ``{"cancel": true}``, ``{"beating": true}``, ``{"go": true}``,
``{"lag": [p99, max]}`` as asked. The child writes events: ``ready``, ``scratch``,
``progress``, ``measure``, ``measured``, ``block``, ``unblocked``, ``result``, and at the end
``done`` or ``error``. EOF on its stdin (the app closed it, or died) cancels the run: the
scratch collection is still dropped.

Entry point: ``python -m tui.timing.child``. UI-free: the parent side is plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, Any

from .engine import BenchConfig, BenchRun, LoopMonitor, LoopProbe, ProgressFn, RunResult, ScratchLedger

#: How much lower the run's CPU priority is than the app's (see ``main``).
RUN_NICENESS = 10
#: How long a cancelled run may take to drop its scratch collection before the app stops waiting.
CANCEL_WAIT_S = 30.0


class BenchFailed(Exception):
    """The run failed in its process; ``kind`` is the error's type there, the message its words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- the child -------------------------------------------------------------------------------


class _Lines:
    """JSON lines to one stream, from any thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        line = json.dumps(message, default=str) + "\n"
        with self._lock, contextlib.suppress(OSError, ValueError):  # the parent is gone
            self.stream.write(line)
            self.stream.flush()


class _Inbox:
    """The parent's answers, by kind; one question is outstanding at a time."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._early: dict[str, dict[str, Any]] = {}

    def put(self, message: dict[str, Any]) -> None:
        kind = next(iter(message))
        waiter = self._waiting.pop(kind, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        else:
            self._early[kind] = message

    async def get(self, kind: str) -> dict[str, Any]:
        if kind in self._early:
            return self._early.pop(kind)
        waiter = self._waiting[kind] = asyncio.get_running_loop().create_future()
        return await waiter


class UiProbe(LoopProbe):
    """The UI's loop, in the parent: its heartbeat runs there while this process times a mode."""

    def __init__(self, out: _Lines, inbox: _Inbox) -> None:
        self.out, self.inbox = out, inbox

    async def start(self) -> None:
        self.out.send(event="measure")
        await self.inbox.get("beating")  # the heartbeat ticks before the timer starts

    async def stop(self) -> tuple[float, float]:
        self.out.send(event="measured")
        p99, worst = (await self.inbox.get("lag"))["lag"]
        return float(p99), float(worst)

    async def block(self, fn: Callable[[], None]) -> None:
        self.out.send(event="block")
        await self.inbox.get("go")  # the UI's loop is waiting now, and stays waiting until...
        try:
            fn()
        finally:
            self.out.send(event="unblocked")  # ...this line reaches the app


async def _serve(request: dict[str, Any], out: _Lines, stdin: IO[str]) -> None:
    from ..embeddings import make_embeddings
    from ..embeddings.base import EmbeddingSettings
    from ..errors import MilvusTuiError, register_secret, scrub
    from .engine import run_bench

    connection = request["connection"]
    register_secret(connection.get("token"))
    settings = EmbeddingSettings(**request["embeddings"])
    register_secret(settings.api_key)
    config = BenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in request["config"].items()})
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    inbox = _Inbox()
    results: list[RunResult] = []

    def on_result(result: RunResult) -> None:
        results.append(result)
        out.send(event="result", result=asdict(result))

    task = asyncio.ensure_future(run_bench(
        config, connection, make_embeddings(settings),
        progress=lambda op, mode, done, total: out.send(event="progress", op=op, mode=mode, done=done, total=total),
        on_result=on_result, cancel_event=cancel,
        on_scratch=lambda name: out.send(event="scratch", name=name),
        ledger=ScratchLedger(Path(request["ledger"])) if request.get("ledger") else None,
        probe=UiProbe(out, inbox)))

    def stop() -> None:
        cancel.set()
        with contextlib.suppress(RuntimeError):  # the loop has closed: the run is over anyway
            loop.call_soon_threadsafe(task.cancel)

    def listen() -> None:
        for line in stdin:
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if "cancel" in message:
                    stop()
                else:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(inbox.put, message)
        stop()  # EOF: the app is gone or gave up on the run

    threading.Thread(target=listen, daemon=True, name="bench-child-stdin").start()
    try:
        run = await task
    except asyncio.CancelledError:
        out.send(event="done", cancelled=True, scratch="", dropped=True, results=[asdict(r) for r in results])
        return
    except Exception as exc:  # noqa: BLE001 - its words and type, for the panel to show
        out.send(event="error", kind=type(exc).__name__, message=scrub(str(exc)))
        if not isinstance(exc, (ValueError, MilvusTuiError)):
            raise  # a bug: its traceback goes to stderr as well
        return
    out.send(event="done", cancelled=False, scratch=run.scratch, dropped=run.dropped, simulated=run.simulated,
             embeddings=run.embeddings, remote_pids=run.remote_pids, remote_ports=run.remote_ports,
             results=[asdict(r) for r in run.results])


def main() -> None:
    # ctrl+c in the terminal is the app's to handle; the app cancels this run over the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Yield the cores to the UI when both want one: the run's burst (and the simulated
    # endpoints it starts, which inherit this) would otherwise delay the UI's frames (unbounded,
    # N = 100: UI lag p99 ~20 ms at nice 0, ~9.5 ms at 10; speedups the same: BENCHMARKS §10c).
    with contextlib.suppress(OSError, ValueError):
        # MILVUS_TUI_BENCH_NICE: for benchmarks/bench_simulated.py's A/B only (§10c).
        os.nice(int(os.environ.get("MILVUS_TUI_BENCH_NICE", RUN_NICENESS)))
    # The protocol keeps the real stdout; anything a library prints goes to stderr instead.
    out = _Lines(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    import importlib

    importlib.import_module("langchain_milvus")  # ~1 s: done while the user picks the settings
    out.send(event="ready")
    line = sys.stdin.readline()
    if not line.strip():
        return  # closed before a run: the panel went away
    asyncio.run(_serve(json.loads(line)["run"], out, sys.stdin))


# -- the parent ------------------------------------------------------------------------------


def _result(data: dict[str, Any]) -> RunResult:
    names = {f.name for f in fields(RunResult)}
    return RunResult(**{k: v for k, v in data.items() if k in names})


class BenchChild:
    """One process for one run. Start it early: it imports langchain-milvus while the user looks."""

    def __init__(self) -> None:
        # stderr to a file, not a pipe: a pipe nobody reads would block the child once full.
        self.errors = tempfile.TemporaryFile()
        # Its own process group: ctrl+c in the terminal goes to the app, which cancels the run.
        # -P: the user's working directory may hold a tui/ of its own; never import that one.
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-P", "-m", "tui.timing.child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, process_group=0)
        self.pid = self.process.pid
        self._write_lock = threading.Lock()
        self.used = False

    def _send(self, **message: Any) -> None:
        process = self.process
        if process is None or process.stdin is None:
            return
        with self._write_lock, contextlib.suppress(OSError, ValueError):  # it has ended
            process.stdin.write((json.dumps(message) + "\n").encode())
            process.stdin.flush()

    def _stderr_tail(self) -> str:
        from ..errors import scrub

        with contextlib.suppress(OSError, ValueError):
            self.errors.seek(0)
            lines = self.errors.read().decode(errors="replace").strip().splitlines()
            return scrub(lines[-1]) if lines else ""
        return ""

    async def run(self, config: BenchConfig, connection_args: dict[str, Any], embeddings: Any, *,
                  progress: ProgressFn | None = None, on_result: Callable[[RunResult], None] | None = None,
                  on_scratch: Callable[[str], None] | None = None, ledger: Path | None = None) -> BenchRun:
        """Run ``config`` there; progress, results and the UI's lag per mode come back here.

        Cancelling this cancels the run there and waits (up to ``CANCEL_WAIT_S``) for its scratch
        collection's drop; then ``CancelledError`` is raised. The process has ended on return.
        """
        if self.used:
            raise RuntimeError("a BenchChild runs once")
        self.used = True
        config.validate()
        process = self.process
        assert process is not None and process.stdout is not None
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[dict[str, Any]] = loop.create_future()
        unblocked = threading.Event()
        monitor = LoopMonitor()
        stoppers: set[asyncio.Task[None]] = set()

        async def measured() -> None:
            p99, worst = await monitor.stop()
            self._send(lag=[p99, worst])

        def handle(message: dict[str, Any]) -> None:  # on this (the UI's) loop
            event = message.get("event")
            if event == "progress" and progress is not None:
                progress(message["op"], message["mode"], message["done"], message["total"])
            elif event == "scratch" and on_scratch is not None:
                on_scratch(message["name"])
            elif event == "measure":
                monitor.start()
                self._send(beating=True)
            elif event == "measured":
                task = loop.create_task(measured())
                stoppers.add(task)
                task.add_done_callback(stoppers.discard)
            elif event == "block":
                unblocked.clear()
                self._send(go=True)
                # On purpose: this loop now waits, as a sync call on it would, for the calls
                # the child is making (the reader thread sets the event when they are done).
                unblocked.wait()
            elif event == "result" and on_result is not None:
                on_result(_result(message["result"]))
            elif event in ("done", "error", "eof") and not finished.done():
                finished.set_result(message)

        latest: dict[str, Any] = {}  # the newest progress not yet handed over, by mode
        lock = threading.Lock()

        def hand_progress() -> None:  # on the UI's loop
            with lock:
                waiting = list(latest.values())
                latest.clear()
            for message in waiting:
                handle(message)

        def read() -> None:  # a thread: the UI's loop never waits on the pipe (except to block)
            for raw in process.stdout:  # type: ignore[union-attr]
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                event = message.get("event")
                if event == "unblocked":
                    unblocked.set()  # here: the UI's loop is the one waiting for it
                if event == "progress":
                    # A wave's answers arrive together: one redraw for all of them, not one each.
                    with lock:
                        first = not latest
                        latest[message["mode"]] = message
                    if not first:
                        continue
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    if event == "progress":
                        loop.call_soon_threadsafe(hand_progress)
                    else:
                        loop.call_soon_threadsafe(handle, message)
            unblocked.set()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(handle, {"event": "eof"})

        reader = threading.Thread(target=read, daemon=True, name="bench-child-reader")
        reader.start()
        self._send(run={"config": asdict(config), "connection": connection_args,
                        "embeddings": asdict(embeddings.settings()), "ledger": str(ledger) if ledger else ""})
        try:
            outcome = await asyncio.shield(finished)
        except asyncio.CancelledError:
            self._send(cancel=True)
            with contextlib.suppress(BaseException):  # a second cancel stops the wait, not the drop
                await asyncio.wait_for(asyncio.shield(finished), CANCEL_WAIT_S)
            await self.close()
            raise
        await self.close()
        if outcome["event"] == "error":
            raise BenchFailed(outcome["kind"], outcome["message"])
        if outcome["event"] == "eof" or outcome.get("cancelled"):
            tail = self._stderr_tail()
            raise BenchFailed("ChildProcessError", "The timing run's process ended before the run did"
                              + (f": {tail}" if tail else "."))
        run = BenchRun(config, results=[_result(r) for r in outcome["results"]], scratch=outcome["scratch"],
                       dropped=outcome["dropped"], simulated=outcome.get("simulated", ""),
                       embeddings=outcome.get("embeddings", ""), remote_pids=outcome.get("remote_pids", []),
                       remote_ports=outcome.get("remote_ports", {}))
        return run

    async def close(self, timeout: float = 10.0) -> None:
        """End the process: closing its stdin is enough (an idle child exits, a running one
        cancels and drops its scratch collection); a kill if it does not go."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 5)
        with contextlib.suppress(OSError):
            if process.stdout is not None:
                process.stdout.close()
            self.errors.close()

    def close_now(self) -> None:
        """``close`` for a caller with no loop (the app is exiting): the child ends by itself."""
        process, self.process = self.process, None
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()


if __name__ == "__main__":
    main()
