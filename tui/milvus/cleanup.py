"""Safe deletes: preview, back up, delete exactly what was previewed, audit, restore.

The order is the safety argument:
1. ``preview_delete`` counts and samples at Strong consistency and *captures the
   primary keys*; that list, not the filter, is what gets deleted later, so rows that
   start matching after the preview are never touched. It also decides, from the schema
   and the server's version, *how* the delete can be undone (``UndoPlan``), so the
   confirmation says it before anything is deleted, and a delete whose undo is known to
   fail is refused.
2. ``execute_delete`` writes an audit record of intent, then every captured entity (all
   fields, vectors included, and its partition) to a JSONL backup, fsyncs it, and only then
   deletes, by key, in batches. A failed batch raises with the server's message; nothing
   trusts a boolean return value. The backup's reads all carry one server timestamp taken as
   it starts (``read_point``; Strong reads where the server gives none), so it holds every
   write acknowledged before the backup began, the user's own edits before confirming
   included. A write landing after an entity was read and before its delete is lost at any
   read level: a Strong read per batch only moved that window's start from the backup's start
   to the batch's read (and on Go Milvus made the backup ~5x longer). While one batch is
   encoded and written (on a writer thread), the next one is fetched. An interruption
   (ctrl+c, SIGTERM, a cancel) raises ``DeleteInterrupted`` with the exact account.
3. A closing audit record says what was deleted and where the backup is. When it cannot be
   written, the delete is still reported as done (with a warning): a late failure must not
   hide what was done.
4. ``restore`` puts every entity back into its database, collection and partition, leaving
   out function outputs (the server recomputes them), after checking the backup is whole. It
   keeps the original primary keys wherever the server allows (upsert, or insert on a
   collection that allows it); otherwise it inserts with new keys and records the old -> new
   map. Running it twice leaves the same collection: upserts are idempotent, inserts skip
   entities already present and those a journal beside the backup says were restored.

Backup format 3 (``milvus-tui-backup/3``) is format 2 plus each entity's partition (the key
``$partition``, which no Milvus field name can be) and, in the header, the database, the
partitions, the function outputs and the undo plan. Format 2 packs dense vectors as base64
(float vectors as little-endian float32): the header's ``vectors`` names each packed field and
its packing. ``restore`` reads formats 1-3.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import expr as exprs
from .catalog import CollectionInfo, describe, is_lite_version, milvus_release, require_loaded
from ..errors import (
    DeleteInterrupted, InvalidFilter, InvalidInput, MilvusTuiError, NotFound, NotSupported, OperationFailed,
    RestoreIncomplete, RestoreStopped, ServerUnavailable,
)
from .ops import Blocking, Call, Op, Progress, Timer
from .queries import get_entities, read_consistency, read_point, scan_keys, validate_filter
from .values import decode_row, pack_line, unpack_row, vector_packing

BACKUP_FORMAT = "milvus-tui-backup/3"
#: Older formats ``restore`` still reads: 1 wrote vectors as JSON numbers, 2 had no partitions.
READABLE_FORMATS = ("milvus-tui-backup/1", "milvus-tui-backup/2", BACKUP_FORMAT)
#: The key of a backup line (format 3) that holds the entity's partition. Milvus field names
#: match ``[A-Za-z_][A-Za-z0-9_]*``, so it cannot collide with a field.
PARTITION_KEY = "$partition"
DEFAULT_BATCH = 1000
#: Field types a backup can carry and a restore can send back (everything pymilvus returns).
BACKUP_TYPES = {
    "BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "STRING", "JSON", "ARRAY",
    "TIMESTAMPTZ", "GEOMETRY", "FLOAT_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR", "INT8_VECTOR",
    "BINARY_VECTOR", "SPARSE_FLOAT_VECTOR",
}
#: Milvus 2.6.3 added the collection property that lets an insert carry the primary key of an
#: ``auto_id`` collection (milvus-sdk-java #1710, pymilvus #3005). Before it (and Go 2.3.5,
#: measured), an upsert carrying the key is refused (2.3) or gets a new key (2.4+, milvus #50355).
#: Vector types a server older than this cannot take back safely. Measured on Go 2.3.5: several
#: inserts or upserts reaching a FLOAT16_VECTOR collection together panic the whole server
#: ("unsupported data type: Float16Vector"), so a restore in batches would kill it; BFLOAT16,
#: SPARSE and INT8 are refused outright. Milvus 2.4 brought the 16-bit and sparse types, 2.5 int8.
UNDO_TYPES_SINCE = {"FLOAT16_VECTOR": (2, 4), "BFLOAT16_VECTOR": (2, 4), "SPARSE_FLOAT_VECTOR": (2, 4),
                    "INT8_VECTOR": (2, 5)}
ALLOW_INSERT_AUTO_ID = "allow_insert_auto_id"
ALLOW_INSERT_AUTO_ID_SINCE = (2, 6, 3)

#: How a restore sends entities back (``UndoPlan.method``).
UPSERT = "upsert"  # keys kept; idempotent
INSERT_KEEP_KEYS = "insert-keep-keys"  # auto_id collection that allows keyed inserts
INSERT_NEW_KEYS = "insert-new-keys"  # auto_id on a server that cannot keep keys


@dataclass(frozen=True)
class UndoPlan:
    """How a delete of this collection will be undone on this server, decided beforehand."""

    method: str
    server_version: str = ""
    notes: tuple[str, ...] = ()

    @property
    def keeps_keys(self) -> bool:
        return self.method != INSERT_NEW_KEYS

    @property
    def summary(self) -> str:
        """One sentence for the delete confirmation."""
        if self.method == INSERT_NEW_KEYS:
            text = ("Undo will give these entities new primary keys on this server "
                    f"({self.server_version or 'unknown version'}): its auto_id collections do not accept "
                    "the old keys back. The old -> new key map goes to the audit log.")
        else:
            text = "Undo restores these entities with their primary keys, fields, vectors and partitions."
        return " ".join((text, *self.notes))


def plan_undo(info: CollectionInfo, version: str) -> UndoPlan:
    """Decide how a backup of ``info`` can go back on a server reporting ``version``; raise
    NotSupported when it cannot go back at all (then nothing may be deleted)."""
    odd = [f"'{f.name}' ({f.dtype})" for f in info.fields if f.dtype not in BACKUP_TYPES]
    if odd:
        raise NotSupported(
            f"Not supported by this server ({version or 'unknown version'}) for a safe delete: "
            f"milvus-tui cannot back up field {', '.join(odd)}, so an undo would fail. Nothing was deleted."
        )
    release = milvus_release(version) if not is_lite_version(version) else None
    old = [f"'{f.name}' ({f.dtype})" for f in info.fields
           if release is not None and f.dtype in UNDO_TYPES_SINCE and release[:2] < UNDO_TYPES_SINCE[f.dtype]]
    if old:
        raise NotSupported(
            f"Not supported by this server (version {version}): it cannot take field {', '.join(old)} back "
            f"safely (Milvus 2.3 crashes on batched float16 writes), so an undo would fail. Nothing was deleted.")
    notes: list[str] = []
    if info.function_outputs:
        notes.append(f"Function outputs ({', '.join(info.function_outputs)}) are recomputed by the server.")
    if not info.primary.auto_id:
        return UndoPlan(UPSERT, version, tuple(notes))
    if is_lite_version(version):
        # Measured on Milvus Lite 3.2.2: an upsert carrying the key of an auto_id entity keeps it.
        return UndoPlan(UPSERT, version, tuple(notes))
    if release is not None and release >= ALLOW_INSERT_AUTO_ID_SINCE:
        return UndoPlan(INSERT_KEEP_KEYS, version, tuple(notes))
    return UndoPlan(INSERT_NEW_KEYS, version, tuple(notes))


def upsert_merges(info: CollectionInfo, version: str) -> bool:
    """Whether an upsert here keeps dynamic keys the new row leaves out, so replacing a whole
    entity takes a delete of its key first. Milvus Lite 3.2.2's upsert merges the new row onto
    the stored one (``engine/collection.py``: "Upsert with partial update"), measured: upserting
    ``{pk: 1, a: 3}`` over ``{pk: 1, a: 1, b: 2}`` leaves ``b``, also with partial_update=False.
    Schema fields are always in the rows we send; only dynamic keys can be left behind."""
    return info.enable_dynamic_field and is_lite_version(version)


def server_version() -> Op[str]:
    text = yield Call("get_server_version", sync_only=True)
    return str(text or "")


@dataclass(frozen=True)
class DeletePreview:
    collection: str
    db_name: str
    pk_field: str
    expr: str  # the user's filter; "" when deleting selected keys
    keys: tuple[Any, ...]
    sample: list[dict[str, Any]]
    taken_at: float = field(default_factory=time.time)
    undo: UndoPlan = field(default_factory=lambda: UndoPlan(UPSERT))

    @property
    def count(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class DeleteReport:
    collection: str
    requested: int
    backed_up: int
    deleted: int
    backup_path: str | None
    audit_path: str | None
    elapsed: float
    status: str = "done"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoreReport:
    collection: str
    restored: int
    backup_path: str
    elapsed: float
    db_name: str = ""
    method: str = UPSERT
    #: entities not sent because they were already there (a re-run, or an interrupted delete)
    skipped: int = 0
    #: old primary key -> new one, when the server gave restored entities new keys
    key_map: dict[str, Any] = field(default_factory=dict)
    partitions: tuple[str, ...] = ()
    #: what the backup undid: "delete" (also backups that do not say), "drop_collection", "truncate"…
    operation: str = "delete"
    #: what a restore could not put back as it was (an alias that now names another collection)
    notes: tuple[str, ...] = ()


def capture_keys(info: CollectionInfo, *, expr: str | None, keys: list[Any] | None, verb: str,
                 ) -> Op[tuple[list[Any], str]]:
    """The primary keys a write will touch, captured now at Strong consistency, and the validated
    filter: ``keys`` (those that exist, in order, once each), or every entity matching ``expr``.
    An empty filter is refused: writing to every entity must be said (``verb``: "empty", "edit all of")."""
    pk = info.primary.name
    if keys is not None:
        if not keys:
            raise InvalidInput("No entities are selected.")
        for key in keys:
            exprs.literal(key)  # a value no expression can hold is refused before it is hashed
        captured: list[Any] = []
        for batch in _batches(list(dict.fromkeys(keys)), DEFAULT_BATCH):
            found = yield from get_entities(info, batch, [pk])
            present = {r[pk] for r in found}
            captured.extend(k for k in batch if k in present)
        return captured, ""
    where = validate_filter(info, expr or "")
    if not where:
        raise InvalidFilter(
            f"An empty filter would match every entity. To {verb} '{info.name}', say so: "
            f"for example `{pk} >= 0` or `{pk} != \"\"`."
        )
    captured = []
    cursor = None
    while True:
        batch = yield from scan_keys(info, cursor, expr=where, consistency_level="Strong")
        if not batch:
            # An empty page ends it, not a short one: on Go Milvus 2.3.5 a page's limit counts
            # every copy of a duplicated primary key before they are merged (measured).
            return captured, where
        captured.extend(batch)
        yield Progress(len(captured), None, "finding matching entities")
        cursor = batch[-1]


def preview_delete(info: CollectionInfo, *, expr: str | None = None, keys: list[Any] | None = None,
                   sample_size: int = 10, db_name: str = "") -> Op[DeletePreview]:
    """Count, sample and capture the keys a delete would remove, at Strong consistency, and
    decide how it can be undone. ``db_name`` is the connection's database (servers leave it out
    of ``describe_collection``), recorded so the undo finds the collection again."""
    require_loaded(info)
    pk = info.primary.name
    undo = plan_undo(info, (yield from server_version()))
    captured, where = yield from capture_keys(info, expr=expr, keys=keys, verb="empty")
    sample = (yield from get_entities(info, captured[:sample_size])) if captured else []
    return DeletePreview(info.name, db_name or info.db_name or "default", pk, where, tuple(captured), sample,
                         undo=undo)


def _batches(items: list[Any] | tuple[Any, ...], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _file_safe(name: str, limit: int = 80) -> str:
    """A name fit for a file name: other characters become '_', and a long one (collection names
    may have 255 characters; file names ~255 bytes) is cut and keeps a hash of the whole."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    if len(safe.encode()) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        safe = safe.encode()[:limit - 11].decode(errors="ignore") + "-" + digest
    return safe


