"""Drops that can be undone: drop a collection, drop a partition, or empty a collection
(truncate), each after a full backup, on the same safety chain as a delete (``cleanup.py``).

The order:
1. ``preview_drop`` changes nothing. It reads the collection's whole definition (schema with
   every field's flags and parameters, functions, dynamic field, indexes, properties,
   partitions, aliases, consistency level, shard and partition-key counts, load state), counts
   the entities at Strong, packs a sample the way the backup will and so estimates the
   backup's size, and asks the disk what it can hold. How the entities go back (``UndoPlan``)
   is decided here too, so the confirmation can say it.
2. ``execute_drop`` asks the disk again and refuses, before anything is written or dropped,
   when the estimate does not fit. It writes an audit record of intent, scans the keys again
   (a drop takes every entity there is when it runs, not only those counted at the preview;
   the report says when the count moved), writes them all to a format-3 backup whose header
   carries ``"operation"`` and the definition, fsyncs it, and only then drops (aliases first:
   a server refuses to drop a collection that still has aliases), drops the partition (released
   first where the server asks), or deletes every backed-up key in batches (truncate: the
   collection, its id, aliases and indexes stay). A closing audit record follows.
3. ``restore_dropped`` re-creates what a drop removed, in its database: the collection with its
   schema, functions, properties, consistency level and shard count, then its partitions, its
   indexes, its aliases (an alias that now names another collection is left alone, and said),
   then puts every entity back with ``cleanup.restore`` (original keys where the server allows,
   partitions, function outputs recomputed) and loads the collection if it was loaded. A
   truncate's backup goes back into the existing collection; a dropped partition is created
   again first. Running a restore twice leaves the same collection.

``auto_id``: the re-created collection has the same schema, ``auto_id`` included: a collection
re-created without it would refuse every later insert that leaves the key out, which is how its
writers use it. The keys are kept where the server lets an insert or upsert carry them (Milvus
Lite, measured; Milvus 2.6.3+ through the ``allow_insert_auto_id`` property, set for the restore
and removed after). Older servers (Go 2.3.5, measured) give the entities new keys: the preview
says so before anything is dropped, and the restore reports the old -> new map (audit log).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cleanup
from . import expr as exprs
from .catalog import CollectionInfo, IndexInfo, describe, is_lite_version, require_loaded
from .catalog import _load_state_name
from .catalog import count as catalog_count
from ..errors import (
    Cancelled, DeleteInterrupted, InvalidInput, MilvusTuiError, NotFound, NotSupported, OperationFailed,
    ServerUnavailable,
)
from .ops import Blocking, Call, Op, Progress, Timer
from .queries import rows_after, scan_keys
from .values import pack_line, vector_packing

DROP_COLLECTION = "drop_collection"
DROP_PARTITION = "drop_partition"
TRUNCATE = "truncate"
OPERATIONS = (DROP_COLLECTION, DROP_PARTITION, TRUNCATE)
#: What each operation is called in a sentence.
WORDS = {DROP_COLLECTION: "drop collection", DROP_PARTITION: "drop partition", TRUNCATE: "truncate (empty)"}

SAMPLE_ROWS = 50
#: Room kept free beyond the estimate: the estimate is a sample's average, and a disk filled to
#: its last byte fails everything else on the machine too.
SPACE_MARGIN = 1.10
SPACE_RESERVE = 16 << 20
#: Field parameters the server reports as text that ``add_field`` wants as booleans or numbers.
_BOOL_PARAMS = {"enable_analyzer", "enable_match", "mmap_enabled", "mmap.enabled"}
_INT_PARAMS = {"dim", "max_length", "max_capacity"}


class NotEnoughSpace(OperationFailed):
    """The backup would not fit on the disk: refused before anything was written or dropped."""


# -- the definition ------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value).upper()


def _default_value(raw: Any) -> dict[str, Any] | None:
    """A field's default as ``{"kind", "value"}``: pymilvus gives the server's protobuf value."""
    if raw is None:
        return None
    which = getattr(raw, "WhichOneof", None)
    if which is None:
        return {"kind": type(raw).__name__, "value": raw}
    kind = which("data")
    return None if kind is None else {"kind": kind, "value": getattr(raw, kind)}


def field_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """One field of ``describe_collection`` as JSON: everything needed to add it again."""
    spec: dict[str, Any] = {"name": str(raw["name"]), "type": _type_name(raw.get("type")),
                            "description": str(raw.get("description") or ""),
                            "params": {str(k): v for k, v in (raw.get("params") or {}).items()}}
    element = raw.get("element_type")
    if element not in (None, 0, "NONE"):
        spec["element_type"] = _type_name(element)
    for flag in ("is_primary", "auto_id", "nullable", "is_partition_key", "is_clustering_key",
                 "is_function_output"):
        if raw.get(flag):
            spec[flag] = True
    default = _default_value(raw.get("default_value"))
    if default is not None:
        spec["default_value"] = default
    return spec


def function_spec(raw: dict[str, Any]) -> dict[str, Any]:
    return {"name": str(raw.get("name") or ""), "type": _type_name(raw.get("type")),
            "description": str(raw.get("description") or ""),
            "input_field_names": [str(n) for n in raw.get("input_field_names") or ()],
            "output_field_names": [str(n) for n in raw.get("output_field_names") or ()],
            "params": {str(k): v for k, v in (raw.get("params") or {}).items()}}


def index_spec(index: IndexInfo) -> dict[str, Any]:
    params = dict(index.params)
    nested = params.pop("params", None)  # some servers nest the build parameters as JSON text
    if isinstance(nested, str):
        try:
            nested = json.loads(nested)
        except ValueError:
            nested = None
    if isinstance(nested, dict):
        params.update(nested)
    return {"field_name": index.field, "index_name": index.index_name, "index_type": index.index_type,
            "metric_type": index.metric_type, "params": {str(k): v for k, v in params.items()}}


def read_definition(info: CollectionInfo) -> Op[dict[str, Any]]:
    """Everything a drop would lose besides the entities, as JSON (the backup header's
    ``definition``)."""
    raw = yield Call("describe_collection", {"collection_name": info.name}, collection=info.name)
    aliases = {str(a) for a in raw.get("aliases") or ()}
    # Milvus Lite 3 reports no aliases in describe_collection; list_aliases does (2.4+ servers).
    listed = yield Call("list_aliases", {"collection_name": info.name}, collection=info.name, soft=True)
    if isinstance(listed, dict):
        aliases |= {str(a) for a in listed.get("aliases") or ()}
    elif isinstance(listed, list):
        aliases |= {str(a) for a in listed}
    fields = [field_spec(f) for f in raw.get("fields") or ()]
    key = next((f for f in fields if f.get("is_partition_key")), None)
    return {
        "schema": {"auto_id": bool(raw.get("auto_id")), "enable_dynamic_field": bool(raw.get("enable_dynamic_field")),
                   "description": str(raw.get("description") or ""), "fields": fields,
                   "functions": [function_spec(f) for f in raw.get("functions") or ()]},
        "indexes": [index_spec(i) for i in info.indexes],
        "properties": {str(k): str(v) for k, v in (raw.get("properties") or {}).items()},
        "partitions": [p for p in info.partitions if p != "_default"] if key is None else [],
        "aliases": sorted(aliases),
        "consistency_level": info.consistency_level,
        "num_shards": int(raw.get("num_shards") or 0) or None,
        "num_partitions": int(raw.get("num_partitions") or 0) or None if key is not None else None,
        "loaded": info.loaded,
        "description": info.description,
    }


def _field_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name == "analyzer_params" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        elif name in _BOOL_PARAMS and isinstance(value, str):
            value = value.lower() == "true"
        elif name in _INT_PARAMS and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        out[name] = value
    return out


def build_schema(spec: dict[str, Any]) -> Any:
    """A pymilvus ``CollectionSchema`` from a definition's ``schema``."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=bool(spec.get("auto_id")),
                                        enable_dynamic_field=bool(spec.get("enable_dynamic_field")),
                                        description=str(spec.get("description") or ""))
    for f in spec.get("fields") or ():
        kwargs: dict[str, Any] = _field_params(dict(f.get("params") or {}))
        for flag in ("is_primary", "nullable", "is_partition_key", "is_clustering_key"):
            if f.get(flag):
                kwargs[flag] = True
        if f.get("is_primary") and spec.get("auto_id"):
            kwargs["auto_id"] = True
        if f.get("element_type"):
            kwargs["element_type"] = DataType[f["element_type"]]
        if f.get("default_value") is not None:
            kwargs["default_value"] = f["default_value"]["value"]
        if f.get("description"):
            kwargs["description"] = f["description"]
        try:
            dtype = DataType[f["type"]]
        except KeyError:
            raise NotSupported(f"This pymilvus does not know the field type {f['type']} of '{f['name']}'.") from None
        schema.add_field(f["name"], dtype, **kwargs)
    for fn in spec.get("functions") or ():
        schema.add_function(Function(name=fn["name"], function_type=FunctionType[fn["type"]],
                                     input_field_names=list(fn["input_field_names"]),
                                     output_field_names=list(fn["output_field_names"]),
                                     description=fn.get("description") or "", params=dict(fn.get("params") or {})))
    return schema


