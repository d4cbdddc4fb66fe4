"""Parquet: Milvus entities as Arrow columns and back, for export and ingest.

One column per exported field, typed by the field's Milvus type:

=====================  ======================================================================
Milvus                 Parquet (Arrow) column
=====================  ======================================================================
BOOL, INT8..INT64      bool, int8..int64
FLOAT, DOUBLE          float32, float64
VARCHAR                string
TIMESTAMPTZ, GEOMETRY  string, as the server answers them (ISO 8601 text, WKT)
JSON                   string holding the value's JSON text (compact, UTF-8). Parquet's JSON
                       annotation is not read the same way by other tools, and text keeps every
                       JSON value (key order, nested nulls, big integers) exactly.
ARRAY                  list<element type>
FLOAT_VECTOR           fixed_size_list<float32>[dim]
INT8_VECTOR            fixed_size_list<int8>[dim]
FLOAT16_VECTOR,        fixed_size_binary[2 * dim]: the vector's own little-endian bytes, as
BFLOAT16_VECTOR        Milvus stores them (Arrow has no bfloat16, and bytes are bit-exact)
BINARY_VECTOR          fixed_size_binary[dim / 8]: the packed bits as Milvus packs them (the
                       first dimension is the highest bit of the first byte, ``numpy.packbits``)
SPARSE_FLOAT_VECTOR    map<int64, float32>: index -> value
=====================  ======================================================================

A null value (a nullable field) is a Parquet null. Two more columns when they apply:
``$meta``, the dynamic field's keys of each entity as a JSON object's text, and
``$partition``, the partition each entity was read from (collections with named partitions
and no partition key). Milvus field names cannot start with ``$``, so neither can collide.

The file's schema metadata (key ``milvus_tui``) holds the collection's name, database, schema
(every field with its type, dim, max_length, max_capacity, nullable, default value, analyzer,
partition key; the functions; auto_id and the dynamic field), its indexes, partitions and
properties, so ``ingest`` can build the same collection again. Each Arrow field also carries
its Milvus type (``milvus_type``) for other readers.

Nothing here imports pyarrow at module import time: the CLI stays quick to start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from .catalog import CollectionInfo

FORMAT = "milvus-tui-parquet/1"
META_KEY = b"milvus_tui"
DYNAMIC_COLUMN = "$meta"
PARTITION_COLUMN = "$partition"
TYPE_KEY = b"milvus_type"
#: Rows per Parquet row group when reading; export writes one row group per batch read.
READ_BATCH = 1000

_SCALARS = {"BOOL": "bool_", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
            "FLOAT": "float32", "DOUBLE": "float64", "VARCHAR": "string", "STRING": "string",
            "TIMESTAMPTZ": "string", "GEOMETRY": "string", "JSON": "string"}
_BYTE_VECTOR_WIDTH = {"FLOAT16_VECTOR": lambda dim: 2 * dim, "BFLOAT16_VECTOR": lambda dim: 2 * dim,
                      "BINARY_VECTOR": lambda dim: dim // 8}
VECTOR_TYPES = {"FLOAT_VECTOR", "INT8_VECTOR", "SPARSE_FLOAT_VECTOR", *_BYTE_VECTOR_WIDTH}


def _pa() -> Any:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - milvus-lite brings pyarrow
        raise InvalidInput("Parquet needs the pyarrow package (pip install pyarrow).") from None
    return pa


# -- the schema record: the collection as JSON -----------------------------------------------


def _type_name(value: Any) -> str:
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(value, int):
        from pymilvus import DataType

        return DataType(value).name
    return str(value)


def _default_value(raw: Any) -> Any:
    """A field's default value as plain JSON (pymilvus gives a protobuf ``ValueField``)."""
    if raw is None or isinstance(raw, (str, int, float, bool)):
        return raw
    which = getattr(raw, "WhichOneof", None)
    if callable(which):
        kind = which("data")
        return None if kind is None else getattr(raw, kind)
    return None


