"""The backups and the audit log on disk: list them, read one back, delete old ones.

Backups are the JSONL files deletes, edits, drops and truncates write (``cleanup.py``,
``drops.py``); the audit log is one JSON record per line. Nothing here talks to Milvus: it reads
files, so listing a directory of large backups reads each file's first line and its last few
bytes (the trailer that says it is whole), never the entities. Servers are compared by the
label records carry (``Session.server_label``: the URI with any password masked, and the
database); the database part is left out, so "this server" covers all its databases.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cleanup
from ..errors import InvalidInput, NotFound

#: How much of a backup's end is read to find its trailer.
_TAIL = 4096


@dataclass(frozen=True)
class BackupEntry:
    path: str
    size: int
    #: the header's time ("2026-12-05T16:40:00+0000"), else the file's modification time
    created: str
    operation: str  # "delete" (also backups that do not say), "edit", "drop_collection", "drop_partition", "truncate"
    collection: str
    db_name: str
    server: str
    #: the filter, the partition, or the edit's description: what the entities were chosen by
    description: str
    #: entities the backup holds: its trailer's count, else the header's
    count: int | None
    #: False when the file ends before its closing line (a backup cut short)
    whole: bool
    format: str = ""
    #: None: the file could not be read as a backup (``problem`` says why)
    problem: str | None = None
    #: the file's modification time: orders backups made within the same second
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class AuditEntry:
    time: str
    action: str
    status: str
    collection: str
    db_name: str
    server: str
    #: entities it touched: deleted, restored, or backed up, as the record says
    count: int | None
    backup: str | None
    description: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BackupList:
    backups: list[BackupEntry]
    audit: list[AuditEntry]
    #: the server the list was filtered for; None: every server
    server: str | None
    backup_dir: str
    audit_path: str


def server_of(label: str) -> str:
    """The server part of a record's ``server`` label (``"<uri> db=<name>"``)."""
    return str(label or "").rsplit(" db=", 1)[0]


def _tail_count(path: Path) -> int | None:
    """The trailer's count, when the file ends with one."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - _TAIL))
        lines = handle.read().splitlines()
    for raw in reversed(lines):
        if raw.strip():
            try:
                value = json.loads(raw)
            except ValueError:
                return None
            if isinstance(value, dict) and cleanup.TRAILER_KEY in value:
                try:
                    return int(value[cleanup.TRAILER_KEY])
                except (TypeError, ValueError):
                    return None
            return None
    return None


def read_entry(path: Path) -> BackupEntry:
    """One backup file described from its header and trailer (a damaged one says why)."""
    stat = path.stat()
    mtime = _iso(stat.st_mtime)
    try:
        header = cleanup.read_backup_header(path)
    except (InvalidInput, NotFound) as exc:
        return BackupEntry(str(path), stat.st_size, mtime, "?", "", "", "", "", None, False, problem=str(exc),
                           mtime=stat.st_mtime)
    trailer = _tail_count(path)
    fmt = str(header.get("format") or "")
    whole = trailer is not None or fmt != cleanup.BACKUP_FORMAT
    count = trailer if trailer is not None else (int(header["count"]) if isinstance(header.get("count"), int) else None)
    operation = str(header.get("operation") or "delete")
    description = str(header.get("filter") or "")
    if header.get("partition"):
        description = f"partition {header['partition']}"
    elif header.get("edit"):  # an edit's backup says what it set (``milvus/edit.py``)
        description = str(header["edit"]) + (f" where {header['filter']}" if header.get("filter") else "")
    elif header.get("description"):
        description = str(header["description"])
    return BackupEntry(str(path), stat.st_size, str(header.get("created") or mtime), operation,
                       str(header.get("collection") or ""), str(header.get("db_name") or "default"),
                       str(header.get("server") or ""), description, count, whole, fmt, mtime=stat.st_mtime)


def _iso(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def list_backups(backup_dir: Path, *, server: str | None = None) -> list[BackupEntry]:
    """Every backup in ``backup_dir``, newest first; only ``server``'s when it is given."""
    try:
        paths = [p for p in Path(backup_dir).iterdir() if p.suffix == ".jsonl" and p.is_file()]
    except FileNotFoundError:
        return []
    entries = [read_entry(p) for p in paths]
    if server is not None:
        entries = [e for e in entries if server_of(e.server) == server]
    # Newest first: by the header's time to the second, then by when the file was written.
    return sorted(entries, key=lambda e: (e.created[:19], e.mtime), reverse=True)


def _count(record: dict[str, Any]) -> int | None:
    for key in ("deleted", "restored", "backed_up", "edited", "previewed", "count"):
        value = record.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def read_audit(audit_path: Path, *, server: str | None = None, limit: int = 5000) -> list[AuditEntry]:
    """The audit log's records, newest first (the last ``limit``); only ``server``'s when given.
    A line that is not a JSON object (cut by a crash) is left out."""
    entries: list[AuditEntry] = []
    try:
        with open(audit_path, encoding="utf-8", errors="replace") as handle:
            lines = list(handle)
    except FileNotFoundError:
        return []
    for line in itertools.islice(reversed(lines), limit):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        label = str(record.get("server") or "")
        if server is not None and server_of(label) != server:
            continue
        description = str(record.get("filter") or record.get("description") or "")
        if record.get("partition"):
            description = f"partition {record['partition']}"
        entries.append(AuditEntry(str(record.get("time") or ""), str(record.get("action") or "?"),
                                  str(record.get("status") or ""), str(record.get("collection") or ""),
                                  str(record.get("db_name") or ""), label, _count(record),
                                  str(record["backup"]) if record.get("backup") else None, description, record))
    return entries


def listing(backup_dir: Path, audit_path: Path, *, server: str | None = None) -> BackupList:
    return BackupList(list_backups(backup_dir, server=server), read_audit(audit_path, server=server), server,
                      str(backup_dir), str(audit_path))


def read_rows(path: Path, *, limit: int = 1000) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A backup's header and its first ``limit`` entities, decoded (vectors unpacked; the
    partition stays under ``$partition``). Read-only."""
    from .values import unpack_row

    header = cleanup.read_backup_header(path)
    packing = dict(header.get("vectors") or {}) if header["format"] != cleanup.READABLE_FORMATS[0] else {}
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        handle.readline()
        for n, line in enumerate(handle):
            if len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise InvalidInput(f"{path} is damaged: line {n + 2} is not JSON.") from None
            if not isinstance(row, dict) or cleanup.TRAILER_KEY in row:
                continue
            rows.append(unpack_row(row, packing) if packing else row)
    return header, rows


def delete_backup(path: Path, backup_dir: Path) -> int:
    """Remove a backup (and the journal a restore kept beside it); the bytes freed. Only files
    inside ``backup_dir`` are removed: a path from elsewhere is refused."""
    path = Path(path)
    try:
        inside = path.resolve().parent == Path(backup_dir).resolve()
    except OSError:
        inside = False
    if not inside or path.suffix != ".jsonl":
        raise InvalidInput(f"{path} is not a backup in {backup_dir}; only those are deleted here.")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise NotFound(f"Backup file {path} does not exist.") from None
    path.unlink()
    journal = cleanup.journal_path(path)
    if journal.exists():
        size += journal.stat().st_size
        journal.unlink()
    return size