def _index_params(indexes: Iterable[dict[str, Any]]) -> Any:
    from pymilvus import MilvusClient

    params = MilvusClient.prepare_index_params()
    for index in indexes:
        extra: dict[str, Any] = {}
        if index.get("metric_type"):
            extra["metric_type"] = index["metric_type"]
        if index.get("params"):
            extra["params"] = dict(index["params"])
        params.add_index(index["field_name"], index_type=index.get("index_type") or "",
                         index_name=index.get("index_name") or "", **extra)
    return params


# -- preview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DropPreview:
    operation: str
    collection: str
    db_name: str
    partition: str | None
    count: int
    sample: list[dict[str, Any]]
    #: the packed size of the sampled entities per entity, and the backup's estimate from it
    row_bytes: int
    estimate_bytes: int
    #: what the disk under the backup directory has free (None: no backup directory given)
    free_bytes: int | None
    definition: dict[str, Any]
    undo: cleanup.UndoPlan
    taken_at: float = field(default_factory=time.time)

    @property
    def fits(self) -> bool:
        return self.free_bytes is None or fits(self.estimate_bytes, self.free_bytes)

    @property
    def what(self) -> str:
        """The words for what will happen ("drop collection 'x'")."""
        if self.operation == DROP_PARTITION:
            return f"drop partition '{self.partition}' of '{self.collection}'"
        if self.operation == TRUNCATE:
            return f"empty (truncate) collection '{self.collection}'"
        return f"drop collection '{self.collection}'"

    def summary(self) -> str:
        """What the confirmation says: how many, the backup's size, what undo will do."""
        where = f" (database '{self.db_name}')" if self.db_name != "default" else ""
        return f"{self.what.capitalize()}{where}: {self.count:,} entities. {self.details()}"

    def details(self) -> str:
        """The summary after its first sentence: the backup, the disk, the undo, the aliases."""
        text = (f"The backup (about {human_bytes(self.estimate_bytes)}) is written and fsynced first")
        if self.free_bytes is not None:
            text += f"; {human_bytes(self.free_bytes)} free there"
        text += ". " + self.undo_summary()
        if self.operation == DROP_COLLECTION and self.definition.get("aliases"):
            text += f" Its aliases ({', '.join(self.definition['aliases'])}) are dropped with it and come back on undo."
        return text

    def undo_summary(self) -> str:
        if self.operation == DROP_COLLECTION:
            base = ("Undo re-creates the collection (schema, functions, indexes, properties, partitions, "
                    "aliases) and puts every entity back")
        elif self.operation == DROP_PARTITION:
            base = "Undo re-creates the partition and puts its entities back"
        else:
            base = "Undo puts every entity back into the collection"
        if not self.undo.keeps_keys:
            return (f"{base}, with NEW primary keys: this server ({self.undo.server_version or 'unknown version'}) "
                    "does not let an auto_id collection take its keys back. The old -> new map goes to the audit log.")
        return base + ", with its primary keys, fields, vectors and partitions."

    def refusal(self) -> str | None:
        """Why the drop may not start (the disk cannot hold the backup), or None."""
        if self.fits:
            return None
        return space_refusal(self.estimate_bytes, self.free_bytes or 0, self.what)


