"""Edits: set a field (or remove a dynamic key) on every entity a filter matches, or on one
entity, on the same safety chain as a delete (``cleanup.py``).

1. ``preview_edit`` types each new value by the schema and refuses one that does not fit
   (wrong type, out of range, longer than ``max_length``, more elements than ``max_capacity``,
   null on a field that is not nullable) before anything is read or written. It refuses an
   edit whose upsert would not keep the primary keys (``check_keys_kept``), counts and captures
   the keys at Strong consistency, and samples a few entities before and after.
2. ``execute_edit`` writes an audit record of intent, then backs up every captured entity
   whole (format 3 of ``cleanup.py``, header ``"operation": "edit"``), fsynced, and only then
   upserts, in batches, each entity *read back from that backup* with the change applied: the
   entity written is exactly the one backed up plus the change, vectors bit for bit (float32
   packed as they were read), into its own partition; function outputs (a BM25 field) are left
   out so the server recomputes them. An entity deleted by someone else between the backup and
   its batch comes back (an upsert cannot tell); the window is the same as a delete's.
3. A closing audit record says what was changed and where the backup is.
4. Undo is ``cleanup.restore`` of that backup: it upserts the originals back (keys kept), the
   dynamic keys an edit added or removed included.

Why upsert is safe only where it is: Milvus upserts replace whole rows by primary key. On an
``auto_id`` collection, servers differ. Measured here: Milvus Lite 3.2.2 keeps the key given
(and the partition named); Go Milvus 2.3.5 refuses the upsert ("the number of fields is less
than needed", nothing written). Milvus 2.4 and later accept it and give the replacement entity
a *new* primary key (milvus #34633, #50355 and the docs' clarification milvus-docs #3513); the
``allow_insert_auto_id`` property (2.6.3) changes inserts, not upserts (milvus #46891). So an
edit of an ``auto_id`` collection runs on Milvus Lite and is refused, before any write, on a
server.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import expr as exprs
from .catalog import CollectionInfo, FieldInfo, is_lite_version, milvus_release, require_loaded
from ..errors import (
    EditIncomplete, EditInterrupted, InvalidInput, MilvusTuiError, NotSupported, UnknownField,
)
from .cleanup import (
    DEFAULT_BATCH, PARTITION_KEY, TRAILER_KEY, UPSERT, _file_safe, _now,
    append_audit, backup_header, capture_keys, plan_undo, server_version, upsert_merges, write_backup,
)
from .ops import Blocking, Call, Op, Progress, Timer
from .queries import get_entities
from .values import unpack_row

#: What a backup's header says an edit backup is (a backup without ``operation`` is a delete's).
OPERATION = "edit"
#: Field types an edit can set.
EDITABLE_TYPES = {"BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "STRING", "JSON",
                  "ARRAY"}
INT_RANGES = {"INT8": (-2**7, 2**7 - 1), "INT16": (-2**15, 2**15 - 1), "INT32": (-2**31, 2**31 - 1),
              "INT64": (-2**63, 2**63 - 1)}
FLOAT32_MAX = 3.4028234663852886e38
_INT_TEXT = re.compile(r"[+-]?\d+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FieldChange:
    """One change an edit makes to every entity: ``field = value``, or remove a dynamic key."""

    field: str
    value: Any = None
    remove: bool = False
    #: a key of the dynamic field, not a schema field
    dynamic: bool = False

    @property
    def words(self) -> str:
        """The change in a line: ``text = "new"``, ``remove color``."""
        if self.remove:
            return f"remove {self.field}"
        return f"{self.field} = {json.dumps(self.value, ensure_ascii=False)}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field}
        if self.remove:
            out["remove"] = True
        else:
            out["value"] = self.value
        if self.dynamic:
            out["dynamic"] = True
        return out


def describe_changes(changes: tuple[FieldChange, ...] | list[FieldChange]) -> str:
    return "; ".join(c.words for c in changes)


@dataclass(frozen=True)
class EditPreview:
    collection: str
    db_name: str
    pk_field: str
    expr: str  # the user's filter; "" for entities chosen by key
    keys: tuple[Any, ...]
    changes: tuple[FieldChange, ...]
    #: (before, after) of a few entities: the primary key and the fields the edit touches.
    sample: list[tuple[dict[str, Any], dict[str, Any]]]
    server_version: str = ""
    taken_at: float = field(default_factory=time.time)

    @property
    def count(self) -> int:
        return len(self.keys)

    @property
    def description(self) -> str:
        return describe_changes(self.changes)


@dataclass(frozen=True)
class EditReport:
    collection: str
    requested: int
    backed_up: int
    edited: int
    backup_path: str | None
    audit_path: str | None
    elapsed: float
    description: str = ""
    status: str = "done"
    warnings: tuple[str, ...] = ()


# -- typing values by the schema -------------------------------------------------------------


def _no_nan(text: str) -> Any:
    raise ValueError(f"{text} is not a number JSON can hold")


def _json(text: str) -> Any:
    return json.loads(text, parse_constant=_no_nan)


def _shown(text: str, limit: int = 40) -> str:
    """A value quoted in an error: short, and with no control character left to act."""
    from ..printable import printable

    text = printable(text)
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def check_value(f: FieldInfo, value: Any, *, dtype: str | None = None, where: str = "") -> Any:
    """``value`` (a Python value) as field ``f`` stores it; InvalidInput in user words when it
    does not fit. ``dtype`` checks an ARRAY's element against the element type."""
    kind = dtype or f.dtype
    name = where or f"'{f.name}'"
    if value is None:
        if dtype is None and f.nullable and f.has_default:
            # Milvus stores the default in place of a null on such a field (measured on Lite 3.2.2).
            raise InvalidInput(f"{name} has a default value, which Milvus stores in place of null; set the "
                               "value you want instead.")
        if dtype is None and f.nullable:
            return None
        raise InvalidInput(f"{name} is not nullable, so it cannot be set to null.")
    if kind == "BOOL":
        if isinstance(value, bool):
            return value
        raise InvalidInput(f"{name} holds true or false, not {_shown(json.dumps(value, ensure_ascii=False))}.")
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InvalidInput(f"{name} holds whole numbers ({kind}), not "
                                   f"{_shown(json.dumps(value, ensure_ascii=False))}.")
        if not low <= value <= high:
            raise InvalidInput(f"{name} holds whole numbers from {low} to {high} ({kind}); {value} does not fit.")
        return value
    if kind in ("FLOAT", "DOUBLE"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"{name} holds numbers ({kind}), not {_shown(json.dumps(value, ensure_ascii=False))}.")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInput(f"{name} cannot hold {number} (Milvus stores finite numbers only).")
        if kind == "FLOAT" and abs(number) > FLOAT32_MAX:
            raise InvalidInput(f"{name} is a FLOAT (32-bit); {number} is too large for it.")
        return number
    if kind in ("VARCHAR", "STRING"):
        if not isinstance(value, str):
            raise InvalidInput(f"{name} holds text, not {_shown(json.dumps(value, ensure_ascii=False))}.")
        # Milvus counts max_length in bytes of UTF-8.
        size = len(value.encode("utf-8", "surrogatepass"))
        if f.max_length is not None and size > f.max_length:
            raise InvalidInput(f"{name} holds at most {f.max_length} bytes of text; the new value has {size}.")
        return value
    if kind == "JSON":
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} holds JSON; the new value is not JSON ({exc}).") from None
        return value
    if kind == "ARRAY":
        if not isinstance(value, list):
            raise InvalidInput(f"{name} holds a list of {f.element_type or 'values'} (JSON like [1, 2]), not "
                               f"{_shown(json.dumps(value, ensure_ascii=False))}.")
        if f.max_capacity is not None and len(value) > f.max_capacity:
            raise InvalidInput(f"{name} holds at most {f.max_capacity} elements; the new value has {len(value)}.")
        element = f.element_type or ""
        if element not in EDITABLE_TYPES - {"JSON", "ARRAY"}:
            raise NotSupported(f"{name} is an ARRAY of {element or 'an unknown type'}, which an edit cannot set.")
        return [check_value(f, v, dtype=element, where=f"An element of '{f.name}'") for v in value]
    raise NotSupported(f"{name} is a {kind} field, which an edit cannot set.")


