"""The duplicate finder: groups of near or exact duplicates, a keep policy, "delete the others".

Keyboard-first: type the threshold (or ``=field`` for exact duplicates, ``pk`` for duplicate
primary keys) and press enter; the groups fill the table (group, keep mark, key, distance to the
group's first member, text). ``k`` focuses the keep policy (first, newest:FIELD, longest:FIELD),
space keeps or drops the selected member by hand, ``b`` shows the selected group's entities in
the results table, ``v`` draws the groups on the vector map (a colour a group, the member kept
marked ◆; esc comes back here), ``d`` deletes every member not kept: the screen closes and the normal delete
confirmation follows (preview by keys, backup, delete; ``u`` undoes). Esc stops a search that
runs, then closes. The finding itself is ``Session.find_duplicates`` (``tui/milvus/duplicates.py``).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Label

from .. import messages as msg
from ..errors import InvalidInput
from ..milvus import duplicates as dups
from ..milvus.catalog import CollectionInfo
from ..milvus import vectormap as map_ops
from ..printable import printable_text
from ..runner import Group, OpRunner
from .choice import ChoiceScreen
from .finder import FinderScreen


def default_how(info: CollectionInfo) -> str:
    """A starting threshold in the metric's terms, or an exact field when no float vector exists."""
    dense = [f for f in info.vector_fields if f.dtype == "FLOAT_VECTOR"]
    if dense:
        index = info.index_for(dense[0].name)
        metric = (index.metric_type or "").upper() if index else ""
        return "0.01" if metric == "L2" else "0.95"
    text = info.pick_text_field()
    return f"={text.name}" if text else "pk"


def parse_how(text: str) -> dict[str, Any]:
    """What the first box asks for, as ``Session.find_duplicates`` arguments."""
    text = text.strip()
    if text.lower() in ("pk", "key", "keys"):
        return {"primary_keys": True}
    if text.startswith("="):
        if not text[1:].strip():
            raise InvalidInput("Name the field after '=' (for example =text).")
        return {"exact_field": text[1:].strip()}
    try:
        return {"threshold": float(text)}
    except ValueError:
        raise InvalidInput(f"'{text}' is neither a threshold (a number), =field, nor pk.") from None


