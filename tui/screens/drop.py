"""Drop a collection, drop a partition, or empty a collection (truncate), backed up first.

``DropFlow`` is not drawn: it asks which drop (for the collection on screen), runs the preview
(the count, the backup's size estimate, the disk's free space, how undo will go), shows
``ConfirmDropScreen`` (the collection's name must be typed), then runs the backed-up drop and
tells the screen the catalog changed. The safety order lives in ``tui/milvus/drops.py``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from .. import messages as msg
from ..milvus import CollectionInfo
from ..milvus import drops
from ..runner import Group, OpRunner
from ..session import OpKind
from .choice import ChoiceScreen
from .delete import sample_line
from .dialog import ConfirmByName


class ConfirmDropScreen(ConfirmByName):
    """What the drop removes, the backup's size and where it goes; the name typed to confirm."""

    prefix = "drop"

    DEFAULT_CSS = """
    ConfirmDropScreen {
        #drop-box {
            border: round $error;
        }
        #drop-title {
            text-style: bold;
            color: $error;
            width: 1fr;
        }
        #drop-summary, #drop-backup, #drop-refusal, #drop-prompt {
            width: 1fr;
            margin-top: 1;
        }
        #drop-sample {
            color: $text-muted;
            margin-top: 1;
        }
        #drop-refusal {
            color: $error;
            text-style: bold;
        }
    }
    """
    def __init__(self, preview: drops.DropPreview, backup_dir: str) -> None:
        super().__init__()
        self.preview = preview
        self.backup_dir = backup_dir

    @property
    def collection(self) -> str:
        return self.preview.collection

    def refusal(self) -> str:
        return self.preview.refusal()

    def compose(self) -> ComposeResult:
        p = self.preview
        refusal = p.refusal()
        with Vertical(id="drop-box", classes="dialog-box") as box:
            box.border_title = drops.WORDS[p.operation].capitalize()
            where = f" (database '{p.db_name}')" if p.db_name != "default" else ""
            yield Label(Text(f"{p.what.capitalize()}{where}: {p.count:,} entities?"), id="drop-title")
            yield Label(Text(p.details()), id="drop-summary")
            sample = "\n".join(sample_line(r, 84) for r in p.sample[:4])
            if sample:
                yield Static(Text(sample), id="drop-sample")  # data, never markup
            yield Label(Text(f"Backup directory: {self.backup_dir}/"), id="drop-backup")
            if refusal:
                yield Label(Text(refusal), id="drop-refusal")
            else:
                yield Label(Text(f"Type the collection's name ({p.collection}) to confirm."), id="drop-prompt")
                yield Input(placeholder=p.collection, id="drop-typed")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="drop-cancel")
                yield Button(drops.WORDS[p.operation].capitalize(), variant="error", id="drop-confirm", disabled=True)


class DropFlow(Widget):
    DEFAULT_CSS = "DropFlow { display: none; }"

    class Dropped(Message):
        """A collection, a partition or a collection's entities are gone (or partly, if stopped)."""

        def __init__(self, collection: str, operation: str) -> None:
            super().__init__()
            self.collection = collection
            self.operation = operation

    def __init__(self, runner: OpRunner, backup_dir: str) -> None:
        super().__init__()
        self.runner = runner
        self.backup_dir = backup_dir

    @property
    def session(self) -> Any:
        return self.runner.session

    def ask(self, info: CollectionInfo) -> None:
        """Which drop, for the collection on screen."""
        choices = {f"Drop collection '{info.name}'": (drops.DROP_COLLECTION, None),
                   f"Empty collection '{info.name}' (truncate: delete every entity)": (drops.TRUNCATE, None)}
        if info.partition_key is None:
            for partition in info.partitions:
                if partition != "_default":
                    choices[f"Drop partition '{partition}'"] = (drops.DROP_PARTITION, partition)

        def chosen(answer: str | None) -> None:
            if answer in choices:
                operation, partition = choices[answer]
                self.preview(info, operation, partition)

        self.app.push_screen(ChoiceScreen("What to drop (backed up first; u undoes it)?", list(choices)), chosen)

    def preview(self, info: CollectionInfo, operation: str, partition: str | None = None) -> None:
        self.runner.run(lambda: self.session.preview_drop(info, operation=operation, partition=partition),
                        msg.DropPreviewed, group=Group.CLEANUP, node=self)

    def _accept(self, event: msg.Outcome) -> bool:
        event.stop()
        if not self.runner.is_fresh(event):
            return False
        self.runner.record(event)
        return True

    @on(msg.DropPreviewed)
    def _previewed(self, event: msg.DropPreviewed) -> None:
        if not self._accept(event):
            return
        preview = event.result

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.notify(f"Cancelled; nothing was dropped from '{preview.collection}'.")
                return
            self.runner.run(lambda: self.session.drop_backed_up(preview.collection, preview), msg.DropDone,
                            group=Group.CLEANUP, node=self)

        self.app.push_screen(ConfirmDropScreen(preview, self.backup_dir), confirmed)

    @on(msg.DropDone)
    def _dropped(self, event: msg.DropDone) -> None:
        if not self._accept(event):
            return
        report = event.result
        what = {drops.DROP_COLLECTION: f"Dropped '{report.collection}'",
                drops.DROP_PARTITION: f"Dropped partition '{report.partition}' of '{report.collection}'",
                drops.TRUNCATE: f"Emptied '{report.collection}'"}[report.operation]
        self.notify(f"{what} ({report.removed:,} entities). Backup: {report.backup_path}. Press u to undo, "
                    f"or B for every backup.", timeout=12, markup=False)
        for warning in report.warnings:
            self.notify(warning, severity="warning", timeout=10, markup=False)
        self.post_message(self.Dropped(report.collection, report.operation))

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        """Stopped while backing up: say that nothing was dropped (the screen records the run and
        stays quiet about cancellations, which are usually esc on a read)."""
        if event.kind is OpKind.BACKED_DROP and event.failure is msg.FailureKind.CANCELLED:
            self.notify(event.error, severity="warning", timeout=10, markup=False)

    @on(msg.DeleteDone)
    def _stopped(self, event: msg.DeleteDone) -> None:
        """A truncate stopped between its delete batches (the runner reports it like a delete)."""
        if not self._accept(event):
            return
        report = event.result
        for warning in report.warnings:
            self.notify(warning, severity="warning", timeout=12, markup=False)
        self.post_message(self.Dropped(report.collection, drops.TRUNCATE))
