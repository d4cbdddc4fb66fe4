"""Export: stream a filter's whole result to JSONL, CSV or Parquet with bounded memory.

Rows come through the same primary-key cursor as paging, one batch at a time, and go
straight to the file, so exporting a million entities holds one batch in memory. Parquet
(``parquet.py`` says how each Milvus type is stored) gets one row group per batch, the
collection's schema in the file's metadata, and each entity's partition when the
collection has named partitions, so ``ingest`` can bring the collection back as it was.

The file is written under a temporary name beside the target, fsynced, and renamed over
the target only when complete: an export that is killed, cancelled or runs out of disk
leaves any existing file untouched and no partial file that looks valid.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .catalog import CollectionInfo, require_loaded
from ..errors import InvalidInput
from .ops import Blocking, Call, Op, Progress, Timer
from .queries import resolve_output_fields, rows_after, validate_filter
from .values import dumps, json_row, vector_types

FORMATS = ("jsonl", "csv", "parquet")
T = TypeVar("T")


@dataclass(frozen=True)
class ExportReport:
    collection: str
    path: str
    rows: int
    elapsed: float


def format_for(path: Path, fmt: str | None) -> str:
    fmt = (fmt or path.suffix.lstrip(".") or "jsonl").lower()
    if fmt == "json":
        fmt = "jsonl"
    if fmt == "pq":
        fmt = "parquet"
    if fmt not in FORMATS:
        raise InvalidInput(f"Cannot export to '{fmt}'; use one of: {', '.join(FORMATS)}.")
    return fmt


class RowWriter:
    """Writes rows as JSONL, or CSV with the schema's columns plus one for extra keys.

    Byte vectors (``types``, from ``values.vector_types``) are written as one number per
    dimension (binary: 0/1 bits), the form ``--json`` prints, not pymilvus's ``["<base64>"]``.
    """

    def __init__(self, handle: TextIO, fmt: str, columns: list[str], types: dict[str, str] | None = None) -> None:
        self.handle = handle
        self.fmt = fmt
        self.types = types or {}
        self.columns = [c for c in columns if c != "*"]
        self.csv: Any = None
        if fmt == "csv":
            self.csv = csv.writer(handle)
            self.csv.writerow([*self.columns, "$extra"])

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "jsonl":
            if self.types:
                rows = [json_row(r, self.types) for r in rows]
            self.handle.write("".join(dumps(r) + "\n" for r in rows))
            return
        for row in rows:
            plain = json_row(row, self.types)
            extra = {k: v for k, v in plain.items() if k not in self.columns}
            self.csv.writerow([_cell(plain.get(c)) for c in self.columns] + [json.dumps(extra) if extra else ""])


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


class AtomicFile:
    """A text file written under a temporary name in the target's directory (so the rename
    is atomic), then fsynced and renamed over the target by ``commit``; ``abort`` removes it.
    OSErrors name the target, not the temporary file: "No space left on device" alone
    did not say which file."""

    def __init__(self, path: Path, *, binary: bool = False) -> None:
        self.path = path
        self.handle: Any = None
        self.temp: Path | None = None
        if path.is_dir():  # checked first: the rename would fail only after the whole export
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        fd, temp = self._named(lambda: tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
        self.temp = Path(temp)
        self.handle = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")

    def _named(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except OSError as exc:
            if exc.errno is None:
                raise
            raise type(exc)(exc.errno, exc.strerror, str(self.path)) from None

    def write(self, fn: Callable[[TextIO], Any]) -> None:
        assert self.handle is not None
        handle = self.handle
        self._named(lambda: fn(handle))

    def commit(self) -> None:
        handle, temp = self.handle, self.temp
        assert handle is not None and temp is not None

        def finish() -> None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            try:  # keep an existing file's permissions; a new one gets the umask's
                mode = self.path.stat().st_mode & 0o7777
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(temp, mode)
            os.replace(temp, self.path)
            try:  # the rename itself survives a crash only once the directory is synced
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
            except OSError:
                return
            try:
                os.fsync(dir_fd)
            except OSError:
                pass
            finally:
                os.close(dir_fd)

        self._named(finish)
        self.handle = self.temp = None

    def abort(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
        self.handle = self.temp = None


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str], fmt: str | None = None,
               types: dict[str, str] | None = None, *, schema: dict[str, Any] | None = None,
               info: CollectionInfo | None = None) -> int:
    """Write rows already in memory (the current results) to a file; ``types`` as ``RowWriter``'s.
    Parquet needs the collection's ``info`` and schema record (``parquet.schema_record``)."""
    fmt = format_for(path, fmt)
    if fmt == "parquet":
        if schema is None or info is None:
            raise InvalidInput("Writing Parquet needs the collection's schema.")
        return _write_parquet_rows(path, rows, columns, schema, info)
    out = AtomicFile(path)
    try:
        out.write(lambda handle: RowWriter(handle, fmt, columns, types).write(rows))
        out.commit()
    finally:
        out.abort()
    return len(rows)


