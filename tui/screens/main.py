"""The explorer screen: composes the panes and runs every Milvus call as a worker.

Each operation is a data-layer generator (``tui.milvus.ops``). ``run_op`` runs it as an
async worker on the app loop (async mode) or as a thread worker with the sync client
(sync mode); either way the worker posts a typed message with the result, the mode and
the elapsed time, or ``OperationFailed`` with a sentence for the user. Workers share
exclusive groups, so a new query replaces a stale one, and esc cancels them.
"""

from __future__ import annotations

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

from .. import messages as msg
from ..config import Settings
from ..history import History
from ..loads import RememberedLoads, for_lite
from ..milvus import CollectionInfo, MilvusConnection
from ..milvus import cleanup as cleanup_ops
from ..errors import AmbiguousField, MilvusTuiError, display_uri, scrub
from ..runner import Group, OpRunner, user_message
from ..milvus import expr as exprs
from ..milvus import search as search_ops
from ..milvus.search import SearchQuery, SearchShape
from ..session import CatalogSnapshot, ExecMode, OpKind, Session
from ..widgets.collections import CollectionsPane
from ..widgets.query_bar import HYBRID, QueryBar, QueryMode
from ..widgets.results import ResultsPane
from ..widgets.status import KeyFooter, StatusBar
from .choice import ChoiceScreen
from .cleanup import CleanupFlow
from .drop import DropFlow
from .edit import EditFlow
from .help import HelpScreen
from .hybrid import HybridPlan, HybridScreen, default_plan, hybrid_label



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
        Binding("E", "edit_filter", "Edit filter", show=False),
        Binding("u", "undo", "Undo"),
        Binding("e", "export", "Export"),
        Binding("l", "load", "Load"),
        Binding("R", "release", "Release", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("x", "toggle_mode", "Sync/async"),
        Binding("o", "toggle_options", "Options", show=False),
        Binding("H", "hybrid_setup", "Hybrid setup", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+r", "reconnect", "Reconnect", show=False),
        Binding("t", "timing", "Timing"),
        Binding("v", "vector_map", "Map"),
        Binding("question_mark", "help", "Help"),
        # drops that can be undone, and the backups screen (tui/screens/drop.py, backups.py)
        Binding("X", "drop", "Drop…", show=False),
        Binding("B", "backups", "Backups", show=False),
        # duplicates and the quality scan (issue 14)
        Binding("K", "duplicates", "Duplicates", show=False),
        Binding("Q", "quality", "Quality scan", show=False),
    ]

    def __init__(self, settings: Settings, connection: MilvusConnection | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.conn = connection or MilvusConnection(settings.uri, token=settings.token, db_name=settings.db_name,
                                                   timeout=settings.timeout)
        self.session = Session(self.conn, backup_dir=settings.backup_dir, audit_path=settings.audit_path)
        self.runner = OpRunner(self, self.session, on_change=self._show_running, on_record=self._show_last)
        self.info: CollectionInfo | None = None
        #: Hybrid plans the user made (H), by collection name.
        self.hybrid_plans: dict[str, HybridPlan] = {}
        self.anns_fields: dict[str, str] = {}
        #: the vector map's field choices (vector field, colour), per collection.
        self.map_choices: dict[str, dict[str, Any]] = {}
        self.connected = False
        self._focus_results = False
        self._first_results_shown = False
        #: a collection chosen from the names read off disk, opened once the server answers.
        self._open_when_ready: str | None = None
        #: ``-c`` is resolved (name or alias) at the first catalog read only.
        self._asked_resolved = False
        from ..config import state_dir

        self.history = History(state_dir() / "history.json", settings.history_key())
        self._state_dir = state_dir()

    @property
    def running(self) -> dict[OpKind, str]:
        """What runs now, by kind, with its status-line label."""
        return self.runner.running

    @property
    def exec_mode(self) -> ExecMode:
        return self.runner.mode

    @property
    def last_delete(self) -> cleanup_ops.DeleteReport | None:
        """What u puts back (the session's: a stopped delete counts too)."""
        return self.session.last_delete

    @property
    def op_log(self) -> list[dict[str, Any]]:
        """Every finished operation, for the timing panel's log of what ran by hand."""
        return [entry.as_dict() for entry in self.session.log]

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
        yield CleanupFlow(self.runner, str(self.settings.backup_dir))
        yield DropFlow(self.runner, str(self.settings.backup_dir))
        yield EditFlow(self.runner, str(self.settings.backup_dir))

    def on_mount(self) -> None:
        self.query_one(ResultsPane).bind(self.runner)
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

    def run_op(self, make: Callable[[], Any], message: type[msg.Outcome], *, group: str) -> None:
        """Run a Session operation as a worker in the current execution mode."""
        if not self.connected:
            self.notify("Not connected yet.", severity="warning")
            return
        self.runner.run(make, message, group=group)

    def _show_running(self) -> None:
        self.query_one(StatusBar).running = ", ".join(self.running.values())
        if not any(k in self.running for k in (OpKind.DELETE, OpKind.RESTORE, OpKind.EXPORT, OpKind.LOAD,
                                               OpKind.PREVIEW, OpKind.PREVIEW_DROP, OpKind.BACKED_DROP)):
            self.query_one("#op-progress", ProgressBar).display = False

    def _fresh(self, event: msg.Outcome | msg.OperationFailed) -> bool:
        return self.runner.is_fresh(event)

    def _record(self, event: msg.Outcome | msg.OperationFailed) -> None:
        self.runner.record(event)

    def _show_last(self, event: msg.Outcome | msg.OperationFailed) -> None:
        ms = event.elapsed * 1000
        failed = isinstance(event, msg.OperationFailed)
        self.query_one(StatusBar).last = (f"last: {event.kind.words} {ms:,.0f} ms {event.mode or ''}".rstrip()
                                          + (" (failed)" if failed else ""))

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
            self.post_message(msg.OperationFailed(OpKind.CONNECT, user_message(exc)))
            return
        self.post_message(msg.Connected(OpKind.CONNECT, info, ExecMode.SYNC, time.perf_counter() - started))

    @work(thread=True, exclusive=True, group="embeddings", exit_on_error=False)
    def load_embeddings(self) -> None:
        started = time.perf_counter()
        try:
            from ..embeddings import make_embeddings

            model = make_embeddings(self.settings.embedding_settings())
            description = model.describe()
        except Exception as exc:  # noqa: BLE001
            self.post_message(msg.OperationFailed(OpKind.EMBEDDINGS, scrub(f"Embedding model unavailable: {exc}")))
            return
        self.post_message(msg.EmbeddingsReady(OpKind.EMBEDDINGS, (model, description), ExecMode.SYNC,
                                              time.perf_counter() - started))

    @on(msg.Connected)
    def _connected(self, event: msg.Connected) -> None:
        self.connected = True
        info = event.result
        kind = "Lite (embedded)" if self.conn.lite is not None else info.kind
        self.query_one(StatusBar).connection = f"{kind} {display_uri(self.conn.uri)} · db {info.db_name} · {info.version}"
        self.runner.finished(OpKind.CONNECT)
        self.query_one(StatusBar).running = ""
        _freeze_long_lived_objects()
        self.refresh_catalog()
        if self.session.embeddings is None:
            self.load_embeddings()

    @on(msg.EmbeddingsReady)
    def _embeddings_ready(self, event: msg.EmbeddingsReady) -> None:
        model, description = event.result
        self.session.embeddings = model
        _freeze_long_lived_objects()
        self.query_one(StatusBar).embeddings = description

    def refresh_catalog(self) -> None:
        # -c is resolved once, at the first catalog read: later refreshes keep what is open.
        wanted = self.settings.collection if self.info is None and not self._asked_resolved else None
        # Approximate counts here: an exact count(*) per collection costs seconds on unflushed Lite data.
        self.run_op(lambda: self.session.catalog(wanted, exact=False), msg.CatalogRefreshed, group=Group.CATALOG)

    @on(msg.CatalogRefreshed)
    def _catalog(self, event: msg.CatalogRefreshed) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        snapshot: CatalogSnapshot = event.result
        databases, infos, resolved = snapshot.databases, snapshot.collections, snapshot.resolved
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
            self.query_one(ResultsPane).reset()
            self.query_one(ResultsPane).clear_marks()
            self.open_collection(info)

    @on(CollectionsPane.DatabaseSelected)
    def _database_selected(self, event: CollectionsPane.DatabaseSelected) -> None:
        self.connected = False
        self.info = None
        self.query_one(ResultsPane).reset()
        self.query_one(StatusBar).connection = f"switching to database {event.name}…"
        self.query_one(ResultsPane).show_message(f"Opening database '{event.name}'…")
        name = event.name
        self._open_connection(lambda: self.conn.use_database(name))

    def _set_info(self, info: CollectionInfo) -> None:
        self.info = info
        self.query_one(CollectionsPane).update_collection(info)
        if self.connected:
            self.runner.run(lambda: self.session.details(info), msg.DetailsReady, group=Group.DETAILS)
        self.query_one(QueryBar).set_fields(
            info.field_names, list(info.partitions), search_ops.field_choices(info), search_ops.text_fields(info),
            text_match=any(f.enable_match for f in info.fields),
            group_fields=[f.name for f in info.scalar_fields
                          if f.dtype in ("VARCHAR", "INT64", "INT32", "INT16", "INT8", "BOOL") and not f.is_primary])
        if info.name in self.hybrid_plans:
            self.run_worker(self.query_one(QueryBar).set_hybrid(hybrid_label(self.hybrid_plans[info.name]),
                                                                select=False))
        self.query_one(ResultsPane).set_schema(info.primary.name, {f.name: f.dtype for f in info.vector_fields})
        banner = self.query_one("#banner", Label)
        if info.loaded:
            banner.update("")
            banner.display = False
        else:
            banner.update(_not_loaded(info) + " Press l to load it.")
            banner.display = True
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
        return for_lite(self._state_dir, self.conn)

    def browse(self, page: int = 0, expr: str | None = None) -> None:
        """Page through the open collection (or ``expr``, default the current filter)."""
        if self.info is None or not self.info.loaded:
            return
        options = self.query_one(QueryBar).options()
        try:
            self.query_one(ResultsPane).browse(self.info, expr=expr, page=page, output_fields=options.output_fields,
                                               consistency_level=options.consistency_level,
                                               partition=options.partition)
        except (MilvusTuiError, ValueError) as exc:
            self.query_one(QueryBar).show_error(str(exc))

    @property
    def current_filter(self) -> str:
        return self.query_one(ResultsPane).current_filter

    @on(msg.ResultsReady)
    def _results(self, event: msg.ResultsReady) -> None:
        """Bubbled up from the results pane, which has shown the rows."""
        self._record(event)
        if not self._first_results_shown:
            # Once more after the first page: the open collection and the widgets' caches are
            # long-lived too (full GC as shipped 21.5 ms -> 4 ms, docs/BENCHMARKS.md §1).
            self._first_results_shown = True
            self.call_after_refresh(_freeze_long_lived_objects)
        if self._focus_results:
            # After a query the next keys are usually n/p/enter/space: hand focus to the table.
            self._focus_results = False
            self.query_one(ResultsPane).table.focus()

    # -- query bar ---------------------------------------------------------------------

    @on(QueryBar.ExecModeChanged)
    def _exec_mode(self, event: QueryBar.ExecModeChanged) -> None:
        self.runner.mode = ExecMode(event.mode)
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
        if event.mode == QueryMode.FILTER:
            self.browse(expr=event.text.strip())
            return
        o = event.options
        parts = [o.partition] if o.partition else None
        if event.mode == QueryMode.SEARCH and o.anns_field == HYBRID:
            self._hybrid(info, event.text, o, parts)
            return
        if event.mode == QueryMode.KEY:
            self._by_keys(info, event.text, o, parts)
            return
        source = "text" if event.mode == QueryMode.SEARCH else "key"
        chosen = o.anns_field if o.anns_field != HYBRID else None
        anns = chosen or self._anns_field(info, lambda: self._query(event), source)
        if anns is None:
            return
        shape = SearchShape(o.radius, o.range_filter, o.group_by, o.group_size)
        shaped = shape != SearchShape()
        if event.mode == QueryMode.SEARCH and (shaped or info.get_field(anns).dtype == "SPARSE_FLOAT_VECTOR"):
            # Full text (the server embeds the raw text with the collection's BM25 function), or a
            # range window or grouping: the search that takes every option.
            text = event.text
            if info.get_field(anns).dtype != "SPARSE_FLOAT_VECTOR" and self.session.embeddings is None:
                self.query_one(QueryBar).show_error("The embedding model is still loading; try again in a moment.")
                return
            self.query_one(ResultsPane).set_loading(f"searching for {text!r}…")
            query = SearchQuery("text", text, anns_field=anns, k=o.k, expr=self.current_filter)
            self.query_one(ResultsPane).run(lambda: self.session.vector_search(
                info, query, shape=shape, output_fields=o.output_fields, consistency_level=o.consistency_level,
                partition_names=parts))
        elif event.mode == QueryMode.SEARCH:
            if self.session.embeddings is None:
                self.query_one(QueryBar).show_error("The embedding model is still loading; try again in a moment.")
                return
            text = event.text
            self.query_one(ResultsPane).set_loading(f"searching for {text!r}…")
            self.query_one(ResultsPane).run(lambda: self.session.search(
                info, text, k=o.k, expr=self.current_filter, anns_field=anns, output_fields=o.output_fields,
                consistency_level=o.consistency_level, partition_names=parts, mmr=o.mmr,
            ))
        else:
            self._similar(info, anns, event.text, o.k, o.output_fields, o.consistency_level, parts, shape)

    def action_hybrid_setup(self) -> None:
        info = self.info
        if info is None:
            return
        plan = self.hybrid_plans.get(info.name) or default_plan(info)

        async def chosen(new: HybridPlan | None) -> None:
            if new is None:
                return
            self.hybrid_plans[info.name] = new
            if self.info is not None and self.info.name == info.name:
                await self.query_one(QueryBar).set_hybrid(hybrid_label(new))
                self.query_one(QueryBar).set_mode(QueryMode.SEARCH)

        self.app.push_screen(HybridScreen(info, plan), chosen)

    def _hybrid(self, info: CollectionInfo, text: str, o: Any, parts: list[str] | None) -> None:
        """The collection's hybrid plan (H), or by default text on every field it can search (dense
        embedding, BM25) fused with RRF; each hit shows its rank in each part."""
        plan = self.hybrid_plans.get(info.name) or default_plan(info, max(o.k, 20))
        bar = self.query_one(QueryBar)
        dense_text = any(p.source == "text" and info.get_field(p.field).is_dense_vector for p in plan.parts)
        if dense_text and self.session.embeddings is None:
            bar.show_error("The embedding model is still loading; try again in a moment.")
            return
        if plan.needs_text and not text.strip():
            bar.show_error("Type the query text: parts of this hybrid search search with it.")
            return
        key = None
        if plan.needs_row:
            row = self.query_one(ResultsPane).current_row()
            if row is None:
                bar.show_error("Select a row in the results first: parts of this hybrid search start from it.")
                return
            key = row[info.primary.name]
        queries = [SearchQuery(p.source, text if p.source == "text" else [key], anns_field=p.field, k=p.k,
                               expr=exprs.conjoin(self.current_filter, p.expr),
                               params=search_ops.parse_params(p.params), label=p.field)
                   for p in plan.parts]
        what = repr(text) if plan.needs_text else f"entities like {key!r}"
        self.query_one(ResultsPane).set_loading(f"hybrid search for {what}…")
        self.query_one(ResultsPane).run(lambda: self.session.hybrid_search(
            info, queries, fusion=plan.fusion, k=o.k, output_fields=o.output_fields,
            consistency_level=o.consistency_level, partition_names=parts))

    def _by_keys(self, info: CollectionInfo, text: str, o: Any, parts: list[str] | None) -> None:
        """Attu's "search by entity id": the stored vectors of the pasted keys (left out of the hits)."""
        try:
            keys = search_ops.parse_keys(text, info)
        except MilvusTuiError as exc:
            self.query_one(QueryBar).show_error(str(exc))
            return
        chosen = o.anns_field if o.anns_field != HYBRID else None  # hybrid is for text
        anns = chosen or self._anns_field(info, lambda: self._by_keys(info, text, o, parts), "key")
        if anns is None:
            return
        query = SearchQuery("key", keys, anns_field=anns, k=o.k, expr=self.current_filter)
        shape = SearchShape(o.radius, o.range_filter, o.group_by, o.group_size)
        self.query_one(ResultsPane).set_loading(f"searching with the vectors of {len(keys)} key(s)…")
        self.query_one(ResultsPane).run(lambda: self.session.vector_search(
            info, query, shape=shape, output_fields=o.output_fields, consistency_level=o.consistency_level,
            partition_names=parts))

    def _anns_field(self, info: CollectionInfo, retry: Callable[[], None], source: str = "text") -> str | None:
        """The field to search: the one that fits (text: the dense field or a BM25 output; a stored
        entity: its vector field), the one chosen before, or the user picks."""
        try:
            chosen_before = self.anns_fields.get(info.name)
            return search_ops.pick_field(info, SearchQuery(source, None, anns_field=chosen_before)).name
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
                 consistency: str | None, parts: list[str] | None, shape: SearchShape | None = None) -> None:
        row = self.query_one(ResultsPane).current_row()
        if row is None:
            self.query_one(QueryBar).show_error("Select a row in the results first.")
            return
        key = row[info.primary.name]
        where = expr.strip() or self.current_filter
        self.query_one(ResultsPane).set_loading(f"finding entities like {key!r}…")
        if not info.get_field(anns).is_dense_vector or (shape and shape != SearchShape()):
            # A sparse (or byte) vector, or a range window or grouping: searched as stored, by key.
            query = SearchQuery("key", [key], anns_field=anns, k=k, expr=where)
            self.query_one(ResultsPane).run(lambda: self.session.vector_search(
                info, query, shape=shape or SearchShape(), output_fields=fields, consistency_level=consistency,
                partition_names=parts))
            return
        self.query_one(ResultsPane).run(lambda: self.session.more_like_this(
            info, key, k=k, expr=where, anns_field=anns, output_fields=fields, consistency_level=consistency,
            partition_names=parts,
        ))

    # -- errors and progress -----------------------------------------------------------

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        if not self._fresh(event):
            return
        self._record(event)
        results = self.query_one(ResultsPane)
        if results.result is not None and (self.info is None or results.result.collection == self.info.name):
            results.show_result(results.result)  # drop the loading line, keep the old rows
        elif event.kind is OpKind.LOAD and self.info is not None and event.failure is not msg.FailureKind.CANCELLED:
            results.clear(f"Could not load '{self.info.name}': {event.error}")
        if event.failure is msg.FailureKind.CANCELLED:
            return  # replaced by a newer worker of its group; esc is handled in action_cancel
        if event.kind is OpKind.CONNECT:
            self.query_one(StatusBar).connection = "not connected"
            self.query_one(CollectionsPane).mark_unconfirmed("not confirmed")
            results.show_message(f"Could not connect: {event.error}\nPress ctrl+r to try again.")
        if event.kind in (OpKind.SEARCH, OpKind.PAGE, OpKind.MORE_LIKE_THIS):
            self.query_one(QueryBar).show_error(event.error)
        self.notify(event.error, title=f"{event.kind.words} failed", severity="error", timeout=8)

    @on(msg.ProgressUpdate)
    def _progress(self, event: msg.ProgressUpdate) -> None:
        info = event.info
        if info.kind not in self.running:
            return  # a cancelled or replaced worker still reporting
        if info.total is None and info.done == 0:
            # A note rather than a count, e.g. an embedding retry with its back-off.
            self.running[info.kind] = info.label
            self._show_running()
            if "retry" in info.label:
                self.notify(info.label.capitalize(), title=str(info.kind), severity="warning", timeout=4)
            return
        bar = self.query_one("#op-progress", ProgressBar)
        bar.display = True
        bar.update(total=info.total, progress=info.done)
        self.running[info.kind] = f"{info.label} {info.done:,}" + (f"/{info.total:,}" if info.total else "")
        self._show_running()

    # -- actions -----------------------------------------------------------------------

    def action_mode(self, mode: str) -> None:
        self.query_one(QueryBar).set_mode(mode)

    def action_similar(self) -> None:
        if self.info is None:
            return
        anns = self._anns_field(self.info, self.action_similar, "key")
        if anns is None:
            return
        options = self.query_one(QueryBar).options()
        self._similar(self.info, anns, "", options.k, options.output_fields, options.consistency_level,
                      [options.partition] if options.partition else None)

    def action_page(self, where: str) -> None:
        pane = self.query_one(ResultsPane)
        results = pane.result
        if pane.pager is None or results is None or results.kind != "page":
            self.browse()
            return
        current = results.page or 0
        target = {"next": current + 1, "prev": max(0, current - 1), "first": 0, "last": -1}[where]
        if where == "next" and results.pages is not None and target >= results.pages:
            self.notify("This is the last page.")
            return
        pane.goto(target)

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
        self.query_one(CleanupFlow).preview(info, keys=keys)

    def action_delete_filter(self) -> None:
        info = self.info
        if info is None:
            return
        expr = self.current_filter
        if not expr:
            self.notify("Apply a filter first (f), then D deletes everything it matches.", severity="warning")
            return
        self.query_one(CleanupFlow).preview(info, expr=expr)

    def action_edit_filter(self) -> None:
        info = self.info
        if info is None:
            return
        expr = self.current_filter
        if not expr:
            self.notify("Apply a filter first (f), then E edits everything it matches.", severity="warning")
            return
        self.query_one(EditFlow).bulk(info, expr)

    @on(CleanupFlow.Changed)
    def _data_changed(self, event: CleanupFlow.Changed) -> None:
        results = self.query_one(ResultsPane)
        if event.deleted and results.result is not None and results.result.kind != "page" and not event.stopped:
            results.drop_keys(set(event.deleted))  # search hits are not re-run: drop what is gone
        elif event.deleted:
            results.marked.clear()
        if event.catalog:  # a dropped collection or partition is back
            self.refresh_catalog()
            return
        self._after_write(event.collection)

    def _after_write(self, collection: str) -> None:
        """Counts refresh at Strong consistency, and the current page reloads."""
        self.query_one(ResultsPane).stop_fill()
        self.run_op(lambda: self.session.describe(collection, exact=False, label="recounting"),
                    msg.CollectionDescribed, group=Group.CATALOG)

    @on(msg.DetailsReady)
    def _details_ready(self, event: msg.DetailsReady) -> None:
        if self._fresh(event):
            self._record(event)
            self.query_one(CollectionsPane).show_details(event.result)

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

    def action_undo(self) -> None:
        self.query_one(CleanupFlow).undo()

    # -- drops and backups -------------------------------------------------------------

    def action_drop(self) -> None:
        if self.info is None:
            self.notify("Open a collection first.", severity="warning")
            return
        self.query_one(DropFlow).ask(self.info)

    def action_backups(self) -> None:
        from .backups import BackupsScreen

        self.app.push_screen(BackupsScreen(self.runner, self.query_one(CleanupFlow).restore))

    @on(DropFlow.Dropped)
    def _dropped(self, event: DropFlow.Dropped) -> None:
        if event.operation == "drop_collection":
            if self.info is not None and self.info.name == event.collection:
                self.info = None
                self.query_one(ResultsPane).reset()
                self.query_one(ResultsPane).clear(f"'{event.collection}' was dropped. u undoes it; B lists every backup.")
            self.refresh_catalog()
            return
        self._after_write(event.collection)

    # -- duplicates and the quality scan (issue 14): the screens do the work -------------------

    def action_duplicates(self) -> None:
        from .duplicates import DuplicatesScreen

        self._open_finder(DuplicatesScreen)

    def action_quality(self) -> None:
        from .quality import QualityScreen

        self._open_finder(QualityScreen)

    def _open_finder(self, screen: Any) -> None:
        from .duplicates import finder_done

        info = self.info
        if info is None or not info.loaded:
            self.notify("Select a loaded collection first.", severity="warning")
            return
        self.app.push_screen(screen(self.runner, info, self.current_filter), lambda answer: finder_done(self, info, answer))

    def action_export(self) -> None:
        info = self.info
        if info is None or not info.loaded:
            self.notify("Select a loaded collection first.", severity="warning")
            return
        results = self.query_one(ResultsPane)
        default = str(Path.cwd() / f"{info.name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
        self.query_one(CleanupFlow).export(
            info, default, expr=self.current_filter, shown=results.result,
            output_fields=self.query_one(QueryBar).options().output_fields,
            total=results.pager.total if results.pager else None)

    def action_load(self) -> None:
        name = self.query_one(CollectionsPane).current or (self.info.name if self.info else None)
        if name:
            self._load(name)

    def _load(self, name: str) -> None:
        self.run_op(lambda: self.session.load(name, describe=True), msg.CollectionLoaded, group=Group.LOAD)

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
        self.run_op(lambda: self.session.release(name, describe=True), msg.CollectionDescribed, group=Group.LOAD)

    def action_refresh(self) -> None:
        self.query_one(ResultsPane).stop_fill()
        self.refresh_catalog()

    def action_toggle_mode(self) -> None:
        from textual.widgets import Select

        select = self.query_one("#exec-mode", Select)
        select.value = ExecMode.SYNC if self.exec_mode is ExecMode.ASYNC else ExecMode.ASYNC

    async def action_toggle_options(self) -> None:
        await self.query_one(QueryBar).toggle_options()

    def action_cancel(self) -> None:
        """Cancel running work and say so at once.

        A thread worker only stops at its next step (a sync call cannot be interrupted),
        so its group's token is dropped here: whatever it posts later is ignored.
        """
        writing = self.runner.writing
        if writing and not self.runner.stop_write:
            self.query_one(CleanupFlow).ask_to_stop(writing)
            return
        cancelled = self.runner.cancel()
        if not cancelled:
            self.query_one(QueryBar).show_error("")
            return
        self.query_one(ResultsPane).drop_pending()
        self._show_running()
        self.query_one("#op-progress", ProgressBar).display = False
        results = self.query_one(ResultsPane)
        if results.result is not None:
            results.show_result(results.result)
        self.notify(f"{', '.join(cancelled)} cancelled.", severity="warning")

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

    def action_vector_map(self) -> None:
        """The vector map: a search's hits as they are; a page: a sample of its filter (s switches)."""
        info = self.info
        if info is None or not info.loaded or not self.connected:
            self.notify("Select a loaded collection first.", severity="warning")
            return
        from .vector_map import MapScreen

        shown = self.query_one(ResultsPane).result
        shown = shown if shown is not None and shown.collection == info.name and shown.rows else None
        o = self.query_one(QueryBar).options()
        self.app.push_screen(MapScreen(
            self.runner, info, result=shown, expr=self.current_filter, partition=o.partition,
            sample=shown is None or shown.kind in ("page", "filter"),
            choices=self.map_choices.setdefault(info.name, {})), lambda point: self.map_point(info, point))

    def map_point(self, info: CollectionInfo, point: Any) -> None:
        """What an entity opened from a map (the explorer's or a finder's) asked for: e edits it,
        m finds entities like it by its stored vector."""
        o = self.query_one(QueryBar).options()
        if point is not None and point.action == "edit":
            self.query_one(EditFlow).entity(info, point.key)
        elif point is not None:
            query = SearchQuery("key", [point.key], anns_field=point.field, k=o.k, expr=self.current_filter)
            self.query_one(ResultsPane).set_loading(f"finding entities like {point.key!r}…")
            self.query_one(ResultsPane).run(lambda: self.session.vector_search(
                info, query, output_fields=o.output_fields, consistency_level=o.consistency_level,
                partition_names=[o.partition] if o.partition else None))

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
            elif action == "edit" and info.primary.name in row:
                self.query_one(EditFlow).entity(info, row[info.primary.name])

        from .entity import EntityScreen  # here: it imports rich.syntax and pygments (~15 ms at startup)

        self.app.push_screen(EntityScreen(info.name, row, {f.name: f.dtype for f in info.vector_fields}, score), closed)


def _freeze_long_lived_objects() -> None:
    """Move what is alive now (pymilvus, grpc, the embedding model: ~100k objects) out of
    the garbage collector's reach. Without this, each full collection scans them all and
    stalls the UI for 100-270 ms (measured in docs/BENCHMARKS.md, section 1); after it, 1-7 ms."""
    import gc

    gc.freeze()


def _not_loaded(info: CollectionInfo) -> str:
    if info.load_state == "PartiallyLoaded" and info.loaded_partitions is not None:
        released = [p for p in info.partitions if p not in info.loaded_partitions]
        return (f"Collection '{info.name}' is only partly loaded: partition(s) {', '.join(released)} are "
                "released, so a search would miss them.")
    return f"Collection '{info.name}' is not loaded (released)."
