"""The timing panel: run the same operations async, sync, batched and blocking, and compare.

The bench runs in a process of its own (``tui/timing/child.py``), started ahead while the user
picks the settings: async operations are gathered on its loop, sync ones run in a thread there.
The UI's loop only draws and receives the run's progress and results as messages; a heartbeat
on it (started at the child's request around each timed mode) reports how long the UI stalled
in each mode, and the "sync on the event loop" demonstration makes the UI's loop wait, without
yielding, for the child's sync calls, on purpose. Why a process: a wave of 34 answers makes one
loop turn of 23-33 ms of client CPU, a dropped frame on the UI's loop (docs/BENCHMARKS.md §10),
and a thread of the app still shares the GIL with the UI (§10b). Queries run by hand in the
explorer appear in the log below, with their mode and latency.

"Simulated remote embedding API" / "simulated remote Milvus" put the seed tutorial's network
back, offline (``tui/timing/simulated.py``): real loopback servers that wait before answering.
They are off by default, and every result of a simulated run says so (chart, history, title,
exports).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker

from ..timing import OPERATIONS, BenchConfig, RunResult, to_csv, to_json, to_markdown
from ..timing.child import BenchChild, BenchFailed
from ..timing.simulated import EMBEDDING_CHOICES, MILVUS_CHOICES

MODE_ORDER = ("async", "sync", "batched", "blocking")
MODE_LABELS = {
    "async": "async",
    "sync": "sync (thread)",
    "batched": "batched",
    "blocking": "sync on loop (demo)",
}
MODE_STYLES = {"async": "cyan", "sync": "magenta", "batched": "green", "blocking": "red"}
#: One line per mode: what it demonstrates (shown under the controls).
MODE_HELP = (
    ("async", "all N (or ≤ the limit) in flight on one event loop, in a process of its own: waits overlap."),
    ("sync (thread)", "one after another, off the UI loop: pays every wait in full; the 1.0x baseline."),
    ("batched", "one call with all N items: one wait and one request instead of N, so it wins wherever it exists."),
    ("sync on loop", "the same sync calls on the UI's own event loop: the freeze the other modes avoid."),
    ("delete", "one Milvus call, no embedding: a contrast where Milvus is slow to answer (a real server's delete waits ~0.2 s; or simulate one)."),
)


class BenchProgress(Message):
    def __init__(self, op: str, mode: str, done: int, total: int) -> None:
        super().__init__()
        self.op, self.mode, self.done, self.total = op, mode, done, total


class BenchResult(Message):
    def __init__(self, result: RunResult) -> None:
        super().__init__()
        self.result = result


class BenchFinished(Message):
    def __init__(self, scratch: str, dropped: bool, error: str = "", cancelled: bool = False) -> None:
        super().__init__()
        self.scratch, self.dropped, self.error, self.cancelled = scratch, dropped, error, cancelled


def mode_help() -> Text:
    text = Text()
    for i, (name, line) in enumerate(MODE_HELP):
        text.append(f"{name:<14}", style="bold")
        text.append(line + ("\n" if i < len(MODE_HELP) - 1 else ""))
    return text


def bar_chart(results: list[RunResult], width: int = 50) -> Text:
    """Wall time and worst loop stall per mode, as horizontal bars on one scale each."""
    text = Text()
    shown = [r for r in results if r.note != "no batched form"]
    if not shown:
        return Text("Run a benchmark to see the modes side by side.", style="dim")
    first = shown[0]
    if first.simulated:  # above everything: these figures are not a real network's
        text.append(f" {first.simulated} \n", style="bold black on yellow")
    text.append(f"{OPERATIONS[first.op][0]}, N = {first.n}\n", style="bold")
    longest = max(r.wall_s for r in shown) or 1.0
    worst = max(r.lag_max_ms for r in shown) or 1.0
    for r in shown:
        style = MODE_STYLES.get(r.mode, "white")
        label = f"{MODE_LABELS.get(r.mode, r.mode):<20}"
        text.append(label)
        text.append("█" * max(1, round(width * r.wall_s / longest)), style=style)
        speed = f"  {r.speedup:.1f}x" if r.speedup else ""
        text.append(f" {r.wall_s:.3f} s{speed}\n")
    text.append("UI stall (max loop lag)\n", style="bold")
    for r in shown:
        style = "red" if r.lag_max_ms > 50 else "yellow" if r.lag_max_ms > 16 else "green"
        text.append(f"{MODE_LABELS.get(r.mode, r.mode):<20}")
        text.append("█" * max(1, round(width * r.lag_max_ms / worst)), style=style)
        text.append(f" {r.lag_max_ms:.0f} ms\n")
    return text


def conditions(r: RunResult) -> Text:
    """The history's last column: "real", or what was simulated (highlighted)."""
    if not r.simulated:
        return Text("real")
    return Text(r.simulated.replace("SIMULATED on loopback: ", "SIMULATED: "), style="bold yellow")


