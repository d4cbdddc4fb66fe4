"""Safe deletes: preview, back up, delete exactly what was previewed, audit, restore.

The order is the safety argument:
1. ``preview_delete`` counts and samples at Strong consistency and *captures the
   primary keys*; that list, not the filter, is what gets deleted later, so rows that
   start matching after the preview are never touched.
2. ``execute_delete`` writes every captured entity (all fields, vectors included) to a
   JSONL backup, fsyncs it, and only then deletes, by key, in batches. A failed batch
   raises with the server's message; nothing trusts a boolean return value. While one
   batch is encoded and written (on a writer thread), the next one is fetched.
3. An audit record says what was asked, what was deleted and where the backup is.
4. ``restore`` upserts a backup, so running it twice leaves the same collection.

Backup format 2 (``milvus-tui-backup/2``) is format 1 with dense vectors packed as base64
(float vectors as little-endian float32): the header's ``vectors`` names each packed field
and its packing. ``restore`` reads both formats.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import expr as exprs
from .catalog import CollectionInfo, describe, require_loaded
from .connection import MilvusConnection
from .errors import InvalidFilter, InvalidInput, MilvusTuiError, NotFound, OperationFailed, ServerUnavailable
from .ops import Blocking, Call, Context, Op, Progress, Timer
from .queries import get_entities, scan_keys, validate_filter
from .values import decode_row, pack_line, unpack_row, vector_packing

BACKUP_FORMAT = "milvus-tui-backup/2"
#: Older formats ``restore`` still reads: 1 wrote vectors as JSON numbers.
READABLE_FORMATS = ("milvus-tui-backup/1", BACKUP_FORMAT)
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class DeletePreview:
    collection: str
    db_name: str
    pk_field: str
    expr: str  # the user's filter; "" when deleting selected keys
    keys: tuple[Any, ...]
    sample: list[dict[str, Any]]
    taken_at: float = field(default_factory=time.time)

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


@dataclass(frozen=True)
class RestoreReport:
    collection: str
    restored: int
    backup_path: str
    elapsed: float


def preview_delete(info: CollectionInfo, *, expr: str | None = None, keys: list[Any] | None = None,
                   sample_size: int = 10) -> Op[DeletePreview]:
    """Count, sample and capture the keys a delete would remove, at Strong consistency."""
    require_loaded(info)
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
        where = ""
    else:
        where = validate_filter(info, expr or "")
        if not where:
            raise InvalidFilter(
                f"An empty filter would match every entity. To empty '{info.name}', say so: "
                f"for example `{pk} >= 0` or `{pk} != \"\"`."
            )
        captured = []
        cursor = None
        while True:
            batch = yield from scan_keys(info, cursor, expr=where, consistency_level="Strong")
            captured.extend(batch)
            yield Progress(len(captured), None, "finding matching entities")
            if len(batch) < 16384:
                break
            cursor = batch[-1]
    sample = (yield from get_entities(info, captured[:sample_size])) if captured else []
    return DeletePreview(info.name, info.db_name, pk, where, tuple(captured), sample)


def _batches(items: list[Any] | tuple[Any, ...], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def backup_path_for(backup_dir: Path, preview: DeletePreview) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(preview.taken_at))
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in preview.collection)
    db = "".join(c if c.isalnum() or c in "-_" else "_" for c in (preview.db_name or "default"))
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


def _write_rows(handle: TextIO, rows: list[dict[str, Any]], packing: dict[str, str]) -> int:
    handle.write("".join([pack_line(r, packing) + "\n" for r in rows]))
    return len(rows)


def _close_durably(handle: TextIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def append_audit(audit_path: Path, record: dict[str, Any]) -> None:
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only, like the backups: filters quote user data, and the server may be named.
    fd = os.open(audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")


def write_backup(info: CollectionInfo, keys: tuple[Any, ...] | list[Any], path: Path, header: dict[str, Any], *,
                 batch_size: int = DEFAULT_BATCH) -> Op[int]:
    """Write the entities with these keys to a new backup file at ``path`` (format 2: ``header``
    gains the ``vectors`` packing), fsynced before this returns; the number of entities written."""
    total = len(keys)
    header = {**header, "vectors": vector_packing(info)}
    packing = header["vectors"]
    handle = yield Blocking(lambda: _open_backup(path, header))
    # One writer thread: batch N is encoded and appended while batch N+1 is fetched (the
    # server works in its own process). At most two batches are in memory at a time.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milvus-tui-backup")
    pending: Future[int] | None = None
    written = 0
    try:
        for batch in _batches(keys, batch_size):
            rows = yield from get_entities(info, batch, strict_float32=True)
            if pending is not None:
                written += yield Blocking(pending.result)
                yield Progress(written, total, "backing up")
            pending = writer.submit(_write_rows, handle, rows, packing)
        if pending is not None:
            written += yield Blocking(pending.result)
            pending = None
            yield Progress(written, total, "backing up")
        yield Blocking(lambda: _close_durably(handle))
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
    if backup_dir is not None and total:
        backup = backup_path_for(backup_dir, preview)
        header = {
            "format": BACKUP_FORMAT, "collection": info.name, "db_name": info.db_name,
            "primary_key": preview.pk_field, "filter": preview.expr, "count": total,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "server": server,
        }
        backed_up = yield from write_backup(info, keys, backup, header, batch_size=batch_size)
    deleted = 0
    status = "failed"
    try:
        for batch in _batches(keys, batch_size):
            result = yield Call("delete", {"collection_name": info.name, "filter": exprs.in_list(preview.pk_field, batch)},
                                collection=info.name)
            if isinstance(result, dict) and "delete_count" in result:
                deleted += int(result["delete_count"])
            else:
                deleted += len(batch)
            yield Progress(deleted, total, "deleting")
        status = "done"
    except GeneratorExit:
        status = "cancelled"
        raise
    except MilvusTuiError as exc:
        # Keep "the server went away" recognisable (exit code 5, reconnect hint) after wrapping.
        kind = ServerUnavailable if isinstance(exc, ServerUnavailable) else OperationFailed
        raise kind(
            f"The delete stopped after {deleted} of {total} entities: {exc}"
            + (f" Every previewed entity is in the backup {backup}." if backup else "")
        ) from exc
    finally:
        if audit_path is not None:
            append_audit(audit_path, {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "action": "delete", "status": status,
                "server": server, "db_name": info.db_name, "collection": info.name, "filter": preview.expr,
                "previewed": total, "backed_up": backed_up, "deleted": deleted,
                "backup": str(backup) if backup else None,
            })
    return DeleteReport(info.name, total, backed_up, deleted, str(backup) if backup else None,
                        str(audit_path) if audit_path else None, timer.elapsed)


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


def restore(path: Path, *, collection: str | None = None, batch_size: int = DEFAULT_BATCH) -> Op[RestoreReport]:
    """Upsert every entity of a backup back into its collection (idempotent)."""
    timer = Timer()
    header = yield Blocking(lambda: read_backup_header(path))
    target = collection or header["collection"]
    info = yield from describe(target, with_count=False)
    total = int(header.get("count") or 0)
    # Format 1 is decoded by the target's schema; format 2 says how each vector is packed.
    packing = None if header["format"] == READABLE_FORMATS[0] else dict(header.get("vectors") or {})
    handle = yield Blocking(lambda: open(path, encoding="utf-8"))
    restored = 0
    try:
        handle.readline()
        while True:
            lines = yield Blocking(lambda: list(itertools.islice(handle, batch_size)))
            if not lines:
                break
            try:
                if packing is None:
                    rows = [decode_row(json.loads(line), info) for line in lines if line.strip()]
                else:
                    rows = [unpack_row(json.loads(line), packing) for line in lines if line.strip()]
            except ValueError as exc:
                raise InvalidInput(f"{path} is damaged: a line after entity {restored} is not a "
                                   f"backed-up entity ({exc}).") from None
            if rows:
                yield Call("upsert", {"collection_name": target, "data": rows}, collection=target)
            restored += len(rows)
            yield Progress(restored, total, "restoring")
    finally:
        handle.close()
    # Restored rows should be fast to read right away (Lite is slow on unflushed data).
    yield Call("flush", {"collection_name": target}, collection=target)
    return RestoreReport(target, restored, str(path), timer.elapsed)


class Cleanup:
    """Sync and async forms of preview, delete and restore on one connection."""

    def __init__(self, conn: MilvusConnection, *, backup_dir: Path, audit_path: Path) -> None:
        self.conn = conn
        self.backup_dir = backup_dir
        self.audit_path = audit_path

    def _server(self) -> str:
        return f"{self.conn.display_uri} db={self.conn.db_name}"  # never a password in the URI

    def preview(self, info: CollectionInfo, **kw: Any) -> DeletePreview:
        return self.conn.run(preview_delete(info, **kw))

    async def apreview(self, info: CollectionInfo, **kw: Any) -> DeletePreview:
        return await self.conn.arun(preview_delete(info, **kw))

    def delete(self, info: CollectionInfo, preview: DeletePreview, *, backup: bool = True,
               ctx: Context | None = None) -> DeleteReport:
        op = execute_delete(info, preview, backup_dir=self.backup_dir if backup else None,
                            audit_path=self.audit_path, server=self._server())
        return self.conn.run(op, ctx)

    async def adelete(self, info: CollectionInfo, preview: DeletePreview, *, backup: bool = True,
                      ctx: Context | None = None) -> DeleteReport:
        op = execute_delete(info, preview, backup_dir=self.backup_dir if backup else None,
                            audit_path=self.audit_path, server=self._server())
        return await self.conn.arun(op, ctx)

    def restore(self, path: Path, ctx: Context | None = None, **kw: Any) -> RestoreReport:
        report = self.conn.run(restore(path, **kw), ctx)
        self._audit_restore(report)
        return report

    async def arestore(self, path: Path, ctx: Context | None = None, **kw: Any) -> RestoreReport:
        report = await self.conn.arun(restore(path, **kw), ctx)
        self._audit_restore(report)
        return report

    def _audit_restore(self, report: RestoreReport) -> None:
        append_audit(self.audit_path, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "action": "restore",
                                       "server": self._server(), **asdict(report)})