def fits(estimate: int, free: int) -> bool:
    return free >= estimate * SPACE_MARGIN + SPACE_RESERVE


def space_refusal(estimate: int, free: int, what: str) -> str:
    return (f"Not enough disk space for the backup: it needs about {human_bytes(estimate)} (plus a margin), and "
            f"the backup directory's disk has {human_bytes(free)} free. Nothing was dropped or deleted: free some "
            f"space (or delete old backups) before you {what}.")


def human_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def free_space(directory: Path) -> int:
    """Free bytes on the disk that holds ``directory`` (its nearest existing ancestor)."""
    at = Path(directory).absolute()
    while not at.exists() and at != at.parent:
        at = at.parent
    return int(shutil.disk_usage(at).free)


def _all_keys(info: CollectionInfo, partition: str | None) -> Op[list[Any]]:
    """Every primary key (of one partition), at Strong, by primary-key cursor."""
    keys: list[Any] = []
    cursor = None
    parts = [partition] if partition else None
    while True:
        batch = yield from scan_keys(info, cursor, partition_names=parts, consistency_level="Strong")
        keys.extend(batch)
        yield Progress(len(keys), None, "counting entities")
        if len(batch) < 16384:
            return keys
        cursor = batch[-1]


def _by_real_name(info: CollectionInfo) -> Op[CollectionInfo]:
    """``info`` described by the collection's own name when it was reached through an alias
    (a server drops a collection only by its name, and the backup must name the collection)."""
    raw = yield Call("describe_collection", {"collection_name": info.name}, collection=info.name)
    real = str(raw.get("collection_name") or info.name)
    if real == info.name:
        return info
    return (yield from describe(real, with_count=False))


