"""The results pane: a table of entities with paging, scores and row marks.

While the next page loads, the old rows stay and the title line says what is coming.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from ..milvus import QueryResult
from ..milvus.values import encode_row, summarize_vector
from ..printable import json_text, printable, printable_text

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
        self.pk_field: str = "id"
        #: vector field -> its Milvus type (a set of names is accepted too: types unknown).
        self.vector_fields: dict[str, str | None] = {}
        self._generation = 0  # bumped by every show_result: stale chunks stop adding rows

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
            table.add_column(col, key=col)
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
