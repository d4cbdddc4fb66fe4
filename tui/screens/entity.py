"""The detail view of one entity: every field, JSON pretty-printed, vectors on demand."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Label, Static

from ..milvus.values import json_row, summarize_vector
from ..printable import json_text
from .dialog import Dialog


class EntityScreen(Dialog[str | None]):
    """Returns "similar" when the user asks for more like this, "edit" to edit it, else None."""

    DEFAULT_CSS = """
    EntityScreen {
        #entity-box {
            width: 90%;
            height: 85%;
            border: round $accent;
            padding: 0 1;
        }
    }
    """

    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Close"),
        Binding("v", "toggle_vectors", "Full vectors"),
        Binding("c", "copy", "Copy JSON"),
        Binding("m", "dismiss('similar')", "More like this"),
        Binding("e", "dismiss('edit')", "Edit"),
    ]

    def __init__(self, collection: str, row: dict[str, Any], vector_fields: dict[str, str | None] | set[str],
                 score: float | None = None) -> None:
        """``vector_fields``: vector field -> its Milvus type (byte vectors are read by type)."""
        super().__init__()
        self.collection = collection
        self.row = row
        self.vector_fields = dict(vector_fields) if isinstance(vector_fields, dict) else dict.fromkeys(vector_fields)
        self.score = score
        self.full_vectors = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="entity-box", classes="dialog-box") as box:
            box.border_title = f"Entity in {self.collection}"
            if self.score is not None:
                yield Label(f"score {self.score:.4f}", id="entity-score")
            yield Static(id="entity-json")
        yield Footer()

    def on_mount(self) -> None:
        self._render_json()

    def as_json(self, full: bool = True) -> str:
        # Byte vectors as numbers (bits for binary), the same form as --json and export.
        data = json_row(self.row, {k: t for k, t in self.vector_fields.items() if t})
        if not full:
            for name, dtype in self.vector_fields.items():
                if name in self.row and self.row[name] is not None:
                    data[name] = summarize_vector(self.row[name], width=8, dtype=dtype)
        # JSON escapes C0 controls; json_text escapes DEL and C1 too, so stored ESC/OSC
        # sequences show as \u001b… instead of acting on the terminal.
        return json_text(data, indent=2)

    def _render_json(self) -> None:
        text = self.as_json(full=self.full_vectors)
        self.query_one("#entity-json", Static).update(Syntax(text, "json", word_wrap=True, theme="ansi_dark"))

    def action_toggle_vectors(self) -> None:
        self.full_vectors = not self.full_vectors
        self._render_json()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.as_json(full=True))
        self.notify("Copied the entity as JSON to the clipboard.")