def parse_value(f: FieldInfo, text: str) -> Any:
    """Text the user typed, as field ``f`` stores it. ``null`` is null (a nullable field);
    text fields take the text as it is (JSON-quoted, ``"null"``, to store the word null);
    JSON and ARRAY fields take JSON; numbers and true/false as written."""
    stripped = text.strip()
    if stripped == "null":
        return check_value(f, None)
    kind = f.dtype
    if kind in ("VARCHAR", "STRING"):
        value: Any = text
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            try:
                value = _json(stripped)
            except ValueError:
                value = text
            if not isinstance(value, str):
                value = text
        return check_value(f, value)
    if kind == "BOOL":
        lowered = stripped.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise InvalidInput(f"'{f.name}' holds true or false, not {_shown(text)}.")
    if kind in INT_RANGES:
        if not _INT_TEXT.fullmatch(stripped):
            raise InvalidInput(f"'{f.name}' holds whole numbers ({kind}), not {_shown(text)}.")
        return check_value(f, int(stripped))
    if kind in ("FLOAT", "DOUBLE"):
        try:
            number = float(stripped)
        except ValueError:
            raise InvalidInput(f"'{f.name}' holds numbers ({kind}), not {_shown(text)}.") from None
        return check_value(f, number)
    if kind in ("JSON", "ARRAY"):
        try:
            value = _json(stripped)
        except ValueError as exc:
            example = "[1, 2]" if kind == "ARRAY" else '{"key": "value"}'
            raise InvalidInput(f"'{f.name}' holds {'a list' if kind == 'ARRAY' else 'JSON'} (for example "
                               f"{example}); {_shown(text)} is not valid JSON ({exc}).") from None
        return check_value(f, value)
    return check_value(f, text)


