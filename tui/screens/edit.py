"""The edit conversation: a bulk edit of everything the current filter matches (``E``), and
the edit of one entity from its detail view (``e``), each previewed with a before/after diff,
confirmed, backed up and undoable (``u``).

``EditFlow`` is not drawn: it runs the edit workers, talks to the user (modals, notices) and
says what changed with ``CleanupFlow.Changed``, so the screen recounts and reloads the rows as
after a delete. The safety order (typed values, preview at Strong with the keys captured,
fsynced backup, upserts in batches, audit) lives in ``tui/milvus/edit.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from .. import messages as msg
from ..errors import MilvusTuiError
from ..milvus import CollectionInfo
from ..milvus import edit as edit_ops
from ..milvus.edit import EditPreview, FieldChange
from ..milvus.values import encode_row
from ..printable import json_text, printable
from ..runner import Group, OpRunner, user_message
from .cleanup import CleanupFlow
from .delete import TYPED_CONFIRM_ABOVE
from .dialog import ConfirmByName, Dialog


def _value_text(value: Any) -> str:
    """A value as the edit form shows it and reads it back (``edit.parse_value``): text as it
    is, unless it holds a control character or could read as JSON-quoted (then JSON-quoted, so
    nothing in it acts on the terminal); null, numbers, true/false and JSON as JSON."""
    if isinstance(value, str):
        if printable(value, keep="") != value or (len(value) >= 2 and value[0] == value[-1] == '"') or (
                value.strip() == "null"):
            return json_text(value)
        return value
    return json_text(encode_row({"v": value})["v"])


def _field_words(f: Any) -> str:
    words = f.dtype + (f" of {f.element_type}" if f.element_type else "")
    if f.max_length:
        words += f", ≤{f.max_length} bytes"
    if f.max_capacity:
        words += f", ≤{f.max_capacity} items"
    return words + (", nullable" if f.nullable else "")


class BulkEditScreen(Dialog[tuple[FieldChange, ...] | None]):
    """Asks what to set on every entity the filter matches: ``field = value`` or ``unset key``."""

    DEFAULT_CSS = """
    BulkEditScreen {
        #bulk-error { color: $error; }
        .dim { color: $text-muted; }
        #bulk-box Label { width: 1fr; }
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, info: CollectionInfo, expr: str) -> None:
        super().__init__()
        self.info = info
        self.expr = expr

    def compose(self) -> ComposeResult:
        info = self.info
        with Vertical(id="bulk-box", classes="dialog-box") as box:
            box.border_title = "Edit matching entities"
            yield Label(Text(f"Set a field on every entity of '{info.name}' matching  {printable(self.expr)}"))
            fields = ", ".join(f"{f.name} ({_field_words(f)})" for f in edit_ops.edit_fields(info))
            more = " Any other name is a dynamic key; 'unset KEY' removes one." if info.enable_dynamic_field else ""
            yield Label(Text(f"Fields: {fields or 'none'}.{more}"), classes="dim")
            yield Label("Type field = value (text as is; JSON for JSON and ARRAY; null for a nullable field); "
                        "separate several with ' ; '.", classes="dim", markup=False)
            yield Input(placeholder="status = archived", id="bulk-input")
            yield Label("", id="bulk-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="bulk-cancel")
                yield Button("Preview", variant="primary", id="bulk-preview")

    def on_mount(self) -> None:
        self.query_one("#bulk-input", Input).focus()

    def changes(self) -> tuple[FieldChange, ...]:
        sets: list[str] = []
        unsets: list[str] = []
        for part in self.query_one("#bulk-input", Input).value.split(" ; "):
            part = part.strip()
            if not part:
                continue
            if part.startswith("unset ") and "=" not in part:
                unsets.append(part[len("unset "):])
            else:
                # "field = value": the spaces around = are layout (JSON quotes keep a value's own).
                name, sep, value = part.partition("=")
                sets.append(f"{name.strip()}{sep}{value.strip()}")
        return edit_ops.parse_changes(self.info, sets, unsets)

    @on(Input.Submitted, "#bulk-input")
    @on(Button.Pressed, "#bulk-preview")
    def _submit(self) -> None:
        try:
            changes = self.changes()
        except MilvusTuiError as exc:
            self.query_one("#bulk-error", Label).update(Text(user_message(exc)))
            return
        self.dismiss(changes)

    @on(Button.Pressed, "#bulk-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class EntityEditScreen(Dialog[tuple[FieldChange, ...] | None]):
    """A form with one input per scalar and JSON field (and dynamic key) of one entity; the
    primary key, vectors and function outputs are shown as fixed. Returns the changes."""

    DEFAULT_CSS = """
    EntityEditScreen {
        #entity-edit-box { width: 90%; height: 85%; }
        #entity-edit-fields { height: 1fr; }
        #entity-edit-error { color: $error; }
        .edit-label { color: $text-muted; margin-top: 1; }
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "review", "Review changes")]

    def __init__(self, info: CollectionInfo, row: dict[str, Any]) -> None:
        super().__init__()
        self.info = info
        self.row = row
        self.fields = edit_ops.edit_fields(info)
        schema = set(info.field_names)
        self.dynamic = sorted(k for k in row if k not in schema and k != "$meta") if info.enable_dynamic_field else []
        #: input id -> (name, the text it started with)
        self.initial: dict[str, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        pk = self.info.primary.name
        with Vertical(id="entity-edit-box", classes="dialog-box") as box:
            box.border_title = "Edit entity"
            yield Label(Text(f"{pk} = {printable(json_text(encode_row({'v': self.row.get(pk)})['v']))} in "
                             f"'{self.info.name}' (the primary key and vectors stay as they are)"))
            with VerticalScroll(id="entity-edit-fields"):
                for n, f in enumerate(self.fields):
                    yield from self._input(f"edit-field-{n}", f.name, _field_words(f), self.row.get(f.name))
                for n, key in enumerate(self.dynamic):
                    yield from self._input(f"edit-dynamic-{n}", key, "dynamic key; empty removes it", self.row[key])
            yield Label("", id="entity-edit-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="entity-edit-cancel")
                yield Button("Review changes (ctrl+s)", variant="primary", id="entity-edit-review")

    def _input(self, ident: str, name: str, words: str, value: Any) -> ComposeResult:
        text = _value_text(value)
        self.initial[ident] = (name, text)
        yield Label(Text(f"{name}  ({words})"), classes="edit-label")
        yield Input(text, id=ident)

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    def changes(self) -> tuple[FieldChange, ...]:
        out: list[FieldChange] = []
        for ident, (name, start) in self.initial.items():
            text = self.query_one(f"#{ident}", Input).value
            if text == start:
                continue
            if ident.startswith("edit-dynamic-") and not text.strip():
                out.append(FieldChange(name, remove=True, dynamic=True))
            else:
                out.append(edit_ops.make_change(self.info, name, text))
        return tuple(out)

    @on(Input.Submitted)
    @on(Button.Pressed, "#entity-edit-review")
    def action_review(self) -> None:
        try:
            changes = self.changes()
        except MilvusTuiError as exc:
            self.query_one("#entity-edit-error", Label).update(Text(user_message(exc)))
            return
        self.dismiss(changes)

    @on(Button.Pressed, "#entity-edit-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def diff_lines(preview: EditPreview, limit: int = 8) -> list[str]:
    """``key  field: before -> after`` for the sampled entities, safe to show."""
    lines: list[str] = []
    pk = preview.pk_field
    for before, after in preview.sample[:limit]:
        key = json_text(encode_row({"v": before.get(pk)})["v"])
        for c in preview.changes:
            old = json_text(encode_row(before)[c.field]) if c.field in before else "(none)"
            new = json_text(encode_row(after)[c.field]) if c.field in after else "(removed)"
            line = f"{key}  {c.field}: {old} -> {new}"
            lines.append(printable(line if len(line) < 160 else line[:159] + "…"))
    return lines


class ConfirmEditScreen(ConfirmByName):
    """The edit confirmation: the count, the change, a before/after sample, the backup."""

    prefix = "edit"
    focus_first = "confirm"

    DEFAULT_CSS = """
    ConfirmEditScreen {
        #edit-box { border: round $warning; }
        #edit-count { text-style: bold; color: $warning; }
        .dim { color: $text-muted; }
        #edit-sample { color: $text-muted; margin: 1 0; }
        #edit-box Label { width: 1fr; }
    }
    """
    def __init__(self, preview: EditPreview, backup_dir: str) -> None:
        super().__init__()
        self.preview = preview
        self.backup_dir = backup_dir

    @property
    def collection(self) -> str:
        return self.preview.collection

    @property
    def needs_typing(self) -> bool:
        return self.preview.count > TYPED_CONFIRM_ABOVE

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(id="edit-box", classes="dialog-box") as box:
            box.border_title = "Edit entities"
            what = f"matching  {printable(p.expr)}" if p.expr else ("(this entity)" if p.count == 1 else "selected")
            yield Label(Text(f"Edit {p.count:,} entities in '{p.collection}' {what}?"), id="edit-count")
            yield Label(Text(printable(f"Change: {p.description}")), id="edit-change")
            yield Label("Before -> after (counted and captured at Strong consistency; only these keys change):",
                        classes="dim")
            yield Static(Text("\n".join(diff_lines(p)) or "(none)"), id="edit-sample")  # data, never markup
            yield Label(f"The entities as they are go to a backup in {self.backup_dir}/ before anything changes. "
                        "u undoes the edit.", markup=False)
            if self.needs_typing:
                yield Label(f"More than {TYPED_CONFIRM_ABOVE} entities: type the collection name to confirm.")
                yield Input(placeholder=p.collection, id="edit-typed")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="edit-cancel")
                yield Button(f"Edit {p.count:,}", variant="warning", id="edit-confirm", disabled=self.needs_typing)


class EditFlow(Widget):
    DEFAULT_CSS = "EditFlow { display: none; }"

    def __init__(self, runner: OpRunner, backup_dir: str) -> None:
        super().__init__()
        self.runner = runner
        self.backup_dir = backup_dir

    @property
    def session(self) -> Any:
        return self.runner.session

    def _run(self, make: Callable[[], Any], message: type[msg.Outcome]) -> None:
        self.runner.run(make, message, group=Group.CLEANUP, node=self)

    def _accept(self, event: msg.Outcome) -> bool:
        event.stop()
        if not self.runner.is_fresh(event):
            return False
        self.runner.record(event)
        return True

    def _current(self, name: str) -> CollectionInfo | None:
        """The screen's collection, if it is still ``name`` (the user may have moved on)."""
        info = getattr(self.screen, "info", None)
        return info if info is not None and info.name == name else None

    # -- asking ------------------------------------------------------------------------

    def bulk(self, info: CollectionInfo, expr: str) -> None:
        """Ask what to set on everything ``expr`` matches; the preview and confirmation follow."""
        def chosen(changes: tuple[FieldChange, ...] | None) -> None:
            if changes:
                self._run(lambda: self.session.preview_edit(info, changes=changes, expr=expr), msg.EditPreviewed)

        self.app.push_screen(BulkEditScreen(info, expr), chosen)

    def entity(self, info: CollectionInfo, key: Any) -> None:
        """Edit one entity: read it whole (fresh, every field), then the form."""
        self._run(lambda: self.session.get(info, [key]), msg.EntityFetched)

    @on(msg.EntityFetched)
    def _fetched(self, event: msg.EntityFetched) -> None:
        if not self._accept(event):
            return
        rows = event.result
        info = self.screen.info if rows else None  # type: ignore[attr-defined]
        if not rows or info is None:
            self.notify("That entity is no longer there.", severity="warning")
            return
        row = rows[0]
        key = row[info.primary.name]

        def chosen(changes: tuple[FieldChange, ...] | None) -> None:
            if changes is None:
                return
            if not changes:
                self.notify("Nothing changed, so nothing was edited.")
                return
            self._run(lambda: self.session.preview_edit(info, changes=changes, keys=[key]), msg.EditPreviewed)

        self.app.push_screen(EntityEditScreen(info, row), chosen)

    @on(msg.EditPreviewed)
    def _previewed(self, event: msg.EditPreviewed) -> None:
        if not self._accept(event):
            return
        preview = event.result
        if preview.count == 0:
            self.notify("Nothing matches, so nothing would be edited.")
            return
        info = self._current(preview.collection)
        if info is None:
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.notify("Edit cancelled; nothing was changed.")
                return
            self._run(lambda: self.session.edit(info, preview), msg.EditDone)

        self.app.push_screen(ConfirmEditScreen(preview, self.backup_dir), confirmed)

    @on(msg.EditDone)
    def _edited(self, event: msg.EditDone) -> None:
        if not self._accept(event):
            return
        report = event.result
        self.notify(printable(f"Edited {report.edited:,} entities in '{report.collection}' "
                              f"({report.description}). Backup: {report.backup_path}. Press u to undo."),
                    timeout=10, markup=False)
        for warning in report.warnings:
            self.notify(warning, severity="warning", timeout=10, markup=False)
        self.post_message(CleanupFlow.Changed(report.collection))


__all__ = ["BulkEditScreen", "ConfirmEditScreen", "EditFlow", "EntityEditScreen", "diff_lines"]