class DuplicatesScreen(FinderScreen):
    """Dismissed with ("delete", keys), ("browse", keys), ("point", [PointAction]) or None."""

    status_id = "dup-status"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("space", "toggle_keep", "Keep/drop", show=False),
        Binding("k", "focus_keep", "Keep policy", show=False),
        Binding("d", "delete_others", "Delete the others", show=False),
        Binding("b", "browse", "Browse group", show=False),
        Binding("v", "map", "Map the groups", show=False),
    ]
    DEFAULT_CSS = """
    DuplicatesScreen .dialog-box { width: 95%; height: 90%; }
    DuplicatesScreen #dup-table { height: 1fr; }
    DuplicatesScreen Input { width: 1fr; }
    """

    def __init__(self, runner: OpRunner, info: CollectionInfo, expr: str = "") -> None:
        super().__init__(runner, info, expr)
        self.report: dups.DuplicateReport | None = None
        self.policy = dups.KeepPolicy()
        #: group index -> the keys that stay (from the policy, then changed by hand)
        self.kept: dict[int, set[Any]] = {}
        self._rows: list[tuple[int, int]] = []  # table row -> (group, member)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = f"Duplicates in {self.info.name}" + (f" where {self.expr}" if self.expr else "")
            yield Label("Threshold (COSINE/IP similarity ≥, L2 squared distance ≤), =field for the same value, "
                        "pk for duplicate primary keys; enter finds:", markup=False)
            yield Input(default_how(self.info), id="dup-how")
            yield Label("Keep policy: first, newest:FIELD, longest:FIELD (space on a member: by hand):", markup=False)
            yield Input("first", id="dup-keep")
            yield Label("", id="dup-status")
            yield DataTable(id="dup-table", cursor_type="row", zebra_stripes=True)
            yield Label("enter find · space keep/drop · k keep policy · b browse group · v map the groups · "
                        "d delete the others · esc close", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("group", "keep", "primary key", "to first", "text")
        self.query_one("#dup-how", Input).focus()

    # -- finding ---------------------------------------------------------------------------

    @on(Input.Submitted, "#dup-how")
    def find(self) -> None:
        try:
            how = parse_how(self.query_one("#dup-how", Input).value)
            self.policy = dups.KeepPolicy.parse(self.query_one("#dup-keep", Input).value)
        except InvalidInput as exc:
            self._status(str(exc))
            return
        info, session = self.info, self.runner.session
        text = info.pick_text_field()
        fields = list(dict.fromkeys([*([text.name] if text else []), *([self.policy.field] if self.policy.field else [])]))
        self._status("finding duplicates…")
        self.runner.run(lambda: session.find_duplicates(info, expr=self.expr, fields=fields, **how),
                        msg.DuplicatesFound, group=Group.FIND, node=self)

    @on(msg.DuplicatesFound)
    def _found(self, event: msg.DuplicatesFound) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        self.report = event.result
        self._apply_policy()
        report = self.report
        warn = (" " + " ".join(report.warnings)) if report.warnings else ""
        self._status(f"{len(report.groups)} group{'' if len(report.groups) == 1 else 's'} ({report.comparison}) among {report.scanned:,} entities, "
                     f"{report.duplicates:,} beyond one per group, in {report.elapsed:.1f} s.{warn}")
        self._fill()
        if report.groups:
            self.query_one(DataTable).focus()

    def _apply_policy(self) -> None:
        report = self.report
        if report is None:
            return
        self.kept = {i: self.policy.keep(g) if report.kind != dups.PRIMARY_KEY else set()
                     for i, g in enumerate(report.groups)}

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        self._rows = []
        report = self.report
        if report is None:
            return
        text = self.info.pick_text_field()
        for gi, group in enumerate(report.groups):
            if group.kind == dups.PRIMARY_KEY:
                table.add_row(str(gi + 1), "one", printable_text(repr(group.keys[0])),
                              f"{group.copies} copies", "")
                self._rows.append((gi, 0))
                continue
            for mi, key in enumerate(group.keys):
                distance = group.distances[mi] if mi < len(group.distances) else None
                values = group.values[mi] if mi < len(group.values) else {}
                shown = values.get(text.name) if text else None
                table.add_row(f"{gi + 1} ({group.size})" if mi == 0 else "",
                              "keep" if key in self.kept.get(gi, set()) else "delete",
                              printable_text(repr(key) if isinstance(key, str) else str(key)),
                              "" if distance is None else f"{distance:.4f}",
                              printable_text(str(shown)[:80]) if shown is not None else "")
                self._rows.append((gi, mi))
        if self._rows:
            table.move_cursor(row=min(max(cursor, 0), len(self._rows) - 1))

    # -- keep policy -----------------------------------------------------------------------

    def action_focus_keep(self) -> None:
        self.query_one("#dup-keep", Input).focus()

    @on(Input.Submitted, "#dup-keep")
    def _policy(self) -> None:
        try:
            policy = dups.KeepPolicy.parse(self.query_one("#dup-keep", Input).value)
        except InvalidInput as exc:
            self._status(str(exc))
            return
        report = self.report
        if policy.field and report is not None and report.groups and report.groups[0].values \
                and policy.field not in report.groups[0].values[0]:
            self.policy = policy
            self.find()  # the members' values of that field are needed: find again with it
            return
        self.policy = policy
        self._apply_policy()
        self._fill()
        self.query_one(DataTable).focus()

    def _selected(self) -> tuple[int, int] | None:
        table = self.query_one(DataTable)
        if not self._rows or table.cursor_row < 0 or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    def action_toggle_keep(self) -> None:
        where = self._selected()
        if where is None or self.report is None or self.report.kind == dups.PRIMARY_KEY:
            return
        gi, mi = where
        key = self.report.groups[gi].keys[mi]
        kept = self.kept.setdefault(gi, set())
        kept.symmetric_difference_update({key})
        self.policy = dups.KeepPolicy("hand")
        self.query_one("#dup-keep", Input).value = "hand"
        self._fill()

    # -- what to do with them --------------------------------------------------------------

    def others(self) -> list[Any]:
        """Every member not kept; InvalidInput when a group would lose every member."""
        report = self.report
        if report is None:
            return []
        out: list[Any] = []
        for gi, group in enumerate(report.groups):
            kept = self.kept.get(gi, set())
            if not kept:
                raise InvalidInput(f"Group {gi + 1} would lose every member; keep at least one (space).")
            out.extend(k for k in group.keys if k not in kept)
        return out

    def action_delete_others(self) -> None:
        report = self.report
        if report is None or not report.groups:
            self._status("Nothing to delete: find duplicates first (enter).")
            return
        if report.kind == dups.PRIMARY_KEY:
            self._keep_one_copy(report)
            return
        try:
            keys = self.others()
        except InvalidInput as exc:
            self._status(str(exc))
            return
        self.dismiss(("delete", keys))

    def _keep_one_copy(self, report: dups.DuplicateReport) -> None:
        keys = [g.keys[0] for g in report.groups]
        copies = sum(g.copies for g in report.groups)
        question = (f"Keep one copy of {len(keys):,} primary keys? Every copy ({copies:,} entities) is backed up "
                    f"and deleted, then the backup (one copy per key, the one a query returns) is put back.")
        info, session = self.info, self.runner.session

        def chosen(answer: str | None) -> None:
            if answer and answer.startswith("Keep"):
                self._status("keeping one copy…")
                self.runner.run(lambda: session.keep_one_copy(info, keys), msg.KeysFixed, group=Group.CLEANUP,
                                node=self)

        self.app.push_screen(ChoiceScreen(question, ["Keep one copy of each", "Cancel"]), chosen)

    @on(msg.KeysFixed)
    def _fixed(self, event: msg.KeysFixed) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        done = event.result
        self._status(f"Kept one copy of {done.keys:,} keys: deleted {done.deleted:,}, put back {done.restored:,}. "
                     f"Backup: {done.backup_path}.")
        self.report = None
        self._fill()

    def action_browse(self) -> None:
        where = self._selected()
        if where is None or self.report is None:
            return
        self.dismiss(("browse", list(self.report.groups[where[0]].keys)))

    def action_map(self) -> None:
        """Every group on the vector map (whole groups, up to the map's sample size, the selected
        group always among them), a colour a group, the members kept marked; the cursor starts on
        the selected member."""
        report = self.report
        if report is None or not report.groups:
            self._status("Nothing to map: find duplicates first (enter).")
            return
        if report.kind == dups.PRIMARY_KEY:
            self._status("Copies of one primary key read back as one entity: the map cannot tell them apart. "
                         "b browses them.")
            return
        where = self._selected()
        chosen = map_ops.whole_groups([len(g.keys) for g in report.groups], map_ops.DEFAULT_SAMPLE,
                                      where[0] if where is not None else None)
        keys: list[Any] = []
        labels: list[str] = []
        for gi in chosen:
            group = report.groups[gi]
            keys.extend(group.keys[:map_ops.MAX_SAMPLE])
            labels.extend([f"group {gi + 1} ({group.size})"] * min(len(group.keys), map_ops.MAX_SAMPLE))
        n = len(report.groups)
        some = f"{len(chosen):,} of {n:,} groups" if len(chosen) < n else f"{n:,} duplicate group{'' if n == 1 else 's'}"
        vector = report.field if report.kind in (dups.NEAR, dups.EXACT_VECTOR) else None
        start = report.groups[where[0]].keys[where[1]] if where is not None else None
        self.open_map(map_ops.LabelledKeys(
            tuple(keys), tuple(labels), "duplicate group", f"{some} ({report.comparison})",
            marked=frozenset(k for kept in self.kept.values() for k in kept),
            mark_names=(f"kept ({self.policy.label})", "would be deleted"), vector_field=vector, start=start))


def finder_done(main: Any, info: CollectionInfo, answer: tuple[str, list[Any]] | None) -> None:
    """What the duplicate finder or the quality scan was closed with: show those entities in the
    results table, delete them through the normal confirmation (``CleanupFlow``), or what an
    entity opened from their map asked for (``MainScreen.map_point``)."""
    if not answer:
        return
    from ..milvus import expr as exprs
    from ..widgets.results import ResultsPane
    from .cleanup import CleanupFlow

    what, keys = answer
    if not keys:
        return
    if what == "point":  # m or e on an entity opened from the finder's map
        main.map_point(info, keys[0])
        return
    if what == "delete":
        main.query_one(CleanupFlow).preview(info, keys=keys)
        return
    session = main.session
    shown = keys[:16384]
    where = exprs.in_list(info.primary.name, shown)
    main.query_one(ResultsPane).run(lambda: session.filter(info, where, limit=len(shown)))
