"""The schema zoo: collections shaped the way users' data is, made directly with pymilvus.

Our own ingest makes friendly collections (``auto_id=False``, float vectors, no functions, no
partitions, the default database). Users' collections are not like that, so the undo tests run
against these instead. Nothing here uses the project's own code: the zoo is built with a plain
``MilvusClient`` so that a bug in our ingest cannot hide a bug in our restore.

    zoo = create_zoo(uri, server="lite")          # {spec name: ZooCollection}
    before = snapshot(client, c.name, db_name=c.db_name)
    ... delete, then undo ...
    assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []

``create_zoo`` makes every spec in ``ZOO`` that the server supports, each with 16-24 known
entities (seeded, so the same on every run), flushed, indexed and loaded. A spec the server
cannot hold is skipped with the reason in ``ZooCollection.skipped``: either the server refused
it when we tried (its own words), or it is in ``UNSAFE`` because trying it crashes the server or
the server accepts it and silently loses part of it (measured on Go Milvus 2.3.5; see
/work/notes/zoo_findings.md).

``snapshot`` reads every entity back, partition by partition, normalised for exact comparison;
``diff`` lists every difference between two snapshots in words.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient

#: Stored text that has broken terminals, Rich markup or C strings before.
HOSTILE = ("<s>[INST] hi [/INST]", "[bold]x[/]", "\x1b[2J", "\x1b]0;title\x07", "\x00", "\x85")
#: Primary-key text that breaks naive filter quoting: quotes, brackets, backslashes.
AWKWARD_KEYS = ("it's", 'say "hi"', "[x]", "a\\b", "\\", "'\"[]\\", "end\\'", "[/INST]")

PARTITION_KEY = "$partition"  #: snapshot entry: the partition the entity was found in
DYNAMIC_KEY = "$dynamic"  #: snapshot entry: the dynamic keys (canonical JSON text), if any
DEFAULT_PARTITION = "_default"
SECOND_DB = "db1"

DIM = 8
BINARY_DIM = 32  # bits
SERVERS = ("lite", "go")
#: collections create_zoo makes at the same time
ZOO_WORKERS = 6
#: What Milvus Lite 3.2.2 refuses to create: "field 'vec' uses Milvus type BinaryVector which
#: MilvusLite does not support" (and the same for the other byte vectors).
LITE_REFUSES = frozenset({"zoo_binary", "zoo_float16", "zoo_bfloat16", "zoo_int8"})


# -- specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZooSpec:
    """One zoo collection: how to build it and what to put in it.

    ``rows(rng)`` returns ``(partition, row)`` pairs; ``partition`` is ``_default`` or one of
    ``partitions``. On an ``auto_id`` collection rows carry no primary key.
    """

    name: str
    covers: str  #: what this collection is in the zoo for, in words
    schema: Callable[[], Any]
    rows: Callable[[random.Random], list[tuple[str, dict[str, Any]]]]
    #: (field, index_type, metric_type) for every vector field, so the collection can load.
    indexes: tuple[tuple[str, str, str], ...]
    partitions: tuple[str, ...] = ()  #: named partitions besides _default
    db_name: str = "default"
    alias: str | None = None
    #: create_collection(num_partitions=...) for a partition-key collection
    num_partitions: int | None = None
    #: one insert call for all rows (Go 2.3.5 float16: see UNSAFE's note)
    single_insert: bool = False


def _vec(rng: random.Random, dim: int = DIM) -> list[float]:
    # Values exactly representable in float32, so the snapshot compares what was sent.
    return [float(np.float32(rng.uniform(-1, 1))) for _ in range(dim)]


def _text(rng: random.Random, i: int) -> str:
    words = ("alpha", "beta", "gamma", "delta", "milvus", "vector", "search", "undo", "zoo")
    text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
    return f"{text} {HOSTILE[i % len(HOSTILE)]}" if i % 3 == 0 else text


def _base(auto_id: bool = False, dynamic: bool = False, pk_type: DataType = DataType.INT64) -> Any:
    schema = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=dynamic)
    if pk_type == DataType.VARCHAR:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    return schema


def _plain(extra: Callable[[Any], None] | None = None, **base: Any) -> Callable[[], Any]:
    def build() -> Any:
        schema = _base(**base)
        schema.add_field("text", DataType.VARCHAR, max_length=512)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        if extra:
            extra(schema)
        return schema

    return build


def _rows(n: int, make: Callable[[random.Random, int], dict[str, Any]], *, pk: bool = True,
          partitions: tuple[str, ...] = ()) -> Callable[[random.Random], list[tuple[str, dict[str, Any]]]]:
    """n rows from ``make(rng, i)``, pk ``i + 1`` unless auto_id, spread round-robin over
    _default and the named partitions."""
    spread = (DEFAULT_PARTITION, *partitions)

    def rows(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for i in range(n):
            row = {"pk": i + 1} if pk else {}
            row.update(make(rng, i))
            out.append((spread[i % len(spread)], row))
        return out

    return rows


def _text_vec(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": _text(rng, i), "vec": _vec(rng)}


FLAT = ("vec", "FLAT", "L2")


# Each builder below is one ZOO entry; they are functions so that a schema is made fresh each time.

def _varchar_pk_rows(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i in range(20):
        key = f"{AWKWARD_KEYS[i % len(AWKWARD_KEYS)]}#{i}"
        out.append((DEFAULT_PARTITION, {"pk": key, "text": HOSTILE[i % len(HOSTILE)], "vec": _vec(rng)}))
    return out


def _dynamic_row(rng: random.Random, i: int) -> dict[str, Any]:
    row = _text_vec(rng, i)
    if i % 2 == 0:
        row["color"] = rng.choice(["red", "green", "[blue]"])
    if i % 3 == 0:
        row["n"] = rng.randint(-1000, 1000)
    if i % 4 == 0:
        row["nested"] = {"a": [1, 2, {"b": None}], "s": HOSTILE[i % len(HOSTILE)]}
    if i % 5 == 0:
        row["ratio"] = 0.5 * i
    return row


def _json_array_schema(schema: Any) -> None:
    schema.add_field("meta", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=32)
    schema.add_field("nums", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("f32", DataType.FLOAT)
    schema.add_field("f64", DataType.DOUBLE)


def _json_array_row(rng: random.Random, i: int) -> dict[str, Any]:
    row = _text_vec(rng, i)
    row["meta"] = {"i": i, "source": f"doc{i}.txt", "score": rng.randint(0, 100) / 4,
                   "nested": {"list": [i, "x", None, True], "empty": {}}, "quote": "it's \"q\" [x]\\"}
    if i % 4 == 1:  # Go 2.3.5 refuses JSON that is not an object ("cannot unmarshal array")
        row["meta"] = {"list": [1, "two", {"three": 3}], "unicode": "é\u2028\U0001f600"}
    row["tags"] = [rng.choice(["a", "b", "[c]", "d'e"]) for _ in range(i % 4)]
    row["nums"] = [rng.randint(-2**40, 2**40) for _ in range(i % 5)]
    row["flag"] = i % 2 == 0
    row["i8"] = rng.randint(-128, 127)
    row["i16"] = rng.randint(-32768, 32767)
    row["i32"] = rng.randint(-2**31, 2**31 - 1)
    row["f32"] = float(np.float32(rng.uniform(-1e6, 1e6)))
    row["f64"] = rng.uniform(-1e12, 1e12)
    return row


def _nullable_schema(schema: Any) -> None:
    schema.add_field("maybe_int", DataType.INT64, nullable=True)
    schema.add_field("maybe_text", DataType.VARCHAR, max_length=64, nullable=True)
    schema.add_field("maybe_json", DataType.JSON, nullable=True)
    schema.add_field("maybe_tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True)
    schema.add_field("level", DataType.INT64, default_value=7)
    schema.add_field("label", DataType.VARCHAR, max_length=32, default_value="unlabelled")
    schema.add_field("weight", DataType.DOUBLE, nullable=True, default_value=1.5)


def _nullable_row(rng: random.Random, i: int) -> dict[str, Any]:
    row = _text_vec(rng, i)
    row["maybe_int"] = None if i % 3 == 0 else rng.randint(0, 99)
    row["maybe_text"] = None if i % 4 == 0 else HOSTILE[i % len(HOSTILE)]
    row["maybe_json"] = None if i % 2 == 0 else {"i": i}
    row["maybe_tags"] = None if i % 5 == 0 else [i, i + 1]
    if i % 3 != 1:  # left out: the server fills in the default
        row["level"] = i
    if i % 2 == 1:
        row["label"] = f"label {i}"
    if i % 4 == 2:
        row["weight"] = None
    elif i % 4 == 3:
        row["weight"] = i / 8
    return row


def _defaults_schema(schema: Any) -> None:
    schema.add_field("level", DataType.INT64, default_value=7)
    schema.add_field("label", DataType.VARCHAR, max_length=32, default_value="unlabelled")


def _defaults_row(rng: random.Random, i: int) -> dict[str, Any]:
    row = _text_vec(rng, i)
    if i % 3 != 1:
        row["level"] = i
    if i % 2 == 1:
        row["label"] = f"label {i}"
    return row


def _two_dense_schema(schema: Any) -> None:
    schema.add_field("vec2", DataType.FLOAT_VECTOR, dim=4)


def _sparse_schema(schema: Any) -> None:
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)


def _sparse_row(rng: random.Random, i: int) -> dict[str, Any]:
    row = _text_vec(rng, i)
    indices = rng.sample(range(0, 5000), rng.randint(1, 6)) + ([2**32 - 2] if i % 7 == 0 else [])
    row["sparse"] = {k: float(np.float32(rng.uniform(0.01, 5))) for k in indices}
    return row


def _bm25_schema() -> Any:
    schema = _base()
    schema.add_field("text", DataType.VARCHAR, max_length=1024, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def _one_vector_schema(dtype: DataType, dim: int) -> Callable[[], Any]:
    def build() -> Any:
        schema = _base()
        schema.add_field("text", DataType.VARCHAR, max_length=512)
        schema.add_field("vec", dtype, dim=dim)
        return schema

    return build


def _binary_row(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": _text(rng, i), "vec": bytes(rng.getrandbits(8) for _ in range(BINARY_DIM // 8))}


def _float16_row(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": _text(rng, i), "vec": np.asarray(_vec(rng), dtype=np.float16)}


def _bfloat16_row(rng: random.Random, i: int) -> dict[str, Any]:
    bits = (np.asarray(_vec(rng), dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return {"text": _text(rng, i), "vec": bits.tobytes()}  # pymilvus without ml_dtypes: raw bytes


def _int8_row(rng: random.Random, i: int) -> dict[str, Any]:
    return {"text": _text(rng, i), "vec": np.asarray([rng.randint(-128, 127) for _ in range(DIM)], dtype=np.int8)}


def _partition_key_schema() -> Any:
    schema = _base()
    schema.add_field("tenant", DataType.VARCHAR, max_length=32, is_partition_key=True)
    schema.add_field("text", DataType.VARCHAR, max_length=512)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    return schema


def _tenant_row(rng: random.Random, i: int) -> dict[str, Any]:
    return {"tenant": ("acme", "globex", "[initech]", "o'hare")[i % 4], **_text_vec(rng, i)}


def _timestamptz_schema(schema: Any) -> None:
    schema.add_field("at", DataType.TIMESTAMPTZ)


def _timestamptz_row(rng: random.Random, i: int) -> dict[str, Any]:
    zone = ("Z", "+00:00", "+05:30", "-08:00")[i % 4]
    return {**_text_vec(rng, i), "at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:30:15{zone}"}


ZOO: list[ZooSpec] = [
    ZooSpec("zoo_auto_id", "INT64 auto_id primary key", _plain(auto_id=True),
            _rows(20, _text_vec, pk=False), (FLAT,)),
    ZooSpec("zoo_varchar_pk", "VARCHAR primary key with quotes, brackets, backslashes; hostile text",
            _plain(pk_type=DataType.VARCHAR), _varchar_pk_rows, (FLAT,)),
    ZooSpec("zoo_dynamic", "dynamic field: extra keys in some rows", _plain(dynamic=True),
            _rows(20, _dynamic_row), (FLAT,)),
    ZooSpec("zoo_json_array", "JSON and ARRAY fields, every scalar type", _plain(_json_array_schema),
            _rows(20, _json_array_row), (FLAT,)),
    ZooSpec("zoo_nullable", "nullable fields and default values, some rows null or left out",
            _plain(_nullable_schema), _rows(20, _nullable_row), (FLAT,)),
    ZooSpec("zoo_defaults", "default values (no nullable), some rows leave them out",
            _plain(_defaults_schema), _rows(16, _defaults_row), (FLAT,)),
    ZooSpec("zoo_two_dense", "two dense FLOAT_VECTOR fields", _plain(_two_dense_schema),
            _rows(16, lambda rng, i: {**_text_vec(rng, i), "vec2": _vec(rng, 4)}),
            (FLAT, ("vec2", "FLAT", "IP"))),
    ZooSpec("zoo_sparse", "a SPARSE_FLOAT_VECTOR field (with a dense one)", _plain(_sparse_schema),
            _rows(20, _sparse_row), (FLAT, ("sparse", "SPARSE_INVERTED_INDEX", "IP"))),
    ZooSpec("zoo_bm25", "a BM25 function with an analyzer (VARCHAR -> sparse output)", _bm25_schema,
            _rows(20, _text_vec), (FLAT, ("sparse", "SPARSE_INVERTED_INDEX", "BM25"))),
    ZooSpec("zoo_binary", "BINARY_VECTOR", _one_vector_schema(DataType.BINARY_VECTOR, BINARY_DIM),
            _rows(20, _binary_row), (("vec", "BIN_FLAT", "HAMMING"),)),
    ZooSpec("zoo_float16", "FLOAT16_VECTOR", _one_vector_schema(DataType.FLOAT16_VECTOR, DIM),
            _rows(20, _float16_row), (FLAT,), single_insert=True),
    ZooSpec("zoo_bfloat16", "BFLOAT16_VECTOR", _one_vector_schema(DataType.BFLOAT16_VECTOR, DIM),
            _rows(20, _bfloat16_row), (FLAT,), single_insert=True),
    ZooSpec("zoo_int8", "INT8_VECTOR", _one_vector_schema(DataType.INT8_VECTOR, DIM),
            _rows(20, _int8_row), (("vec", "HNSW", "L2"),), single_insert=True),
    ZooSpec("zoo_partitions", "named partitions p_a, p_b and _default", _plain(),
            _rows(24, _text_vec, partitions=("p_a", "p_b")), (FLAT,), partitions=("p_a", "p_b")),
    ZooSpec("zoo_partition_key", "a partition-key field (tenant)", _partition_key_schema,
            _rows(20, _tenant_row), (FLAT,), num_partitions=4),
    ZooSpec("zoo_aliased", "a collection reached through the alias zoo_alias", _plain(),
            _rows(16, _text_vec), (FLAT,), alias="zoo_alias"),
    ZooSpec("zoo_db1", "a collection in database db1, with a named partition", _plain(),
            _rows(18, _text_vec, partitions=("p_db1",)), (FLAT,), db_name=SECOND_DB, partitions=("p_db1",)),
    ZooSpec("zoo_timestamptz", "a TIMESTAMPTZ field", _plain(_timestamptz_schema),
            _rows(16, _timestamptz_row), (FLAT,)),
]

#: Specs never tried on a server, because trying does harm there. Measured on these machines.
UNSAFE: dict[str, dict[str, str]] = {
    "lite": {},
    "go": {
        # Creating and inserting work; loading panics segcore (NewCollection) and the server dies.
        "zoo_timestamptz": "not supported by this server (Milvus 2.3.5 predates TIMESTAMPTZ): "
                           "it accepts the schema and the rows, then crashes when the collection is loaded",
        # Milvus 2.3.5 has no nullable: it drops the flag from the schema without a word, then
        # refuses None ("the num_rows (0) of field ... is not equal to passed num_rows").
        "zoo_nullable": "not supported by this server (Milvus 2.3.5 predates nullable fields): "
                        "it drops nullable=True from the schema and refuses None values",
        # 2.3.5 accepts the schema but drops the function (describe_collection: functions []).
        # Refused ("... is not supported now"), but the refusal carries the raw vector bytes, which
        # gRPC cannot marshal ("string field contains invalid UTF-8"): pymilvus then retries
        # 75 times (minutes) before it gives up.
        "zoo_bfloat16": "not supported by this server (Milvus 2.3.5 predates BFLOAT16_VECTOR): it refuses the rows",
        "zoo_bm25": "not supported by this server (Milvus 2.3.5 predates functions and sparse vectors): "
                    "it drops the BM25 function from the schema",
    },
}
# Not in UNSAFE because the server refuses them itself when tried (the reason is its words):
# Go 2.3.5 zoo_two_dense ("multiple vector fields is not supported"), zoo_defaults (rows that leave a default field out: "the num_rows (5) of field
# (level) is not equal to passed num_rows (8)"), zoo_sparse and zoo_int8 (insert: "... is not supported now"); Lite 3.2.2 zoo_binary, zoo_float16,
# zoo_bfloat16, zoo_int8 ("... which MilvusLite does not support").
#

#: Collections a server holds, but where some writes kill it. Tests must respect these.
HAZARDS: dict[str, dict[str, str]] = {
    "lite": {},
    "go": {
        # Go 2.3.5 panics ("unsupported data type: Float16Vector", querynode
        # insertNode.addInsertData) when two insert messages of a float16 collection reach a
        # query node together: two inserts and then a load, or six quick 8-row inserts (or
        # upserts) into the loaded collection. One insert call before the load is safe, so the
        # zoo inserts float16 rows in one call. A restore in several batches kills the server.
        "zoo_float16": "Milvus 2.3.5 crashes when several inserts or upserts reach a float16 "
                       "collection together: write it in one call, or not at all",
    },
}


# -- creating -------------------------------------------------------------------------------


@dataclass
class ZooCollection:
    """What create_zoo made of one spec (or why it did not)."""

    spec: ZooSpec
    name: str
    db_name: str
    pk: str
    auto_id: bool
    #: every partition entities were put in, _default first (partition-key collection: ())
    partitions: tuple[str, ...]
    #: fields a function writes (BM25 output): not data, never inserted, left out of snapshots
    function_outputs: tuple[str, ...] = ()
    vector_fields: tuple[str, ...] = ()
    alias: str | None = None
    partition_key: str | None = None
    entities: int = 0  #: how many were inserted
    hazard: str | None = None  #: a write that crashes this server (see HAZARDS), or None
    skipped: str | None = None  #: why the server does not have this collection, or None

    @property
    def created(self) -> bool:
        return self.skipped is None


def client_for(uri: str, db_name: str = "default", **kwargs: Any) -> MilvusClient:
    """A MilvusClient on ``db_name`` (pymilvus 3 has no per-call database for data calls)."""
    return MilvusClient(uri=uri, db_name="" if db_name == "default" else db_name, timeout=60, **kwargs)


def ensure_database(client: MilvusClient, db_name: str) -> None:
    if db_name != "default" and db_name not in client.list_databases():
        client.create_database(db_name)


def create_zoo(uri: str, *, server: str, specs: list[ZooSpec] | None = None,
               prefix: str = "") -> dict[str, ZooCollection]:
    """Create every zoo collection ``server`` ("lite" or "go") supports, at ``uri``.

    Returns {spec name: ZooCollection}, skipped ones included (``skipped`` says why). An
    existing collection of the same name is dropped first. ``prefix`` goes before each
    collection name (and alias), so that several zoos can share one server.
    """
    if server not in SERVERS:
        raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
    chosen = ZOO if specs is None else specs
    admin = client_for(uri)
    try:
        for db_name in dict.fromkeys(spec.db_name for spec in chosen):
            ensure_database(admin, db_name)
    finally:
        admin.close()

    def create(spec: ZooSpec) -> ZooCollection:
        client = client_for(uri, spec.db_name)
        try:
            return _create_one(client, spec, server, prefix)
        finally:
            client.close()

    # The collections are independent, and most of each one's time is spent waiting on the
    # server (index and load polling; ~38 s one after another on the Go server), so they are made
    # side by side, each with its own client. The result keeps ZOO's order.
    with ThreadPoolExecutor(max_workers=ZOO_WORKERS) as pool:
        made = list(pool.map(create, chosen))
    return {spec.name: one for spec, one in zip(chosen, made, strict=True)}


def _create_one(client: MilvusClient, spec: ZooSpec, server: str, prefix: str) -> ZooCollection:
    name = prefix + spec.name
    schema = spec.schema()
    pk = next(f for f in schema.fields if f.is_primary)
    outputs = tuple(o for fn in schema.functions for o in fn.output_field_names)
    vectors = tuple(f.name for f in schema.fields if _is_vector(f.dtype))
    key = next((f.name for f in schema.fields if getattr(f, "is_partition_key", False)), None)
    made = ZooCollection(spec, name, spec.db_name, pk.name, bool(schema.auto_id),
                         () if key else (DEFAULT_PARTITION, *spec.partitions), outputs, vectors,
                         prefix + spec.alias if spec.alias else None, key,
                         hazard=HAZARDS[server].get(spec.name))
    if spec.name in UNSAFE[server]:
        made.skipped = UNSAFE[server][spec.name]
        return made
    if client.has_collection(name):
        client.drop_collection(name)
    try:
        options = {"num_partitions": spec.num_partitions} if spec.num_partitions else {}
        client.create_collection(name, schema=schema, consistency_level="Strong", **options)
        for partition in spec.partitions:
            client.create_partition(name, partition)
        rows = spec.rows(random.Random(f"zoo:{spec.name}"))
        groups: dict[str, list[dict[str, Any]]] = {}
        for partition, row in rows:
            groups.setdefault(partition, []).append(row)
        for partition, batch in groups.items():
            target = {} if key else {"partition_name": partition}
            if spec.single_insert:
                client.insert(name, batch, **target)
            else:  # several insert calls, as real writers make them
                for start in range(0, len(batch), 8):
                    client.insert(name, batch[start:start + 8], **target)
        if server == "lite":  # Lite is slow on unflushed data; a Go flush costs ~3 s and is not needed
            client.flush(name)
        index = MilvusClient.prepare_index_params()
        for field_name, index_type, metric in spec.indexes:
            index.add_index(field_name, index_type=index_type, metric_type=metric)
        client.create_index(name, index)
        client.load_collection(name)
        if made.alias:
            try:  # left over from an earlier zoo, pointing at a dropped collection
                client.drop_alias(made.alias)
            except Exception:  # noqa: BLE001 - there was no such alias
                pass
            client.create_alias(name, made.alias)
        made.entities = len(rows)
    except Exception as exc:  # noqa: BLE001 - the server's refusal is the finding
        made.skipped = f"refused by this server: {_milvus_words(exc)}"
        try:
            client.drop_collection(name)
        except Exception:  # noqa: BLE001 - best effort; the skip reason matters more
            pass
    return made


def _milvus_words(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def drop_zoo(uri: str, zoo: dict[str, ZooCollection]) -> None:
    """Drop every created zoo collection (and its alias)."""
    by_db: dict[str, list[ZooCollection]] = {}
    for made in zoo.values():
        if made.created:
            by_db.setdefault(made.db_name, []).append(made)
    for db_name, members in by_db.items():
        client = client_for(uri, db_name)
        try:
            for made in members:
                if made.alias:
                    try:
                        client.drop_alias(made.alias)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
                if client.has_collection(made.name):
                    client.drop_collection(made.name)
        finally:
            client.close()


# -- snapshots ------------------------------------------------------------------------------

_BYTE_VECTORS = {DataType.BINARY_VECTOR, DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR}


def _is_vector(dtype: DataType) -> bool:
    return dtype in _BYTE_VECTORS or dtype in (DataType.FLOAT_VECTOR, DataType.SPARSE_FLOAT_VECTOR)


def _canonical_json(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalize(dtype: DataType, value: Any, element_type: DataType | None = None) -> Any:
    """One field value in a form that compares exactly.

    float vectors -> float32 bytes; binary/float16/bfloat16/int8 -> bytes (pymilvus gives them
    as ``[bytes]`` or a numpy array); sparse -> sorted tuple of (int index, float32 value);
    JSON -> canonical JSON text; FLOAT and FLOAT arrays -> float32; arrays -> tuples;
    TIMESTAMPTZ -> ISO text in UTC; None kept.
    """
    if value is None:
        return None
    if dtype == DataType.FLOAT_VECTOR:
        return np.asarray(value, dtype=np.float32).tobytes()
    if dtype in _BYTE_VECTORS:
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (bytes, bytearray)):
            value = value[0]
        if isinstance(value, np.ndarray):
            return value.tobytes()
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if dtype == DataType.INT8_VECTOR:
            return np.asarray(value, dtype=np.int8).tobytes()
        raise TypeError(f"unexpected {dtype.name} value from pymilvus: {type(value).__name__} {value!r:.80}")
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        return tuple(sorted((int(k), float(np.float32(v))) for k, v in dict(value).items()))
    if dtype == DataType.JSON:
        return _canonical_json(value)
    if dtype == DataType.FLOAT:
        return float(np.float32(value))
    if dtype == DataType.TIMESTAMPTZ and isinstance(value, str):
        # Lite 3 stores the instant and answers in UTC ("...+05:30" comes back as "...Z").
        return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    if dtype == DataType.ARRAY:
        if element_type == DataType.FLOAT:
            return tuple(float(np.float32(v)) for v in value)
        return tuple(value)
    return value


def snapshot(client: MilvusClient, name: str, *, db_name: str = "default",
             function_outputs: bool = False) -> dict[Any, dict[str, Any]]:
    """Every entity of a loaded collection, keyed by primary key, normalised for comparison.

    Each entry maps field name -> normalised value (see ``normalize``) for every schema field
    except function outputs (a BM25 function's sparse field: not user data, and it cannot be
    inserted, so a restore leaves it to the server), unless ``function_outputs=True`` (Lite
    3.2.2 does return it from query; it holds term frequencies of the text, so a recomputed one
    should compare equal). Plus:

    - ``$partition``: the partition the entity was found in (queried one partition at a time,
      since a query's result does not say). For a partition-key collection it is None: the
      key field decides the partition, and Milvus refuses partition_names there.
    - ``$dynamic``: the dynamic keys as canonical JSON text, when the collection has a
      dynamic field (``"{}"`` for a row without any).

    An entity found in two partitions is reported as ``$partition`` "a+b" (it should never be).
    Reads with Strong consistency; ``client`` may be on any database (it is pointed at
    ``db_name`` for the reads and back afterwards).
    """
    # Not client.use_database(): it calls DescribeDatabase first, which Go 2.3.5 lacks
    # (UNIMPLEMENTED). Every data call takes its database from the client's config.
    config = client._config
    previous = config.db_name
    config.db_name = "" if db_name == "default" else db_name
    try:
        return _snapshot(client, name, function_outputs)
    finally:
        config.db_name = previous


def _snapshot(client: MilvusClient, name: str, function_outputs: bool) -> dict[Any, dict[str, Any]]:
    described = client.describe_collection(name)
    outputs = set() if function_outputs else {
        o for fn in described.get("functions", []) for o in fn.get("output_field_names", [])}
    fields = {f["name"]: f for f in described["fields"] if f["name"] not in outputs}
    pk = next(f["name"] for f in described["fields"] if f.get("is_primary"))
    dynamic = bool(described.get("enable_dynamic_field"))
    keyed = any(f.get("is_partition_key") for f in described["fields"])
    partitions: list[str | None] = [None] if keyed else list(client.list_partitions(name))
    out: dict[Any, dict[str, Any]] = {}
    for partition in partitions:
        where = {} if partition is None else {"partition_names": [partition]}
        rows = client.query(name, filter="", limit=16384, output_fields=["*"],
                            consistency_level="Strong", **where)
        for row in rows:
            key = row[pk]
            if key in out:
                out[key][PARTITION_KEY] = f"{out[key][PARTITION_KEY]}+{partition}"
                continue
            entry: dict[str, Any] = {PARTITION_KEY: partition}
            for fname, info in fields.items():
                entry[fname] = normalize(info["type"], row.get(fname), info.get("element_type"))
            if dynamic:
                extra = {k: v for k, v in row.items() if k not in fields and k not in outputs and k != "$meta"}
                if isinstance(row.get("$meta"), (dict, str)):
                    meta = row["$meta"]
                    extra.update(json.loads(meta) if isinstance(meta, str) else meta)
                entry[DYNAMIC_KEY] = _canonical_json(extra)
            out[key] = entry
    return out


def diff(before: dict[Any, dict[str, Any]], after: dict[Any, dict[str, Any]], *,
         key_map: dict[Any, Any] | None = None, ignore: tuple[str, ...] = ()) -> list[str]:
    """Every difference between two snapshots, one line each; [] when they are identical.

    ``key_map`` maps an old primary key to the new one, for a restore that had to give
    entities new keys (auto_id on a server that will not keep them): entities are then
    compared old-to-new and the primary-key field itself is not compared. ``ignore`` names
    entries not to compare (e.g. ``("$partition",)``).
    """
    problems: list[str] = []
    key_map = key_map or {}
    matched_after = set()
    for old_key, old in before.items():
        new_key = key_map.get(old_key, old_key)
        new = after.get(new_key)
        if new is None:
            where = f" (mapped to {new_key!r})" if new_key != old_key else ""
            problems.append(f"missing: {old_key!r}{where}")
            continue
        matched_after.add(new_key)
        for fname in sorted(set(old) | set(new)):
            if fname in ignore or (new_key != old_key and old.get(fname) == old_key and new.get(fname) == new_key):
                continue
            if fname not in new:
                problems.append(f"{old_key!r}: {fname} missing after")
            elif fname not in old:
                problems.append(f"{old_key!r}: {fname} appeared after: {_short(new[fname])}")
            elif old[fname] != new[fname]:
                what = "partition" if fname == PARTITION_KEY else f"field {fname}"
                problems.append(f"{old_key!r}: {what} differs: {_short(old[fname])} -> {_short(new[fname])}")
    for key in after:
        if key not in matched_after:
            problems.append(f"extra: {key!r}")
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _default_of(field_schema: Any) -> Any:
    value = getattr(field_schema, "default_value", None)
    if value is None:
        return None
    kind = value.WhichOneof("data")
    return None if kind is None else getattr(value, kind)


def expected_snapshot(made: ZooCollection) -> dict[Any, dict[str, Any]]:
    """What ``snapshot`` should read from a freshly created zoo collection, built from the
    spec's own rows (defaults filled in as the schema says, a missing nullable value as None).

    Keyed by primary key; for an ``auto_id`` collection (keys are the server's) keyed by row
    number instead, with the primary-key field left out: compare those with
    ``same_content``.
    """
    spec = made.spec
    schema = spec.schema()
    outputs = set(made.function_outputs)
    fields = [f for f in schema.fields if f.name not in outputs]
    names = {f.name for f in schema.fields}
    out: dict[Any, dict[str, Any]] = {}
    for n, (partition, row) in enumerate(spec.rows(random.Random(f"zoo:{spec.name}"))):
        entry: dict[str, Any] = {PARTITION_KEY: None if made.partition_key else partition}
        for f in fields:
            if f.is_primary and made.auto_id:
                continue
            value = row.get(f.name)
            if value is None and _default_of(f) is not None:
                value = _default_of(f)  # left out, or None on a nullable field with a default
            entry[f.name] = normalize(f.dtype, value, getattr(f, "element_type", None))
        if schema.enable_dynamic_field:
            entry[DYNAMIC_KEY] = _canonical_json({k: v for k, v in row.items() if k not in names})
        out[n if made.auto_id else row["pk"]] = entry
    return out


def same_content(expected: dict[Any, dict[str, Any]], actual: dict[Any, dict[str, Any]], pk: str) -> list[str]:
    """diff for collections whose keys the server chose: entities paired by content, the
    primary-key field ignored. Lists entities found on one side only."""
    def contents(snap: dict[Any, dict[str, Any]]) -> list[str]:
        return sorted(repr(sorted((k, v) for k, v in entry.items() if k != pk)) for entry in snap.values())

    want, got = contents(expected), contents(actual)
    problems = [f"missing: {_short(c)}" for c in want if c not in got]
    problems += [f"extra: {_short(c)}" for c in got if c not in want]
    if not problems and len(want) != len(got):
        problems.append(f"{len(want)} entities expected, {len(got)} found (duplicates)")
    return problems