def _write_parquet_rows(path: Path, rows: list[dict[str, Any]], columns: list[str], schema: dict[str, Any],
                        info: CollectionInfo) -> int:
    from .parquet import ParquetRowWriter, columns_for, export_meta

    wanted = columns_for(schema, [c for c in columns if c in info.field_names] or ["*"])
    names = set(info.field_names)
    dynamic = any(k not in names for row in rows for k in row)
    out = AtomicFile(path, binary=True)
    try:
        def write(handle: Any) -> None:
            writer = ParquetRowWriter(handle, schema, wanted, partitions=False,
                                      meta=export_meta(schema, info, columns=wanted), dynamic=dynamic)
            writer.write(rows)
            writer.close()

        out.write(write)
        out.commit()
    finally:
        out.abort()
    return len(rows)


def export(info: CollectionInfo, path: Path, *, expr: str = "", fmt: str | None = None,
           output_fields: list[str] | None = None, batch_size: int = 1000,
           total: int | None = None) -> Op[ExportReport]:
    require_loaded(info)
    timer = Timer()
    fmt = format_for(path, fmt)
    expr = validate_filter(info, expr)
    fields = resolve_output_fields(info, output_fields)
    if fmt == "parquet":
        written = yield from _export_parquet(info, path, expr=expr, fields=fields, batch_size=batch_size, total=total)
        return ExportReport(info.name, str(path), written, timer.elapsed)
    columns = info.field_names if fields == ["*"] else fields
    out: AtomicFile = yield Blocking(lambda: AtomicFile(path))
    written = 0
    try:
        writer: list[RowWriter] = []
        yield Blocking(lambda: out.write(lambda handle: writer.append(RowWriter(handle, fmt, columns, vector_types(info)))))
        cursor = None
        while True:
            rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=fields)
            if not rows:
                break
            yield Blocking(lambda rows=rows: out.write(lambda _: writer[0].write(rows)))
            written += len(rows)
            yield Progress(written, total, "exporting")
            # The end is an empty page, not a short one: Go Milvus counts every copy of a
            # duplicated key in a query's limit, so a page can come back short with more after it.
            cursor = rows[-1][info.primary.name]
        yield Blocking(out.commit)
    finally:
        out.abort()  # a no-op after commit; otherwise the partial file goes, the target stays
    return ExportReport(info.name, str(path), written, timer.elapsed)


def _export_parquet(info: CollectionInfo, path: Path, *, expr: str, fields: list[str], batch_size: int,
                    total: int | None) -> Op[int]:
    """The Parquet export: the schema record from the server, then each partition's rows in
    turn when the collection has named partitions (a query's rows do not say their partition)."""
    from .cleanup import _needs_partitions
    from .parquet import ParquetRowWriter, columns_for, export_meta, schema_record, wants_dynamic

    raw = yield Call("describe_collection", {"collection_name": info.name}, collection=info.name)
    record = schema_record(dict(raw), info)
    columns = columns_for(record, fields)
    by_partition = _needs_partitions(info)
    meta = export_meta(record, info, expr=expr, columns=columns)
    out: AtomicFile = yield Blocking(lambda: AtomicFile(path, binary=True))
    written = 0
    try:
        writer: list[ParquetRowWriter] = []
        yield Blocking(lambda: out.write(lambda handle: writer.append(
            ParquetRowWriter(handle, record, columns, partitions=by_partition, meta=meta,
                             dynamic=wants_dynamic(record, fields)))))
        for partition in info.partitions if by_partition else [None]:
            cursor = None
            while True:
                rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=fields,
                                             partition_names=[partition] if partition else None,
                                             strict_float32=True)
                if not rows:
                    break
                yield Blocking(lambda rows=rows, partition=partition: out.write(
                    lambda _: writer[0].write(rows, partition)))
                written += len(rows)
                yield Progress(written, total, "exporting")
                cursor = rows[-1][info.primary.name]  # until an empty page (see the JSONL loop)
        yield Blocking(lambda: out.write(lambda _: writer[0].close()))
        yield Blocking(out.commit)
    finally:
        out.abort()
    return written
