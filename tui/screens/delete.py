"""The delete confirmation: exact count, a sample, the backup path, typed confirmation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from ..milvus import DeletePreview
from ..milvus.values import encode_row
from ..printable import json_text, printable
from .dialog import ConfirmByName

TYPED_CONFIRM_ABOVE = 100


def sample_line(row: dict, width: int = 110) -> str:
    """One previewed entity on one line of at most ``width`` characters: long vectors left out,
    no raw control character (it reaches the terminal as an escape)."""
    data = {k: v for k, v in encode_row(row).items() if not (isinstance(v, list) and len(v) > 16)}
    text = json_text(data)
    return text if len(text) < width else text[:width - 1] + "…"


class ConfirmDeleteScreen(ConfirmByName):
    prefix = "delete"
    DEFAULT_CSS = """
    ConfirmDeleteScreen {
        #delete-box {
            border: round $error;
        }
        #delete-count {
            text-style: bold;
            color: $error;
        }
        .dim {
            color: $text-muted;
        }
        #delete-sample {
            color: $text-muted;
            margin: 1 0;
        }
        #delete-backup {
            width: 1fr;
            margin-bottom: 1;
        }
        #delete-undo {
            color: $warning;
            text-style: bold;
            margin-bottom: 1;
        }
        #delete-box Label {
            width: 1fr;
        }
    }
    """
    def __init__(self, preview: DeletePreview, backup_dir: str) -> None:
        super().__init__()
        self.preview = preview
        self.backup_dir = backup_dir

    @property
    def collection(self) -> str:
        return self.preview.collection

    @property
    def needs_typing(self) -> bool:
        return self.preview.count > TYPED_CONFIRM_ABOVE

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(id="delete-box", classes="dialog-box") as box:
            box.border_title = "Delete entities"
            what = f"matching  {printable(p.expr)}" if p.expr else "selected by you"
            yield Label(Text(f"Delete {p.count:,} entities from '{p.collection}' {what}?"), id="delete-count")
            yield Label("Sample (counted and captured at Strong consistency; only these keys will be deleted):",
                        classes="dim")
            # Fewer sample lines when the undo warning needs the room (the buttons must stay on screen).
            shown = 8 if p.undo.keeps_keys else 4
            sample = "\n".join(sample_line(r) for r in p.sample[:shown]) or "(none)"
            yield Static(Text(sample), id="delete-sample")  # data, never markup
            exact = " u undoes it, keys included." if p.undo.keeps_keys else ""
            yield Label(f"Backup (all fields, vectors, partitions) goes to {self.backup_dir}/ before anything "
                        f"is deleted.{exact}", id="delete-backup", markup=False)
            if not p.undo.keeps_keys:
                # Said before anything is deleted: on this server the undo cannot keep the keys.
                yield Label(p.undo.summary, id="delete-undo", markup=False)
            if self.needs_typing:
                yield Label(f"More than {TYPED_CONFIRM_ABOVE} entities: type the collection name to confirm.")
                yield Input(placeholder=p.collection, id="delete-typed")
            with Horizontal(id="delete-buttons", classes="dialog-buttons"):
                yield Button("Cancel", id="delete-cancel")
                yield Button(f"Delete {p.count:,}", variant="error", id="delete-confirm",
                             disabled=self.needs_typing)
