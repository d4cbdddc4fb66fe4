"""The data-quality scan's screen: one row per finding, each linked to its entities.

It starts the scan when it opens (``Session.scan_quality``, ``tui/milvus/quality.py``), with
progress; ``ctrl+d`` scans again with duplicates (costs more). On a finding, enter (or ``b``)
shows its entities in the results table, ``v`` draws them on the vector map over a grey sample
of the collection (``V``: every finding, a colour each; entities whose vector cannot be drawn,
NaN or a zero vector on COSINE, are named), ``d`` deletes them through the normal delete
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
from ..milvus import vectormap as map_ops
from ..milvus.catalog import CollectionInfo
from ..printable import printable_text
from ..runner import Group, OpRunner
from .finder import FinderScreen

#: How a finding is named on the map's legend (with its field).
KIND_NAMES = {
    quality_ops.ZERO: "zero vector", quality_ops.NON_FINITE: "NaN/inf vector",
    quality_ops.NOT_UNIT: "not unit length", quality_ops.EMPTY_TEXT: "empty text",
    quality_ops.TOO_LONG: "over max length", quality_ops.NULL: "null", quality_ops.MISSING_KEY: "missing key",
    quality_ops.JSON_TYPE: "JSON type varies", quality_ops.DUP_VECTOR: "same vector",
    quality_ops.DUP_TEXT: "same text", quality_ops.DUP_KEY: "same primary key",
}
#: the grey sample of the collection the finding's entities are drawn over.
BACKGROUND = 1000


def finding_label(finding: quality_ops.Finding) -> str:
    return f"{KIND_NAMES.get(finding.check, finding.check.replace('_', ' '))} · {finding.field}"


class QualityScreen(FinderScreen):
    """Dismissed with ("browse", keys), ("delete", keys), ("point", [PointAction]) or None."""

    status_id = "quality-status"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("b", "browse", "Browse", show=False),
        Binding("d", "delete", "Delete", show=False),
        Binding("ctrl+d", "with_duplicates", "Scan with duplicates", show=False),
        Binding("v", "map(False)", "Map the finding", show=False),
        Binding("V", "map(True)", "Map every finding", show=False),
    ]
    DEFAULT_CSS = """
    QualityScreen .dialog-box { width: 95%; height: 90%; }
    QualityScreen #quality-table { height: 1fr; }
    """

    def __init__(self, runner: OpRunner, info: CollectionInfo, expr: str = "") -> None:
        super().__init__(runner, info, expr)
        self.report: quality_ops.QualityReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = f"Quality of {self.info.name}" + (f" where {self.expr}" if self.expr else "")
            yield Label("", id="quality-status")
            yield DataTable(id="quality-table", cursor_type="row", zebra_stripes=True)
            yield Label("", id="quality-keys")
            yield Label("enter/b browse the entities · v map them (V: every finding) · d delete them · "
                        "ctrl+d scan with duplicates · esc close", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("entities", "field", "finding")
        self.query_one(DataTable).focus()
        self.scan(False)

    def scan(self, duplicates: bool) -> None:
        info, session, expr = self.info, self.runner.session, self.expr
        self._status("scanning…")
        self.runner.run(lambda: session.scan_quality(info, expr=expr, duplicates=duplicates),
                        msg.QualityScanned, group=Group.FIND, node=self)

    def action_with_duplicates(self) -> None:
        self.scan(True)

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

    def action_map(self, every: bool) -> None:
        """The finding under the cursor (``every``: each finding, a colour each; an entity in
        several findings takes the first one's) over a grey sample of the scanned filter."""
        report = self.report
        selected = self._selected()
        findings = [f for f in report.findings if f.keys] if every and report is not None else \
            [selected] if selected is not None and selected.keys else []
        if not findings:
            self._status("Nothing to map: no finding with entities" + ("." if every else " under the cursor."))
            return
        keys: list[Any] = []
        labels: list[str] = []
        for f in findings:
            keys.extend(f.keys)
            labels.extend([finding_label(f)] * len(f.keys))
        keys, labels = map_ops.cap_labelled(keys, labels, map_ops.DEFAULT_SAMPLE)
        mappable = {f.name for f in map_ops.mappable_fields(self.info)}
        vector = next((f.field for f in findings if f.field in mappable), None)
        # An entity in several findings is one point (coloured by its first finding).
        counted = len(set().union(*(f.keys for f in findings))) + sum(f.count - len(f.keys) for f in findings)
        what = finding_label(findings[0]) if len(findings) == 1 else f"{len(findings)} findings"
        unique = len(set(keys))
        source = (f"{unique:,} of {counted:,} entities ({what})" if unique < counted
                  else f"{counted:,} entities ({what})")
        self.open_map(map_ops.LabelledKeys(tuple(keys), tuple(labels), "finding", source, background=BACKGROUND,
                                           vector_field=vector))
