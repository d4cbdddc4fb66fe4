"""The results pane: a table of entities with paging, scores and row marks.

The pane owns its paging: the pager (a primary-key cursor, never offsets), the page and
query operations it runs through the screen's ``OpRunner``, and a background fill that
finds every page's start key, so far pages cost what page 1 does. While the next page
loads, the old rows stay and the title line says what is coming.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Label
from textual.worker import get_current_worker

from .. import messages as msg
from ..milvus import CollectionInfo, Pager, QueryResult
from ..milvus import queries as query_ops
from ..milvus.values import encode_row, summarize_vector
from ..printable import json_text, printable, printable_text
from ..runner import Group
from ..session import OpKind

if TYPE_CHECKING:
    from ..runner import OpRunner

PAGE_SIZE = 50
#: the least the background boundary fill waits between its key scans (it waits as long
#: as the last one took), so a page the user asks for is not queued behind a run of them.
FILL_PAUSE = 0.05

CELL_WIDTH = 48
#: Rows added to the table per frame. A page of up to this many appears in one frame; a
#: bigger result (a 1000-hit search) shows its first rows at once and the rest follow a
#: chunk per frame, so measuring every cell never stalls the UI for hundreds of ms.
CHUNK = 50


def cell(value: Any, *, is_vector: bool = False, dtype: str | None = None) -> Text:
    """A table cell. Always ``Text``: a plain ``str`` would be parsed as Rich markup, so data
    such as ``list[str]`` lost its brackets and ``a [/] b`` raised MarkupError in render.
    Control characters show as escapes (``tui.printable``): stored ESC sequences must not
    reach the terminal. ``dtype`` is a vector field's Milvus type (byte vectors need it)."""
    if value is None:
        return Text("∅", style="dim")
    if is_vector or isinstance(value, (bytes, bytearray)):
        return Text(summarize_vector(value, dtype=dtype), style="dim")
    if isinstance(value, (dict, list)):
        text = json_text(encode_row({"v": value})["v"])
    else:
        text = str(value)
    text = text.replace("\n", " ⏎ ")
    if len(printable(text)) > CELL_WIDTH:
        # Cut the escaped form, so an escape is never split into raw bytes.
        return Text(printable(text)[: CELL_WIDTH - 1] + "…")
    return printable_text(text)


