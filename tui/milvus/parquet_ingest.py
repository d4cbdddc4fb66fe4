"""Ingesting a Parquet file that carries its vectors: ours (an export) or another tool's.

A file our export wrote comes back as the collection it was: a missing target collection is
created with the file's schema (fields, functions, indexes, partitions, properties), and every
entity goes back with its primary key, fields, vectors (bit-exact), dynamic keys and partition.
Nothing is embedded. A file another tool wrote gets a schema inferred from its columns
(``parquet.infer_source``); a Parquet file with text and no vectors goes through the document
path instead (``ingest.read_documents``), embedded like JSONL.

The same rules as the document ingest hold: the whole file is checked before anything is
written; entities with keys are upserted (a re-run replaces, not duplicates); a batch the
server refuses raises ``IngestInterrupted`` saying how many went in; a stop raises
``IngestStopped``. On an ``auto_id`` collection the keys are kept wherever the server allows
it, decided as the undo of a delete decides it (``cleanup.plan_undo``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import Cancelled, InvalidInput, MilvusTuiError
from .catalog import CollectionInfo, FieldInfo, describe
from .ingest import Document, IngestReport, KeyPlan, _interrupted, _Progress, _stopped
from .ops import Blocking, Call, Op, Progress, Timer
from .parquet import (
    DYNAMIC_COLUMN, PARTITION_COLUMN, VECTOR_TYPES, ParquetSource, finish_inferred, rows_from_batch,
)

DEFAULT_BATCH = 1000
#: Index for a vector field the file names none for (another tool's file): by vector type.
_DEFAULT_METRIC = {"FLOAT_VECTOR": "COSINE", "FLOAT16_VECTOR": "COSINE", "BFLOAT16_VECTOR": "COSINE",
                   "INT8_VECTOR": "COSINE", "BINARY_VECTOR": "HAMMING", "SPARSE_FLOAT_VECTOR": "IP"}


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _field_dict(f: FieldInfo) -> dict[str, Any]:
    """An existing collection's field in the schema record's shape (what ``read_column`` needs)."""
    entry: dict[str, Any] = {"name": f.name, "type": f.dtype, "params": {"dim": f.dim} if f.dim else {}}
    if f.max_length and f.dtype == "VARCHAR":
        entry["params"]["max_length"] = f.max_length
    if f.element_type:
        entry["element_type"] = f.element_type
    if f.is_primary:
        entry["is_primary"] = True
    if f.auto_id:
        entry["auto_id"] = True
    if f.nullable:
        entry["nullable"] = True
    if f.has_default:
        entry["default_value"] = True  # only its presence matters here
    if f.is_function_output:
        entry["is_function_output"] = True
    return entry


def _planned(name: str, fields: list[dict[str, Any]]) -> CollectionInfo:
    return CollectionInfo(name, "", tuple(
        FieldInfo(f["name"], f["type"], is_primary=bool(f.get("is_primary")), auto_id=bool(f.get("auto_id")),
                  is_function_output=bool(f.get("is_function_output"))) for f in fields), True)


# -- creating the collection -------------------------------------------------------------------


def create_from_record(name: str, record: dict[str, Any], fields: list[dict[str, Any]]) -> Op[None]:
    """Create ``name`` with ``fields`` of the file's schema record, its functions, indexes
    (AUTOINDEX for a vector field with none), properties and named partitions."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    names = {f["name"] for f in fields}
    schema = MilvusClient.create_schema(auto_id=bool(record.get("auto_id")),
                                        enable_dynamic_field=bool(record.get("enable_dynamic_field")),
                                        description=str(record.get("description") or ""))
    for f in fields:
        params = dict(f.get("params") or {})
        kwargs: dict[str, Any] = {}
        for key in ("dim", "max_length", "max_capacity"):
            if params.get(key) not in (None, ""):
                kwargs[key] = int(params[key])
        if _true(params.get("enable_analyzer")):
            kwargs["enable_analyzer"] = True
            analyzer = params.get("analyzer_params")
            if analyzer:
                kwargs["analyzer_params"] = json.loads(analyzer) if isinstance(analyzer, str) else analyzer
        if _true(params.get("enable_match")):
            kwargs["enable_match"] = True
        if f.get("element_type"):
            kwargs["element_type"] = DataType[f["element_type"]]
        if f.get("is_primary"):
            kwargs["is_primary"] = True
            kwargs["auto_id"] = bool(f.get("auto_id"))
        for flag in ("nullable", "is_partition_key", "is_clustering_key"):
            if f.get(flag):
                kwargs[flag] = True
        if "default_value" in f:
            kwargs["default_value"] = f["default_value"]
        if f.get("description"):
            kwargs["description"] = f["description"]
        try:
            dtype = DataType[f["type"]]
        except KeyError:
            raise InvalidInput(f"Field '{f['name']}' has the type {f['type']}, which this pymilvus does not know.") from None
        schema.add_field(f["name"], dtype, **kwargs)
    outputs: set[str] = set()
    for fn in record.get("functions") or []:
        if set(fn["input_field_names"]) <= names and set(fn["output_field_names"]) <= names:
            schema.add_function(Function(name=fn["name"], function_type=FunctionType[fn["type"]],
                                         input_field_names=fn["input_field_names"],
                                         output_field_names=fn["output_field_names"], params=fn.get("params") or None))
            outputs.update(fn["output_field_names"])
    index_params = MilvusClient.prepare_index_params()
    indexed: set[str] = set()
    for index in record.get("indexes") or []:
        if index["field"] not in names:
            continue
        extra = dict(index.get("params") or {})
        # A server's describe_index gives build parameters flat (M, efConstruction), or nested.
        build = extra["params"] if isinstance(extra.get("params"), dict) else {
            k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool))}
        kwargs: dict[str, Any] = {}
        if index.get("metric_type") and str(index["metric_type"]).upper() != "NONE":  # scalar indexes have none
            kwargs["metric_type"] = index["metric_type"]
        if build:
            kwargs["params"] = build
        index_params.add_index(index["field"], index_type=index.get("index_type") or "",
                               index_name=index.get("index_name") or "", **kwargs)
        indexed.add(index["field"])
    for f in fields:
        if f["type"] in VECTOR_TYPES and f["name"] not in indexed:
            if f["name"] in outputs:  # BM25 output: Milvus Lite takes only this index for it
                index_params.add_index(f["name"], index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            else:
                index_params.add_index(f["name"], index_type="AUTOINDEX", metric_type=_DEFAULT_METRIC[f["type"]])
    properties = {k: v for k, v in (record.get("properties") or {}).items() if k != "allow_insert_auto_id"}
    options: dict[str, Any] = {}
    keyed = any(f.get("is_partition_key") for f in fields)
    if keyed and record.get("num_partitions"):
        options["num_partitions"] = int(record["num_partitions"])
    yield Call("create_collection", dict(
        collection_name=name, schema=schema, index_params=index_params, properties=properties or None,
        consistency_level=record.get("consistency_level") or "Bounded", **options,
    ), collection=name, sync_only=True)
    if not keyed:
        for partition in record.get("partitions") or []:
            if partition != "_default":
                yield Call("create_partition", {"collection_name": name, "partition_name": partition},
                           collection=name, sync_only=True)


# -- checking the file against the target --------------------------------------------------------


@dataclass
class _Plan:
    fields: list[dict[str, Any]]  # the target's fields, in the record's shape
    drop: set[str]  # columns not sent (function outputs; not fields of a non-dynamic target)
    skipped: list[str]  # of those, the ones the user should hear about
    dynamic: bool
    keyed: bool  # the target has a partition-key field
    method: str  # "upsert", "insert", "insert-keep-keys", "insert-new-keys"
    keys: KeyPlan


def _compatible(f: dict[str, Any], arrow_type: Any) -> bool:
    import pyarrow as pa

    types = pa.types
    t = f["type"]
    if t in ("FLOAT_VECTOR", "INT8_VECTOR"):
        return (types.is_list(arrow_type) or types.is_fixed_size_list(arrow_type) or types.is_large_list(arrow_type)) \
            and (types.is_floating(arrow_type.value_type) or types.is_integer(arrow_type.value_type))
    if t in ("FLOAT16_VECTOR", "BFLOAT16_VECTOR", "BINARY_VECTOR"):
        return types.is_binary(arrow_type) or types.is_fixed_size_binary(arrow_type) or types.is_large_binary(arrow_type)
    if t == "SPARSE_FLOAT_VECTOR":
        return types.is_map(arrow_type)
    if t == "ARRAY":
        return types.is_list(arrow_type) or types.is_large_list(arrow_type) or types.is_fixed_size_list(arrow_type)
    if t == "JSON":
        return types.is_string(arrow_type) or types.is_large_string(arrow_type) or types.is_struct(arrow_type) \
            or types.is_map(arrow_type)
    if t == "BOOL":
        return types.is_boolean(arrow_type)
    if t.startswith("INT"):
        return types.is_integer(arrow_type)
    if t in ("FLOAT", "DOUBLE"):
        return types.is_floating(arrow_type) or types.is_integer(arrow_type) or types.is_decimal(arrow_type)
    return types.is_string(arrow_type) or types.is_large_string(arrow_type) or types.is_dictionary(arrow_type) \
        or types.is_timestamp(arrow_type) or types.is_date(arrow_type)


def _plan(source: ParquetSource, fields: list[dict[str, Any]], dynamic: bool, collection: str,
          version: str, new: bool) -> _Plan:
    from .cleanup import INSERT_NEW_KEYS, plan_undo

    columns = {f.name: f.type for f in source.arrow}
    by_name = {f["name"]: f for f in fields}
    outputs = {f["name"] for f in fields if f.get("is_function_output")}
    drop = set(outputs & set(columns))
    skipped: list[str] = []
    for name in columns:
        if name in (PARTITION_COLUMN,) or name in outputs:
            continue
        if name == DYNAMIC_COLUMN:
            if not dynamic:
                drop.add(name)
                skipped.append(f"{DYNAMIC_COLUMN} (the dynamic field's keys)")
            continue
        f = by_name.get(name)
        if f is None:
            if not dynamic:
                drop.add(name)
                skipped.append(name)
            continue
        if not _compatible(f, columns[name]):
            raise InvalidInput(f"{source.path}: column '{name}' is {columns[name]}, but the field '{name}' of "
                               f"'{collection}' is {f['type']}.")
    pk = next(f for f in fields if f.get("is_primary"))
    for f in fields:
        if f["name"] in columns or f.get("is_function_output") or f is pk:
            continue
        if not f.get("nullable") and "default_value" not in f:
            what = "vector field" if f["type"] in VECTOR_TYPES else "field"
            raise InvalidInput(f"{source.path} has no column '{f['name']}', and the {what} '{f['name']}' of "
                               f"'{collection}' is not nullable.")
    has_keys = pk["name"] in columns and pk["name"] not in drop
    if not pk.get("auto_id"):
        if not has_keys:
            raise InvalidInput(f"{source.path} has no column '{pk['name']}': collection '{collection}' needs an "
                               f"explicit primary key '{pk['name']}' for every entity.")
        keys = KeyPlan(pk["name"], pk["type"], False, user_keys="primary key")
        method = "upsert"
    elif not has_keys:
        keys = KeyPlan(pk["name"], pk["type"], True)
        method = "insert"
    else:
        undo = plan_undo(_planned(collection, fields), version)
        method = undo.method
        if method == INSERT_NEW_KEYS:
            keys = KeyPlan(pk["name"], pk["type"], True, user_keys="dropped",
                           reason=f"this server ({version}) gives the entities of an auto_id collection new keys")
        else:
            keys = KeyPlan(pk["name"], pk["type"], True, user_keys="primary key")
    if method == INSERT_NEW_KEYS:
        drop.add(pk["name"])
    keyed = any(f.get("is_partition_key") for f in fields)
    return _Plan(fields, drop, skipped, dynamic, keyed, method, keys)


def _check(source: ParquetSource, plan: _Plan, batch_size: int) -> int:
    """One pass over the file: nulls where the target takes none, duplicate keys, text longer
    than its field's max_length. The number of rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by_name = {f["name"]: f for f in plan.fields}
    lengths = {name: int(by_name[name]["params"]["max_length"]) for name in source.arrow.names
               if name in by_name and by_name[name]["type"] == "VARCHAR" and name not in plan.drop
               and by_name[name].get("params", {}).get("max_length")
               and pa.types.is_string(source.arrow.field(name).type)}
    strict = [name for name in source.arrow.names if name in by_name and name not in plan.drop
              and not by_name[name].get("nullable") and "default_value" not in by_name[name]]
    pk = plan.keys.primary
    check_keys = pk in source.arrow.names and pk not in plan.drop
    seen: set[Any] = set()
    count = 0
    for batch in source.batches(batch_size):
        for name in strict:
            column = batch.column(name)
            if column.null_count:
                first = column.is_null().to_pylist().index(True)
                raise InvalidInput(f"{source.path} (row {count + first + 1}): column '{name}' is null, and the "
                                   f"field '{name}' is not nullable.")
        for name, limit in lengths.items():
            sizes = pc.utf8_length(batch.column(name))
            longest = pc.max(sizes).as_py()
            if longest is not None and longest > limit:
                first = sizes.to_pylist().index(longest)
                raise InvalidInput(f"{source.path} (row {count + first + 1}): column '{name}' is {longest} characters "
                                   f"long; the field's max_length is {limit}.")
        if check_keys:
            for i, key in enumerate(batch.column(pk).to_pylist()):
                if key in seen:
                    raise InvalidInput(f"{source.path} (row {count + i + 1}): the key {key!r} appears twice; "
                                       "a primary key must be unique.")
                seen.add(key)
        count += batch.num_rows
    return count


# -- the ingest ----------------------------------------------------------------------------------


def ingest_parquet(collection: str, source: ParquetSource, *, batch_size: int = DEFAULT_BATCH,
                   skip: int = 0, total: int | None = None) -> Op[IngestReport]:
    """Put the file's entities into ``collection`` (created from the file's schema when missing)."""
    done = _Progress()
    try:
        return (yield from _ingest(collection, source, batch_size=batch_size, skip=skip, total=total, done=done))
    except (GeneratorExit, KeyboardInterrupt):
        raise _stopped(collection, done, skip if isinstance(skip, int) else 0) from None


def _ingest(collection: str, source: ParquetSource, *, batch_size: int, skip: int, total: int | None,
            done: _Progress) -> Op[IngestReport]:
    from .cleanup import INSERT_KEEP_KEYS, _allow_keyed_insert, _disallow_keyed_insert, server_version

    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"The batch size must be a whole number of at least 1, not {batch_size!r}.")
    if not isinstance(skip, int) or skip < 0:
        raise InvalidInput(f"The number of entities to skip must be 0 or more, not {skip!r}.")
    timer = Timer()
    if source.meta is None:
        yield Blocking(lambda: finish_inferred(source))
    record = source.record
    exists = yield Call("has_collection", {"collection_name": collection})
    info: CollectionInfo | None = (yield from describe(collection, with_count=False)) if exists else None
    version = yield from server_version()
    if info is None:
        columns = set(source.arrow.names)
        fields = [f for f in record["fields"] if f["name"] in columns or f.get("is_primary")
                  or (f.get("is_function_output") and _inputs_present(record, f["name"], columns))]
        if not any(f["type"] in VECTOR_TYPES for f in fields):
            raise InvalidInput(f"{source.path} has no vector column, and a new collection needs a vector field.")
        dynamic = bool(record.get("enable_dynamic_field"))
    else:
        fields = [_field_dict(f) for f in info.fields]
        dynamic = info.enable_dynamic_field
    plan = _plan(source, fields, dynamic, collection, version, info is None)
    done.plan = plan.keys
    count = yield Blocking(lambda: _check(source, plan, batch_size))
    if skip > count:
        raise InvalidInput(f"Cannot skip {skip} entities; the file holds {count}.")
    total = total if total is not None else count - skip
    created = False
    if info is None:
        yield from create_from_record(collection, record, fields)
        created = done.created = True
        info = yield from describe(collection, with_count=False)
    elif source.has_partitions and not plan.keyed:
        wanted = yield Blocking(lambda: _partitions_in(source, batch_size))
        for partition in sorted(wanted - set(info.partitions)):
            yield Call("create_partition", {"collection_name": collection, "partition_name": partition},
                       collection=collection, sync_only=True)
    previous = (yield from _allow_keyed_insert(info)) if plan.method == INSERT_KEEP_KEYS else None
    try:
        inserted = yield from _send_all(collection, source, plan, batch_size, skip, total, done)
    finally:
        if previous is not None:
            yield from _disallow_keyed_insert(info, previous)
    if inserted:
        yield Progress(inserted, total, "flushing")
        yield Call("flush", {"collection_name": collection}, collection=collection)
    return IngestReport(collection, inserted, created, timer.elapsed, tuple(plan.skipped), plan.keys, skip)


def _inputs_present(record: dict[str, Any], output: str, columns: set[str]) -> bool:
    return any(output in fn["output_field_names"] and set(fn["input_field_names"]) <= columns
               for fn in record.get("functions") or [])


def _partitions_in(source: ParquetSource, batch_size: int) -> set[str]:
    import pyarrow.compute as pc

    found: set[str] = set()
    for batch in source.batches(batch_size):
        found.update(p for p in pc.unique(batch.column(PARTITION_COLUMN)).to_pylist() if p)
    return found


def _runs(rows: list[dict[str, Any]], partitions: list[str | None]) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Consecutive rows of the same partition (an export writes each partition's rows together)."""
    out: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row, partition in zip(rows, partitions):
        if out and out[-1][0] == partition:
            out[-1][1].append(row)
        else:
            out.append((partition, [row]))
    return out