def _check(info: CollectionInfo, operation: str, partition: str | None) -> None:
    if operation not in OPERATIONS:
        raise InvalidInput(f"Unknown operation '{operation}'; use one of {', '.join(OPERATIONS)}.")
    require_loaded(info)  # the entities are read for the backup
    if operation == DROP_PARTITION:
        if not partition:
            raise InvalidInput("Name the partition to drop.")
        if info.partition_key is not None:
            raise InvalidInput(f"'{info.name}' has a partition key ({info.partition_key.name}): its partitions "
                               "are the server's, and cannot be dropped one by one.")
        if partition == "_default":
            raise InvalidInput("The _default partition cannot be dropped; empty the collection (truncate) instead.")
        if partition not in info.partitions:
            raise NotFound(f"Collection '{info.name}' has no partition '{partition}'. "
                           f"Partitions: {', '.join(info.partitions)}.")
    elif partition:
        raise InvalidInput("A partition is named only to drop that partition.")


def preview_drop(info: CollectionInfo, operation: str, *, partition: str | None = None, db_name: str = "",
                 backup_dir: Path | None = None, sample_size: int = SAMPLE_ROWS,
                 was_loaded: bool | None = None) -> Op[DropPreview]:
    """Read the definition, count the entities (Strong), estimate the backup and ask the disk.
    ``was_loaded``: the collection was loaded for this drop (its entities must be read), so a
    restore leaves it released as it was."""
    info = yield from _by_real_name(info)
    _check(info, operation, partition)
    version = yield from cleanup.server_version()
    undo = cleanup.plan_undo(info, version)
    definition = yield from read_definition(info)
    if was_loaded is not None:
        definition["loaded"] = was_loaded
    # count(*) (the drop itself scans every key again, so a key scan here would be paid twice:
    # 100k entities on Lite, 11 s). Lite's count(*) ignores partition_names with an empty filter.
    parts = [partition] if partition else None
    where = f"{info.primary.name} not in []" if partition and is_lite_version(version) else ""
    count = yield from catalog_count(info.name, where, partition_names=parts)
    sample = yield from rows_after(info, None, limit=sample_size, partition_names=parts, consistency_level="Strong")
    row_bytes = _row_bytes(info, sample)
    header_bytes = len(json.dumps(definition, default=str)) + 2048
    estimate = header_bytes + row_bytes * count
    free = (yield Blocking(lambda: free_space(backup_dir))) if backup_dir is not None else None
    return DropPreview(operation, info.name, db_name or info.db_name or "default", partition, count,
                       sample[:10], row_bytes, estimate, free, definition, undo)


