"""The backups screen (B): every backup and audit record on disk, for this server or all of them.

From here the user restores any backup (not only the last one: through ``Session.restore``,
which reads the backup's operation: a delete's or an edit's entities go back, a dropped
collection or partition is re-created), deletes old backups (confirmed), or opens one
read-only as a table (decoded rows, vectors summarised, stored text made safe). Files are read
and removed through the Session's operations, as workers; a restore runs on the explorer's
cleanup flow (its progress, its undo, its "stop?" question) and this screen closes for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from .. import messages as msg
from ..milvus.backups import BackupEntry, BackupList
from ..milvus.drops import human_bytes
from ..printable import printable_text
from ..runner import Group, OpRunner
from ..widgets.results import cell
from .choice import ChoiceScreen

BACKUP_COLUMNS = ("when", "what", "collection", "database", "filter / partition", "entities", "size", "file")
AUDIT_COLUMNS = ("when", "action", "status", "collection", "database", "entities", "filter / partition", "backup")


def _t(value: Any) -> Text:
    return printable_text(str(value if value is not None else ""))


class BackupsScreen(Screen[None]):
    DEFAULT_CSS = """
    BackupsScreen {
        #backups-title, #audit-title {
            padding: 0 1;
            text-style: bold;
            width: 1fr;
        }
        #backups-table {
            height: 1fr;
        }
        #audit-table {
            height: 1fr;
        }
    }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("a", "toggle_servers", "This/all servers"),
        Binding("enter,o", "open", "Open read-only"),
        Binding("r", "restore", "Restore"),
        Binding("d,delete", "delete", "Delete backup"),
        Binding("f5,ctrl+r", "reload", "Reload", show=False),
    ]

    def __init__(self, runner: OpRunner, restore: Any) -> None:
        super().__init__()
        self.runner = runner
        #: starts a restore on the explorer's cleanup flow (its progress and undo)
        self._restore = restore
        self.all_servers = False
        self.listing: BackupList | None = None

    @property
    def session(self) -> Any:
        return self.runner.session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Backups", id="backups-title")
            yield DataTable(id="backups-table", cursor_type="row", zebra_stripes=True)
            yield Label("Audit log", id="audit-title")
            yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#backups-table", DataTable).add_columns(*BACKUP_COLUMNS)
        self.query_one("#audit-table", DataTable).add_columns(*AUDIT_COLUMNS)
        self.query_one("#backups-table", DataTable).focus()
        self.action_reload()

    # -- listing -------------------------------------------------------------------------

    def action_reload(self) -> None:
        all_servers = self.all_servers
        self.runner.run(lambda: self.session.backups(all_servers=all_servers), msg.BackupsListed,
                        group=Group.BACKUPS, node=self)

    def action_toggle_servers(self) -> None:
        self.all_servers = not self.all_servers
        self.action_reload()

    def _accept(self, event: msg.Outcome) -> bool:
        event.stop()
        if not self.runner.is_fresh(event):
            return False
        self.runner.record(event)
        return True

    @on(msg.BackupsListed)
    def _listed(self, event: msg.BackupsListed) -> None:
        if not self._accept(event):
            return
        listing = self.listing = event.result
        where = "every server" if listing.server is None else f"this server ({listing.server})"
        self.query_one("#backups-title", Label).update(Text(
            f"Backups in {listing.backup_dir}: {len(listing.backups)} for {where} · a: "
            f"{'this server only' if listing.server is None else 'all servers'}"))
        self.query_one("#audit-title", Label).update(Text(
            f"Audit log {listing.audit_path}: {len(listing.audit)} records"))
        table = self.query_one("#backups-table", DataTable)
        row = table.cursor_row
        table.clear()
        for b in listing.backups:
            state = "" if b.whole else " (cut short)"
            table.add_row(_t(b.created), _t(b.operation), _t(b.collection), _t(b.db_name), _t(b.description),
                          _t(f"{b.count:,}" if b.count is not None else "?"), _t(human_bytes(b.size)),
                          _t(b.name + (f" ({b.problem})" if b.problem else state)), key=b.path)
        if listing.backups:
            table.move_cursor(row=min(row, len(listing.backups) - 1))
        audit = self.query_one("#audit-table", DataTable)
        audit.clear()
        for a in listing.audit:
            audit.add_row(_t(a.time), _t(a.action), _t(a.status), _t(a.collection), _t(a.db_name),
                          _t(f"{a.count:,}" if a.count is not None else ""), _t(a.description),
                          _t(Path(a.backup).name if a.backup else ""))

    def selected(self) -> BackupEntry | None:
        if self.listing is None or not self.listing.backups:
            return None
        row = self.query_one("#backups-table", DataTable).cursor_row
        return self.listing.backups[row] if 0 <= row < len(self.listing.backups) else None

    def _need(self) -> BackupEntry | None:
        entry = self.selected()
        if entry is None:
            self.notify("No backup is selected (the list is empty).", severity="warning")
        return entry

    # -- actions on one backup -------------------------------------------------------------

    def action_open(self) -> None:
        entry = self._need()
        if entry is not None:
            self.runner.run(lambda: self.session.read_backup(Path(entry.path)), msg.BackupRead, group=Group.BACKUPS,
                            node=self)

    @on(msg.BackupRead)
    def _read(self, event: msg.BackupRead) -> None:
        if self._accept(event):
            header, rows = event.result
            self.app.push_screen(BackupViewScreen(header, rows))

    def action_restore(self) -> None:
        entry = self._need()
        if entry is None or entry.problem:
            if entry is not None:
                self.notify(entry.problem or "", severity="error", markup=False)
            return
        count = f"{entry.count:,}" if entry.count is not None else "its"
        where = f"'{entry.collection}' (database '{entry.db_name}')"
        if entry.operation == "drop_collection":
            what = f"Re-create {where} from this backup and put its {count} entities back?"
        else:
            what = (f"Put the {count} entities of this {entry.operation} backup back into {where}? Entities with the "
                    "same primary keys get the backed-up values.")
        go = "Restore"

        def chosen(answer: str | None) -> None:
            if answer == go:
                self._restore(Path(entry.path))
                self.dismiss()

        self.app.push_screen(ChoiceScreen(what, [go, "Cancel"]), chosen)

    def action_delete(self) -> None:
        entry = self._need()
        if entry is None:
            return
        count = f"{entry.count:,} entities" if entry.count is not None else "its entities"
        question = (f"Delete the backup {entry.name} ({entry.operation} of '{entry.collection}', {count}, "
                    f"{human_bytes(entry.size)})? It cannot be restored afterwards.")
        go = "Delete the backup file"

        def chosen(answer: str | None) -> None:
            if answer == go:
                self.runner.run(lambda: self.session.delete_backup(Path(entry.path)), msg.BackupDeleted,
                                group=Group.BACKUPS, node=self)

        self.app.push_screen(ChoiceScreen(question, ["Keep it", go]), chosen)

    @on(msg.BackupDeleted)
    def _deleted(self, event: msg.BackupDeleted) -> None:
        if self._accept(event):
            self.notify(f"Backup deleted ({human_bytes(event.result)} freed).")
            self.action_reload()

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        if event.failure is not msg.FailureKind.CANCELLED:
            self.notify(event.error, title=f"{event.kind.words} failed", severity="error", timeout=8, markup=False)

    def action_close(self) -> None:
        self.dismiss()


