"""The query bar: search, filter and more-like-this, with options and history.

Filter mode completes field names as you type (accept with →); up/down recall this
connection's history for the current mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select

from ..history import History
from ..printable import printable_text

class QueryMode(StrEnum):
    """What the query input does with its text."""

    SEARCH = "search"
    FILTER = "filter"
    SIMILAR = "similar"
    KEY = "key"


MODES = [("Search", QueryMode.SEARCH), ("Filter", QueryMode.FILTER), ("More like this", QueryMode.SIMILAR),
         ("By key", QueryMode.KEY)]
PLACEHOLDERS = {
    "search": "Search by meaning, e.g. how do I read a file line by line   (enter to run)",
    "filter": 'Filter expression, e.g. category == "function" and n_args > 2   (→ completes fields)',
    "similar": "Optional filter for entities like the selected row, then enter",
    "key": 'Primary keys, e.g. 42, 43 or ["a", "b"]: search with their stored vectors',
}
CONSISTENCY = [("default consistency", ""), ("Strong", "Strong"), ("Bounded", "Bounded"),
               ("Session", "Session"), ("Eventually", "Eventually")]
_LAST_WORD = re.compile(r"([A-Za-z_$][A-Za-z0-9_]*)$")


class FieldSuggester(Suggester):
    """Completes the identifier being typed with one of the collection's field names."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.fields: list[str] = []

    async def get_suggestion(self, value: str) -> str | None:
        match = _LAST_WORD.search(value)
        if not match or value.count('"') % 2:  # inside a string literal: no completion
            return None
        word = match.group(1)
        for name in self.fields:
            if name.startswith(word) and name != word:
                return value + name[len(word):]
        return None


@dataclass(frozen=True)
class QueryOptions:
    k: int
    output_fields: list[str] | None
    consistency_level: str | None
    partition: str | None
    mmr: tuple[int, float] | None
    #: the vector field to search ("" or None: the one that fits), or ``HYBRID``.
    anns_field: str | None = None
    #: a range window in the metric's own terms, and grouping by a scalar field.
    radius: float | None = None
    range_filter: float | None = None
    group_by: str | None = None
    group_size: int | None = None
    strict_group_size: bool = False


#: The search-field choice that fuses every field text can search (dense embedding + BM25).
HYBRID = "*hybrid*"


class HistoryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
    ]

    def action_history(self, direction: int) -> None:
        bar = self.query_ancestor(QueryBar)
        bar.recall(direction)