def _row_bytes(info: CollectionInfo, sample: list[dict[str, Any]]) -> int:
    """The packed size of one backup line, averaged over ``sample`` (the partition name included)."""
    if not sample:
        return 0
    packing = vector_packing(info)
    extra = len(json.dumps({cleanup.PARTITION_KEY: max(info.partitions, key=len)})) if info.partitions else 0
    total = sum(len(pack_line(dict(r), packing).encode()) + 1 for r in sample)
    return -(-total // len(sample)) + extra


# -- the drop ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DropReport:
    operation: str
    collection: str
    db_name: str
    partition: str | None
    previewed: int
    backed_up: int
    #: entities gone (dropped with the collection or partition, or deleted by a truncate)
    removed: int
    backup_path: str | None
    audit_path: str | None
    elapsed: float
    backup_bytes: int = 0
    aliases_dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _header(info: CollectionInfo, preview: DropPreview, count: int, server: str) -> dict[str, Any]:
    return {
        "format": cleanup.BACKUP_FORMAT, "operation": preview.operation, "collection": info.name,
        "db_name": preview.db_name, "partition": preview.partition, "primary_key": info.primary.name,
        "auto_id": info.primary.auto_id, "filter": "", "count": count,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "server": server,
        "server_version": preview.undo.server_version, "undo": preview.undo.method,
        "partitions": list(info.partitions),
        "partition_key": info.partition_key.name if info.partition_key else None,
        "function_outputs": info.function_outputs, "definition": preview.definition,
    }


def backup_path_for(backup_dir: Path, preview: DropPreview) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(preview.taken_at))
    name = cleanup._file_safe(preview.collection)
    db = cleanup._file_safe(preview.db_name or "default")
    what = {DROP_COLLECTION: "drop", DROP_PARTITION: "droppart", TRUNCATE: "truncate"}[preview.operation]
    path = backup_dir / f"{db}-{name}-{what}-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = backup_dir / f"{db}-{name}-{what}-{stamp}-{n}.jsonl"
    return path


def execute_drop(info: CollectionInfo, preview: DropPreview, *, backup_dir: Path, audit_path: Path | None,
                 server: str = "", batch_size: int = cleanup.DEFAULT_BATCH) -> Op[DropReport]:
    """Back up every entity and the definition (fsynced), then drop, drop the partition, or
    delete every backed-up key; audited. Refused before anything when the disk is too small."""
    info = yield from _by_real_name(info)
    if preview.collection != info.name:
        raise InvalidInput("The preview belongs to another collection.")
    _check(info, preview.operation, preview.partition)
    timer = Timer()
    free = yield Blocking(lambda: free_space(backup_dir))
    if not fits(preview.estimate_bytes, free):
        raise NotEnoughSpace(space_refusal(preview.estimate_bytes, free, preview.what))
    record: dict[str, Any] = {
        "action": preview.operation, "server": server, "db_name": preview.db_name, "collection": info.name,
        "partition": preview.partition, "previewed": preview.count, "undo": preview.undo.method, "backup": None,
    }
    if audit_path is not None:
        yield Blocking(lambda: cleanup.append_audit(audit_path, {"time": cleanup._now(), **record,
                                                                 "status": "started"}))
    backup = backup_path_for(backup_dir, preview)
    warnings: list[str] = []
    backed_up = 0
    try:
        # Every entity there is now: a drop takes them all, also those written since the preview.
        keys = yield from _all_keys(info, preview.partition)
        if len(keys) != preview.count:
            warnings.append(f"The collection held {len(keys):,} entities when the drop began, not the "
                            f"{preview.count:,} counted at the preview; all {len(keys):,} are in the backup.")
        record["backup"] = str(backup)
        backed_up = yield from cleanup.write_backup(info, keys, backup, _header(info, preview, len(keys), server),
                                                    batch_size=batch_size)
    except (GeneratorExit, KeyboardInterrupt):
        backup.unlink(missing_ok=True)
        cleanup._final_audit(audit_path, {**record, "backup": None}, "stopped before dropping", 0, 0)
        raise Cancelled(f"Stopped while backing up: nothing was dropped or deleted from '{info.name}'.") from None
    except BaseException:
        backup.unlink(missing_ok=True)
        cleanup._final_audit(audit_path, {**record, "backup": None}, "failed before dropping", 0, 0)
        raise
    if backed_up != len(keys):
        # Entities deleted by someone else between the key scan and their read: the backup holds
        # what exists, and the drop takes what exists, so nothing is lost; say it.
        warnings.append(f"{len(keys) - backed_up:,} entities were deleted by another writer while the backup ran.")
    size = backup.stat().st_size
    removed = 0
    aliases: list[str] = []
    status = "failed"
    try:
        if preview.operation == DROP_COLLECTION:
            for alias in preview.definition.get("aliases") or ():
                yield Call("drop_alias", {"alias": alias}, collection=info.name)
                aliases.append(alias)
            yield Call("drop_collection", {"collection_name": info.name}, collection=info.name)
            removed = backed_up
        elif preview.operation == DROP_PARTITION:
            # A server drops only a released partition; Milvus Lite has no partition release (and
            # drops a loaded one), so its refusal of the release is not an error.
            yield Call("release_partitions", {"collection_name": info.name, "partition_names": [preview.partition]},
                       collection=info.name, soft=True)
            yield Call("drop_partition", {"collection_name": info.name, "partition_name": preview.partition},
                       collection=info.name)
            removed = backed_up
        else:
            removed = yield from _delete_keys(info, keys, batch_size, backup)
        status = "done"
    except DeleteInterrupted:
        status = "stopped"
        raise
    except MilvusTuiError as exc:
        kind = ServerUnavailable if isinstance(exc, ServerUnavailable) else OperationFailed
        raise kind(f"The {WORDS[preview.operation]} failed after the backup was written: {exc} Every entity "
                   f"is in the backup {backup}; `milvus-tui restore {backup}` puts back what is gone.") from exc
    finally:
        final = {**record, "backup_bytes": size}
        if aliases:
            final["aliases_dropped"] = aliases
        warning = cleanup._final_audit(audit_path, final, status, backed_up, removed)
        if warning:
            warnings.append(warning)
    return DropReport(preview.operation, info.name, preview.db_name, preview.partition, preview.count, backed_up,
                      removed, str(backup), str(audit_path) if audit_path else None, timer.elapsed, size,
                      tuple(aliases), tuple(warnings))


