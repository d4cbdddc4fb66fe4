"""What every modal here shares: a box centred over the dimmed explorer."""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Input

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A modal whose box (``classes="dialog-box"``) sits centred over the dimmed screen; its
    buttons row (``classes="dialog-buttons"``) is right-aligned. A modal's own rules (by id)
    change what differs: a delete's red border, the help's fixed height."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        background: $background 60%;
        .dialog-box {
            width: 90;
            height: auto;
            max-height: 90%;
            border: round $primary;
            background: $surface;
            padding: 1 2;
        }
        .dialog-buttons {
            height: auto;
            align-horizontal: right;
            margin-top: 1;
        }
        .dialog-buttons Button {
            margin-left: 2;
        }
    }
    """


class ConfirmByName(Dialog[bool]):
    """A confirmation of a write (delete, edit, drop): for big or irreversible work the user types
    the collection's name and only then may confirm. A subclass composes its text and the widgets
    ``#<prefix>-typed`` (an Input, when typing is needed), ``#<prefix>-confirm`` and
    ``#<prefix>-cancel``; this class wires them alike for every kind of write."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]
    #: The id prefix of the subclass's widgets.
    prefix = "confirm"
    #: Where the focus starts when no typing is needed: on "cancel" for a delete, "confirm" for an edit.
    focus_first = "cancel"

    @property
    def collection(self) -> str:
        raise NotImplementedError

    @property
    def needs_typing(self) -> bool:
        return True

    def refusal(self) -> str:
        """Why this write cannot go ahead at all ("" when it can): confirming is then impossible."""
        return ""

    def on_mount(self) -> None:
        if self.needs_typing and not self.refusal():
            self.query_one(f"#{self.prefix}-typed", Input).focus()
        else:
            self.query_one(f"#{self.prefix}-{self.focus_first if not self.refusal() else 'cancel'}", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == f"{self.prefix}-typed":
            self.query_one(f"#{self.prefix}-confirm", Button).disabled = event.value != self.collection

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == f"{self.prefix}-typed" and event.value == self.collection and not self.refusal():
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.prefix}-confirm" and not self.refusal():
            self.dismiss(True)
        elif event.button.id == f"{self.prefix}-cancel":
            self.dismiss(False)