class QueryBar(Widget):
    """Posts ``QueryBar.Submitted`` when the user presses enter."""

    # One-line controls: the query bar must leave the results most of the screen. Their
    # borders are off in every state: `!important`, as in Textual's own compact style, so
    # that Input:focus, Input.-invalid and Select:focus > SelectCurrent do not bring them back.
    DEFAULT_CSS = """
    QueryBar {
        height: auto;
        border: round $secondary 50%;
        &:focus-within {
            border: round $secondary;
        }
        #query-row, #options-row, #search-options {
            height: 1;
            margin-bottom: 0;
        }
        #options-row {
            margin-top: 1;
        }
        Input {
            border: none !important;
            height: 1;
            padding: 0 1;
            margin-right: 1;
            background: $boost;
        }
        Input:focus {
            background: $primary 20%;
        }
        Select {
            height: 1;
            margin-right: 1;
        }
        SelectCurrent {
            border: none !important;
            height: 1;
            padding: 0 1;
            background: $boost;
        }
        Select:focus > SelectCurrent {
            background: $primary 20%;
        }
        Select > SelectOverlay {
            width: 30;
        }
        #query-anns > SelectOverlay {
            width: 50;  /* "hybrid (RRF) of vector, text_sparse" on one line */
        }
        Checkbox {
            border: none !important;
            height: 1;
            padding: 0;
            margin-right: 1;
            background: $boost;
        }
        #query-mode {
            width: 20;
        }
        #query-input {
            width: 1fr;
        }
        #query-k {
            width: 8;
        }
        #exec-mode {
            width: 18;
        }
        #query-fields {
            width: 1fr;
        }
        #query-consistency, #query-partition {
            width: 24;
        }
        #query-fetch-k, #query-lambda, #query-group-size {
            width: 8;
        }
        #query-anns {
            width: 1fr;
        }
        #query-radius, #query-range-filter {
            width: 14;
        }
        #query-group-by {
            width: 24;
        }
        #query-mmr {
            width: auto;
        }
        #query-error {
            display: none;
            color: $error;
            padding: 0 1;
        }
    }
    """

    class Submitted(Message):
        def __init__(self, mode: str, text: str, options: QueryOptions) -> None:
            super().__init__()
            self.mode = QueryMode(mode)
            self.text = text
            self.options = options

    class ExecModeChanged(Message):
        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = mode

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.suggester = FieldSuggester()
        self.history: History | None = None
        self._partitions: list[str] = []
        #: (label, field) for each vector field a search can run on.
        self._vector_choices: list[tuple[str, str]] = []
        #: the fields text can search (a hybrid search fuses them).
        self._text_fields: list[str] = []
        #: The label of the collection's hybrid plan (H), when the user made one.
        self._hybrid_label: str | None = None
        #: scalar fields a search can group by.
        self._group_fields: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-row"):
            yield Select(MODES, value="search", allow_blank=False, id="query-mode")
            yield HistoryInput(placeholder=PLACEHOLDERS["search"], id="query-input", suggester=self.suggester)
            yield Input("10", id="query-k", type="integer", tooltip="k: how many search results")
            yield Select([("async", "async"), ("sync (thread)", "sync")], value="async", allow_blank=False,
                         id="exec-mode", tooltip="Run Milvus calls with the async client, or the sync client in a thread")
        # The options row is composed on first use (``toggle_options``): its 17 widgets would
        # otherwise be restyled on every theme switch while hidden (docs/BENCHMARKS.md, section 6).
        yield Label("", id="query-error")

    def _options_row(self) -> Horizontal | None:
        try:
            return self.query_one("#options-row", Horizontal)
        except NoMatches:
            return None

    async def toggle_options(self) -> None:
        """Show or hide the options row, composing it the first time (awaited, so that
        ``options()`` and ``set_fields`` find all of it once this returns)."""
        row = self._options_row()
        if row is not None:
            row.display = not row.display
            self.query_one("#search-options", Horizontal).display = row.display
            return
        await self.mount(Horizontal(
            Input(placeholder="output fields (comma-separated; default all)", id="query-fields"),
            Select(CONSISTENCY, value="", allow_blank=False, id="query-consistency"),
            Select(self._partition_options(), value="", allow_blank=False, id="query-partition"),
            Checkbox("MMR", id="query-mmr", tooltip="Max-marginal-relevance: diverse results"),
            Input("40", id="query-fetch-k", type="integer", tooltip="MMR fetch_k"),
            Input("0.5", id="query-lambda", type="number", tooltip="MMR lambda (0 diverse … 1 relevant)"),
            id="options-row",
        ), Horizontal(
            Select(self._field_options(), value="", allow_blank=False, id="query-anns",
                   tooltip="The vector field to search: dense (embedded text), BM25 (full text), sparse; or hybrid"),
            Input(placeholder="radius", id="query-radius", type="number",
                  tooltip="Range search: only hits within this radius (COSINE/IP: score > radius; L2: distance < radius)"),
            Input(placeholder="range filter", id="query-range-filter", type="number",
                  tooltip="Range search: the window's other end (COSINE/IP: score <= it; L2: distance >= it)"),
            Select(self._group_options(), value="", allow_blank=False, id="query-group-by",
                   tooltip="Group hits by this field: one group per value"),
            Input("1", id="query-group-size", type="integer", tooltip="Hits per group"),
            id="search-options",
        ), before="#query-error")

    @property
    def options_shown(self) -> bool:
        row = self._options_row()
        return row is not None and row.display

    def _partition_options(self) -> list[tuple[str, str]]:
        return [("all partitions", ""), *[(p, p) for p in self._partitions]]

    def _group_options(self) -> list[tuple[str, str]]:
        return [("no grouping", ""), *[(f"group by {f}", f) for f in self._group_fields]]

    def _field_options(self) -> list[tuple[str, str]]:
        texts = self._text_fields
        hybrid = ([(self._hybrid_label, HYBRID)] if self._hybrid_label
                  else [("hybrid (RRF) of " + ", ".join(texts), HYBRID)] if len(texts) > 1 else [])
        return [("field: auto", ""), *self._vector_choices, *hybrid]

    async def set_hybrid(self, label: str, *, select: bool = True) -> None:
        """The collection has a hybrid plan (H): the field choice offers it under ``label``; with
        ``select``, it is chosen (the options rows are shown, so the user sees it)."""
        self._hybrid_label = label
        if self._options_row() is None:
            if not select:
                return  # composed later with this label
            await self.toggle_options()
        elif select and not self.options_shown:
            await self.toggle_options()
        anns = self.query_one("#query-anns", Select)
        current = anns.value
        anns.set_options(self._field_options())
        anns.value = HYBRID if select else current

    @property
    def mode(self) -> str:
        return str(self.query_one("#query-mode", Select).value)

    @property
    def input(self) -> Input:
        return self.query_one("#query-input", Input)

    def set_mode(self, mode: str) -> None:
        self.query_one("#query-mode", Select).value = mode
        # Now, not after the keys already queued (``focus()`` waits its turn): a fast typist's
        # "/ed" would otherwise send "e" and "d" to the table's shortcuts (export, delete).
        self.screen.set_focus(self.input)

    def set_fields(self, fields: list[str], partitions: list[str],
                   vectors: list[tuple[str, str]] | None = None, text_fields: list[str] | None = None,
                   text_match: bool = False,
                   group_fields: list[str] | None = None) -> None:
        """A collection's fields (for completion), partitions and vector fields (label, name);
        ``text_match``: a field has text match enabled, so TEXT_MATCH and PHRASE_MATCH complete too."""
        self.suggester.fields = sorted(fields, key=str.lower) + (["TEXT_MATCH", "PHRASE_MATCH"] if text_match else [])
        self._partitions = list(partitions)
        self._vector_choices = list(vectors or [])
        self._text_fields = list(text_fields or [])
        self._hybrid_label = None
        self._group_fields = list(group_fields or [])
        if self._options_row() is not None:
            select = self.query_one("#query-partition", Select)
            select.set_options(self._partition_options())
            select.value = ""
            anns = self.query_one("#query-anns", Select)
            anns.set_options(self._field_options())
            anns.value = ""
            group = self.query_one("#query-group-by", Select)
            group.set_options(self._group_options())
            group.value = ""

    def show_error(self, message: str) -> None:
        label = self.query_one("#query-error", Label)
        label.update(printable_text(message))  # it quotes the user's filter and the server: never markup
        label.display = bool(message)

    @on(Select.Changed, "#query-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        self.input.placeholder = PLACEHOLDERS.get(str(event.value), "")
        self.input.suggester = self.suggester if event.value in ("filter", "similar") else None
        if self.history is not None:
            self.history.reset()
        self.show_error("")

    @on(Select.Changed, "#exec-mode")
    def _exec_changed(self, event: Select.Changed) -> None:
        self.post_message(self.ExecModeChanged(str(event.value)))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            options = self.options()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        text = self.input.value
        if self.history is not None:
            self.history.add(self.mode, text)
        self.post_message(self.Submitted(self.mode, text, options))

    def options(self) -> QueryOptions:
        """The options row's values; its defaults while it was never opened."""
        k = int(self._number("#query-k", int, "k"))
        if self._options_row() is None:
            return QueryOptions(k, None, None, None, None)
        fields_text = self.query_one("#query-fields", Input).value
        fields = [f.strip() for f in fields_text.split(",") if f.strip()] or None
        consistency = str(self.query_one("#query-consistency", Select).value) or None
        partition = str(self.query_one("#query-partition", Select).value) or None
        mmr = None
        if self.query_one("#query-mmr", Checkbox).value:
            mmr = (int(self._number("#query-fetch-k", int, "fetch_k")),
                   float(self._number("#query-lambda", float, "lambda")))
        anns = str(self.query_one("#query-anns", Select).value) or None
        radius = self._optional("#query-radius", float, "radius")
        range_filter = self._optional("#query-range-filter", float, "range filter")
        group_by = str(self.query_one("#query-group-by", Select).value) or None
        group_size = int(self._number("#query-group-size", int, "group size")) if group_by else None
        return QueryOptions(k, fields, consistency, partition, mmr, anns, radius, range_filter, group_by, group_size)

    def _optional(self, selector: str, cast: type, what: str) -> Any:
        """An optional number: None when the input is empty."""
        if not self.query_one(selector, Input).value.strip():
            return None
        return self._number(selector, cast, what)

    def _number(self, selector: str, cast: type, what: str) -> int | float:
        raw = self.query_one(selector, Input).value.strip()
        try:
            return cast(raw)
        except ValueError:
            raise ValueError(f"{what} must be a number, not {raw!r}.") from None

    def recall(self, direction: int) -> None:
        if self.history is None:
            return
        text = self.history.older(self.mode) if direction < 0 else self.history.newer(self.mode)
        if text is not None:
            self.input.value = text
            self.input.cursor_position = len(text)