def _delete_keys(info: CollectionInfo, keys: list[Any], batch_size: int, backup: Path) -> Op[int]:
    pk = info.primary.name
    deleted = 0
    total = len(keys)
    try:
        for start in range(0, total, batch_size):
            batch = keys[start:start + batch_size]
            template, params = exprs.in_template(pk, batch)
            result = yield Call("delete", {"collection_name": info.name, "filter": template, "filter_params": params},
                                collection=info.name)
            deleted += int(result["delete_count"]) if isinstance(result, dict) and "delete_count" in result \
                else len(batch)
            yield Progress(deleted, total, "deleting")
    except (GeneratorExit, KeyboardInterrupt):
        raise DeleteInterrupted(
            f"Stopped: {deleted:,} of {total:,} entities were deleted from '{info.name}'; the rest are still there. "
            f"Every entity is in the backup {backup}.", collection=info.name, requested=total, deleted=deleted,
            backup_path=str(backup)) from None
    return deleted


# -- restore -------------------------------------------------------------------------------


def operation_of(header: dict[str, Any]) -> str:
    """A backup's operation; backups written before drops existed are deletes'."""
    return str(header.get("operation") or "delete")


def restore_dropped(path: Path, *, collection: str | None = None, partial: bool = False,
                    batch_size: int = cleanup.DEFAULT_BATCH) -> Op[cleanup.RestoreReport]:
    """Undo a drop or truncate from its backup: re-create what is gone, then put every entity
    back (``cleanup.restore``), and load the collection if it was loaded."""
    header = yield Blocking(lambda: cleanup.read_backup_header(path))
    operation = operation_of(header)
    if operation not in OPERATIONS:
        raise InvalidInput(f"{path} is a {operation} backup, not a drop's or truncate's.")
    if not partial:
        yield Blocking(lambda: cleanup.check_whole(path, header))
    definition = header.get("definition") or {}
    target = collection or str(header["collection"])
    notes: list[str] = []
    exists = bool((yield Call("has_collection", {"collection_name": target})))
    if operation == DROP_COLLECTION and not exists:
        notes += yield from _recreate(target, definition)
    elif not exists:
        raise NotFound(f"Collection '{target}' does not exist, so the {WORDS[operation]} backup cannot go back "
                       f"into it. Restore into another collection with --collection.")
    else:
        yield from _check_same_fields(target, definition)
        if operation == DROP_COLLECTION:  # a restore that stopped part-way: what it had not made yet
            notes += yield from _complete(target, definition)
    if operation == DROP_PARTITION and header.get("partition"):
        partition = str(header["partition"])
        there = yield Call("has_partition", {"collection_name": target, "partition_name": partition},
                           collection=target)
        if not there:
            yield Call("create_partition", {"collection_name": target, "partition_name": partition},
                       collection=target, sync_only=True)
    state = yield Call("get_load_state", {"collection_name": target}, collection=target)
    loaded = _load_state_name(state) == "Loaded"
    if not loaded:
        # Inserts that must not duplicate check what is there with queries, and those need it loaded.
        yield from _load(target)
    report = yield from cleanup.restore(path, collection=target, batch_size=batch_size, partial=partial)
    if operation == DROP_PARTITION and loaded:
        yield from _load(target)  # a new partition of a loaded collection is loaded with it
    # A re-created collection ends as it was when dropped; an existing one as it was before the restore.
    if not (definition.get("loaded", True) if operation == DROP_COLLECTION else loaded):
        yield Call("release_collection", {"collection_name": target}, collection=target)
    return _with_notes(report, notes, operation)