def parse_dynamic(text: str) -> Any:
    """A dynamic key's new value: JSON when it reads as JSON (5, true, [1], {"a": 1}, "text"),
    else the text as it is."""
    try:
        return _json(text.strip())
    except ValueError:
        return text


def editable_field(info: CollectionInfo, name: str) -> FieldInfo | None:
    """The schema field ``name`` if an edit may set it (None: a dynamic key); InvalidInput or
    NotSupported saying why not."""
    found = next((f for f in info.fields if f.name == name), None)
    if found is None:
        if name == "$meta":
            raise InvalidInput("'$meta' holds the dynamic keys; edit a key of it by its own name.")
        if not info.enable_dynamic_field:
            names = ", ".join(f.name for f in edit_fields(info)) or "none"
            raise UnknownField(f"Collection '{info.name}' has no field '{name}' (and no dynamic field). "
                               f"Fields an edit can set: {names}.")
        if not _NAME.fullmatch(name):
            raise InvalidInput(f"{_shown(name)} cannot be a dynamic key: use letters, digits and _, "
                               "starting with a letter or _.")
        return None
    if found.is_primary:
        raise InvalidInput(f"'{name}' is the primary key: it identifies each entity, so an edit keeps it.")
    if found.is_vector:
        if found.is_function_output:
            raise InvalidInput(f"'{name}' is computed by the server from other fields (a function's output); "
                               "edit its input field instead.")
        raise InvalidInput(f"'{name}' is a vector field; an edit sets scalar and JSON fields only.")
    if found.is_partition_key:
        raise InvalidInput(f"'{name}' is the partition key: a new value would move entities to another "
                           "partition, which an edit does not do.")
    if found.dtype not in EDITABLE_TYPES:
        raise NotSupported(f"'{name}' is a {found.dtype} field, which an edit cannot set.")
    return found


def edit_fields(info: CollectionInfo) -> list[FieldInfo]:
    """The schema fields an edit may set, in schema order."""
    out = []
    for f in info.fields:
        try:
            if editable_field(info, f.name) is not None:
                out.append(f)
        except MilvusTuiError:
            continue
    return out


def parse_changes(info: CollectionInfo, sets: list[str] | tuple[str, ...] = (),
                  unsets: list[str] | tuple[str, ...] = ()) -> tuple[FieldChange, ...]:
    """``FIELD=VALUE`` assignments and dynamic keys to remove, typed by the schema."""
    changes: list[FieldChange] = []
    for text in sets:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"{_shown(text)} is not an assignment: write FIELD=VALUE, e.g. status=archived.")
        changes.append(make_change(info, name, value))
    for name in unsets:
        name = name.strip()
        f = editable_field(info, name)
        if f is not None:
            hint = " Set it to null instead (FIELD=null)." if f.nullable else ""
            raise InvalidInput(f"'{name}' is a field of the schema; only a dynamic key can be removed.{hint}")
        changes.append(FieldChange(name, remove=True, dynamic=True))
    return check_changes(changes)


def make_change(info: CollectionInfo, name: str, text: str) -> FieldChange:
    """``name = text`` typed by the schema (or as a dynamic key's value)."""
    f = editable_field(info, name)
    if f is None:
        return FieldChange(name, parse_dynamic(text), dynamic=True)
    return FieldChange(name, parse_value(f, text))


def check_changes(changes: list[FieldChange] | tuple[FieldChange, ...]) -> tuple[FieldChange, ...]:
    if not changes:
        raise InvalidInput("Say what to change: --set FIELD=VALUE (or --unset KEY for a dynamic key).")
    seen: set[str] = set()
    for c in changes:
        if c.field in seen:
            raise InvalidInput(f"'{c.field}' is changed twice; say it once.")
        seen.add(c.field)
    return tuple(changes)