def _send_all(collection: str, source: ParquetSource, plan: _Plan, batch_size: int, skip: int,
              total: int, done: _Progress) -> Op[int]:
    method = "upsert" if plan.method == "upsert" else "insert"
    inserted = 0
    passed = 0
    record = {"fields": plan.fields}
    for batch in source.batches(batch_size):
        if passed + batch.num_rows <= skip:
            passed += batch.num_rows
            continue
        if passed < skip:
            batch = batch.slice(skip - passed)
        passed += batch.num_rows
        rows, partitions = yield Blocking(lambda batch=batch: rows_from_batch(batch, record, drop=plan.drop,
                                                                              dynamic=plan.dynamic))
        if plan.keyed:
            partitions = [None] * len(rows)
        for partition, group in _runs(rows, partitions):
            kwargs: dict[str, Any] = {"collection_name": collection, "data": group}
            if partition:
                kwargs["partition_name"] = partition
            done.in_flight = len(group)
            try:
                yield Call(method, kwargs, collection=collection)
            except GeneratorExit:
                done.in_flight = 0  # closed before the call was sent (see ingest._ingest)
                raise
            except MilvusTuiError as exc:
                done.in_flight = 0
                if isinstance(exc, Cancelled):
                    raise
                where = Document("", where=f"{source.path} (row {skip + inserted + 1})")
                raise _interrupted(collection, exc, inserted, skip, [where], plan.keys) from exc
            done.in_flight = 0
            inserted += len(group)
            done.committed = inserted
        yield Progress(inserted, total, "inserting")
    return inserted