def _json_param(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_param(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_param(v) for v in value]
    return str(value)


def schema_record(raw: dict[str, Any], info: CollectionInfo | None = None) -> dict[str, Any]:
    """``describe_collection``'s answer (plus ``info``'s indexes and partitions) as plain JSON:
    what the file's metadata keeps so ingest can rebuild the collection."""
    fields = []
    outputs = {str(o) for fn in raw.get("functions") or [] for o in fn.get("output_field_names") or []}
    for f in raw.get("fields") or []:
        params = {str(k): _json_param(v) for k, v in (f.get("params") or {}).items()}
        element = f.get("element_type")
        entry: dict[str, Any] = {"name": str(f["name"]), "type": _type_name(f.get("type")), "params": params}
        if element not in (None, 0, "NONE"):
            entry["element_type"] = _type_name(element)
        for flag in ("is_primary", "auto_id", "nullable", "is_partition_key", "is_clustering_key"):
            if f.get(flag):
                entry[flag] = True
        if f.get("is_primary") and raw.get("auto_id"):
            entry["auto_id"] = True
        if f.get("is_function_output") or entry["name"] in outputs:
            entry["is_function_output"] = True
        default = _default_value(f.get("default_value"))
        if default is not None:
            entry["default_value"] = default
        if f.get("description"):
            entry["description"] = str(f["description"])
        fields.append(entry)
    functions = [{"name": str(fn.get("name")), "type": _type_name(fn.get("type")),
                  "input_field_names": list(fn.get("input_field_names") or []),
                  "output_field_names": list(fn.get("output_field_names") or []),
                  "params": _json_param(dict(fn.get("params") or {}))} for fn in raw.get("functions") or []]
    record: dict[str, Any] = {
        "fields": fields, "functions": functions, "auto_id": bool(raw.get("auto_id")),
        "enable_dynamic_field": bool(raw.get("enable_dynamic_field")),
        "description": str(raw.get("description") or ""),
        "consistency_level": str(raw.get("consistency_level_name") or "Bounded"),
        "num_partitions": raw.get("num_partitions"),
        "properties": {str(k): str(v) for k, v in (raw.get("properties") or {}).items()},
    }
    if info is not None:
        record["indexes"] = [{"field": i.field, "index_name": i.index_name, "index_type": i.index_type,
                              "metric_type": i.metric_type, "params": _json_param(i.params)} for i in info.indexes]
        record["partitions"] = list(info.partitions)
    return record


def _dim(f: dict[str, Any]) -> int:
    try:
        return int(f.get("params", {}).get("dim"))
    except (TypeError, ValueError):
        raise InvalidInput(f"Vector field '{f['name']}' has no dimension in the file's schema.") from None


def arrow_type(f: dict[str, Any]) -> Any:
    pa = _pa()
    t = f["type"]
    if t in _SCALARS:
        return getattr(pa, _SCALARS[t])()
    if t == "ARRAY":
        element = f.get("element_type") or "VARCHAR"
        if element not in _SCALARS or element == "JSON":
            raise InvalidInput(f"Field '{f['name']}' is an ARRAY of {element}, which milvus-tui cannot write to Parquet.")
        return pa.list_(getattr(pa, _SCALARS[element])())
    if t == "FLOAT_VECTOR":
        return pa.list_(pa.float32(), _dim(f))
    if t == "INT8_VECTOR":
        return pa.list_(pa.int8(), _dim(f))
    if t in _BYTE_VECTOR_WIDTH:
        return pa.binary(_BYTE_VECTOR_WIDTH[t](_dim(f)))
    if t == "SPARSE_FLOAT_VECTOR":
        return pa.map_(pa.int64(), pa.float32())
    raise InvalidInput(f"Field '{f['name']}' is {t}, which milvus-tui cannot write to Parquet.")


def arrow_schema(record: dict[str, Any], columns: list[str], *, partitions: bool, meta: dict[str, Any],
                 dynamic: bool = True) -> Any:
    """The file's Arrow schema: ``columns`` (field names, in order), then ``$meta`` when the
    collection has a dynamic field (and ``dynamic``: the rows carry its keys), then
    ``$partition``; ``meta`` goes into the metadata."""
    pa = _pa()
    by_name = {f["name"]: f for f in record["fields"]}
    out = []
    for name in columns:
        f = by_name[name]
        nullable = not (f.get("is_primary") or (f["type"] in VECTOR_TYPES and not f.get("nullable")))
        out.append(pa.field(name, arrow_type(f), nullable=nullable, metadata={TYPE_KEY: f["type"].encode()}))
    if record.get("enable_dynamic_field") and dynamic:
        out.append(pa.field(DYNAMIC_COLUMN, pa.string(), metadata={TYPE_KEY: b"JSON"}))
    if partitions:
        out.append(pa.field(PARTITION_COLUMN, pa.string(), nullable=False))
    return pa.schema(out, metadata={META_KEY: json.dumps(meta, ensure_ascii=False).encode("utf-8")})


# -- rows -> columns ---------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    from .values import _json_default

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _bytes_of(value: Any) -> bytes:
    from .values import BYTES_BASE64, _vector_bytes

    return _vector_bytes(value, BYTES_BASE64)


def _column(f: dict[str, Any], values: list[Any], type_: Any) -> Any:
    pa = _pa()
    import numpy as np

    t = f["type"]
    n = len(values)
    mask = [v is None for v in values]
    if t in ("FLOAT_VECTOR", "INT8_VECTOR"):
        dim = type_.list_size
        dtype = np.float32 if t == "FLOAT_VECTOR" else np.int8
        zero = np.zeros(dim, dtype=dtype)
        if t == "INT8_VECTOR":
            values = [None if v is None else np.frombuffer(_bytes_of(v), dtype=np.int8) if not isinstance(v, np.ndarray)
                      else v for v in values]
        data = np.asarray([zero if v is None else v for v in values], dtype=dtype).reshape(n, -1) if n else \
            np.zeros((0, dim), dtype=dtype)
        if data.shape[1] != dim:
            raise InvalidInput(f"Field '{f['name']}' holds vectors of {data.shape[1]} dimensions, not {dim}.")
        if any(mask):  # a nullable vector field (Milvus 2.6): the slow, plain way
            return pa.array([None if m else row for m, row in zip(mask, data.tolist())], type=type_)
        return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1), type=type_.value_type), dim)
    if t in _BYTE_VECTOR_WIDTH:
        return pa.array([None if v is None else _bytes_of(v) for v in values], type=type_)
    if t == "SPARSE_FLOAT_VECTOR":
        return pa.array([None if v is None else [(int(k), float(x)) for k, x in dict(v).items()] for v in values],
                        type=type_)
    if t == "JSON":
        return pa.array([None if v is None else _json_text(v) for v in values], type=type_)
    if t in ("TIMESTAMPTZ", "GEOMETRY"):
        return pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], type=type_)
    return pa.array(values, type=type_)