class BackupViewScreen(Screen[None]):
    """One backup's entities as a read-only table (the first ones, when it is large)."""

    DEFAULT_CSS = """
    BackupViewScreen {
        #view-title { padding: 0 1; width: 1fr; text-style: bold; }
        #view-table { height: 1fr; }
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, header: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.header = header
        self.rows = rows

    def compose(self) -> ComposeResult:
        h = self.header
        what = str(h.get("operation") or "delete")
        held = h.get("count")
        shown = f"the first {len(self.rows):,}" if isinstance(held, int) and held > len(self.rows) else "all"
        yield Label(Text(f"Read-only: {what} backup of '{h.get('collection')}' (database '{h.get('db_name') or 'default'}'"
                         f", {h.get('created') or ''}): {shown} of {held if held is not None else '?'} entities."),
                    id="view-title")
        yield DataTable(id="view-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        fields = ((self.header.get("definition") or {}).get("schema") or {}).get("fields") or []
        types = {f.get("name"): f.get("type") for f in fields}
        vectors = set(self.header.get("vectors") or {}) | {n for n, t in types.items() if "VECTOR" in str(t)}
        columns: list[str] = []
        for row in self.rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        if "$partition" in columns:  # last: it is where the entity lived, not one of its fields
            columns.remove("$partition")
            columns.append("$partition")
        table = self.query_one(DataTable)
        table.add_columns(*[printable_text(c) for c in columns])
        for row in self.rows:
            table.add_row(*[cell(row.get(c), is_vector=c in vectors, dtype=types.get(c)) for c in columns])
        table.focus()