class TimingScreen(Screen[None]):
    # One-line controls, borderless in every state (`!important`, as in Textual's compact
    # style: Button.-primary:hover and Input:focus would bring their borders back).
    DEFAULT_CSS = """
    TimingScreen {
        #timing {
            padding: 0 1;
        }
        #timing-title {
            text-style: bold;
            margin: 1 0;
        }
        .timing-row {
            height: 1;
            margin-bottom: 1;
        }
        .timing-row Select {
            width: 30;
            height: 1;
            margin-right: 2;
        }
        .timing-row SelectCurrent {
            border: none !important;
            height: 1;
            padding: 0 1;
            background: $boost;
        }
        .timing-row Input {
            width: 10;
            height: 1;
            border: none !important;
            padding: 0 1;
            background: $boost;
        }
        .timing-row Checkbox {
            height: 1;
            border: none !important;
            padding: 0;
            margin-right: 2;
            background: $boost;
        }
        .timing-row Button {
            height: 1;
            min-width: 10;
            border: none !important;
            margin-left: 1;
        }
        .timing-label {
            margin-right: 1;
            color: $text-muted;
        }
        #bench-progress {
            height: auto;
        }
        .progress-row {
            height: 1;
        }
        .progress-label {
            width: 22;
        }
        #bench-chart {
            margin: 1 0;
            height: auto;
        }
        .section {
            margin-top: 1;
            text-style: bold;
        }
        #bench-history, #bench-log {
            height: auto;
            max-height: 16;
        }
        #bench-n {
            width: 14;
        }
        #bench-n-custom {
            display: none;
        }
        #bench-concurrency {
            width: 28;
        }
        #bench-simulated, #bench-simulated-milvus {
            width: 24;
        }
        #bench-help {
            height: auto;
            color: $text-muted;
        }
    }
    """
    BINDINGS = [
        Binding("ctrl+g", "run", "Run"),
        Binding("escape", "cancel_or_close", "Cancel / back"),
        Binding("ctrl+e", "export", "Export history"),
        Binding("f2", "close", "Back to explorer"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history: list[RunResult] = []
        self.current: list[RunResult] = []
        self.running = False
        self._worker: Worker[None] | None = None
        self._child: BenchChild | None = None  # the next run's process, started ahead

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="timing"):
            yield Label("Timing — the same operations, sync and async, measured side by side", id="timing-title")
            with Horizontal(classes="timing-row"):
                yield Label("operation", classes="timing-label")
                yield Select([(label, key) for key, (label, _) in OPERATIONS.items()], value="search",
                             allow_blank=False, id="bench-op")
                yield Label("N", classes="timing-label")
                yield Select([("10", 10), ("100", 100), ("1000", 1000), ("custom", 0)], value=100,
                             allow_blank=False, id="bench-n")
                yield Input("250", id="bench-n-custom", type="integer")
                yield Label("async concurrency", classes="timing-label")
                # Unbounded by default, as the seed: the run is in a process of its own, so its
                # burst no longer stalls the UI (docs/BENCHMARKS.md §10c). 34, not 32: 100
                # operations then run in 3 waves (ideal 33.3x) instead of 4 (25x). A real API
                # may rate-limit a large unbounded N: pick a limit there.
                yield Select([("unbounded (as the seeds)", 0), ("8", 8), ("16", 16), ("34", 34), ("128", 128)],
                             value=0,
                             allow_blank=False, id="bench-concurrency")
            with Horizontal(classes="timing-row"):
                # The seed's network, offline (tui/timing/simulated.py): a real loopback endpoint
                # that waits before answering. Off by default: real runs stay real.
                yield Label("simulated remote embedding API", classes="timing-label")
                yield Select([("off", 0)] + [(f"{ms} ms per request", ms) for ms in EMBEDDING_CHOICES if ms],
                             value=0, allow_blank=False, id="bench-simulated")
                yield Label("simulated remote Milvus", classes="timing-label")
                yield Select([("off", 0)] + [(f"{ms} ms round trip", ms) for ms in MILVUS_CHOICES if ms],
                             value=0, allow_blank=False, id="bench-simulated-milvus")
            with Horizontal(classes="timing-row"):
                yield Checkbox("async", True, id="mode-async")
                yield Checkbox("sync (thread)", True, id="mode-sync")
                yield Checkbox("batched", True, id="mode-batched")
                yield Checkbox("sync on the event loop — demonstration: freezes the UI", False, id="mode-blocking")
                yield Button("Run", variant="primary", id="bench-run")
                yield Button("Cancel", variant="error", id="bench-cancel", disabled=True)
            with Vertical(id="bench-progress"):
                for mode in MODE_ORDER:
                    with Horizontal(classes="progress-row", id=f"row-{mode}"):
                        yield Label(MODE_LABELS[mode], classes="progress-label")
                        # A total from the start: an indeterminate bar animates at 15 fps, four
                        # of them redraw the panel 60 times a second while a run is timed.
                        yield ProgressBar(total=1, id=f"progress-{mode}", show_eta=False)
            yield Static(mode_help(), id="bench-help")
            yield Static(bar_chart([]), id="bench-chart")
            yield Label("Run history (this session) — ctrl+e exports JSON, CSV and Markdown", classes="section")
            yield DataTable(id="bench-history", zebra_stripes=True, cursor_type="row")
            yield Label("Explorer queries (mode and latency of what you ran by hand)", classes="section")
            yield DataTable(id="bench-log", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        # The explorer keeps this screen (app.timing) and pushes it again with its history:
        # Textual removes a popped screen unless it is installed, and a removed one is empty.
        if not self.app.is_screen_installed(self):
            self.app.install_screen(self, name=f"timing-{id(self)}")
        history = self.query_one("#bench-history", DataTable)
        history.add_columns("operation", "N", "mode", "wall s", "ops/s", "p50 ms", "p95 ms", "p99 ms",
                            "speedup", "errors", "UI lag p99 / max ms", "conditions")
        log = self.query_one("#bench-log", DataTable)
        log.add_columns("time", "operation", "mode", "latency ms", "outcome")
        self.refresh_log()
        self.spare_child()

    # -- the explorer's log ------------------------------------------------------------

    def refresh_log(self) -> None:
        log = self.query_one("#bench-log", DataTable)
        log.clear()
        for entry in reversed(getattr(self.app.main, "op_log", [])[-200:]):  # type: ignore[attr-defined]
            log.add_row(entry["time"], entry["what"], entry["mode"], f"{entry['ms']:,.1f}", entry["outcome"])

    # -- configuration -----------------------------------------------------------------

    @on(Select.Changed, "#bench-n")
    def _n_changed(self, event: Select.Changed) -> None:
        self.query_one("#bench-n-custom").display = event.value == 0

    def config(self) -> BenchConfig:
        op = str(self.query_one("#bench-op", Select).value)
        n = int(self.query_one("#bench-n", Select).value)  # type: ignore[arg-type]
        if n == 0:
            raw = self.query_one("#bench-n-custom", Input).value.strip()
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"N must be a positive whole number, not {raw!r}.")
            n = int(raw)
        concurrency = int(self.query_one("#bench-concurrency", Select).value) or None  # type: ignore[arg-type]
        modes = tuple(m for m in MODE_ORDER if self.query_one(f"#mode-{m}", Checkbox).value)
        if not modes:
            raise ValueError("Choose at least one mode.")
        return BenchConfig(ops=(op,), ns=(n,), modes=modes, concurrency=concurrency, corpus=max(200, min(n, 2000)),
                           simulated_embedding_ms=int(self.query_one("#bench-simulated", Select).value),  # type: ignore[arg-type]
                           simulated_milvus_ms=int(self.query_one("#bench-simulated-milvus", Select).value))  # type: ignore[arg-type]

    # -- running -----------------------------------------------------------------------

    @on(Button.Pressed, "#bench-run")
    def action_run(self) -> None:
        if self.running:
            return
        main = self.app.main  # type: ignore[attr-defined]
        if not main.connected or main.session.embeddings is None:
            self.notify("Still connecting or loading the embedding model; try again in a moment.",
                        severity="warning")
            return
        try:
            config = self.config()
            config.validate()
            if config.simulated_milvus_ms:
                from ..timing.simulated import SimulatedRemote

                # Refused here, in the user's words, rather than as a failed run.
                SimulatedRemote(0, config.simulated_milvus_ms, milvus_uri=main.session.bench_connection().get("uri"))
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self.current = []
        for mode in MODE_ORDER:
            bar = self.query_one(f"#progress-{mode}", ProgressBar)
            bar.update(total=max(1, config.ns[0]), progress=0)
            self.query_one(f"#row-{mode}").display = mode in config.modes
        self.running = True
        self.query_one("#bench-run", Button).disabled = True
        self.query_one("#bench-cancel", Button).disabled = False
        simulated = f" ({config.simulated})" if config.simulated else ""
        self.query_one("#timing-title", Label).update(
            Text(f"Running {OPERATIONS[config.ops[0]][0]} × {config.ns[0]}{simulated} …", style="bold yellow"))
        self._worker = self.run_bench(config)

    def spare_child(self) -> BenchChild:
        """The process the next run will use, started ahead: it imports langchain-milvus (~1 s)
        while the user picks the settings."""
        if self._child is None:
            self._child = BenchChild()
        return self._child

    @work(exclusive=True, group="bench", exit_on_error=False)
    async def run_bench(self, config: BenchConfig) -> None:
        from ..config import state_dir

        main = self.app.main  # type: ignore[attr-defined]
        scratch = ""

        def named(name: str) -> None:
            nonlocal scratch
            scratch = name

        child, self._child = self.spare_child(), None
        try:
            # In a process of its own (see the module docstring); the heartbeat and the
            # blocking demonstration stay on this, the UI's, loop.
            run = await child.run(
                config, main.session.bench_connection(), main.session.embeddings,
                progress=lambda op, mode, done, total: self.post_message(BenchProgress(op, mode, done, total)),
                on_result=lambda r: self.post_message(BenchResult(r)),
                on_scratch=named, ledger=state_dir() / "bench_scratch.json",
            )
            self.post_message(BenchFinished(run.scratch, run.dropped))
        except BaseException as exc:  # noqa: BLE001 - cancel and errors both end the run visibly
            cancelled = type(exc).__name__ == "CancelledError"
            from ..errors import scrub

            kind = exc.kind if isinstance(exc, BenchFailed) else type(exc).__name__
            self.post_message(BenchFinished(scratch, True, "" if cancelled else scrub(f"{kind}: {exc}"), cancelled))
            if cancelled:
                raise
        finally:
            await child.close()
            if self.is_attached:
                self.spare_child()

    def on_unmount(self) -> None:
        if self._child is not None:
            self._child.close_now()
            self._child = None

    @on(BenchProgress)
    def _progress(self, event: BenchProgress) -> None:
        self.query_one(f"#progress-{event.mode}", ProgressBar).update(total=event.total, progress=event.done)

    @on(BenchResult)
    def _result(self, event: BenchResult) -> None:
        r = event.result
        self.current.append(r)
        sync = next((x for x in self.current if x.mode == "sync"), None)
        for x in self.current:  # speedups relative to sync, as soon as sync has run
            if sync is not None and sync.wall_s > 0 and x.wall_s > 0:
                x.speedup = sync.wall_s / x.wall_s
        self.query_one(f"#progress-{r.mode}", ProgressBar).update(total=max(r.n, 1), progress=max(r.n, 1))
        self.query_one("#bench-chart", Static).update(bar_chart(self.current))
        if r.mode == "blocking":
            self.notify(f"The demonstration blocked the UI for {r.lag_max_ms:,.0f} ms.", severity="warning")

    @on(BenchFinished)
    def _finished(self, event: BenchFinished) -> None:
        self.running = False
        self.query_one("#bench-run", Button).disabled = False
        self.query_one("#bench-cancel", Button).disabled = True
        self.history.extend(self.current)
        table = self.query_one("#bench-history", DataTable)
        for r in self.current:
            if r.note == "no batched form":
                table.add_row(OPERATIONS[r.op][0], str(r.n), r.mode, "—", "—", "—", "—", "—", "—", "—",
                              "no batched form", conditions(r))
                continue
            mode = Text(MODE_LABELS[r.mode] + (f" ≤{r.concurrency}" if r.concurrency else ""))
            if r.simulated:  # visible without scrolling to the conditions column
                mode.append(" SIM", style="bold yellow")
            table.add_row(OPERATIONS[r.op][0], str(r.n), mode, f"{r.wall_s:.3f}", f"{r.ops_per_s:,.1f}",
                          f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}",
                          f"{r.speedup:.1f}x" if r.speedup else "—", str(r.errors),
                          f"{r.lag_p99_ms:.1f} / {r.lag_max_ms:.1f}", conditions(r))
        title = self.query_one("#timing-title", Label)
        dropped = f"scratch collection {event.scratch} dropped" if event.dropped else \
            f"scratch collection {event.scratch} could NOT be dropped"
        if event.cancelled:
            title.update(Text(f"Cancelled; {dropped}.", style="bold yellow"))
        elif event.error:
            title.update(Text(f"Failed: {event.error}", style="bold red"))
            self.notify(event.error, severity="error", title="bench failed")
        else:
            simulated = next((r.simulated for r in self.current if r.simulated), "")
            title.update(Text(f"Done — {simulated}; {dropped}." if simulated else f"Done; {dropped}.",
                              style="bold green"))

    @on(Button.Pressed, "#bench-cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "bench")  # the run's process then stops and drops its scratch

    async def stop(self, timeout: float = 30.0) -> None:
        """Cancel a running bench and wait until its scratch collection is dropped: quitting
        used to exit (and stop the embedded server) before the drop ran, leaving a
        ``milvus_tui_bench_…`` collection in the user's list."""
        worker = self._worker
        if worker is None or worker.is_finished:
            return
        self.action_cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(worker.wait(), timeout)

    def action_cancel_or_close(self) -> None:
        if self.running:
            self.action_cancel()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_export(self) -> None:
        if not self.history:
            self.notify("Nothing to export yet: run a benchmark first.", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path.cwd() / f"milvus-tui-bench-{stamp}"
        written = []
        for suffix, text in ((".json", to_json(self.history)), (".csv", to_csv(self.history)),
                             (".md", to_markdown(self.history))):
            path = base.with_suffix(suffix)
            path.write_text(text, encoding="utf-8")
            written.append(path.name)
        self.notify(f"Exported {', '.join(written)} to {base.parent}.")
