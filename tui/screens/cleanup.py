"""The cleanup conversation: delete (preview, typed confirmation, backup, delete), undo, stopping
a confirmed write, and export, on the Session's safety chain.

``CleanupFlow`` is not drawn. It runs the cleanup and export workers, so their messages come
here; it talks to the user (modals, notifications) and tells the screen what changed with
``CleanupFlow.Changed``, so counts and rows are refreshed there. The order that makes a delete
safe (preview at Strong with the keys captured, fsynced backup, delete of exactly those keys,
audit) lives in ``tui/milvus/cleanup.py``; this module only decides what to ask and say.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.message import Message
from textual.widget import Widget

from .. import messages as msg
from ..milvus import CollectionInfo, QueryResult
from ..runner import Group, OpRunner
from ..session import OpKind
from .choice import ChoiceScreen
from .delete import ConfirmDeleteScreen
from .export import ExportScreen


class CleanupFlow(Widget):
    DEFAULT_CSS = "CleanupFlow { display: none; }"

    class Changed(Message):
        """Entities of ``collection`` were deleted or put back: recount, refresh the rows."""

        def __init__(self, collection: str, deleted: frozenset[Any] = frozenset(), stopped: bool = False,
                     catalog: bool = False) -> None:
            super().__init__()
            self.collection = collection
            #: a collection or partition came back (a drop's restore): the catalog is read again.
            self.catalog = catalog
            #: the keys deleted (to drop from search hits on screen); empty for a restore.
            self.deleted = deleted
            self.stopped = stopped

    def __init__(self, runner: OpRunner, backup_dir: str) -> None:
        super().__init__()
        self.runner = runner
        self.backup_dir = backup_dir
        self._deleting: frozenset[Any] = frozenset()

    @property
    def session(self) -> Any:
        return self.runner.session

    def _run(self, make: Callable[[], Any], message: type[msg.Outcome], group: str = Group.CLEANUP) -> None:
        self.runner.run(make, message, group=group, node=self)

    def _accept(self, event: msg.Outcome) -> bool:
        """Record a fresh outcome (status line, running list); False for a replaced run's."""
        event.stop()
        if not self.runner.is_fresh(event):
            return False
        self.runner.record(event)
        return True

    # -- delete ------------------------------------------------------------------------

    def preview(self, info: CollectionInfo, *, keys: list[Any] | None = None, expr: str | None = None) -> None:
        """Count and capture what a delete would remove; the confirmation follows."""
        self._run(lambda: self.session.preview_delete(info, keys=keys, expr=expr), msg.DeletePreviewed)

    @on(msg.DeletePreviewed)
    def _previewed(self, event: msg.DeletePreviewed) -> None:
        if not self._accept(event):
            return
        preview = event.result
        if preview.count == 0:
            self.notify("Nothing matches, so nothing would be deleted.")
            return
        info = getattr(self.screen, "info", None)
        if info is None or info.name != preview.collection:
            return  # the user opened another collection meanwhile

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.notify("Delete cancelled; nothing was deleted.")
                return
            self._deleting = frozenset(preview.keys)
            self._run(lambda: self.session.delete(info, preview), msg.DeleteDone)

        self.app.push_screen(ConfirmDeleteScreen(preview, self.backup_dir), confirmed)

    @on(msg.DeleteDone)
    def _deleted(self, event: msg.DeleteDone) -> None:
        if not self._accept(event):
            return
        report = event.result
        stopped = report.status == "stopped"
        if not stopped:
            self.notify(f"Deleted {report.deleted:,} entities from '{report.collection}'. "
                        f"Backup: {report.backup_path}. Press u to undo.", timeout=10, markup=False)
        elif report.backup_path and report.deleted:
            self.notify("Press u to put back what was deleted (the backup holds every previewed entity).",
                        timeout=10, markup=False)
        for warning in report.warnings:
            self.notify(warning, severity="warning", timeout=10, markup=False)
        self.post_message(self.Changed(report.collection, self._deleting, stopped))

    # -- undo --------------------------------------------------------------------------

    def undo(self) -> None:
        # The session knows the last delete (a stopped one too) and restores it into its own
        # database, collection and partitions, with the same audit record as the CLI's restore.
        self._run(self.session.undo, msg.RestoreDone)

    def restore(self, path: Path) -> None:
        """Restore any backup (the backups screen): the session reads what it holds."""
        self._run(lambda: self.session.restore(path), msg.RestoreDone)

    @on(msg.RestoreDone)
    def _restored(self, event: msg.RestoreDone) -> None:
        if not self._accept(event):
            return
        report = event.result
        text = f"Restored {report.restored:,} entities into '{report.collection}'."
        if report.key_map:
            text += " This server gave them new primary keys; the old -> new map is in the audit log."
        if report.skipped:
            text += f" {report.skipped:,} were already there."
        for note in report.notes:
            text += f" {note}"
        self.notify(text, markup=False)
        # A dropped collection or partition is back: the catalog shows it again.
        self.post_message(self.Changed(report.collection, catalog=report.operation in ("drop_collection",
                                                                                     "drop_partition")))

    # -- stopping a confirmed write ----------------------------------------------------

    def ask_to_stop(self, writing: OpKind) -> None:
        """A confirmed write is stopped only on a second confirmation that says what is done."""
        done, total = self.runner.write_progress
        so_far = f"{done:,} of {total:,}" if total else f"{done:,}"
        if writing is OpKind.BACKED_DROP:
            question = (f"Stop? So far {so_far}. While the backup is written, stopping drops and deletes nothing; "
                        "a truncate stops after its delete batch under way, and u puts back what it deleted.")
        elif writing is OpKind.DELETE:
            question = (f"Stop the delete? So far {so_far} entities are deleted (or backed up, while the "
                        f"backup is written); every previewed entity is in the backup. Stopping leaves the rest.")
        elif writing is OpKind.EDIT:
            question = (f"Stop the edit? So far {so_far} entities are edited (or backed up, while the backup is "
                        "written); every previewed entity is in the backup, and u puts them back.")
        else:
            question = f"Stop the restore? So far {so_far} entities are back; running undo again is safe."

        def chosen(answer: str | None) -> None:
            if answer and answer.startswith("Stop"):
                self.runner.stop_write = True
                self.notify(f"Stopping the {writing} after the batch under way…", markup=False)

        self.app.push_screen(ChoiceScreen(question, [f"Keep going ({writing} runs to the end)",
                                                     "Stop after the batch under way"]), chosen)

    # -- export ------------------------------------------------------------------------

    def export(self, info: CollectionInfo, default: str, *, expr: str, shown: QueryResult | None,
               output_fields: list[str] | None, total: int | None) -> None:
        """Ask where and what (the rows on screen, or everything the filter matches), then write."""
        scope = expr or f"the whole collection '{info.name}'"

        def chosen(request: Any) -> None:
            if request is None:
                return
            session = self.session
            if not request.whole:
                rows = shown.rows if shown else []
                columns = shown.columns if shown else info.field_names
                self._run(lambda: session.write_rows(info, Path(request.path), rows, columns, request.fmt),
                          msg.ExportDone, Group.EXPORT)
                return
            self._run(lambda: session.export(info, Path(request.path), expr=expr, fmt=request.fmt,
                                             output_fields=output_fields, total=total),
                      msg.ExportDone, Group.EXPORT)

        self.app.push_screen(ExportScreen(default, scope), chosen)

    @on(msg.ExportDone)
    def _exported(self, event: msg.ExportDone) -> None:
        if self._accept(event):
            report = event.result
            self.notify(f"Exported {report.rows:,} entities to {report.path}.", timeout=8)
