"""The status bar (connection, embedding model, last operation's latency, what runs now)
and the footer of key bindings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
    }
    """

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


@dataclass(frozen=True)
class _Key:
    key: str
    display: str
    description: str
    enabled: bool
    palette: bool = False


class KeyFooter(Widget):
    """The footer: the screen's shown key bindings, on one line, as one widget.

    It looks and acts like Textual's ``Footer`` (a click runs the key under the pointer; the
    command palette key sits at the right), but ``Footer`` is a container of one
    ``FooterKey`` widget per binding (14 here, each with two component classes), all restyled
    on every theme switch (~1 ms a node) and recomposed on every focus change. This re-reads
    the bindings and repaints one line instead (docs/BENCHMARKS.md, section 6). Unlike
    ``Footer`` it does not scroll sideways when the keys overflow: they are cut at the palette key.
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover", "footer-key--border"}
    # Footer's and FooterKey's (non-compact) colours, so themes apply as they do there.
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        .footer-key--border {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keys: list[_Key] = []
        self._spans: list[tuple[int, int, _Key]] = []  # x range of each key on screen
        self._hover: _Key | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        app = self.app
        active = screen.active_bindings
        keys: list[_Key] = []
        seen: set[str] = set()
        for _, binding, enabled, _ in active.values():
            if binding.show and binding.action not in seen:  # one key per action, as Footer does
                seen.add(binding.action)
                keys.append(_Key(binding.key, app.get_key_display(binding), binding.description, enabled))
        if app.ENABLE_COMMAND_PALETTE and (palette := active.get(app.COMMAND_PALETTE_BINDING)) is not None:
            _, binding, enabled, _ = palette
            keys.append(_Key(binding.key, app.get_key_display(binding), binding.description, enabled, palette=True))
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    def _item(self, key: _Key, hover: Style | None) -> Text:
        key_style = self.get_component_rich_style("footer-key--key", partial=hover is not None)
        text_style = self.get_component_rich_style("footer-key--description", partial=hover is not None)
        base = hover or self.rich_style
        if key.palette:  # FooterKey's compact look, a left border and one cell of padding
            border = self.get_component_rich_style("footer-key--border")
            text = Text.assemble(("▏", Style(color=border.color)), (key.display, key_style),
                                 (f" {key.description}", text_style), " ")
        elif key.description:
            text = Text.assemble((f" {key.display} ", key_style), (f"{key.description} ", text_style))
        else:
            text = Text(key.display, style=key_style)
        text.stylize_before(base + Style(dim=True) if not key.enabled else base)
        return text

    def render(self) -> Text:
        width = self.size.width
        hover_style = self.get_component_rich_style("footer-key--hover")
        hover = Style(color=hover_style.color, bgcolor=hover_style.bgcolor)
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        palette = [k for k in self._keys if k.palette]
        right = self._item(palette[0], hover if palette[0] is self._hover else None) if palette else Text()
        room = max(0, width - right.cell_len)
        for key in self._keys:
            if key.palette or line.cell_len >= room:
                continue
            item = self._item(key, hover if key is self._hover else None)
            self._spans.append((line.cell_len, min(room, line.cell_len + item.cell_len), key))
            line.append_text(item)
        line.truncate(room)
        line.pad_right(room - line.cell_len)
        if palette:
            self._spans.append((room, width, palette[0]))
            line.append_text(right)
        return line

    def _key_at(self, x: int) -> _Key | None:
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self._key_at(event.x)
        if key is not self._hover:
            self._hover = key
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self._key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()
