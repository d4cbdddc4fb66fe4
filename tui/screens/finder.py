"""What the duplicate finder and the quality scan share: their progress and failure lines, how
they stop a running search on esc, and how they open the vector map of what they found (and
hand a "more like this" or "edit" asked for on one of its points back to the explorer)."""

from __future__ import annotations

from typing import Any

from textual import on

from .. import messages as msg
from ..milvus.catalog import CollectionInfo
from ..milvus.vectormap import LabelledKeys
from ..printable import printable_text
from ..runner import Group, OpRunner
from .dialog import Dialog


class FinderScreen(Dialog[tuple[str, list[Any]] | None]):
    """Dismissed with ("browse", keys), ("delete", keys), ("point", [PointAction]) or None.
    A subclass names its status line (``status_id``)."""

    status_id = ""

    def __init__(self, runner: OpRunner, info: CollectionInfo, expr: str = "") -> None:
        super().__init__()
        self.runner = runner
        self.info = info
        self.expr = expr

    def _status(self, text: str) -> None:
        self.query_one(f"#{self.status_id}").update(printable_text(text))  # type: ignore[attr-defined]

    @on(msg.ProgressUpdate)
    def _progress(self, event: msg.ProgressUpdate) -> None:
        event.stop()
        p = event.info
        self._status(f"{p.label}: {p.done:,}" + (f" of {p.total:,}" if p.total else ""))

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        event.stop()
        if self.runner.is_fresh(event):
            self.runner.record(event)
        self._status(event.error)

    def open_map(self, labelled: LabelledKeys) -> None:
        """The vector map of ``labelled``; esc there comes back here as it was."""
        from .vector_map import MapScreen

        def closed(point: Any) -> None:
            if point is not None:  # m or e on an entity opened from the map: the explorer does it
                self.dismiss(("point", [point]))

        self.app.push_screen(MapScreen(self.runner, self.info, labelled=labelled, expr=self.expr), closed)

    def action_close(self) -> None:
        running = [w for w in self.app.workers if w.node is self and w.is_running and w.group == Group.FIND]
        if running:
            for worker in running:
                worker.cancel()  # its OperationFailed (cancelled) comes back here and is recorded
            self._status("Stopped.")
            return
        self.dismiss(None)