def backup_path_for(backup_dir: Path, preview: DeletePreview) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(preview.taken_at))
    safe = _file_safe(preview.collection)
    db = _file_safe(preview.db_name or "default")
    path = backup_dir / f"{db}-{safe}-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = backup_dir / f"{db}-{safe}-{stamp}-{n}.jsonl"
    return path


def _open_backup(path: Path, header: dict[str, Any]) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "x", encoding="utf-8")
    os.chmod(path, 0o600)  # backups hold user data; keep them private
    handle.write(json.dumps(header) + "\n")
    return handle


def _named(path: Path, exc: OSError) -> OSError:
    """The same error, naming the file: a full disk's "No space left on device" named none."""
    return type(exc)(exc.errno, exc.strerror, str(path)) if exc.errno is not None and not exc.filename else exc


def _write_rows(handle: TextIO, rows: list[dict[str, Any]], packing: dict[str, str]) -> int:
    try:
        handle.write("".join([pack_line(r, packing) + "\n" for r in rows]))
    except OSError as exc:
        raise _named(Path(handle.name), exc) from None
    return len(rows)


def _close_durably(handle: TextIO, written: int | None = None) -> None:
    try:
        if written is not None:
            handle.write(json.dumps({TRAILER_KEY: written}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
    except OSError as exc:
        raise _named(Path(handle.name), exc) from None


def append_audit(audit_path: Path, record: dict[str, Any]) -> None:
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only, like the backups: filters quote user data, and the server may be named.
    fd = os.open(audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
    except OSError as exc:
        raise _named(audit_path, exc) from None


def _needs_partitions(info: CollectionInfo) -> bool:
    """Whether a backup must record each entity's partition: a query's rows do not say it, and
    a partition-key collection routes entities by the key itself."""
    return info.partition_key is None and any(p != "_default" for p in info.partitions)


def partitions_of(info: CollectionInfo, keys: list[Any], *, guarantee_timestamp: int | None = None,
                  ) -> Op[dict[Any, str]]:
    """Which partition holds each of ``keys`` (one key-only query per partition), read at Strong
    or at ``guarantee_timestamp`` (see ``read_point``)."""
    pk = info.primary.name
    where: dict[Any, str] = {}
    template, params = exprs.in_template(pk, keys)
    for partition in info.partitions:
        rows = yield Call("query", {
            "collection_name": info.name, "filter": template, "filter_params": params, "output_fields": [pk],
            "partition_names": [partition], "limit": len(keys),
            **read_consistency("Strong", guarantee_timestamp),
        }, collection=info.name)
        for row in rows:
            where[row[pk]] = partition
    return where


def backup_header(info: CollectionInfo, *, db_name: str, pk_field: str, expr: str, count: int, server: str,
                  server_version: str, undo: str, **operation: Any) -> dict[str, Any]:
    """The header of a format-3 backup of ``count`` entities of ``info``; ``operation`` (an
    edit's ``operation``, ``edit`` and ``changes``) comes right after the format."""
    return {
        "format": BACKUP_FORMAT, **operation, "collection": info.name, "db_name": db_name,
        "primary_key": pk_field, "auto_id": info.primary.auto_id, "filter": expr,
        "count": count, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "server": server,
        "server_version": server_version, "undo": undo,
        "partitions": list(info.partitions),
        "partition_key": info.partition_key.name if info.partition_key else None,
        "function_outputs": info.function_outputs,
    }


def write_backup(info: CollectionInfo, keys: tuple[Any, ...] | list[Any], path: Path, header: dict[str, Any], *,
                 batch_size: int = DEFAULT_BATCH) -> Op[int]:
    """Write the entities with these keys to a new backup file at ``path`` (format 3: ``header``
    gains the ``vectors`` packing; lines carry their partition when the collection has named
    partitions), fsynced before this returns; the number of entities written.

    Every batch is read as of one timestamp taken before the first (``read_point``): it holds
    every write acknowledged before the backup started (the module docstring says what Strong
    per batch held beyond that), and on Go Milvus only the first read waits for a time tick
    (fetching 50k entities: 13.9 -> 2.2 s, docs/BENCHMARKS.md issue 10)."""
    total = len(keys)
    header = {**header, "vectors": vector_packing(info)}
    packing = header["vectors"]
    by_partition = _needs_partitions(info)
    pk = info.primary.name
    # Before the file exists: nothing to clean up if the server cannot be asked.
    as_of = yield from read_point()
    handle = yield Blocking(lambda: _open_backup(path, header))
    # One writer thread: batch N is encoded and appended while batch N+1 is fetched (the
    # server works in its own process). At most two batches are in memory at a time.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milvus-tui-backup")
    pending: Future[int] | None = None
    written = 0
    try:
        for batch in _batches(keys, batch_size):
            rows = yield from get_entities(info, batch, strict_float32=True, guarantee_timestamp=as_of)
            if by_partition:
                where = yield from partitions_of(info, batch, guarantee_timestamp=as_of)
                missing = [r[pk] for r in rows if r[pk] not in where]
                if missing:
                    raise OperationFailed(
                        f"Could not tell which partition holds {len(missing)} of the entities (for example "
                        f"{missing[0]!r}); nothing was deleted.")
                for row in rows:
                    row[PARTITION_KEY] = where[row[pk]]
            if pending is not None:
                written += yield Blocking(pending.result)
                yield Progress(written, total, "backing up")
            pending = writer.submit(_write_rows, handle, rows, packing)
        if pending is not None:
            written += yield Blocking(pending.result)
            pending = None
            yield Progress(written, total, "backing up")
        # The header said how many were asked for; a trailer says how many are here, so a
        # restore can tell a whole backup from one cut short.
        yield Blocking(lambda: _close_durably(handle, written))
    finally:
        # Queued after any write still in flight, so the file is never closed under it
        # (and a cancel on the event loop does not wait for that write).
        writer.submit(handle.close)
        writer.shutdown(wait=False)
    return written


def execute_delete(info: CollectionInfo, preview: DeletePreview, *, backup_dir: Path | None,
                   audit_path: Path | None, batch_size: int = DEFAULT_BATCH, server: str = "") -> Op[DeleteReport]:
    """Back up, then delete exactly ``preview.keys``; ``backup_dir=None`` skips the backup."""
    if preview.collection != info.name:
        raise InvalidInput("The preview belongs to another collection.")
    timer = Timer()
    keys = preview.keys
    total = len(keys)
    backup: Path | None = None
    backed_up = 0
    db_name = preview.db_name or info.db_name or "default"
    record = {
        "action": "delete", "server": server, "db_name": db_name, "collection": info.name,
        "filter": preview.expr, "previewed": total, "undo": preview.undo.method, "backup": None,
    }
    if audit_path is not None:
        # Intent first: if the process dies mid-delete, the log still says what was under way.
        yield Blocking(lambda: append_audit(audit_path, {"time": _now(), **record, "status": "started"}))
    if backup_dir is not None and total:
        backup = backup_path_for(backup_dir, preview)
        record["backup"] = str(backup)
        header = backup_header(info, db_name=db_name, pk_field=preview.pk_field, expr=preview.expr, count=total,
                               server=server, server_version=preview.undo.server_version,
                               undo=preview.undo.method)
        try:
            backed_up = yield from write_backup(info, keys, backup, header, batch_size=batch_size)
        except (GeneratorExit, KeyboardInterrupt):
            # Nothing is deleted yet, so the half-written backup is of no use: remove it.
            _final_audit(audit_path, {**record, "backup": None}, "stopped before deleting", 0, 0)
            backup.unlink(missing_ok=True)
            raise DeleteInterrupted(
                f"Stopped while backing up: nothing was deleted from '{info.name}'.", collection=info.name,
                requested=total, deleted=0, backup_path=None) from None
        except BaseException:
            _final_audit(audit_path, record, "failed before deleting", 0, 0)
            raise
        if backed_up < total:
            # Never delete what the backup does not hold: entities deleted or changed since the
            # preview, or a server that answered a read short (Go 2.3.5 with duplicate keys).
            _final_audit(audit_path, record, "refused: backup short", backed_up, 0)
            raise OperationFailed(
                f"The backup holds {backed_up:,} of the {total:,} previewed entities, so nothing was deleted "
                f"from '{info.name}'. Preview the delete again.")
    deleted = 0
    in_flight = 0  # keys of a delete call sent but not answered: the server may have applied it
    status = "failed"
    try:
        for batch in _batches(keys, batch_size):
            in_flight = len(batch)
            template, params = exprs.in_template(preview.pk_field, batch)
            result = yield Call("delete", {"collection_name": info.name, "filter": template, "filter_params": params},
                                collection=info.name)
            in_flight = 0
            if isinstance(result, dict) and "delete_count" in result:
                deleted += int(result["delete_count"])
            else:
                deleted += len(batch)
            yield Progress(deleted, total, "deleting")
        status = "done"
    except (GeneratorExit, KeyboardInterrupt) as exc:
        # Stopped between batches (a cancel closes the operation; ctrl+c arrives mid-call, and
        # that batch's keys were sent, so the count says "at most" unless the call returned).
        status = "cancelled" if isinstance(exc, GeneratorExit) else "interrupted"
        where = f" Every previewed entity is in the backup {backup}." if backup else " There is no backup."
        if in_flight:
            record["in_flight"] = in_flight
            account = (f"{deleted} of {total} entities were deleted from '{info.name}', and the {in_flight} "
                       f"of the batch under way when it stopped may be too; the rest are still there.")
        else:
            account = (f"{deleted} of {total} entities were deleted from '{info.name}'; the other "
                       f"{total - deleted} are still there.")
        raise DeleteInterrupted(f"Stopped: {account}{where}", collection=info.name, requested=total, deleted=deleted,
                                backup_path=str(backup) if backup else None) from None
    except MilvusTuiError as exc:
        # Keep "the server went away" recognisable (exit code 5, reconnect hint) after wrapping.
        kind = ServerUnavailable if isinstance(exc, ServerUnavailable) else OperationFailed
        raise kind(
            f"The delete stopped after {deleted} of {total} entities: {exc}"
            + (f" Every previewed entity is in the backup {backup}." if backup else "")
        ) from exc
    finally:
        warning = _final_audit(audit_path, record, status, backed_up, deleted)
    return DeleteReport(info.name, total, backed_up, deleted, str(backup) if backup else None,
                        str(audit_path) if audit_path else None, timer.elapsed,
                        warnings=(warning,) if warning else ())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _final_audit(audit_path: Path | None, record: dict[str, Any], status: str, backed_up: int,
                 deleted: int) -> str | None:
    """The closing audit record; a warning (not an error) when it cannot be written, because
    by then the delete has happened and the user must hear about it, and about the backup."""
    if audit_path is None:
        return None
    try:
        append_audit(audit_path, {"time": _now(), **record, "status": status, "backed_up": backed_up,
                                  "deleted": deleted})
    except OSError as exc:
        return f"The audit log {audit_path} could not be written ({exc.strerror or exc})."
    return None


def read_backup_header(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            header = json.loads(handle.readline())
    except FileNotFoundError:
        raise NotFound(f"Backup file {path} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a milvus-tui backup: {exc}") from None
    if not isinstance(header, dict) or header.get("format") not in READABLE_FORMATS:
        found = header.get("format") if isinstance(header, dict) else None
        if isinstance(found, str) and found.startswith("milvus-tui-backup/"):
            raise InvalidInput(f"{path} is a {found} backup, a format this version cannot read "
                               f"(it reads {', '.join(READABLE_FORMATS)}).")
        raise InvalidInput(f"{path} is not a milvus-tui backup (its first line has no '{BACKUP_FORMAT}' header).")
    if header["format"] != READABLE_FORMATS[0] and not isinstance(header.get("vectors", {}), dict):
        raise InvalidInput(f"{path} is damaged: its header's 'vectors' is not an object.")
    return header


def backup_database(path: Path) -> str:
    """The database a backup's collection lives in ("default" for formats that did not say)."""
    return str(read_backup_header(path).get("db_name") or "default")


TRAILER_KEY = "$backup_end"


def _scan_backup(path: Path) -> tuple[int, int | None]:
    """(entity lines, the count the trailer states or None) of a backup, header excluded."""
    lines = 0
    trailer: int | None = None
    with open(path, "rb") as handle:
        handle.readline()
        for raw in handle:
            if raw.startswith(b'{"' + TRAILER_KEY.encode()):
                try:
                    trailer = int(json.loads(raw)[TRAILER_KEY])
                except (ValueError, KeyError, TypeError):
                    trailer = -1
                continue
            if raw.strip():
                lines += 1
    return lines, trailer


def check_whole(path: Path, header: dict[str, Any]) -> int:
    """The number of entities the backup holds; InvalidInput when it is not the number it says."""
    lines, trailer = _scan_backup(path)
    expected = trailer if trailer is not None else header.get("count")
    if header["format"] == BACKUP_FORMAT and trailer is None:
        raise InvalidInput(
            f"{path} is incomplete: it holds {lines:,} entities, but it ends before the line that closes "
            f"every whole backup (its header says {int(header.get('count') or 0):,} were to be backed up). "
            f"Nothing was restored. To restore the {lines:,} it holds, add --partial.")
    if expected is not None and int(expected) != lines:
        raise InvalidInput(
            f"{path} is incomplete: it holds {lines:,} entities, but says it holds {int(expected):,}. "
            f"Nothing was restored. To restore the {lines:,} it holds, add --partial.")
    return lines


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".restored")


def _read_journal(path: Path) -> dict[str, Any]:
    """Old key (as JSON text) -> new key, for every entity an earlier restore inserted."""
    done: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash: its batch is checked against the server
                for old, new in zip(entry.get("old", []), entry.get("new", [])):
                    done[json.dumps(old)] = new
    except FileNotFoundError:
        pass
    return done


def _append_journal(path: Path, old: list[Any], new: list[Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"old": old, "new": new}, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def restore(path: Path, *, collection: str | None = None, batch_size: int = DEFAULT_BATCH,
            db_name: str | None = None, partial: bool = False) -> Op[RestoreReport]:
    """Put every entity of a backup back into its collection and partition (safe to re-run).

    ``db_name`` is the database the connection uses; a backup of another database is refused
    here (``Cleanup.restore`` opens a connection to the right one). ``partial`` restores a backup
    that is not whole (cut short) instead of refusing it."""
    timer = Timer()
    header = yield Blocking(lambda: read_backup_header(path))
    backup_db = str(header.get("db_name") or "default")
    if db_name is not None and collection is None and backup_db != (db_name or "default"):
        raise InvalidInput(f"{path} belongs to database '{backup_db}', but this connection uses '{db_name}'.")
    held = yield Blocking(lambda: check_whole(path, header) if not partial else _scan_backup(path)[0])
    target = collection or header["collection"]
    info = yield from describe(target, with_count=False)
    version = yield from server_version()
    plan = plan_undo(info, version)
    # An edit's originals replace the edited entities whole (a key the edit added must go).
    replace = header.get("operation") == "edit" and upsert_merges(info, version)
    if header.get("operation") == "edit" and plan.method != UPSERT:
        # An edit's entities are still there: only an upsert puts their old values back (an
        # insert would skip them as present, or duplicate them with new keys).
        raise NotSupported(f"Not supported by this server ({plan.server_version or 'unknown version'}): {path} "
                           f"holds the entities of '{target}' as they were before an edit, and only an upsert "
                           "puts them back, which this server does not keep the keys of. Nothing was restored.")
    pk = info.primary.name
    # Format 1 is decoded by the target's schema; formats 2 and 3 say how each vector is packed.
    packing = None if header["format"] == READABLE_FORMATS[0] else dict(header.get("vectors") or {})
    leave_out = set(info.function_outputs)
    use_partitions = info.partition_key is None
    known_partitions = set(info.partitions)
    journal = journal_path(path)
    journaled = (yield Blocking(lambda: _read_journal(journal))) if plan.method != UPSERT else {}
    key_map: dict[str, Any] = dict(journaled)
    # An insert must not duplicate what is still there (a delete interrupted part-way leaves
    # some behind). Asked once, before any insert, in key-only queries of up to 16384 keys: one
    # Strong query per 1000-entity batch waited for the server's time tick each time (Go 2.3.5:
    # 14 of a 20 s restore of 50k). The same answer: the inserts add new keys (or, keeping keys,
    # only keys of this backup, each once), so none of them can make a later batch's key present.
    present: set[Any] = set()
    if plan.method != UPSERT:
        pending_keys = yield Blocking(lambda: _backup_keys(path, pk, journaled))
        present = yield from _present_all(info, pending_keys)
    altered = (yield from _allow_keyed_insert(info)) if plan.method == INSERT_KEEP_KEYS else None
    handle = yield Blocking(lambda: open(path, encoding="utf-8"))
    restored = skipped = 0
    used: set[str] = set()
    try:
        handle.readline()
        while True:
            lines = yield Blocking(lambda: list(itertools.islice(handle, batch_size)))
            if not lines:
                break
            try:
                rows = [json.loads(line) for line in lines if line.strip()]
                rows = [r for r in rows if TRAILER_KEY not in r]
                rows = [decode_row(r, info) if packing is None else unpack_row(r, packing) for r in rows]
            except ValueError as exc:
                raise InvalidInput(f"{path} is damaged: a line after entity {restored + skipped} is not a "
                                   f"backed-up entity ({exc}).") from None
            for row in rows:
                for name in leave_out:
                    row.pop(name, None)
            if plan.method != UPSERT and rows:
                # An insert must not duplicate: skip what a journal says went back already, and
                # what was still there when the restore began (``present``).
                fresh = [r for r in rows if json.dumps(r.get(pk), default=str) not in journaled]
                skipped += len(rows) - len(fresh) + sum(1 for r in fresh if r[pk] in present)
                rows = [r for r in fresh if r[pk] not in present]
            groups: dict[str | None, list[dict[str, Any]]] = {}
            for row in rows:
                partition = row.pop(PARTITION_KEY, None)
                groups.setdefault(partition if use_partitions else None, []).append(row)
            for partition, group in groups.items():
                try:
                    if partition is not None and partition not in known_partitions:
                        yield Call("create_partition", {"collection_name": target, "partition_name": partition},
                                   collection=target, sync_only=True)
                        known_partitions.add(partition)
                    yield from _send(target, pk, plan.method, group, partition, key_map, journal, replace=replace)
                except (MilvusTuiError, KeyboardInterrupt) as exc:
                    again = ("it upserts, so entities already back are not duplicated"
                             if plan.method == UPSERT else
                             f"it skips the entities already back (the journal {journal} lists them)")
                    why = "it was interrupted." if isinstance(exc, KeyboardInterrupt) else str(exc)
                    kind = RestoreStopped if isinstance(exc, KeyboardInterrupt) else RestoreIncomplete
                    error = kind(
                        f"The restore stopped after {restored:,} of {held:,} entities: {why} Running the same "
                        f"restore again is safe: {again}.", restored=restored, total=held)
                    raise error from exc
                restored += len(group)
                if partition:
                    used.add(partition)
            yield Progress(restored + skipped, held, "restoring")
    except GeneratorExit:
        # Stopped between batches. No more requests may be made from here, so a property set
        # for this restore stays; say so rather than pretend.
        handle.close()
        left = (f" The collection property {ALLOW_INSERT_AUTO_ID}=true set for it is still set on '{target}'."
                if altered is not None else "")
        raise RestoreStopped(
            f"The restore stopped after {restored:,} of {held:,} entities. Running it again is safe.{left}",
            restored=restored, total=held) from None
    except BaseException:
        handle.close()
        if altered is not None:
            yield from _disallow_keyed_insert(info, altered)
        raise
    handle.close()
    if altered is not None:
        yield from _disallow_keyed_insert(info, altered)
    # Restored rows should be fast to read right away (Lite is slow on unflushed data).
    yield Call("flush", {"collection_name": target}, collection=target)
    return RestoreReport(target, restored, str(path), timer.elapsed, db_name=backup_db, method=plan.method,
                         skipped=skipped, key_map=key_map if plan.method == INSERT_NEW_KEYS else {},
                         partitions=tuple(sorted(used)))


#: Keys per present-check query: Milvus caps a query's limit at 16384; the expression is kept
#: under ~1 MB for long VARCHAR keys.
PRESENT_CHUNK = 16384
PRESENT_CHUNK_CHARS = 1 << 20


def _backup_keys(path: Path, pk: str, journaled: dict[str, Any]) -> list[Any]:
    """The primary keys of a backup's entities that the journal does not list. A line that does
    not parse is left out here: the restore's own reading refuses it when it gets there."""
    keys: list[Any] = []
    with open(path, encoding="utf-8") as handle:
        handle.readline()
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict) or TRAILER_KEY in row or pk not in row:
                continue
            if json.dumps(row[pk], default=str) not in journaled:
                keys.append(row[pk])
    return keys


def _present_all(info: CollectionInfo, keys: list[Any]) -> Op[set[Any]]:
    """Which of ``keys`` the collection holds (Strong), in as few key-only queries as fit."""
    found: set[Any] = set()
    chunk: list[Any] = []
    chars = 0
    for key in keys:
        chunk.append(key)
        chars += len(str(key)) + 4
        if len(chunk) >= PRESENT_CHUNK or chars >= PRESENT_CHUNK_CHARS:
            found |= yield from _present(info, chunk)
            chunk, chars = [], 0
    if chunk:
        found |= yield from _present(info, chunk)
    return found


def _present(info: CollectionInfo, keys: list[Any]) -> Op[set[Any]]:
    if not keys:
        return set()
    found = yield from get_entities(info, keys, [info.primary.name])
    return {r[info.primary.name] for r in found}


def _send(target: str, pk: str, method: str, rows: list[dict[str, Any]], partition: str | None,
          key_map: dict[str, Any], journal: Path, *, replace: bool = False) -> Op[None]:
    kwargs: dict[str, Any] = {"collection_name": target}
    if partition is not None:
        kwargs["partition_name"] = partition
    if method == UPSERT and replace and rows:
        # Where an upsert merges (``upsert_merges``), the old entity goes first; running the
        # restore again is still safe: the backup holds every entity of this batch.
        template, params = exprs.in_template(pk, [r[pk] for r in rows])
        yield Call("delete", {"collection_name": target, "filter": template, "filter_params": params},
                   collection=target)
    if method == UPSERT:
        yield Call("upsert", {**kwargs, "data": rows}, collection=target)
        return
    old = [r[pk] for r in rows]
    if method == INSERT_NEW_KEYS:
        rows = [{k: v for k, v in r.items() if k != pk} for r in rows]
    result = yield Call("insert", {**kwargs, "data": rows}, collection=target)
    new = list((result or {}).get("ids") or []) if isinstance(result, dict) else []
    if method == INSERT_KEEP_KEYS or len(new) != len(old):
        new = new if len(new) == len(old) else old
    yield Blocking(lambda: _append_journal(journal, old, new))
    for a, b in zip(old, new):
        key_map[json.dumps(a, default=str)] = b


def _allow_keyed_insert(info: CollectionInfo) -> Op[str | None]:
    """Let inserts carry the primary key for the restore; the property's previous value
    ("" when unset), or None when it was already allowed."""
    previous = info.properties.get(ALLOW_INSERT_AUTO_ID)
    if str(previous).lower() == "true":
        return None
    yield Call("alter_collection_properties", {"collection_name": info.name,
                                               "properties": {ALLOW_INSERT_AUTO_ID: "true"}},
               collection=info.name, sync_only=True)
    return previous or ""


def _disallow_keyed_insert(info: CollectionInfo, previous: str) -> Op[None]:
    if previous:
        yield Call("alter_collection_properties", {"collection_name": info.name,
                                                   "properties": {ALLOW_INSERT_AUTO_ID: previous}},
                   collection=info.name, sync_only=True)
    else:
        yield Call("drop_collection_properties", {"collection_name": info.name,
                                                  "property_keys": [ALLOW_INSERT_AUTO_ID]},
                   collection=info.name, sync_only=True)


def restore_record(report: RestoreReport, server: str) -> dict[str, Any]:
    """The audit record of a restore (the app and the CLI write the same one)."""
    record = {"time": _now(), "action": "restore", "server": server, "db_name": report.db_name,
              "collection": report.collection, "restored": report.restored, "skipped": report.skipped,
              "method": report.method, "backup": report.backup_path, "elapsed": round(report.elapsed, 3)}
    if report.key_map:
        record["key_map"] = report.key_map
    if report.operation != "delete":
        record["operation"] = report.operation
    if report.notes:
        record["notes"] = list(report.notes)
    return record


def restore_stopped_record(error: RestoreIncomplete, path: Path, server: str) -> dict[str, Any]:
    """The audit record of a restore that stopped part-way (it says how many are back)."""
    return {"time": _now(), "action": "restore", "status": "stopped", "server": server, "backup": str(path),
            "restored": error.restored, "total": error.total, "error": str(error)}
