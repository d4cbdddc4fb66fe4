"""The explorer screen: composes the panes and runs every Milvus call as a worker.

Each operation is a data-layer generator (``tui.milvus.ops``). ``run_op`` runs it as an
async worker on the app loop (async mode) or as a thread worker with the sync client
(sync mode); either way the worker posts a typed message with the result, the mode and
the elapsed time, or ``OperationFailed`` with a sentence for the user. Workers share
exclusive groups, so a new query replaces a stale one, and esc cancels them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, ProgressBar
from textual.worker import get_current_worker

from .. import messages as msg
from ..config import Settings
from ..history import History
from ..milvus import CollectionInfo, MilvusConnection, MilvusService, Pager, QueryResult
from ..milvus import catalog as catalog_ops
from ..milvus import cleanup as cleanup_ops
from ..milvus import export as export_ops
from ..milvus import queries as query_ops
from ..errors import (
    AmbiguousField, Cancelled, DeleteInterrupted, MilvusTuiError, RestoreIncomplete, display_uri, scrub,
)
from ..milvus.ops import Context, Op, Progress
from ..loads import RememberedLoads
from ..widgets.collections import CollectionsPane
from ..widgets.query_bar import QueryBar
from ..widgets.results import ResultsPane
from ..widgets.status import KeyFooter, StatusBar
from .choice import ChoiceScreen
from .delete import ConfirmDeleteScreen
from .export import ExportScreen
from .help import HelpScreen

WORK_GROUPS = ("query", "catalog", "cleanup", "export", "load")
#: Operations that change data: esc asks before stopping them, and they stop between batches.
WRITES = ("delete", "restore")
PAGE_SIZE = 50
#: the least the background boundary fill waits between its key scans (it waits as long
#: as the last one took), so a page the user asks for is not queued behind a run of them.
FILL_PAUSE = 0.05


def _catalog_snapshot(wanted: str | None = None) -> Op[tuple[list[str], list[CollectionInfo], str | None]]:
    """Databases, collections, and what ``wanted`` (``-c``: a name or an alias) resolves to."""
    databases = yield from catalog_ops.list_databases()
    infos = yield from catalog_ops.describe_all()
    resolved = (yield from catalog_ops.resolve_collection(wanted, [i.name for i in infos])) if wanted else None
    return databases, infos, resolved


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "mode('search')", "Search"),
        Binding("f", "mode('filter')", "Filter"),
        Binding("m", "similar", "More like this"),
        Binding("n", "page('next')", "Next page"),
        Binding("p", "page('prev')", "Prev page", show=False),
        Binding("g", "page('first')", "First", show=False),
        Binding("G", "page('last')", "Last page", show=False),
        Binding("space", "mark", "Mark", show=False),
        Binding("d", "delete_marked", "Delete"),
        Binding("D", "delete_filter", "Delete filter", show=False),
        Binding("u", "undo", "Undo delete"),
        Binding("e", "export", "Export"),
        Binding("l", "load", "Load"),
        Binding("R", "release", "Release", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("x", "toggle_mode", "Sync/async"),
        Binding("o", "toggle_options", "Options", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+r", "reconnect", "Reconnect", show=False),
        Binding("t", "timing", "Timing"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, settings: Settings, connection: MilvusConnection | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.conn = connection or MilvusConnection(settings.uri, token=settings.token, db_name=settings.db_name,
                                                   timeout=settings.timeout)
        self.service = MilvusService(self.conn, None, settings.backup_dir, settings.audit_path)
        self.info: CollectionInfo | None = None
        self.pager: Pager | None = None
        self.current_filter = ""
        self.exec_mode = "async"
        self.anns_fields: dict[str, str] = {}
        self.last_delete: cleanup_ops.DeleteReport | None = None
        self.running: dict[str, str] = {}
        #: set when the user confirmed stopping a running delete or restore; the operation
        #: checks it between batches, so what it reports having done is exact.
        self._stop_write = False
        self._write_progress: tuple[int, int | None] = (0, None)
        self.connected = False
        self._focus_results = False
        self._first_results_shown = False
        #: a collection chosen from the names read off disk, opened once the server answers.
        self._open_when_ready: str | None = None
        #: ``-c`` is resolved (name or alias) at the first catalog read only.
        self._asked_resolved = False
        self._deleting: tuple[Any, ...] = ()
        #: the newest worker (token, what) per group; other workers' messages are ignored.
        self._current: dict[str, tuple[object, str]] = {}
        #: a pager whose first page has not arrived yet; it replaces ``pager`` when it does.
        self._pending_pager: Pager | None = None
        #: the pager whose boundaries a background fill is finding, and that fill's token.
        self._fill: tuple[Pager, object] | None = None
        self.fill_window = query_ops.MAX_WINDOW  # keys per fill request (tests make it small)
        self.fill_pause = FILL_PAUSE
        #: every finished operation, for the timing panel's log of what ran by hand.
        self.op_log: list[dict[str, Any]] = []
        from ..config import state_dir

        self.history = History(state_dir() / "history.json", settings.history_key())
        self._state_dir = state_dir()

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            yield CollectionsPane(id="collections")
            with Vertical(id="main"):
                yield QueryBar(id="query")
                yield Label("", id="banner")
                yield ResultsPane(id="results")
                yield ProgressBar(id="op-progress", show_eta=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(QueryBar).history = self.history
        self.query_one(ResultsPane).show_message("Connecting…")
        self.query_one(StatusBar).running = f"starting {self.conn.kind}"
        self._show_on_disk()
        for warning in self.settings.warnings:
            self.notify(warning, severity="warning", title="settings", timeout=15, markup=False)
        # After the first frame: the connect worker imports pymilvus (~0.5 s of CPU) and starts
        # the Lite child, and in the same instant both delayed that frame by 0.1-0.5 s (GIL
        # and cores shared; docs/BENCHMARKS.md §2). The server needs far longer than a frame.
        self.call_after_refresh(self.connect)

    def _show_on_disk(self) -> None:
        """Embedded Lite: list the data directory's collections on the first frame, marked
        unconfirmed, instead of waiting ~0.5-1 s for the child and the catalog RPCs."""
        if self.conn.lite is None or self.conn.lite.ready:
            return
        from ..milvus.lite import read_on_disk_catalog

        found = read_on_disk_catalog(self.conn.lite.data_dir, self.conn.db_name)
        if found is not None and found.collections:
            self.query_one(CollectionsPane).show_on_disk(self.conn.db_name, found.databases, found.collections,
                                                         self.settings.collection or found.collections[0])

    # -- running operations ------------------------------------------------------------

    def run_op(self, what: str, make_op: Callable[[], Op[Any]], message: type[msg.Outcome], *,
               group: str = "query", label: str | None = None) -> None:
        """Run a data-layer operation as a worker in the current execution mode."""
        if not self.connected:
            self.notify("Not connected yet.", severity="warning")
            return
        writing = next((w for w in WRITES if w in self.running), None)
        if group == "cleanup" and writing:
            # A confirmed delete or restore runs to its end; another cleanup would replace its
            # worker (one exclusive group) and leave its account wrong.
            self.notify(f"A {writing} is running; wait for it, or press esc to stop it.", severity="warning")
            return
        if what in WRITES:
            self._stop_write = False
            self._write_progress = (0, None)
        mode = self.exec_mode
        label = label or what
        token = object()
        self._current[group] = (token, what)
        self._started(what, label)

        def tagged(message_: Any) -> Any:
            message_.token, message_.group = token, group
            return message_

        def on_progress(p: Progress) -> None:
            if what in WRITES:
                self._write_progress = (p.done, p.total)
            self.post_message(msg.ProgressUpdate(msg.ProgressInfo(what, p.done, p.total, p.what)))

        def stop() -> bool:
            return what in WRITES and self._stop_write

        def finish(result: Any, started: float) -> None:
            if isinstance(result, QueryResult):
                result = result.with_mode(mode)
            self.post_message(tagged(message(what, result, mode, time.perf_counter() - started)))

        def fail(exc: BaseException, started: float) -> None:
            if isinstance(exc, DeleteInterrupted):
                # Stopped part-way: report it like a finished delete (exact count, backup, undo).
                report = cleanup_ops.DeleteReport(
                    exc.collection, exc.requested, exc.requested if exc.backup_path else 0,
                    exc.deleted, exc.backup_path, str(self.settings.audit_path), time.perf_counter() - started,
                    status="stopped", warnings=(str(exc),))
                self.post_message(tagged(msg.DeleteDone(what, report, mode, report.elapsed)))
                return
            if isinstance(exc, RestoreIncomplete) and self.last_delete and self.last_delete.backup_path:
                cleanup_ops.append_audit(self.settings.audit_path, cleanup_ops.restore_stopped_record(
                    exc, Path(self.last_delete.backup_path), self._server_label()))
            kind = "cancelled" if isinstance(exc, Cancelled) or getattr(exc, "exit_code", 0) == 130 else "error"
            self.post_message(tagged(msg.OperationFailed(what, user_message(exc), kind, mode,
                                                         time.perf_counter() - started)))

        embeddings = self.service.embeddings
        if mode == "async":
            async def run_async() -> None:
                started = time.perf_counter()
                try:
                    result = await self.conn.arun(make_op(), Context(embeddings, on_progress, stop))
                except asyncio.CancelledError:
                    self.post_message(tagged(msg.OperationFailed(what, "Cancelled.", "cancelled", mode)))
                    raise
                except Exception as exc:  # noqa: BLE001 - shown to the user, app carries on
                    fail(exc, started)
                else:
                    finish(result, started)

            self.run_worker(run_async(), name=what, group=group, exclusive=True, exit_on_error=False)
        else:
            def run_sync() -> None:
                worker = get_current_worker()
                started = time.perf_counter()
                ctx = Context(embeddings, on_progress, lambda: worker.is_cancelled or stop())
                try:
                    result = self.conn.run(make_op(), ctx)
                except Exception as exc:  # noqa: BLE001
                    fail(exc, started)
                else:
                    finish(result, started)

            self.run_worker(run_sync, name=what, group=group, exclusive=True, exit_on_error=False, thread=True)

    def _started(self, what: str, label: str) -> None:
        self.running[what] = label
        self._show_running()

    def _finished(self, what: str) -> None:
        self.running.pop(what, None)
        self._show_running()
        if not any(w in self.running for w in ("delete", "restore", "export", "load", "preview")):
            self.query_one("#op-progress", ProgressBar).remove_class("visible")

    def _show_running(self) -> None:
        self.query_one(StatusBar).running = ", ".join(self.running.values())

    def _fresh(self, event: msg.Outcome | msg.OperationFailed) -> bool:
        """False for a message from a worker that a newer one in its group replaced."""
        token = getattr(event, "token", None)
        return token is None or self._current.get(getattr(event, "group", ""), (None, ""))[0] is token

    def _record(self, event: msg.Outcome | msg.OperationFailed) -> None:
        status = self.query_one(StatusBar)
        ms = event.elapsed * 1000
        outcome = "failed" if isinstance(event, msg.OperationFailed) else "ok"
        status.last = f"last: {event.what} {ms:,.0f} ms {event.mode}" + ("" if outcome == "ok" else f" ({outcome})")
        self.op_log.append({"time": time.strftime("%H:%M:%S"), "what": event.what, "mode": event.mode, "ms": ms,
                            "outcome": outcome})
        self._finished(event.what)

    # -- connection --------------------------------------------------------------------

    def connect(self) -> None:
        self._open_connection(self.conn.open)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _open_connection(self, how: Callable[[], Any]) -> None:
        """Open, reconnect or switch database (blocking calls) and post ``Connected``."""
        started = time.perf_counter()
        try:
            info = how()
        except Exception as exc:  # noqa: BLE001
            self.post_message(msg.OperationFailed("connect", user_message(exc)))
            return
        self.post_message(msg.Connected("connect", info, "sync", time.perf_counter() - started))

    @work(thread=True, exclusive=True, group="embeddings", exit_on_error=False)
    def load_embeddings(self) -> None:
        started = time.perf_counter()
        try:
            from ..embeddings import make_embeddings

            model = make_embeddings(self.settings.embedding_settings())
            description = model.describe()
        except Exception as exc:  # noqa: BLE001
            self.post_message(msg.OperationFailed("embeddings", scrub(f"Embedding model unavailable: {exc}")))
            return
        self.post_message(msg.EmbeddingsReady("embeddings", (model, description), "sync",
                                              time.perf_counter() - started))

    @on(msg.Connected)
    def _connected(self, event: msg.Connected) -> None:
        self.connected = True
        info = event.result
        kind = "Lite (embedded)" if self.conn.lite is not None else info.kind
        self.query_one(StatusBar).connection = f"{kind} {display_uri(self.conn.uri)} · db {info.db_name} · {info.version}"
        self._finished("connect")
        self.query_one(StatusBar).running = ""
        _freeze_long_lived_objects()
        self.refresh_catalog()
        if self.service.embeddings is None:
            self.load_embeddings()

    @on(msg.EmbeddingsReady)
    def _embeddings_ready(self, event: msg.EmbeddingsReady) -> None:
        model, description = event.result
        self.service.set_embeddings(model)
        _freeze_long_lived_objects()
        self.query_one(StatusBar).embeddings = description

    def refresh_catalog(self) -> None:
        # -c is resolved once, at the first catalog read: later refreshes keep what is open.
        wanted = self.settings.collection if self.info is None and not self._asked_resolved else None
        self.run_op("catalog", lambda: _catalog_snapshot(wanted), msg.CatalogRefreshed, group="catalog",
                    label="reading collections")

    @on(msg.CatalogRefreshed)
    def _catalog(self, event: msg.CatalogRefreshed) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        databases, infos, resolved = event.result
        pane = self.query_one(CollectionsPane)
        names = [i.name for i in infos]
        asked = self.settings.collection if self.info is None and not self._asked_resolved else None
        if asked:
            self._asked_resolved = True
            if resolved is None:
                self.notify(f"There is no collection or alias named '{asked}' in database '{self.conn.db_name}'.",
                            title="-c", severity="error", timeout=10, markup=False)
            elif resolved != asked:
                self.notify(f"'{asked}' is an alias of '{resolved}'.", title="-c", markup=False)
        wanted = self.info.name if self.info else (self._open_when_ready or resolved)
        if self._open_when_ready is not None and self._open_when_ready not in names:
            self.notify(f"'{self._open_when_ready}' is not in the server's catalog (dropped?).",
                        severity="warning")
        self._open_when_ready = None
        if wanted not in names:
            # Nothing asked for (or it is gone): the first one. An unknown -c opens nothing.
            wanted = None if asked and resolved is None else (names[0] if names else None)
        pane.show_catalog(self.conn.db_name, databases, infos, wanted)
        loads = self._remembered_loads()
        if loads is not None and any(i.loaded for i in infos):
            loads.remember(*(i.name for i in infos if i.loaded))
        if wanted and (self.info is None or self.info.name != wanted):
            self.open_collection(next(i for i in infos if i.name == wanted))
        elif wanted and self.info is not None:
            self._set_info(next(i for i in infos if i.name == wanted))
        elif not names:
            self.query_one(ResultsPane).show_message(
                "No collections in this database. Try `milvus-tui demo` to seed one, or `milvus-tui ingest`."
            )
        elif asked and resolved is None:
            self.query_one(ResultsPane).clear(
                f"No collection or alias named '{asked}' in database '{self.conn.db_name}'. Pick one on the left.")

    # -- collections -------------------------------------------------------------------

    @on(CollectionsPane.Selected)
    def _collection_selected(self, event: CollectionsPane.Selected) -> None:
        pane = self.query_one(CollectionsPane)
        if pane.unconfirmed:
            # Read from disk, the server not up yet: remember the choice; the catalog opens it.
            self._open_when_ready = event.name
            if any(w.group == "connect" and w.is_running for w in self.workers):
                self.query_one(ResultsPane).show_message(f"'{event.name}' opens as soon as the server is up…")
            else:
                self.query_one(ResultsPane).show_message(
                    f"Not connected, so '{event.name}' cannot open yet. Press ctrl+r to try again.")
            return
        info = pane.infos.get(event.name)
        if info is not None and (self.info is None or info.name != self.info.name):
            self.current_filter = ""
            self.query_one(ResultsPane).clear_marks()
            self.open_collection(info)

    @on(CollectionsPane.DatabaseSelected)
    def _database_selected(self, event: CollectionsPane.DatabaseSelected) -> None:
        self.connected = False
        self.info = None
        self.pager = None
        self.current_filter = ""
        self.query_one(StatusBar).connection = f"switching to database {event.name}…"
        self.query_one(ResultsPane).show_message(f"Opening database '{event.name}'…")
        name = event.name
        self._open_connection(lambda: self.conn.use_database(name))

    def _set_info(self, info: CollectionInfo) -> None:
        self.info = info
        self.query_one(CollectionsPane).update_collection(info)
        self.query_one(QueryBar).set_fields(info.field_names, list(info.partitions))
        self.query_one(ResultsPane).set_schema(info.primary.name, {f.name: f.dtype for f in info.vector_fields})
        banner = self.query_one("#banner", Label)
        if info.loaded:
            banner.update("")
            banner.remove_class("visible")
        else:
            banner.update(_not_loaded(info) + " Press l to load it.")
            banner.add_class("visible")
        results = self.query_one(ResultsPane)
        if results.result is not None and results.result.collection != info.name:
            results.clear("")  # another collection's rows must not sit under this title
        results.border_title = f"Results · {info.name}"

    def open_collection(self, info: CollectionInfo) -> None:
        self._set_info(info)
        loads = self._remembered_loads()
        if info.loaded:
            self.browse()
        elif loads is not None and info.name in loads.names():
            self.query_one(ResultsPane).show_message(
                f"Loading '{info.name}' again: it was loaded when this app last used it "
                "(Milvus Lite releases everything when its server restarts)…")
            self._load(info.name)
        elif info.load_state == "PartiallyLoaded":
            self.query_one(ResultsPane).show_message(_not_loaded(info) + " Press l to load it.")
        else:
            self.query_one(ResultsPane).show_message(f"'{info.name}' is released: press l to load it.")

    def _remembered_loads(self) -> RememberedLoads | None:
        """Only for the app's own Lite: a remote server keeps its load state itself."""
        if self.conn.lite is None:
            return None
        return RememberedLoads(self._state_dir / "loaded.json", f"{self.conn.lite.data_dir}|{self.conn.db_name}")

    def browse(self, page: int = 0, expr: str | None = None) -> None:
        """Page through the collection (or ``expr``, default the current filter) from scratch.

        The new pager replaces the current one only when its first page arrives, so a
        filter the server rejects leaves the previous filter, pager and rows in place.
        """
        if self.info is None or not self.info.loaded:
            return
        try:
            options = self.query_one(QueryBar).options()
            pager = Pager(self.info, expr=self.current_filter if expr is None else expr, page_size=PAGE_SIZE,
                          output_fields=options.output_fields, consistency_level=options.consistency_level,
                          partition_names=[options.partition] if options.partition else None)
        except (MilvusTuiError, ValueError) as exc:
            self.query_one(QueryBar).show_error(str(exc))
            return
        self._pending_pager = pager
        self._stop_fill()
        self._goto(page, pager)

    def _goto(self, page: int, pager: Pager | None = None) -> None:
        pager = pager or self.pager
        if pager is None:
            return
        if (page < 0 and not pager.exhausted) or page >= len(pager.boundaries):
            # This jump scans keys itself: the fill would only compete with it on the server.
            # It resumes from the boundaries the jump found once the page is on screen.
            self._stop_fill()
        self.query_one(ResultsPane).set_loading(f"loading page {page + 1 if page >= 0 else 'last'}…")
        self.run_op("page", lambda: pager.goto(page), msg.ResultsReady, label="paging")

    @on(msg.ResultsReady)
    def _results(self, event: msg.ResultsReady) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        if event.result.kind == "page" and self._pending_pager is not None:
            self.pager, self._pending_pager = self._pending_pager, None
            self.current_filter = self.pager.expr
        if event.result.kind == "page":
            self._start_fill()
        if not self._first_results_shown:
            # Once more after the first page: the open collection and the widgets' caches are
            # long-lived too (full GC as shipped 21.5 ms -> 4 ms, docs/BENCHMARKS.md §1).
            self._first_results_shown = True
            self.call_after_refresh(_freeze_long_lived_objects)
        results = self.query_one(ResultsPane)
        results.show_result(event.result)
        if self._focus_results:
            # After a query the next keys are usually n/p/enter/space: hand focus to the table.
            self._focus_results = False
            results.table.focus()

    # -- background boundary fill --------------------------------------------------------
    #
    # Once a page is on screen, a thread worker finds the rest of the pager's page boundaries
    # (key scans only, its own copy of the cursor), and each result is merged into the pager
    # here on the UI thread, so later jumps (G, a page far ahead) cost one query. A new pager,
    # a write or a refresh stops it; results from a stopped fill, another pager or an older
    # count are dropped. Nothing is shown: the title's "page N of M" already has the count.

    def _start_fill(self) -> None:
        pager = self.pager
        if pager is None or (self._fill is not None and self._fill[0] is pager):
            return  # running, or already ran for this pager
        fill = query_ops.BoundaryFill(pager, window=self.fill_window)
        if fill.done:
            return
        token = object()
        self._fill = (pager, token)
        self._run_fill(fill, pager, token)

    def _stop_fill(self) -> None:
        self._fill = None
        self.workers.cancel_group(self, "fill")

    @work(thread=True, exclusive=True, group="fill", exit_on_error=False)
    def _run_fill(self, fill: query_ops.BoundaryFill, pager: Pager, token: object) -> None:
        """Always the sync client in a thread: the keys are decoded off the UI's event loop."""
        worker = get_current_worker()
        ctx = Context(is_cancelled=lambda: worker.is_cancelled)
        while not fill.done and not worker.is_cancelled and self._fill is not None and self._fill[1] is token:
            if "page" in self.running:
                time.sleep(self.fill_pause)  # the user's page first
                continue
            started = time.perf_counter()
            try:
                found = self.conn.run(fill.step(), ctx)
            except Exception:  # noqa: BLE001 - quiet: a jump still finds its own boundaries
                return
            elapsed = time.perf_counter() - started
            self.post_message(msg.BoundariesFound(found, pager, token, elapsed))
            time.sleep(fill.rest(elapsed, self.fill_pause))

    @on(msg.BoundariesFound)
    def _boundaries_found(self, event: msg.BoundariesFound) -> None:
        pager = self.pager
        if self._fill is None or self._fill[1] is not event.token or pager is not event.pager:
            return  # a stopped fill, or one for a pager that is no longer on screen
        found: query_ops.Boundaries = event.result
        if found.total != pager.total or (found.pages is not None and found.pages != pager.pages):
            # The data changed since the count: its keys may be stale, and a fill from the same
            # count would end the same way, so this pager gets no other (its jumps scan).
            self._stop_fill()
            self._fill = (pager, object())
            return
        pager.merge(found)

    # -- query bar ---------------------------------------------------------------------

    @on(QueryBar.ExecModeChanged)
    def _exec_mode(self, event: QueryBar.ExecModeChanged) -> None:
        self.exec_mode = event.mode
        self.query_one(StatusBar).mode = event.mode

    @on(QueryBar.Submitted)
    def _query(self, event: QueryBar.Submitted) -> None:
        info = self.info
        if info is None:
            self.query_one(QueryBar).show_error("Select a collection first.")
            return
        if not info.loaded:
            self.query_one(QueryBar).show_error(f"'{info.name}' is not loaded. Press l to load it.")
            return
        self._focus_results = True
        if event.mode == "filter":
            self.browse(expr=event.text.strip())
            return
        anns = self._anns_field(info, lambda: self._query(event))
        if anns is None:
            return
        o = event.options
        parts = [o.partition] if o.partition else None
        if event.mode == "search":
            if self.service.embeddings is None:
                self.query_one(QueryBar).show_error("The embedding model is still loading; try again in a moment.")
                return
            text = event.text
            using = self.service.queries._tag()
            self.query_one(ResultsPane).set_loading(f"searching for {text!r}…")
            self.run_op("search", lambda: query_ops.semantic_search(
                info, text, k=o.k, expr=self.current_filter, anns_field=anns, output_fields=o.output_fields,
                consistency_level=o.consistency_level, partition_names=parts, mmr=o.mmr, using=using,
            ), msg.ResultsReady, label="searching")
        else:
            self._similar(info, anns, event.text, o.k, o.output_fields, o.consistency_level, parts)

    def _anns_field(self, info: CollectionInfo, retry: Callable[[], None]) -> str | None:
        try:
            return info.pick_vector_field(self.anns_fields.get(info.name)).name
        except AmbiguousField as exc:
            def chosen(name: str | None) -> None:
                if name:
                    self.anns_fields[info.name] = name
                    retry()

            self.app.push_screen(ChoiceScreen(str(exc), exc.candidates), chosen)
        except MilvusTuiError as exc:
            self.query_one(QueryBar).show_error(str(exc))
        return None

    def _similar(self, info: CollectionInfo, anns: str, expr: str, k: int, fields: list[str] | None,
                 consistency: str | None, parts: list[str] | None) -> None:
        row = self.query_one(ResultsPane).current_row()
        if row is None:
            self.query_one(QueryBar).show_error("Select a row in the results first.")
            return
        key = row[info.primary.name]
        where = expr.strip() or self.current_filter
        self.query_one(ResultsPane).set_loading(f"finding entities like {key!r}…")
        self.run_op("more like this", lambda: query_ops.more_like_this(
            info, key, k=k, expr=where, anns_field=anns, output_fields=fields, consistency_level=consistency,
            partition_names=parts,
        ), msg.ResultsReady, label="more like this")

    # -- errors and progress -----------------------------------------------------------

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        if event.what == "page":
            self._pending_pager = None
        results = self.query_one(ResultsPane)
        if results.result is not None and (self.info is None or results.result.collection == self.info.name):
            results.show_result(results.result)  # drop the loading line, keep the old rows
        elif event.what == "load" and self.info is not None and event.kind != "cancelled":
            results.clear(f"Could not load '{self.info.name}': {event.error}")
        if event.kind == "cancelled":
            return  # replaced by a newer worker of its group; esc is handled in action_cancel
        if event.what == "connect":
            self.query_one(StatusBar).connection = "not connected"
            self.query_one(CollectionsPane).mark_unconfirmed("not confirmed")
            results.show_message(f"Could not connect: {event.error}\nPress ctrl+r to try again.")
        if event.what in ("search", "page", "more like this", "filter"):
            self.query_one(QueryBar).show_error(event.error)
        self.notify(event.error, title=f"{event.what} failed", severity="error", timeout=8)

    @on(msg.ProgressUpdate)
    def _progress(self, event: msg.ProgressUpdate) -> None:
        info = event.info
        if info.what not in self.running:
            return  # a cancelled or replaced worker still reporting
        if info.total is None and info.done == 0:
            # A note rather than a count, e.g. an embedding retry with its back-off.
            self.running[info.what] = info.label
            self._show_running()
            if "retry" in info.label:
                self.notify(info.label.capitalize(), title=info.what, severity="warning", timeout=4)
            return
        bar = self.query_one("#op-progress", ProgressBar)
        bar.add_class("visible")
        bar.update(total=info.total, progress=info.done)
        self.running[info.what] = f"{info.label} {info.done:,}" + (f"/{info.total:,}" if info.total else "")
        self._show_running()

    # -- actions -----------------------------------------------------------------------

    def action_mode(self, mode: str) -> None:
        self.query_one(QueryBar).set_mode(mode)

    def action_similar(self) -> None:
        if self.info is None:
            return
        anns = self._anns_field(self.info, self.action_similar)
        if anns is None:
            return
        options = self.query_one(QueryBar).options()
        self._similar(self.info, anns, "", options.k, options.output_fields, options.consistency_level,
                      [options.partition] if options.partition else None)

    def action_page(self, where: str) -> None:
        results = self.query_one(ResultsPane).result
        if self.pager is None or results is None or results.kind != "page":
            self.browse()
            return
        current = results.page or 0
        target = {"next": current + 1, "prev": max(0, current - 1), "first": 0, "last": -1}[where]
        if where == "next" and results.pages is not None and target >= results.pages:
            self.notify("This is the last page.")
            return
        self._goto(target)

    def action_mark(self) -> None:
        self.query_one(ResultsPane).toggle_mark()

    def action_delete_marked(self) -> None:
        results = self.query_one(ResultsPane)
        info = self.info
        if info is None:
            return
        keys = list(results.marked)
        if not keys:
            row = results.current_row()
            if row is None:
                self.notify("Mark rows with space, or select one, then press d.", severity="warning")
                return
            keys = [row[info.primary.name]]
        self.run_op("preview", lambda: cleanup_ops.preview_delete(info, keys=keys, db_name=self.conn.db_name), msg.DeletePreviewed,
                    group="cleanup", label="preparing delete")

    def action_delete_filter(self) -> None:
        info = self.info
        if info is None:
            return
        expr = self.current_filter
        if not expr:
            self.notify("Apply a filter first (f), then D deletes everything it matches.", severity="warning")
            return
        self.run_op("preview", lambda: cleanup_ops.preview_delete(info, expr=expr, db_name=self.conn.db_name), msg.DeletePreviewed,
                    group="cleanup", label="counting matches")

    @on(msg.DeletePreviewed)
    def _previewed(self, event: msg.DeletePreviewed) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        preview: cleanup_ops.DeletePreview = event.result
        if preview.count == 0:
            self.notify("Nothing matches, so nothing would be deleted.")
            return
        info = self.info
        if info is None or info.name != preview.collection:
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.notify("Delete cancelled; nothing was deleted.")
                return
            server = self._server_label()
            self._deleting = preview.keys
            self.run_op("delete", lambda: cleanup_ops.execute_delete(
                info, preview, backup_dir=self.settings.backup_dir, audit_path=self.settings.audit_path,
                server=server,
            ), msg.DeleteDone, group="cleanup", label="deleting")

        self.app.push_screen(ConfirmDeleteScreen(preview, str(self.settings.backup_dir)), confirmed)

    @on(msg.DeleteDone)
    def _deleted(self, event: msg.DeleteDone) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        report: cleanup_ops.DeleteReport = event.result
        self.last_delete = report
        results = self.query_one(ResultsPane)
        if results.result is not None and results.result.kind != "page" and report.status != "stopped":
            results.drop_keys(set(self._deleting))
        else:
            results.marked.clear()
        if report.status != "stopped":
            self.notify(f"Deleted {report.deleted:,} entities from '{report.collection}'. "
                        f"Backup: {report.backup_path}. Press u to undo.", timeout=10, markup=False)
        elif report.backup_path and report.deleted:
            self.notify("Press u to put back what was deleted (the backup holds every previewed entity).",
                        timeout=10, markup=False)
        for warning in report.warnings:
            self.notify(warning, severity="warning", timeout=10, markup=False)
        self._after_write(report.collection)

    def _after_write(self, collection: str) -> None:
        """Counts refresh at Strong consistency, and the current page reloads."""
        self._stop_fill()
        self.run_op("describe", lambda: catalog_ops.describe(collection), msg.CollectionDescribed,
                    group="catalog", label="recounting")

    @on(msg.CollectionDescribed)
    def _described(self, event: msg.CollectionDescribed | msg.CollectionLoaded) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        info: CollectionInfo = event.result
        self.query_one(CollectionsPane).update_collection(info)
        if self.info is not None and info.name == self.info.name:
            was_loaded = self.info.loaded
            self._set_info(info)
            results = self.query_one(ResultsPane).result
            if info.loaded and (not was_loaded or results is None or results.kind == "page"):
                self.browse(results.page or 0 if results is not None and results.kind == "page" else 0)

    def _server_label(self) -> str:
        """How audit records name the server: the URI without its password, and the database."""
        return f"{self.conn.display_uri} db={self.conn.db_name}"

    def action_undo(self) -> None:
        writing = next((w for w in WRITES if w in self.running), None)
        if writing:
            self.notify(f"A {writing} is running; wait for it, or press esc to stop it.", severity="warning")
            return
        report = self.last_delete
        if report is None or not report.backup_path:
            self.notify("There is no delete to undo in this session.", severity="warning")
            return
        path = Path(report.backup_path)
        db_name = self.conn.db_name
        self.run_op("restore", lambda: cleanup_ops.restore(path, db_name=db_name), msg.RestoreDone, group="cleanup",
                    label="restoring")

    @on(msg.RestoreDone)
    def _restored(self, event: msg.RestoreDone) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        report: cleanup_ops.RestoreReport = event.result
        self.last_delete = None
        cleanup_ops.append_audit(self.settings.audit_path, cleanup_ops.restore_record(report, self._server_label()))
        text = f"Restored {report.restored:,} entities into '{report.collection}'."
        if report.key_map:
            text += " This server gave them new primary keys; the old -> new map is in the audit log."
        if report.skipped:
            text += f" {report.skipped:,} were already there."
        self.notify(text, markup=False)
        self._after_write(report.collection)

    def action_export(self) -> None:
        info = self.info
        if info is None or not info.loaded:
            self.notify("Select a loaded collection first.", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        scope = self.current_filter or f"the whole collection '{info.name}'"
        default = str(Path.cwd() / f"{info.name}-{stamp}.jsonl")

        def chosen(request: Any) -> None:
            if request is None:
                return
            results = self.query_one(ResultsPane).result
            if not request.whole:
                rows = results.rows if results else []
                columns = results.columns if results else info.field_names
                self.run_op("export", lambda: _write_rows_op(request.path, rows, columns, request.fmt, info),
                            msg.ExportDone, group="export", label="exporting")
                return
            expr = self.current_filter
            fields = self.query_one(QueryBar).options().output_fields
            total = self.pager.total if self.pager else None
            self.run_op("export", lambda: export_ops.export(info, request.path, expr=expr, fmt=request.fmt,
                                                            output_fields=fields, total=total),
                        msg.ExportDone, group="export", label="exporting")

        self.app.push_screen(ExportScreen(default, scope), chosen)

    @on(msg.ExportDone)
    def _exported(self, event: msg.ExportDone) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        report = event.result
        self.notify(f"Exported {report.rows:,} entities to {report.path}.", timeout=8)

    def action_load(self) -> None:
        name = self.query_one(CollectionsPane).current or (self.info.name if self.info else None)
        if name:
            self._load(name)

    def _load(self, name: str) -> None:
        self.run_op("load", lambda: _load_then_describe(name), msg.CollectionLoaded, group="load",
                    label=f"loading {name}")

    @on(msg.CollectionLoaded)
    def _loaded(self, event: msg.CollectionLoaded) -> None:
        if not self._fresh(event):
            return
        info: CollectionInfo = event.result
        self.notify(f"Loaded '{info.name}' in {event.elapsed:.1f} s.")
        loads = self._remembered_loads()
        if loads is not None and info.loaded:
            loads.remember(info.name)
        self._described(event)

    def action_release(self) -> None:
        name = self.query_one(CollectionsPane).current or (self.info.name if self.info else None)
        if not name:
            return
        loads = self._remembered_loads()
        if loads is not None:
            loads.forget(name)  # what the user asked for, even if the release then fails
        self.run_op("release", lambda: _release_then_describe(name), msg.CollectionDescribed, group="load",
                    label=f"releasing {name}")

    def action_refresh(self) -> None:
        self._stop_fill()
        self.refresh_catalog()

    def action_toggle_mode(self) -> None:
        from textual.widgets import Select

        select = self.query_one("#exec-mode", Select)
        select.value = "sync" if self.exec_mode == "async" else "async"

    async def action_toggle_options(self) -> None:
        await self.query_one(QueryBar).toggle_options()

    def action_cancel(self) -> None:
        """Cancel running work and say so at once.

        A thread worker only stops at its next step (a sync call cannot be interrupted),
        so its group's token is dropped here: whatever it posts later is ignored.
        """
        writing = next((w for w in WRITES if w in self.running), None)
        if writing and not self._stop_write:
            self._ask_to_stop(writing)
            return
        cancelled: list[str] = []
        for worker in self.workers:
            if worker.group in WORK_GROUPS and worker.is_running and worker.name not in WRITES:
                worker.cancel()
                _, what = self._current.pop(worker.group, (None, worker.name))
                cancelled.append(what)
                self.running.pop(what, None)
        if not cancelled:
            self.query_one(QueryBar).show_error("")
            return
        self._pending_pager = None
        self._show_running()
        self.query_one("#op-progress", ProgressBar).remove_class("visible")
        results = self.query_one(ResultsPane)
        if results.result is not None:
            results.show_result(results.result)
        self.notify(f"{', '.join(cancelled)} cancelled.", severity="warning")

    def _ask_to_stop(self, writing: str) -> None:
        """A confirmed write is stopped only on a second confirmation that says what is done."""
        done, total = self._write_progress
        so_far = f"{done:,} of {total:,}" if total else f"{done:,}"
        if writing == "delete":
            question = (f"Stop the delete? So far {so_far} entities are deleted (or backed up, while the "
                        f"backup is written); every previewed entity is in the backup. Stopping leaves the rest.")
        else:
            question = f"Stop the restore? So far {so_far} entities are back; running undo again is safe."

        def chosen(answer: str | None) -> None:
            if answer and answer.startswith("Stop"):
                self._stop_write = True
                self.notify(f"Stopping the {writing} after the batch under way…", markup=False)

        self.app.push_screen(ChoiceScreen(question, [f"Keep going ({writing} runs to the end)",
                                                     "Stop after the batch under way"]), chosen)

    def action_reconnect(self) -> None:
        self.connected = False
        self.query_one(StatusBar).connection = "reconnecting…"
        self._open_connection(self.conn.reconnect)

    def action_timing(self) -> None:
        from .timing import TimingScreen

        screen = self.app.timing if hasattr(self.app, "timing") else None
        if screen is None:
            screen = TimingScreen()
            self.app.timing = screen  # type: ignore[attr-defined]
            self.app.push_screen(screen)
        else:
            self.app.push_screen(screen)
            screen.refresh_log()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def on_data_table_row_selected(self, event: Any) -> None:
        results = self.query_one(ResultsPane)
        row = results.current_row()
        info = self.info
        if row is None or info is None or results.result is None:
            return
        index = results.table.cursor_row
        score = results.result.scores[index] if results.result.scores else None

        def closed(action: str | None) -> None:
            if action == "similar":
                self.action_similar()

        from .entity import EntityScreen  # here: it imports rich.syntax and pygments (~15 ms at startup)

        self.app.push_screen(EntityScreen(info.name, row, {f.name: f.dtype for f in info.vector_fields}, score), closed)


def _freeze_long_lived_objects() -> None:
    """Move what is alive now (pymilvus, grpc, the embedding model: ~100k objects) out of
    the garbage collector's reach. Without this, each full collection scans them all and
    stalls the UI for 100-270 ms (measured in docs/BENCHMARKS.md, section 1); after it, 1-7 ms."""
    import gc

    gc.freeze()


def user_message(exc: BaseException) -> str:
    """A sentence for the user from any exception: ours carry one; others get their type."""
    text = str(exc) if isinstance(exc, MilvusTuiError) else f"{type(exc).__name__}: {exc}"
    return scrub(text)


def _load_then_describe(name: str) -> Op[CollectionInfo]:
    yield from catalog_ops.load(name)
    info = yield from catalog_ops.describe(name)
    return info


def _release_then_describe(name: str) -> Op[CollectionInfo]:
    yield from catalog_ops.release(name)
    info = yield from catalog_ops.describe(name)
    return info


def _not_loaded(info: CollectionInfo) -> str:
    if info.load_state == "PartiallyLoaded" and info.loaded_partitions is not None:
        released = [p for p in info.partitions if p not in info.loaded_partitions]
        return (f"Collection '{info.name}' is only partly loaded: partition(s) {', '.join(released)} are "
                "released, so a search would miss them.")
    return f"Collection '{info.name}' is not loaded (released)."


def _write_rows_op(path: Path, rows: list[dict[str, Any]], columns: list[str], fmt: str,
                   info: CollectionInfo) -> Op[export_ops.ExportReport]:
    from ..milvus.ops import Blocking, Timer
    from ..milvus.values import vector_types

    timer = Timer()
    count = yield Blocking(lambda: export_ops.write_rows(path, rows, columns, fmt, vector_types(info)))
    return export_ops.ExportReport(info.name, str(path), count, timer.elapsed)