def to_batch(rows: list[dict[str, Any]], record: dict[str, Any], schema: Any,
             partition: str | None = None) -> Any:
    """One Arrow record batch of ``rows`` (as pymilvus returns them) for ``schema``."""
    pa = _pa()
    by_name = {f["name"]: f for f in record["fields"]}
    arrays = []
    known = set(by_name)
    for column in schema:
        name = column.name
        if name == DYNAMIC_COLUMN:
            extras = [{k: v for k, v in r.items() if k not in known and k != DYNAMIC_COLUMN} for r in rows]
            for extra, row in zip(extras, rows):
                meta = row.get(DYNAMIC_COLUMN)  # some servers hand the dynamic field back whole
                if isinstance(meta, (str, bytes)):
                    meta = json.loads(meta)
                if isinstance(meta, dict):
                    extra.update(meta)
            arrays.append(pa.array([_json_text(e) for e in extras], type=pa.string()))
        elif name == PARTITION_COLUMN:
            arrays.append(pa.array([partition or "_default"] * len(rows), type=pa.string()))
        else:
            arrays.append(_column(by_name[name], [r.get(name) for r in rows], column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class ParquetRowWriter:
    """Streams batches of rows into a Parquet file, one row group per batch.

    ``write`` takes rows as pymilvus returns them; ``close`` writes the footer (a Parquet file
    without one is unreadable, so ``close`` must come before the file is committed)."""

    def __init__(self, sink: Any, record: dict[str, Any], columns: list[str], *, partitions: bool,
                 meta: dict[str, Any], dynamic: bool = True) -> None:
        import pyarrow.parquet as pq

        self.record = record
        self.schema = arrow_schema(record, columns, partitions=partitions, meta=meta, dynamic=dynamic)
        types = {f["name"]: f["type"] for f in record["fields"]}
        # Dictionary encoding suits repeated scalars, not vectors: on 256-dim float vectors it
        # made the writer 10x slower and the file 1.6x larger than plain (measured, 20k rows).
        # Float vectors' bytes split by position compress better (the exponents repeat).
        plain = [c.name for c in self.schema if types.get(c.name, "") not in VECTOR_TYPES
                 and types.get(c.name) != "ARRAY"]
        split = [f"{name}.list.element" for name in columns if types[name] == "FLOAT_VECTOR"]
        self.writer = pq.ParquetWriter(sink, self.schema, compression="zstd", use_dictionary=plain,
                                       use_byte_stream_split=split or False)

    def write(self, rows: list[dict[str, Any]], partition: str | None = None) -> None:
        if rows:
            self.writer.write_batch(to_batch(rows, self.record, self.schema, partition))

    def close(self) -> None:
        self.writer.close()


def export_meta(record: dict[str, Any], info: CollectionInfo, *, expr: str = "",
                columns: list[str] | None = None) -> dict[str, Any]:
    from datetime import UTC, datetime

    from .. import __version__

    return {"format": FORMAT, "collection": info.name, "database": info.db_name or "default",
            "filter": expr, "columns": columns or [], "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "milvus_tui": __version__, "schema": record}


def wants_dynamic(record: dict[str, Any], fields: list[str]) -> bool:
    """Whether rows read with these output fields carry dynamic keys (so ``$meta`` is written)."""
    names = {f["name"] for f in record["fields"]}
    return bool(record.get("enable_dynamic_field")) and ("*" in fields or any(f not in names for f in fields))


def columns_for(record: dict[str, Any], fields: list[str]) -> list[str]:
    """The field columns a file gets: every schema field for ``["*"]``, else those asked for
    that are schema fields (dynamic keys asked for go in ``$meta``)."""
    names = [f["name"] for f in record["fields"]]
    if fields == ["*"] or "*" in fields:
        return names
    wanted = set(fields)
    return [n for n in names if n in wanted]


# -- reading -------------------------------------------------------------------------------------


@dataclass
class ParquetSource:
    """A Parquet file to ingest: its Arrow schema, our metadata (None for files other tools
    wrote) and the schema record (ours, or inferred from the columns)."""

    path: Path
    arrow: Any
    meta: dict[str, Any] | None
    record: dict[str, Any]
    rows: int
    #: column -> how it was read, for files other tools wrote ("vector", "text", ...).
    notes: list[str] = field(default_factory=list)
    #: the file has vectors (ours, or a float-list column): ingest keeps them, nothing is embedded.
    has_vectors: bool = True
    #: the primary key's column holds usable keys (int or string, no nulls, unique).
    keys_column: str | None = None

    @property
    def has_partitions(self) -> bool:
        return PARTITION_COLUMN in self.arrow.names

    def batches(self, batch_size: int = READ_BATCH) -> Iterator[Any]:
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path) as handle:
            yield from handle.iter_batches(batch_size=batch_size)


def is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def open_source(path: Path) -> ParquetSource:
    """Read a Parquet file's schema and metadata (no rows): ours, or inferred for other tools'."""
    pa = _pa()
    import pyarrow.parquet as pq

    if not path.exists():
        raise NotFound(f"File {path} does not exist.")
    if not is_parquet(path):
        raise InvalidInput(f"{path} is not a Parquet file (it does not start with PAR1).")
    try:
        handle = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInput(f"Cannot read {path} as Parquet: {exc}") from None
    with handle:
        arrow = handle.schema_arrow
        rows = handle.metadata.num_rows
    raw = (arrow.metadata or {}).get(META_KEY)
    if raw is not None:
        try:
            meta = json.loads(raw)
        except ValueError:
            raise InvalidInput(f"{path}: its milvus_tui metadata is not JSON.") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("schema"), dict):
            raise InvalidInput(f"{path} was written by a milvus-tui this version cannot read "
                               f"(format {meta.get('format') if isinstance(meta, dict) else '?'}; it reads {FORMAT}).")
        record = meta["schema"]
        present = set(arrow.names)
        pk = next((f["name"] for f in record["fields"] if f.get("is_primary")), None)
        return ParquetSource(path, arrow, meta, record, rows, keys_column=pk if pk in present else None)
    return infer_source(path, arrow, rows)


_KEY_NAMES = ("id", "pk", "_id")
_INT_TYPES = {"int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "uint8": "INT16",
              "uint16": "INT32", "uint32": "INT64", "uint64": "INT64"}


def _vector_like(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("vec", "emb"))


def infer_source(path: Path, arrow: Any, rows: int) -> ParquetSource:
    """A schema record for a file another tool wrote: one field per column, typed from Arrow.

    A fixed-size list of floats is a FLOAT_VECTOR; so is a variable list of floats whose name
    says vector or embedding (or the only such column). Other lists are ARRAYs, structs and
    maps JSON, timestamps and dates text. Binary columns and lists of lists have no Milvus
    field: the error names them."""
    pa = _pa()
    types = pa.types
    float_lists = [f.name for f in arrow if types.is_list(f.type) and types.is_floating(f.type.value_type)]
    fields: list[dict[str, Any]] = []
    notes: list[str] = []
    bad: list[str] = []
    for f in arrow:
        t = f.type
        entry: dict[str, Any] = {"name": f.name, "params": {}}
        if f.name.startswith("$") or not f.name:
            bad.append(f"'{f.name}' (a Milvus field name starts with a letter or _)")
            continue
        if types.is_fixed_size_list(t) and (types.is_floating(t.value_type) or types.is_integer(t.value_type)):
            entry.update(type="FLOAT_VECTOR" if types.is_floating(t.value_type) else "INT8_VECTOR",
                         params={"dim": t.list_size})
            if entry["type"] == "INT8_VECTOR" and not types.is_int8(t.value_type):
                entry.update(type="ARRAY", element_type="INT64", params={"max_capacity": max(1, t.list_size)})
        elif types.is_list(t) and types.is_floating(t.value_type) and (_vector_like(f.name) or len(float_lists) == 1):
            entry.update(type="FLOAT_VECTOR", params={"dim": None})
        elif types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t):
            v = t.value_type
            element = ("BOOL" if types.is_boolean(v) else "INT64" if types.is_integer(v) else
                       "DOUBLE" if types.is_floating(v) else "VARCHAR" if types.is_string(v) or types.is_large_string(v)
                       else None)
            if element is None:
                bad.append(f"'{f.name}' (a list of {v})")
                continue
            entry.update(type="ARRAY", element_type=element, params={"max_capacity": 4096})
            if element == "VARCHAR":
                entry["params"]["max_length"] = 65535
        elif types.is_map(t) and types.is_integer(t.key_type) and types.is_floating(t.item_type) and _vector_like(f.name):
            entry["type"] = "SPARSE_FLOAT_VECTOR"
        elif types.is_boolean(t):
            entry["type"] = "BOOL"
        elif types.is_integer(t):
            entry["type"] = _INT_TYPES[str(t)]
        elif types.is_float32(t) or types.is_float16(t):
            entry["type"] = "FLOAT"
        elif types.is_floating(t) or types.is_decimal(t):
            entry["type"] = "DOUBLE"
        elif types.is_string(t) or types.is_large_string(t) or types.is_dictionary(t):
            entry.update(type="VARCHAR", params={"max_length": 65535})
        elif types.is_struct(t) or types.is_map(t):
            entry["type"] = "JSON"
        elif types.is_timestamp(t) or types.is_date(t) or types.is_time(t):
            entry.update(type="VARCHAR", params={"max_length": 64})
            notes.append(f"'{f.name}' ({t}) is stored as ISO 8601 text")
        else:
            bad.append(f"'{f.name}' ({t})")
            continue
        if types.is_null(t):
            bad.append(f"'{f.name}' (every value is null, so it has no type)")
            continue
        entry["nullable"] = True  # relaxed after the check pass when the column has no nulls
        fields.append(entry)
    if bad:
        raise InvalidInput(f"{path}: Milvus has no field type for column {', '.join(bad)}. "
                           "Drop or convert those columns (a vector is a list of floats; binary data cannot be stored).")
    has_vectors = any(f["type"] in VECTOR_TYPES for f in fields)
    names = {f["name"] for f in fields}
    key = next((n for n in _KEY_NAMES if n in names), None)
    record = {"fields": fields, "functions": [], "auto_id": False, "enable_dynamic_field": True,
              "description": f"ingested by milvus-tui from {path.name}", "consistency_level": "Bounded",
              "num_partitions": None, "properties": {}, "indexes": [], "partitions": []}
    source = ParquetSource(path, arrow, None, record, rows, notes, has_vectors, keys_column=key)
    return source