class ResultsPane(Vertical):
    BORDER_TITLE = "Results"
    #: keys per background fill request, and its least pause between them (tests set both).
    fill_window = query_ops.MAX_WINDOW
    fill_pause = FILL_PAUSE
    DEFAULT_CSS = """
    ResultsPane {
        height: 1fr;
        border: round $accent 50%;
        &:focus-within {
            border: round $accent;
        }
        #results-title {
            width: 1fr;
            padding: 0 1;
        }
        #results-table {
            height: 1fr;
        }
        &.loading #results-table {
            opacity: 70%;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result: QueryResult | None = None
        self.marked: set[Any] = set()
        #: Printable keys held between "/" (or "f") and the focus reaching the query box.
        self._burst: list[str] | None = None
        self.pk_field: str = "id"
        #: vector field -> its Milvus type (a set of names is accepted too: types unknown).
        self.vector_fields: dict[str, str | None] = {}
        self._generation = 0  # bumped by every show_result: stale chunks stop adding rows
        #: runs the pane's page and query operations (the screen's, set by ``bind``).
        self.runner: OpRunner | None = None
        self.pager: Pager | None = None
        #: a pager whose first page has not arrived yet; it replaces ``pager`` when it does.
        self._pending_pager: Pager | None = None
        #: the pager whose boundaries a background fill is finding, and that fill's token.
        self._fill: tuple[Pager, object] | None = None

    def compose(self) -> ComposeResult:
        yield Label("Select a collection on the left.", id="results-title")
        table: DataTable[Any] = DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        yield table

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#results-table", DataTable)

    def set_schema(self, pk_field: str, vector_fields: dict[str, str | None] | set[str]) -> None:
        if pk_field != self.pk_field:
            self.marked.clear()
        self.pk_field = pk_field
        self.vector_fields = dict(vector_fields) if isinstance(vector_fields, dict) else dict.fromkeys(vector_fields)

    def set_loading(self, text: str) -> None:
        title = self.query_one("#results-title", Label)
        title.update(Text.assemble(("⟳ ", "bold yellow"), (printable(text), "yellow"), "   ", self._summary()))
        self.add_class("loading")

    def show_message(self, text: str) -> None:
        self.remove_class("loading")
        self.query_one("#results-title", Label).update(printable_text(text))  # may quote data

    def clear(self, text: str) -> None:
        """No rows, only ``text``: for a collection whose rows are not (or cannot be) shown."""
        self.result = None
        self.marked.clear()
        self._generation += 1  # rows still being added in chunks stop
        self.table.clear(columns=True)
        self.remove_class("loading")
        self.query_one("#results-title", Label).update(Text(text))  # server words: not markup

    def _summary(self) -> Text:
        r = self.result
        if r is None:
            return Text("")
        parts: list[tuple[str, str] | str] = []
        if r.kind == "page" and r.pages is not None:
            parts.append((f"page {r.page + 1 if r.page is not None else 1} of {r.pages:,}", "bold"))
            parts.append(f" · {r.total:,} entities" + (f" matching {printable(r.expr)}" if r.expr else ""))
        elif r.kind in ("search", "more_like_this"):
            label = "more like this" if r.kind == "more_like_this" else "search"
            parts.append((f"{label}: {len(r.rows)} hits", "bold"))
            if r.metric:
                parts.append(f" · {r.metric}")
            if r.expr:
                parts.append(f" · filter {printable(r.expr)}")
        else:
            parts.append((f"filter: {len(r.rows)} rows", "bold"))
            if r.expr:
                parts.append(f" · {printable(r.expr)}")
        parts.append((f" · {r.elapsed * 1000:.0f} ms {r.mode}", "dim"))
        if self.marked:
            parts.append((f" · {len(self.marked)} marked", "bold magenta"))
        return Text.assemble(*parts)

    def show_result(self, result: QueryResult) -> None:
        self.result = result
        self.remove_class("loading")
        title = self._summary()
        for warning in result.warnings:
            title.append(f"  ⚠ {printable(warning)}", style="yellow")
        self.query_one("#results-title", Label).update(title)
        table = self.table
        table.clear(columns=True)
        table.add_column("", key="_mark", width=1)
        if result.scores is not None:
            table.add_column("score", key="_score")
        # Vectors go last: their summaries matter least when the table is narrow.
        columns = [c for c in result.columns if c not in self.vector_fields]
        columns += [c for c in result.columns if c in self.vector_fields]
        for col in columns:
            # A Text, not a str (which DataTable parses as markup): dynamic keys are any text,
            # and a key like "[/INST]" raised MarkupError and took the app down.
            table.add_column(printable_text(col), key=col)
        self._generation += 1
        self._add_rows(result, columns, 0, self._generation)

    def _add_rows(self, result: QueryResult, columns: list[str], start: int, generation: int) -> None:
        if generation != self._generation:
            return  # a newer result replaced this one
        table = self.table
        end = min(start + CHUNK, len(result.rows))
        for i in range(start, end):
            row = result.rows[i]
            cells: list[Any] = [self._mark_cell(row)]
            if result.scores is not None:
                cells.append(Text(f"{result.scores[i]:.4f}", style="cyan"))
            cells.extend(cell(row.get(c), is_vector=c in self.vector_fields, dtype=self.vector_fields.get(c))
                         for c in columns)
            table.add_row(*cells, key=str(i))
        if end < len(result.rows):
            self.call_after_refresh(self._add_rows, result, columns, end, generation)

    @property
    def complete(self) -> bool:
        """Every row of the current result is in the table."""
        return self.result is None or self.table.row_count == len(self.result.rows)

    def _mark_cell(self, row: dict[str, Any]) -> Text:
        return Text("●", style="bold magenta") if row.get(self.pk_field) in self.marked else Text(" ")

    def current_row(self) -> dict[str, Any] | None:
        if self.result is None or not self.result.rows:
            return None
        index = self.table.cursor_row
        if 0 <= index < len(self.result.rows):
            return self.result.rows[index]
        return None

    def toggle_mark(self) -> None:
        row = self.current_row()
        if row is None:
            return
        key = row.get(self.pk_field)
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        index = self.table.cursor_row
        self.table.update_cell(str(index), "_mark", self._mark_cell(row))
        self.table.move_cursor(row=min(index + 1, self.table.row_count - 1))
        self.query_one("#results-title", Label).update(self._summary())

    def drop_keys(self, keys: set) -> None:
        """Remove deleted entities from the rows on screen (search results are not re-run)."""
        from dataclasses import replace

        self.marked -= keys
        r = self.result
        if r is None:
            return
        keep = [i for i, row in enumerate(r.rows) if row.get(self.pk_field) not in keys]
        scores = [r.scores[i] for i in keep] if r.scores is not None else None
        self.show_result(replace(r, rows=[r.rows[i] for i in keep], scores=scores))

    def clear_marks(self) -> None:
        self.marked.clear()
        if self.result is not None:
            self.show_result(self.result)

    # -- paging ----------------------------------------------------------------------------

    def bind(self, runner: OpRunner) -> None:
        self.runner = runner

    @property
    def current_filter(self) -> str:
        """The filter of the rows being paged through ("" for the whole collection)."""
        return self.pager.expr if self.pager is not None else ""

    #: Keys that move the focus to the query box (the screen's bindings "/" and "f").
    QUERY_KEYS = ("slash", "f")

    def on_key(self, event: events.Key) -> None:
        """Keys typed in one burst after "/" or "f" reach the table before the focus moves to
        the query box (Textual forwards each key to the widget focused when it was read, and
        the binding runs later): they are held here and typed into the query box once it has
        the focus, instead of being lost or taken as the table's shortcuts (e: export, d: delete)."""
        if event.key in self.QUERY_KEYS and self._burst is None:
            self._burst = []
            self.call_after_refresh(self._type_burst, 10)
        elif self._burst is not None and event.is_printable and event.character:
            self._burst.append(event.character)
            event.stop()
            event.prevent_default()

    def _type_burst(self, tries: int) -> None:
        focused = self.screen.focused
        if not isinstance(focused, Input) and tries > 0:
            self.call_after_refresh(self._type_burst, tries - 1)  # the binding has not run yet
            return
        burst, self._burst = self._burst or [], None
        if burst and isinstance(focused, Input):
            focused.insert_text_at_cursor("".join(burst))

    def reset(self) -> None:
        """Forget the pager (another collection or database is being opened)."""
        self.stop_fill()
        self.pager = self._pending_pager = None

    def drop_pending(self) -> None:
        """A cancelled page: the pager on screen stays the current one."""
        self._pending_pager = None

    def run(self, make: Any) -> None:
        """Run a query operation (page, search, more like this) whose rows this pane shows:
        one exclusive group, so a new query replaces one still running."""
        if self.runner is not None:
            self.runner.run(make, msg.ResultsReady, group=Group.QUERY, node=self)

    def browse(self, info: CollectionInfo, *, expr: str | None = None, page: int = 0, output_fields: list[str] | None = None,
               consistency_level: str | None = None, partition: str | None = None) -> None:
        """Page through ``info`` (or ``expr``, default the current filter) from scratch.

        The new pager replaces the current one only when its first page arrives, so a
        filter the server rejects leaves the previous filter, pager and rows in place.
        Raises ``MilvusTuiError``/``ValueError`` for options that cannot make a pager.
        """
        pager = Pager(info, expr=self.current_filter if expr is None else expr, page_size=PAGE_SIZE,
                      output_fields=output_fields, consistency_level=consistency_level,
                      partition_names=[partition] if partition else None)
        self._pending_pager = pager
        self.stop_fill()
        self.goto(page, pager)

    def goto(self, page: int, pager: Pager | None = None) -> None:
        pager = pager or self.pager
        if pager is None or self.runner is None:
            return
        if (page < 0 and not pager.exhausted) or page >= len(pager.boundaries):
            # This jump scans keys itself: the fill would only compete with it on the server.
            # It resumes from the boundaries the jump found once the page is on screen.
            self.stop_fill()
        session = self.runner.session
        self.set_loading(f"loading page {page + 1 if page >= 0 else 'last'}…")
        self.run(lambda: session.page(pager, page))

    @on(msg.ResultsReady)
    def _results_ready(self, event: msg.ResultsReady) -> None:
        if self.runner is not None and not self.runner.is_fresh(event):
            event.stop()  # a query that a newer one replaced
            return
        if event.result.kind == "page" and self._pending_pager is not None:
            self.pager, self._pending_pager = self._pending_pager, None
        if event.result.kind == "page":
            self.start_fill()
        self.show_result(event.result)
        # It bubbles on to the screen, which logs it and hands focus to the table.

    @on(msg.OperationFailed)
    def _query_failed(self, event: msg.OperationFailed) -> None:
        if event.kind is OpKind.PAGE and (self.runner is None or self.runner.is_fresh(event)):
            self._pending_pager = None  # the previous pager and its rows stay

    # -- background boundary fill --------------------------------------------------------
    #
    # Once a page is on screen, a thread worker finds the rest of the pager's page boundaries
    # (key scans only, its own copy of the cursor), and each result is merged into the pager
    # here on the UI thread, so later jumps (G, a page far ahead) cost one query. A new pager,
    # a write or a refresh stops it; results from a stopped fill, another pager or an older
    # count are dropped. Nothing is shown: the title's "page N of M" already has the count.

    def start_fill(self) -> None:
        pager = self.pager
        if pager is None or self.runner is None or (self._fill is not None and self._fill[0] is pager):
            return  # running, or already ran for this pager
        fill = query_ops.BoundaryFill(pager, window=self.fill_window)
        if fill.done:
            return
        token = object()
        self._fill = (pager, token)
        self._run_fill(fill, pager, token)

    def stop_fill(self) -> None:
        self._fill = None
        self.workers.cancel_group(self, "fill")

    @work(thread=True, exclusive=True, group="fill", exit_on_error=False)
    def _run_fill(self, fill: query_ops.BoundaryFill, pager: Pager, token: object) -> None:
        """Always the sync client in a thread: the keys are decoded off the UI's event loop."""
        assert self.runner is not None
        runner, session = self.runner, self.runner.session
        worker = get_current_worker()
        ctx = session.context(is_cancelled=lambda: worker.is_cancelled)
        while not fill.done and not worker.is_cancelled and self._fill is not None and self._fill[1] is token:
            if OpKind.PAGE in runner.running:
                time.sleep(self.fill_pause)  # the user's page first
                continue
            started = time.perf_counter()
            try:
                found = session.run(session.fill_step(fill), ctx)
            except Exception:  # noqa: BLE001 - quiet: a jump still finds its own boundaries
                return
            elapsed = time.perf_counter() - started
            self.post_message(msg.BoundariesFound(found, pager, token, elapsed))
            time.sleep(fill.rest(elapsed, self.fill_pause))

    @on(msg.BoundariesFound)
    def _boundaries_found(self, event: msg.BoundariesFound) -> None:
        event.stop()
        pager = self.pager
        if self._fill is None or self._fill[1] is not event.token or pager is not event.pager:
            return  # a stopped fill, or one for a pager that is no longer on screen
        found = event.result
        if found.total != pager.total or (found.pages is not None and found.pages != pager.pages):
            # The data changed since the count: its keys may be stale, and a fill from the same
            # count would end the same way, so this pager gets no other (its jumps scan).
            self.stop_fill()
            self._fill = (pager, object())
            return
        pager.merge(found)
