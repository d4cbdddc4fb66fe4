"""The Textual app: installs the explorer screen, palette commands and remembered theme."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.binding import Binding
from textual.screen import Screen

from .config import Settings, state_dir, write_private
from .executor import DaemonThreadPool
from .milvus import MilvusConnection
from .printable import printable
from .screens.main import MainScreen


def styles_path() -> Path:
    """styles/ ships inside the wheel as tui/styles; in a checkout it sits beside tui/."""
    here = Path(__file__).parent
    bundled = here / "styles" / "app.tcss"
    return bundled if bundled.exists() else here.parent / "styles" / "app.tcss"


class MilvusTuiApp(App[int]):
    TITLE = "milvus-tui"
    CSS_PATH = str(styles_path())
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, settings: Settings, connection: MilvusConnection | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.main = MainScreen(settings, connection)
        saved = self._ui_state().get("theme")
        if saved and saved in self.available_themes:
            self.theme = saved

    def on_mount(self) -> None:
        asyncio.get_running_loop().set_default_executor(DaemonThreadPool(max_workers=32))
        self.push_screen(self.main)

    def on_ready(self) -> None:
        # With pymilvus, grpc and langchain loaded, a full garbage collection pauses the
        # process for 100+ ms. Freezing what startup allocated keeps those pauses short.
        import gc

        gc.freeze()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification as plain text: messages quote filters, server errors and data, so
        ``[/]`` in them crashed the app as markup and ESC in them reached the terminal. None
        of ours uses markup, so ``markup`` is ignored."""
        super().notify(printable(message), title=printable(title), severity=severity, timeout=timeout, markup=False)

    def _ui_state(self) -> dict:
        try:
            return json.loads((state_dir() / "ui.json").read_text())
        except (OSError, ValueError):
            return {}

    def watch_theme(self, theme: str) -> None:
        state = self._ui_state()
        if state.get("theme") != theme:
            state["theme"] = theme
            try:
                write_private(state_dir() / "ui.json", json.dumps(state))
            except OSError:
                pass

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        for name in sorted(main.query_one("#collections").infos):  # type: ignore[attr-defined]
            yield SystemCommand(f"Open collection: {name}", "Browse this collection",
                                lambda name=name: main.post_message(_select(name)))
        actions = [
            ("Load collection", "Load the selected collection into memory", main.action_load),
            ("Release collection", "Release the selected collection", main.action_release),
            ("Refresh collections", "Re-read collections, counts and load state", main.action_refresh),
            ("Export results", "Export the results or the whole filter to JSONL/CSV", main.action_export),
            ("Undo last delete", "Restore the backup of the last delete", main.action_undo),
            ("Drop collection, partition or truncate…", "Backed up first; u undoes it (X)", main.action_drop),
            ("Backups and audit log", "List, restore, open or delete backups (B)", main.action_backups),
            ("Toggle sync/async", "Switch how Milvus calls run", main.action_toggle_mode),
            ("Timing panel", "Run operations sync, async and batched and compare", main.action_timing),
            ("Vector map", "Project the results or a sample of the filter onto a 2-D map", main.action_vector_map),
            ("Reconnect", "Reconnect (restart the embedded server if needed)", main.action_reconnect),
            ("Help", "Key bindings and filter syntax", main.action_help),
        ]
        for title, help_text, callback in actions:
            yield SystemCommand(title, help_text, callback)

    async def action_quit(self) -> None:
        timing = getattr(self, "timing", None)
        if timing is not None:  # its scratch collection is dropped before the server stops
            await timing.stop()
        for worker in self.workers:
            worker.cancel()
        self.exit(0)

    async def on_unmount(self) -> None:
        # Close the async client on its own loop, then stop the Lite child, however the app ends.
        await self.main.conn.aclose()
        self.main.conn.close()


def _select(name: str):  # noqa: ANN202
    from .widgets.collections import CollectionsPane

    return CollectionsPane.Selected(name)


def run_app(settings: Settings, connection: MilvusConnection | None = None) -> int:
    app = MilvusTuiApp(settings, connection)
    try:
        code = app.run()
    finally:
        app.main.conn.close()
    return code or 0