def finish_inferred(source: ParquetSource) -> None:
    """One pass over another tool's file: vector dimensions, which columns hold nulls, string
    lengths, and whether the key column is usable as a primary key. Raises InvalidInput for a
    vector column whose rows differ in length."""
    pa = _pa()
    import pyarrow.compute as pc

    record = source.record
    by_name = {f["name"]: f for f in record["fields"]}
    nulls: dict[str, int] = dict.fromkeys(by_name, 0)
    dims: dict[str, set[int]] = {}
    longest: dict[str, int] = {}
    seen: set[Any] = set()
    key = source.keys_column
    key_reason = ""
    for batch in source.batches():
        for name, f in by_name.items():
            column = batch.column(name)
            nulls[name] += column.null_count
            if f["type"] == "FLOAT_VECTOR" and not pa.types.is_fixed_size_list(column.type):
                lengths = pc.list_value_length(column).drop_null()
                if len(lengths):
                    dims.setdefault(name, set()).update(pc.unique(lengths).to_pylist())
            elif f["type"] == "VARCHAR" and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                size = pc.max(pc.binary_length(column)).as_py()
                longest[name] = max(longest.get(name, 0), size or 0)
        if key is not None and not key_reason:
            column = batch.column(key)
            if column.null_count:
                key_reason = f"some rows have no '{key}'"
            elif not (pa.types.is_integer(column.type) or pa.types.is_string(column.type)
                      or pa.types.is_large_string(column.type)):
                key_reason = f"'{key}' is {column.type}; a primary key is a whole number or text"
            else:
                for value in column.to_pylist():
                    if value in seen:
                        key_reason = f"the key {value!r} appears twice"
                        break
                    seen.add(value)
    for name, found in dims.items():
        if len(found) > 1:
            raise InvalidInput(f"{source.path}: column '{name}' holds vectors of different lengths "
                               f"({', '.join(map(str, sorted(found)))}); a vector field has one dimension.")
        by_name[name]["params"]["dim"] = next(iter(found))
    for f in record["fields"]:
        if f["type"] == "FLOAT_VECTOR" and not f["params"].get("dim"):
            raise InvalidInput(f"{source.path}: column '{f['name']}' holds no vectors (every row is null or empty).")
        if f["type"] in VECTOR_TYPES:
            if nulls[f["name"]]:
                raise InvalidInput(f"{source.path}: column '{f['name']}' has {nulls[f['name']]} rows without a vector.")
            f["nullable"] = False
        elif not nulls[f["name"]]:
            f.pop("nullable", None)
        if f["name"] in longest and f["type"] == "VARCHAR":
            f["params"]["max_length"] = min(65535, max(256, 2 * longest[f["name"]]))
    if key is not None and not key_reason:
        by_name[key]["is_primary"] = True
        by_name[key].pop("nullable", None)
        if by_name[key]["type"] != "VARCHAR":
            by_name[key]["type"] = "INT64"
    else:
        if key is not None:
            source.notes.append(f"'{key}' is kept as a field, not the primary key, because {key_reason}")
        source.keys_column = None
        taken = set(by_name)
        primary = next(n for n in ("id", "pk", "auto_pk", "milvus_pk") if n not in taken)
        record["fields"].insert(0, {"name": primary, "type": "INT64", "params": {}, "is_primary": True,
                                    "auto_id": True})
        record["auto_id"] = True