def apply_changes(row: dict[str, Any], changes: tuple[FieldChange, ...]) -> dict[str, Any]:
    out = dict(row)
    for c in changes:
        if c.remove:
            out.pop(c.field, None)
        else:
            out[c.field] = c.value
    return out


# -- which servers keep keys -----------------------------------------------------------------


def check_keys_kept(info: CollectionInfo, version: str) -> None:
    """Refuse (NotSupported) an edit whose upsert would not keep each entity's primary key."""
    if not info.primary.auto_id or is_lite_version(version):
        return  # not auto_id: the key is ours; Lite 3.2.2 keeps an auto_id key (measured)
    release = milvus_release(version)
    shown = version or "unknown version"
    if release is not None and release < (2, 4, 0):
        raise NotSupported(
            f"Not supported by this server ({shown}): '{info.name}' has auto_id primary keys, and this server "
            "refuses an upsert that carries one, while an edit is an upsert of each whole entity. "
            "Nothing was changed.")
    raise NotSupported(
        f"Not supported by this server ({shown}): '{info.name}' has auto_id primary keys, and an upsert on "
        "Milvus 2.4 and later gives each entity a new primary key (the allow_insert_auto_id property does not "
        "change that), so an edit would change the keys of the entities it edits. Nothing was changed.")


def _check_undoable(info: CollectionInfo, version: str) -> None:
    try:
        plan_undo(info, version)
    except NotSupported as exc:
        text = str(exc).replace("for a safe delete", "for a safe edit").replace(
            "Nothing was deleted.", "Nothing was changed.")
        raise NotSupported(text) from None


# -- preview and apply -----------------------------------------------------------------------


def preview_edit(info: CollectionInfo, changes: tuple[FieldChange, ...], *, expr: str | None = None,
                 keys: list[Any] | None = None, sample_size: int = 5, db_name: str = "",
                 version: str | None = None) -> Op[EditPreview]:
    """Check the edit, then count, capture the keys (Strong) and sample before/after."""
    changes = check_changes(changes)
    for c in changes:  # a change made by hand (the app's form) is checked like a parsed one
        if not c.remove:
            f = editable_field(info, c.field)
            if f is not None:
                check_value(f, c.value)
    require_loaded(info)
    if version is None:
        version = yield from server_version()
    check_keys_kept(info, version)
    _check_undoable(info, version)
    pk = info.primary.name
    captured, where = yield from capture_keys(info, expr=expr, keys=keys, verb="edit all of")
    rows = (yield from get_entities(info, captured[:sample_size])) if captured else []
    shown = [pk, *(c.field for c in changes)]
    sample = [({k: r[k] for k in shown if k in r}, {k: v for k, v in apply_changes(r, changes).items() if k in shown})
              for r in rows]
    return EditPreview(info.name, db_name or info.db_name or "default", pk, where, tuple(captured), changes, sample,
                       server_version=version)


