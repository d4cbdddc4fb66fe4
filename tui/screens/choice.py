"""Ask the user to choose one of several fields (e.g. which vector field to search)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList

from .dialog import Dialog


class ChoiceScreen(Dialog[str | None]):
    # A long question (a restore's, a stop's) wraps instead of being cut at the box's edge.
    DEFAULT_CSS = "ChoiceScreen #choice-box Label { width: 1fr; }"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, choices: list[str]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box", classes="dialog-box"):
            yield Label(self.question)
            yield OptionList(*self.choices, id="choice-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])