# -- columns -> rows ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value Arrow gave back, as JSON would hold it (dates as ISO text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}  # a map column
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        raise InvalidInput("a binary value cannot be stored in a JSON or dynamic field")
    return value


def read_column(f: dict[str, Any], column: Any) -> list[Any]:
    """One column of a batch as the values ``insert`` takes for field ``f``."""
    pa = _pa()
    import numpy as np

    t = f["type"]
    if t in ("FLOAT_VECTOR", "INT8_VECTOR"):
        dtype = np.float32 if t == "FLOAT_VECTOR" else np.int8
        if pa.types.is_fixed_size_list(column.type) and column.null_count == 0:
            dim = column.type.list_size
            flat = column.flatten().to_numpy(zero_copy_only=False)
            if flat.dtype != dtype:
                flat = flat.astype(dtype)
            data = flat.reshape(len(column), dim)
            return list(data) if t == "FLOAT_VECTOR" else [row.copy() for row in data]
        return [None if v is None else np.asarray(v, dtype=dtype) for v in column.to_pylist()]
    if t in _BYTE_VECTOR_WIDTH:
        return column.to_pylist()
    if t == "SPARSE_FLOAT_VECTOR":
        return [None if v is None else {int(k): float(x) for k, x in (v.items() if isinstance(v, dict) else v)}
                for v in column.to_pylist()]
    if t == "JSON":
        values = column.to_pylist()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return [None if v is None else json.loads(v) for v in values]
        return [None if v is None else _plain(v) for v in values]
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type) or pa.types.is_time(column.type):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = column.to_pylist()
    if t == "ARRAY" or pa.types.is_decimal(column.type):
        return [_plain(v) for v in values]
    return values


