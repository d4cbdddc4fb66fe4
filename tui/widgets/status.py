"""The status bar: connection, embedding model, last operation's latency, what runs now."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    connection: reactive[str] = reactive("connecting…")
    embeddings: reactive[str] = reactive("embeddings: loading…")
    last: reactive[str] = reactive("")
    running: reactive[str] = reactive("")
    mode: reactive[str] = reactive("async")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ● ", style="bold green" if "connecting" not in self.connection else "bold yellow")
        text.append(self.connection)
        text.append("  │  ", style="dim")
        text.append(self.embeddings)
        text.append("  │  ", style="dim")
        text.append(self.mode, style="bold cyan" if self.mode == "async" else "bold magenta")
        if self.last:
            text.append("  │  ", style="dim")
            text.append(self.last)
        if self.running:
            text.append("  │  ", style="dim")
            text.append(f"⟳ {self.running}", style="bold yellow")
        return text
