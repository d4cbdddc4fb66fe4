"""The help screen: what each key does, and the filter syntax in brief."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from .dialog import Dialog

KEYS = [
    ("/", "search by meaning (semantic search)"),
    ("f", "filter with a Milvus expression"),
    ("m", "more like this: search with the selected row's vector"),
    ("enter", "open the selected entity (in the table) / run the query (in the input)"),
    ("↑ ↓ in the input", "recall earlier queries for this connection"),
    ("→ in the input", "accept the suggested field name"),
    ("n / p", "next / previous page"),
    ("g / G", "first / last page"),
    ("space", "mark or unmark the selected row"),
    ("d", "delete marked rows (or the selected row)"),
    ("D", "delete everything matching the current filter"),
    ("X", "drop the collection or a partition, or empty it (backed up first; u undoes it)"),
    ("B", "backups and audit log: restore any backup, open one read-only, delete old ones"),
    ("E", "edit: set a field on everything the current filter matches"),
    ("e on an entity", "edit its scalar and JSON fields (a diff to confirm)"),
    ("u", "undo the last delete, edit, drop or truncate (restore its backup)"),
    ("K", "duplicates: near (threshold), exact (=field) or primary keys (pk); keep one, delete the others"),
    ("Q", "quality scan: zero/NaN/non-unit vectors, empty text, nulls, dynamic keys, JSON types"),
    ("e", "export the results or the whole filter to JSONL or CSV"),
    ("l / R", "load / release the selected collection"),
    ("r", "refresh collections and counts"),
    ("x", "switch between async and sync (thread) execution"),
    ("t", "timing panel: sync vs async vs batched, side by side (ctrl+g runs, f2 back)"),
    ("v", "vector map: the hits (or a sample of the filter) on a 2-D plot; enter opens a point"),
    ("o", "show or hide query options"),
    ("H", "hybrid search setup: parts, each k, filter, parameters; RRF or weights"),
    ("esc", "cancel what is running"),
    ("ctrl+r", "reconnect (restarts the embedded server if it died)"),
    ("ctrl+p", "command palette: collections, actions, themes"),
    ("?", "this help"),
    ("q", "quit"),
]

FILTERS = """Filter expressions (Milvus boolean expressions):
  category == "function" and n_args > 2
  module like "os.%"          name in ["io.open", "open"]
  meta["package"] == "json"   json_contains(meta["bases"], "Exception")
  modified >= "2023-01-01"    not (n_lines < 5)
Strings use double quotes; combine with and / or / not."""


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = """
    HelpScreen {
        #help-box {
            height: 85%;
        }
        #help-filters {
            margin-top: 1;
            color: $text-muted;
        }
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help-box", classes="dialog-box") as box:
            box.border_title = "milvus-tui help"
            yield Static(table)
            yield Static(FILTERS, id="help-filters")