def rows_from_batch(batch: Any, record: dict[str, Any], *, drop: set[str] = frozenset(),
                    dynamic: bool = True) -> tuple[list[dict[str, Any]], list[str | None]]:
    """A record batch as insertable rows, and each row's partition (None without ``$partition``).

    Columns in ``drop`` are left out; ``$meta``'s keys are spread into each row (the dynamic
    field) when ``dynamic``, and other columns that are not fields stay as they are."""
    by_name = {f["name"]: f for f in record["fields"]}
    n = batch.num_rows
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    partitions: list[str | None] = [None] * n
    for name, column in zip(batch.schema.names, batch.columns):
        if name in drop:
            continue
        if name == PARTITION_COLUMN:
            partitions = column.to_pylist()
            continue
        if name == DYNAMIC_COLUMN:
            if not dynamic:
                continue
            for row, text in zip(rows, column.to_pylist()):
                if text:
                    extra = json.loads(text)
                    if isinstance(extra, dict):
                        for k, v in extra.items():
                            row.setdefault(k, v)
            continue
        f = by_name.get(name)
        values = read_column(f, column) if f is not None else [_plain(v) for v in column.to_pylist()]
        for row, value in zip(rows, values):
            if value is None and f is not None and not f.get("nullable") and "default_value" in f:
                continue  # the server fills the default in
            if value is None and f is None:
                continue
            row[name] = value
    return rows, partitions
