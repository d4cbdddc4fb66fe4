"""What every modal here shares: a box centred over the dimmed explorer."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

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