def _with_notes(report: cleanup.RestoreReport, notes: list[str], operation: str) -> cleanup.RestoreReport:
    from dataclasses import replace

    return replace(report, notes=tuple(notes), operation=operation)


def _load(target: str) -> Op[None]:
    from .catalog import load

    yield from load(target)


def _recreate(target: str, definition: dict[str, Any]) -> Op[list[str]]:
    """Create the collection as the definition says; notes on what could not come back."""
    if not definition.get("schema"):
        raise InvalidInput("The backup has no collection definition to re-create it from.")
    schema = yield Blocking(lambda: build_schema(definition["schema"]))
    options: dict[str, Any] = {"collection_name": target, "schema": schema,
                               "consistency_level": definition.get("consistency_level") or "Bounded"}
    if definition.get("properties"):
        options["properties"] = dict(definition["properties"])
    if definition.get("num_shards"):
        options["num_shards"] = int(definition["num_shards"])
    if definition.get("num_partitions"):
        options["num_partitions"] = int(definition["num_partitions"])
    yield Progress(0, None, f"re-creating {target}")
    yield Call("create_collection", options, collection=target, sync_only=True)
    return (yield from _complete(target, definition))


def _complete(target: str, definition: dict[str, Any]) -> Op[list[str]]:
    """The partitions, indexes and aliases of the definition that the collection lacks (all of
    them right after it is created; the rest after a restore that stopped part-way)."""
    notes: list[str] = []
    have = set((yield Call("list_partitions", {"collection_name": target}, collection=target)) or ())
    for partition in definition.get("partitions") or ():
        if partition not in have:
            yield Call("create_partition", {"collection_name": target, "partition_name": partition},
                       collection=target, sync_only=True)
    indexed: set[str] = set()
    for name in (yield Call("list_indexes", {"collection_name": target}, collection=target)) or ():
        desc = yield Call("describe_index", {"collection_name": target, "index_name": name}, collection=target)
        indexed.add(str((desc or {}).get("field_name") or name))
    missing = [i for i in definition.get("indexes") or () if i["field_name"] not in indexed]
    if missing:
        params = yield Blocking(lambda: _index_params(missing))
        yield Call("create_index", {"collection_name": target, "index_params": params}, collection=target,
                   sync_only=True)
    for alias in definition.get("aliases") or ():
        found = yield Call("describe_alias", {"alias": alias}, soft=True)
        owner = found.get("collection_name") if isinstance(found, dict) else None
        if owner and owner != target:
            notes.append(f"The alias '{alias}' now names '{owner}', so it was left there.")
            continue
        if owner == target:
            continue
        made = yield Call("create_alias", {"collection_name": target, "alias": alias}, collection=target, soft=True)
        if isinstance(made, MilvusTuiError):
            notes.append(f"The alias '{alias}' could not be made again: {made}")
    return notes


def _check_same_fields(target: str, definition: dict[str, Any]) -> Op[None]:
    """Restoring into a collection that exists (a truncate, a re-run): its fields must be the backup's."""
    wanted = {f["name"]: f["type"] for f in (definition.get("schema") or {}).get("fields") or ()}
    if not wanted:
        return
    info = yield from describe(target, with_count=False)
    have = {f.name: f.dtype for f in info.fields}
    if have != wanted:
        missing = sorted(set(wanted) - set(have))
        other = sorted(n for n in set(wanted) & set(have) if wanted[n] != have[n])
        extra = sorted(set(have) - set(wanted))
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"other types for {', '.join(other)}"] if other else []) + (
            [f"extra {', '.join(extra)}"] if extra else [])
        raise InvalidInput(f"Collection '{target}' exists, and its fields are not the backup's ({'; '.join(parts)}). "
                           "Nothing was restored. Restore into a new collection with --collection NAME.")
