"""The data-quality scan's screen: one row per finding, each linked to its entities.

It starts the scan when it opens (``Session.scan_quality``, ``tui/milvus/quality.py``), with
progress; ``ctrl+d`` scans again with duplicates (costs more). On a finding, enter (or ``b``)
shows its entities in the results table, ``d`` deletes them through the normal delete
confirmation (preview by keys, backup, delete; ``u`` undoes). Esc stops a running scan, then closes.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from .. import messages as msg
from ..milvus import quality as quality_ops
from ..milvus.catalog import CollectionInfo
from ..printable import printable_text
from ..runner import Group, OpRunner
from .dialog import Dialog


class QualityScreen(Dialog[tuple[str, list[Any]] | None]):
    """Dismissed with ("browse", keys) or ("delete", keys), or None."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("b", "browse", "Browse", show=False),
        Binding("d", "delete", "Delete", show=False),
        Binding("ctrl+d", "with_duplicates", "Scan with duplicates", show=False),
    ]
    DEFAULT_CSS = """
    QualityScreen .dialog-box { width: 95%; height: 90%; }
    QualityScreen #quality-table { height: 1fr; }
    """

    def __init__(self, runner: OpRunner, info: CollectionInfo, expr: str = "") -> None:
        super().__init__()
        self.runner = runner
        self.info = info
        self.expr = expr
        self.report: quality_ops.QualityReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = f"Quality of {self.info.name}" + (f" where {self.expr}" if self.expr else "")
            yield Label("", id="quality-status")
            yield DataTable(id="quality-table", cursor_type="row", zebra_stripes=True)
            yield Label("", id="quality-keys")
            yield Label("enter/b browse the entities · d delete them · ctrl+d scan with duplicates · esc close",
                        markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("entities", "field", "finding")
        self.query_one(DataTable).focus()
        self.scan(False)

    def _status(self, text: str) -> None:
        self.query_one("#quality-status", Label).update(printable_text(text))

    def scan(self, duplicates: bool) -> None:
        info, session, expr = self.info, self.runner.session, self.expr
        self._status("scanning…")
        self.runner.run(lambda: session.scan_quality(info, expr=expr, duplicates=duplicates),
                        msg.QualityScanned, group=Group.FIND, node=self)

    def action_with_duplicates(self) -> None:
        self.scan(True)

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

    @on(msg.QualityScanned)
    def _scanned(self, event: msg.QualityScanned) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        report = self.report = event.result
        table = self.query_one(DataTable)
        table.clear()
        for f in report.findings:
            note = "" if f.matters else " (does not change search results)"
            table.add_row(f"{f.count:,}", printable_text(f.field), printable_text(f.detail + note))
        keys = ", ".join(f"{k} {n:,}/{report.scanned:,}" for k, n in report.dynamic_keys.items())
        warn = (" " + " ".join(report.warnings)) if report.warnings else ""
        self._status(f"Scanned {report.scanned:,} entities in {report.elapsed:.1f} s: {len(report.findings)} "
                     f"findings." + (f" Dynamic keys: {keys}." if keys else "") + warn)
        self._show_keys()

    @on(DataTable.RowHighlighted)
    def _show_keys(self) -> None:
        finding = self._selected()
        text = ""
        if finding is not None:
            shown = ", ".join(repr(k) if isinstance(k, str) else str(k) for k in finding.keys[:8])
            text = f"Entities: {shown}" + (" …" if finding.count > 8 else "")
        self.query_one("#quality-keys", Label).update(printable_text(text))

    def _selected(self) -> quality_ops.Finding | None:
        report = self.report
        table = self.query_one(DataTable)
        if report is None or not report.findings or not 0 <= table.cursor_row < len(report.findings):
            return None
        return report.findings[table.cursor_row]

    @on(DataTable.RowSelected)
    def action_browse(self) -> None:
        finding = self._selected()
        if finding is not None and finding.keys:
            self.dismiss(("browse", list(finding.keys)))

    def action_delete(self) -> None:
        finding = self._selected()
        if finding is None or not finding.keys:
            return
        if finding.check == quality_ops.MISSING_KEY or finding.check == quality_ops.DUP_KEY:
            self._status("Deleting these would delete whole entities (or every copy of a key); use the duplicate "
                         "finder (K) for duplicate keys, and browse to choose by hand.")
            return
        self.dismiss(("delete", list(finding.keys)))

    def action_close(self) -> None:
        running = [w for w in self.app.workers if w.node is self and w.is_running and w.group == Group.FIND]
        if running:
            for worker in running:
                worker.cancel()
            self._status("Stopped.")
            return
        self.dismiss(None)
