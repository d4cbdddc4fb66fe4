"""Export dialog: what (the current results or the whole filter), where, and which format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from .dialog import Dialog


@dataclass(frozen=True)
class ExportRequest:
    path: Path
    fmt: str
    whole: bool  # True: stream the whole filter result; False: the rows on screen


class ExportScreen(Dialog[ExportRequest | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default_path: str, scope_label: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.scope_label = scope_label

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="dialog-box") as box:
            box.border_title = "Export"
            with RadioSet(id="export-scope"):
                yield RadioButton(f"Everything matching: {self.scope_label}", value=True, id="scope-whole")
                yield RadioButton("Only the rows on screen", id="scope-page")
            with RadioSet(id="export-format"):
                yield RadioButton("JSONL", value=True, id="fmt-jsonl")
                yield RadioButton("CSV", id="fmt-csv")
                yield RadioButton("Parquet", id="fmt-parquet")
            yield Label("File:")
            yield Input(self.default_path, id="export-path")
            with Horizontal(id="export-buttons", classes="dialog-buttons"):
                yield Button("Cancel", id="export-cancel")
                yield Button("Export", variant="primary", id="export-go")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format(self, event: RadioSet.Changed) -> None:
        path_input = self.query_one("#export-path", Input)
        fmt = (event.pressed.id or "fmt-jsonl").removeprefix("fmt-")
        path = Path(path_input.value)
        path_input.value = str(path.with_suffix("." + fmt))

    def _request(self) -> ExportRequest:
        fmt = next((f for f in ("csv", "parquet") if self.query_one(f"#fmt-{f}", RadioButton).value), "jsonl")
        whole = self.query_one("#scope-whole", RadioButton).value
        return ExportRequest(Path(self.query_one("#export-path", Input).value).expanduser(), fmt, whole)

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted, "#export-path")
    def _go(self) -> None:
        self.dismiss(self._request())

    @on(Button.Pressed, "#export-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