def backup_path_for(backup_dir: Path, preview: EditPreview) -> Path:
    """``<db>-<collection>-edit-<time>.jsonl``: the word says what the backup is for."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(preview.taken_at))
    base = f"{_file_safe(preview.db_name or 'default')}-{_file_safe(preview.collection)}-edit-{stamp}"
    path = backup_dir / f"{base}.jsonl"
    for n in itertools.count(2):
        if not path.exists():
            return path
        path = backup_dir / f"{base}-{n}.jsonl"
    raise AssertionError("unreachable")


def execute_edit(info: CollectionInfo, preview: EditPreview, *, backup_dir: Path, audit_path: Path | None,
                 batch_size: int = DEFAULT_BATCH, server: str = "") -> Op[EditReport]:
    """Back up every previewed entity, then upsert each with the change, in batches."""
    if preview.collection != info.name:
        raise InvalidInput("The preview belongs to another collection.")
    timer = Timer()
    keys = preview.keys
    total = len(keys)
    db_name = preview.db_name or info.db_name or "default"
    description = preview.description
    record: dict[str, Any] = {
        "action": "edit", "server": server, "db_name": db_name, "collection": info.name, "filter": preview.expr,
        "changes": [c.as_dict() for c in preview.changes], "edit": description, "previewed": total,
        "undo": UPSERT, "backup": None,
    }
    if not total:
        return EditReport(info.name, 0, 0, 0, None, str(audit_path) if audit_path else None, timer.elapsed,
                          description)
    if audit_path is not None:
        yield Blocking(lambda: append_audit(audit_path, {"time": _now(), **record, "status": "started"}))
    backup = backup_path_for(backup_dir, preview)
    record["backup"] = str(backup)
    header = backup_header(info, db_name=db_name, pk_field=preview.pk_field, expr=preview.expr, count=total,
                           server=server, server_version=preview.server_version, undo=UPSERT,
                           operation=OPERATION, edit=description,
                           changes=[c.as_dict() for c in preview.changes])
    try:
        backed_up = yield from write_backup(info, keys, backup, header, batch_size=batch_size)
    except (GeneratorExit, KeyboardInterrupt):
        _final_edit_audit(audit_path, {**record, "backup": None}, "stopped before editing", 0, 0)
        backup.unlink(missing_ok=True)
        raise EditInterrupted(f"Stopped while backing up: nothing was changed in '{info.name}'.",
                              collection=info.name, requested=total, edited=0, backup_path=None) from None
    except BaseException:
        _final_edit_audit(audit_path, record, "failed before editing", 0, 0)
        raise
    edited = 0
    #: keys of a batch deleted for a whole-row replace and not yet upserted back
    missing = 0
    replace = upsert_merges(info, preview.server_version)
    status = "failed"
    packing = yield Blocking(lambda: header_packing(backup))
    leave_out = set(info.function_outputs)
    use_partitions = info.partition_key is None
    handle = yield Blocking(lambda: open(backup, encoding="utf-8"))
    try:
        handle.readline()
        while True:
            lines = yield Blocking(lambda: list(itertools.islice(handle, batch_size)))
            if not lines:
                break
            groups: dict[str | None, list[dict[str, Any]]] = {}
            for line in lines:
                raw = json.loads(line)
                if TRAILER_KEY in raw:
                    continue
                row = unpack_row(raw, packing)
                partition = row.pop(PARTITION_KEY, None)
                for name in leave_out:
                    row.pop(name, None)
                groups.setdefault(partition if use_partitions else None, []).append(apply_changes(row, preview.changes))
            for partition, group in groups.items():
                kwargs: dict[str, Any] = {"collection_name": info.name, "data": group}
                if partition is not None:
                    kwargs["partition_name"] = partition
                if replace:
                    # Milvus Lite's upsert keeps dynamic keys a row leaves out (``upsert_merges``):
                    # a removed key would stay, so the old entity goes first.
                    missing = len(group)
                    template, params = exprs.in_template(info.primary.name, [r[info.primary.name] for r in group])
                    yield Call("delete", {"collection_name": info.name, "filter": template, "filter_params": params},
                               collection=info.name)
                yield Call("upsert", kwargs, collection=info.name)
                missing = 0
                edited += len(group)
                yield Progress(edited, total, "editing")
        status = "done"
    except (GeneratorExit, KeyboardInterrupt) as exc:
        status = "cancelled" if isinstance(exc, GeneratorExit) else "interrupted"
        gap = (f" The {missing} of the batch under way may be missing until undo puts them back." if missing
               else "")
        raise EditInterrupted(
            f"Stopped: {edited} of {total} entities in '{info.name}' were edited; the other {total - edited} are "
            f"as they were.{gap} Every previewed entity, as it was, is in the backup {backup}; undo puts them "
            "back.",
            collection=info.name, requested=total, edited=edited, backup_path=str(backup)) from None
    except MilvusTuiError as exc:
        gap = (f" The {missing} of the batch under way may be missing until undo puts them back." if missing
               else "")
        raise EditIncomplete(
            f"The edit stopped after {edited} of {total} entities: {exc}{gap} Every previewed entity, as it was, is in "
            f"the backup {backup}; undo puts them back.",
            collection=info.name, requested=total, edited=edited, backup_path=str(backup)) from exc
    finally:
        handle.close()
        warning = _final_edit_audit(audit_path, record, status, backed_up, edited)
    # Edited rows should be fast to read right away (Lite is slow on unflushed data).
    yield Call("flush", {"collection_name": info.name}, collection=info.name)
    return EditReport(info.name, total, backed_up, edited, str(backup), str(audit_path) if audit_path else None,
                      timer.elapsed, description, warnings=(warning,) if warning else ())


def header_packing(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        return dict(json.loads(handle.readline()).get("vectors") or {})


def _final_edit_audit(audit_path: Path | None, record: dict[str, Any], status: str, backed_up: int,
                      edited: int) -> str | None:
    """The closing audit record; a warning (not an error) when it cannot be written: by then the
    edit has happened, and the user must hear about it and about the backup."""
    if audit_path is None:
        return None
    try:
        append_audit(audit_path, {"time": _now(), **record, "status": status, "backed_up": backed_up,
                                  "edited": edited})
    except OSError as exc:
        return f"The audit log {audit_path} could not be written ({exc.strerror or exc})."
    return None
