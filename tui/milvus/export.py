"""Export: stream a filter's whole result to JSONL or CSV with bounded memory.

Rows come through the same primary-key cursor as paging, one batch at a time, and go
straight to the file, so exporting a million entities holds one batch in memory.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .catalog import CollectionInfo, require_loaded
from .connection import MilvusConnection
from .errors import InvalidInput
from .ops import Blocking, Context, Op, Progress, Timer
from .queries import resolve_output_fields, rows_after, validate_filter
from .values import dumps, json_row, vector_types

FORMATS = ("jsonl", "csv")


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


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str], fmt: str | None = None,
               types: dict[str, str] | None = None) -> int:
    """Write rows already in memory (the current results) to a file; ``types`` as ``RowWriter``'s."""
    fmt = format_for(path, fmt)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        RowWriter(handle, fmt, columns, types).write(rows)
    return len(rows)


def export(info: CollectionInfo, path: Path, *, expr: str = "", fmt: str | None = None,
           output_fields: list[str] | None = None, batch_size: int = 1000,
           total: int | None = None) -> Op[ExportReport]:
    require_loaded(info)
    timer = Timer()
    fmt = format_for(path, fmt)
    expr = validate_filter(info, expr)
    fields = resolve_output_fields(info, output_fields)
    columns = info.field_names if fields == ["*"] else fields
    handle = yield Blocking(lambda: open(path, "w", encoding="utf-8", newline=""))
    written = 0
    try:
        writer = RowWriter(handle, fmt, columns, vector_types(info))
        cursor = None
        while True:
            rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=fields)
            if not rows:
                break
            yield Blocking(lambda rows=rows: writer.write(rows))
            written += len(rows)
            yield Progress(written, total, "exporting")
            if len(rows) < batch_size:
                break
            cursor = rows[-1][info.primary.name]
    finally:
        handle.close()
    return ExportReport(info.name, str(path), written, timer.elapsed)


class Exporter:
    def __init__(self, conn: MilvusConnection) -> None:
        self.conn = conn

    def export(self, info: CollectionInfo, path: Path, ctx: Context | None = None, **kw: Any) -> ExportReport:
        return self.conn.run(export(info, path, **kw), ctx)

    async def aexport(self, info: CollectionInfo, path: Path, ctx: Context | None = None,
                      **kw: Any) -> ExportReport:
        return await self.conn.arun(export(info, path, **kw), ctx)
