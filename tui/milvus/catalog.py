"""The catalog: databases, collections, schema, indexes, partitions, counts, load state.

Everything here returns plain dataclasses. Each operation is a sans-IO generator (see
``ops``) exposed as a sync method and an ``a``-prefixed async twin on ``Catalog``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AmbiguousField, InvalidInput, MilvusTuiError, NotFound, NotLoaded, NotSupported
from .ops import Call, Op, Progress, Sleep

#: Property key recording which embedding model built a collection we created.
EMBEDDING_PROPERTY = "milvus_tui.embedding"

DENSE_VECTOR_TYPES = {"FLOAT_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR", "INT8_VECTOR"}
VECTOR_TYPES = DENSE_VECTOR_TYPES | {"BINARY_VECTOR", "SPARSE_FLOAT_VECTOR"}
TEXT_FIELD_NAMES = ("text", "content", "page_content", "document", "body", "chunk", "doc")
#: Field types and the Milvus version that brought them. An older server (measured: the Go
#: standalone 2.3.5) accepts a schema holding them, then *crashes* when asked to load the
#: collection, so ``load`` refuses first.
FIELD_TYPES_SINCE = {"BFLOAT16_VECTOR": (2, 4), "SPARSE_FLOAT_VECTOR": (2, 4), "INT8_VECTOR": (2, 5)}


@dataclass(frozen=True)
class FieldInfo:
    name: str
    dtype: str  # Milvus's own type name, e.g. "INT64", "VARCHAR", "FLOAT_VECTOR"
    is_primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    dim: int | None = None
    max_length: int | None = None
    element_type: str | None = None
    #: ARRAY fields: how many elements an entity's value may hold.
    max_capacity: int | None = None
    is_partition_key: bool = False
    #: the output of a function (e.g. BM25's sparse vector): the server computes it, and
    #: refuses it in an insert or upsert ("Attempt to insert an unexpected function output field").
    is_function_output: bool = False
    description: str = ""
    #: the server fills the field in when a row leaves it out.
    has_default: bool = False
    #: text fields: analysed (BM25, TEXT_MATCH), with which analyzer, and text match enabled.
    enable_analyzer: bool = False
    analyzer: str = ""
    enable_match: bool = False
    is_clustering_key: bool = False

    @property
    def is_vector(self) -> bool:
        return self.dtype in VECTOR_TYPES

    @property
    def is_dense_vector(self) -> bool:
        return self.dtype in DENSE_VECTOR_TYPES

    def summary(self) -> str:
        parts = [self.dtype]
        if self.dim:
            parts.append(f"dim={self.dim}")
        if self.max_length:
            parts.append(f"max_length={self.max_length}")
        if self.element_type:
            parts.append(f"of {self.element_type}")
        if self.is_primary:
            parts.append("primary key" + (", auto_id" if self.auto_id else ""))
        if self.nullable:
            parts.append("nullable")
        if self.is_partition_key:
            parts.append("partition key")
        if self.is_function_output:
            parts.append("function output")
        if self.has_default:
            parts.append("default")
        if self.is_clustering_key:
            parts.append("clustering key")
        if self.enable_analyzer:
            parts.append(f"analyzer={self.analyzer or 'standard'}")
        if self.enable_match:
            parts.append("text match")
        return " ".join(parts)


@dataclass(frozen=True)
class FunctionInfo:
    """A schema function, e.g. BM25: text in ``input_fields`` -> sparse vectors in ``output_fields``."""

    name: str
    type: str  # "BM25", "TEXTEMBEDDING", …
    input_fields: tuple[str, ...]
    output_fields: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexInfo:
    field: str
    index_name: str
    index_type: str
    metric_type: str | None
    params: dict[str, Any] = field(default_factory=dict)
    #: Build progress as the server reports it (None where it does not).
    indexed_rows: int | None = None
    total_rows: int | None = None
    pending_index_rows: int | None = None
    state: str = ""

    def progress(self) -> str:
        """"built 1,000/1,000" or "building 40% (400/1,000, 600 pending)"; "" when unknown."""
        if self.total_rows is None or self.indexed_rows is None:
            return f"state {self.state}" if self.state else ""
        done = self.indexed_rows >= self.total_rows and not self.pending_index_rows
        if done or (self.state == "Finished" and not self.pending_index_rows):
            return f"built {self.indexed_rows:,}/{self.total_rows:,}"
        share = 100 * self.indexed_rows // self.total_rows if self.total_rows else 0
        pending = f", {self.pending_index_rows:,} pending" if self.pending_index_rows else ""
        state = f" ({self.state})" if self.state and self.state not in ("InProgress", "Finished") else ""
        return f"building {share}% ({self.indexed_rows:,}/{self.total_rows:,}{pending}){state}"


@dataclass(frozen=True)
class CollectionDetails:
    """What the schema view adds for the collection the user opened (a few RPCs each, so not
    read for every collection in the catalog): its aliases and each partition's entity count."""

    collection: str
    aliases: tuple[str, ...] = ()
    partition_rows: dict[str, int] = field(default_factory=dict)
    #: False when the counts are the server's statistics (deleted rows counted until compaction).
    counts_exact: bool = True


@dataclass(frozen=True)
class EmbeddingTag:
    """Which provider/model/dimension built a collection (recorded when we create one)."""

    provider: str
    model: str
    dimension: int

    def encode(self) -> str:
        return json.dumps({"provider": self.provider, "model": self.model, "dimension": self.dimension})

    @classmethod
    def decode(cls, text: str | None) -> EmbeddingTag | None:
        try:
            data = json.loads(text or "")
            return cls(str(data["provider"]), str(data["model"]), int(data["dimension"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    db_name: str
    fields: tuple[FieldInfo, ...]
    enable_dynamic_field: bool
    description: str = ""
    consistency_level: str = "Bounded"
    properties: dict[str, str] = field(default_factory=dict)
    #: "Loaded", "Loading", "NotLoad" (released), "NotExist", or "PartiallyLoaded": some
    #: partitions are released (``loaded_partitions`` names the others), so a search would
    #: silently miss the released ones; it counts as not loaded until the whole is.
    load_state: str = "Loaded"
    row_count: int | None = None
    #: True when ``row_count`` came from count(*) at Strong consistency.
    count_exact: bool = False
    indexes: tuple[IndexInfo, ...] = ()
    partitions: tuple[str, ...] = ()
    loaded_partitions: tuple[str, ...] | None = None
    functions: tuple[FunctionInfo, ...] = ()

    @property
    def loaded(self) -> bool:
        return self.load_state == "Loaded"

    @property
    def primary(self) -> FieldInfo:
        for f in self.fields:
            if f.is_primary:
                return f
        raise MilvusTuiError(f"Collection '{self.name}' has no primary key field.")

    @property
    def partition_key(self) -> FieldInfo | None:
        return next((f for f in self.fields if f.is_partition_key), None)

    @property
    def function_outputs(self) -> list[str]:
        """Fields a function fills in (BM25's sparse output): never sent back to the server."""
        return [f.name for f in self.fields if f.is_function_output]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def vector_fields(self) -> list[FieldInfo]:
        return [f for f in self.fields if f.is_vector]

    @property
    def scalar_fields(self) -> list[FieldInfo]:
        return [f for f in self.fields if not f.is_vector]

    @property
    def embedding(self) -> EmbeddingTag | None:
        return EmbeddingTag.decode(self.properties.get(EMBEDDING_PROPERTY))

    def get_field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        raise InvalidInput(
            f"Collection '{self.name}' has no field '{name}'. Fields: {', '.join(self.field_names)}."
        )

    def index_for(self, field_name: str) -> IndexInfo | None:
        return next((i for i in self.indexes if i.field == field_name), None)

    def pick_vector_field(self, preferred: str | None = None) -> FieldInfo:
        """The dense vector field to search; ask (``AmbiguousField``) when there are several."""
        if preferred:
            chosen = self.get_field(preferred)
            if not chosen.is_vector:
                raise InvalidInput(f"Field '{preferred}' is a {chosen.dtype}, not a vector field.")
            return chosen
        dense = [f for f in self.fields if f.is_dense_vector]
        if len(dense) == 1:
            return dense[0]
        if not dense:
            if self.vector_fields:
                kinds = ", ".join(f"{f.name} ({f.dtype})" for f in self.vector_fields)
                raise InvalidInput(
                    f"Collection '{self.name}' has no dense vector field to search by embedding; "
                    f"it has {kinds}."
                )
            raise InvalidInput(f"Collection '{self.name}' has no vector field, so it cannot be searched.")
        names = [f.name for f in dense]
        raise AmbiguousField(
            f"Collection '{self.name}' has several vector fields ({', '.join(names)}); choose one.",
            names,
        )

    def pick_text_field(self, preferred: str | None = None) -> FieldInfo | None:
        """The field holding the document text, or None when there is no string field."""
        if preferred:
            return self.get_field(preferred)
        strings = [f for f in self.fields if f.dtype == "VARCHAR" and not f.is_primary]
        for name in TEXT_FIELD_NAMES:
            for f in strings:
                if f.name.lower() == name:
                    return f
        if len(strings) == 1:
            return strings[0]
        if not strings:
            return None
        names = [f.name for f in strings]
        raise AmbiguousField(
            f"Collection '{self.name}' has several text fields ({', '.join(names)}); choose one.", names
        )


def _type_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value).upper()


def parse_field(raw: dict[str, Any], auto_id: bool, function_outputs: frozenset[str] = frozenset()) -> FieldInfo:
    params = raw.get("params") or {}
    dim = params.get("dim")
    max_length = params.get("max_length")
    max_capacity = params.get("max_capacity")
    is_primary = bool(raw.get("is_primary"))
    element = raw.get("element_type")
    return FieldInfo(
        name=str(raw["name"]),
        dtype=_type_name(raw.get("type")),
        is_primary=is_primary,
        auto_id=bool(raw.get("auto_id", auto_id and is_primary)),
        nullable=bool(raw.get("nullable", False)),
        dim=int(dim) if dim not in (None, "") else None,
        max_length=int(max_length) if max_length not in (None, "") else None,
        element_type=_type_name(element) if element not in (None, 0, "NONE") else None,
        max_capacity=int(max_capacity) if max_capacity not in (None, "") else None,
        is_partition_key=bool(raw.get("is_partition_key", False)),
        is_function_output=bool(raw.get("is_function_output", False)) or str(raw["name"]) in function_outputs,
        description=str(raw.get("description") or ""),
        has_default=raw.get("default_value") is not None,
        enable_analyzer=_true(params.get("enable_analyzer")),
        analyzer=_analyzer_name(params.get("analyzer_params")),
        enable_match=_true(params.get("enable_match")),
        is_clustering_key=bool(raw.get("is_clustering_key", False)),
    )


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _analyzer_name(value: Any) -> str:
    """The analyzer's type or tokenizer, from its params (a dict, or JSON text as the server keeps it)."""
    if isinstance(value, str):
        try:
            import json

            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return str(value.get("type") or value.get("tokenizer") or "custom")
    return ""


def parse_function(raw: dict[str, Any]) -> FunctionInfo:
    kind = raw.get("type")
    return FunctionInfo(
        name=str(raw.get("name") or ""), type=_type_name(kind) if kind is not None else "",
        input_fields=tuple(str(n) for n in raw.get("input_field_names") or ()),
        output_fields=tuple(str(n) for n in raw.get("output_field_names") or ()),
        params={str(k): str(v) for k, v in (raw.get("params") or {}).items()},
    )


def _load_state_name(raw: Any) -> str:
    state = raw.get("state") if isinstance(raw, dict) else raw
    name = getattr(state, "name", None) or str(state)
    return {"NotLoad": "NotLoad", "Loaded": "Loaded", "Loading": "Loading", "NotExist": "NotExist"}.get(
        name, name
    )


#: Above this many partitions, describe does not ask each one's load state (one RPC each).
MAX_PARTITION_CHECKS = 64


def partition_load_states(collection: str, partitions: Iterable[str]) -> Op[dict[str, str]]:
    """Each partition's load state. A collection whose partitions were loaded or released one
    by one reports "Loaded" as a whole while some are released (a remote server; Milvus Lite
    loads and releases whole collections only)."""
    states: dict[str, str] = {}
    for partition in partitions:
        raw = yield Call("get_load_state", {"collection_name": collection, "partition_name": partition},
                         collection=collection)
        states[partition] = _load_state_name(raw)
    return states


# -- operations (sans-IO generators) ---------------------------------------------------


def list_databases() -> Op[list[str]]:
    names = yield Call("list_databases")
    return sorted(names)


def list_collections() -> Op[list[str]]:
    names = yield Call("list_collections")
    return sorted(names)


def resolve_collection(name: str, names: Iterable[str] | None = None) -> Op[str | None]:
    """The collection ``name`` means: itself, the collection an alias points to, or None
    when neither exists (``-c <alias>`` used to open the first collection instead)."""
    known = list(names) if names is not None else (yield from list_collections())
    if name in known:
        return name
    raw = yield Call("describe_alias", {"alias": name}, soft=True)
    # A MilvusTuiError: "alias 'x' does not exist", or a server without aliases.
    target = raw.get("collection_name") if isinstance(raw, dict) else None
    return str(target) if target else None


def count(collection: str, expr: str = "", partition_names: list[str] | None = None) -> Op[int]:
    """Exact count(*) at Strong consistency (the collection must be loaded)."""
    kwargs: dict[str, Any] = dict(
        collection_name=collection, filter=expr, output_fields=["count(*)"], consistency_level="Strong"
    )
    if partition_names:
        kwargs["partition_names"] = partition_names
    rows = yield Call("query", kwargs, collection=collection, expr=expr or None)
    return int(rows[0]["count(*)"]) if rows else 0


def describe(collection: str, *, with_count: bool = True, stats_exact: bool = False) -> Op[CollectionInfo]:
    """Schema, indexes, partitions, load state and (when loaded) the exact row count.

    ``stats_exact``: the server's collection statistics are exact, as Milvus Lite 3's are (its
    ``num_entities`` masks deletes and upsert duplicates with the same bitmap as a search),
    so a released collection's count needs no load. A Milvus server's exclude deleted rows
    only after compaction."""
    raw = yield Call("describe_collection", {"collection_name": collection}, collection=collection)
    auto_id = bool(raw.get("auto_id"))
    outputs = frozenset(str(name) for fn in raw.get("functions") or [] for name in fn.get("output_field_names") or [])
    fields = tuple(parse_field(f, auto_id, outputs) for f in raw.get("fields", []))
    state = _load_state_name((yield Call("get_load_state", {"collection_name": collection}, collection=collection)))
    index_names = yield Call("list_indexes", {"collection_name": collection}, collection=collection)
    indexes = []
    for index_name in index_names or []:
        desc = yield Call(
            "describe_index", {"collection_name": collection, "index_name": index_name}, collection=collection
        )
        desc = dict(desc or {})
        field_name = desc.pop("field_name", index_name)
        index_type = str(desc.pop("index_type", "") or "")
        metric = desc.pop("metric_type", None)
        desc.pop("index_name", None)
        build = {key: _int_or_none(desc.pop(key, None)) for key in ("indexed_rows", "total_rows", "pending_index_rows")}
        built = str(desc.pop("state", "") or "")
        indexes.append(IndexInfo(field_name, index_name, index_type, metric, desc, state=built, **build))
    partitions = yield Call("list_partitions", {"collection_name": collection}, collection=collection)
    loaded_partitions: tuple[str, ...] | None = None
    if (state == "Loaded" and 1 < len(partitions or ()) <= MAX_PARTITION_CHECKS
            and not any(f.is_partition_key for f in fields)):  # partition-key partitions load together
        states = yield from partition_load_states(collection, partitions)
        loaded_partitions = tuple(p for p in partitions if states[p] == "Loaded")
        if len(loaded_partitions) < len(partitions):
            state = "PartiallyLoaded"
    row_count: int | None = None
    exact = False
    if with_count and state == "Loaded":
        row_count = yield from count(collection)
        exact = True
    else:
        stats = yield Call("get_collection_stats", {"collection_name": collection}, collection=collection)
        row_count = int(stats.get("row_count", 0)) if stats else None
        exact = stats_exact and row_count is not None and with_count
    props = {str(k): str(v) for k, v in (raw.get("properties") or {}).items()}
    functions = tuple(parse_function(fn) for fn in raw.get("functions") or [])
    return CollectionInfo(
        name=collection,
        db_name=str(raw.get("db_name") or ""),
        fields=fields,
        enable_dynamic_field=bool(raw.get("enable_dynamic_field")),
        description=str(raw.get("description") or ""),
        consistency_level=str(raw.get("consistency_level_name") or _consistency_name(raw.get("consistency_level"))),
        properties=props,
        load_state=state,
        row_count=row_count,
        count_exact=exact,
        indexes=tuple(indexes),
        partitions=tuple(partitions or ()),
        loaded_partitions=loaded_partitions,
        functions=functions,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def details(info: CollectionInfo, *, version: str | None = None) -> Op[CollectionDetails]:
    """Aliases and per-partition entity counts. A loaded collection's counts are count(*) per
    partition at Strong consistency; a released one's, on a Milvus server, its partition
    statistics (deleted rows counted until compaction: marked approximate). Milvus Lite 3.2.2
    (measured) counts the whole collection for count(*) with ``partition_names`` and an empty
    filter, so its filter is ``pk not in []``; and its partition statistics gave every partition
    the collection's count, so a released Lite collection shows none. Above
    ``MAX_PARTITION_CHECKS`` partitions none are counted."""
    raw = yield Call("list_aliases", {"collection_name": info.name}, collection=info.name, soft=True)
    # The sync client answers {"aliases": [...], ...}, the async one the bare list; a server
    # without aliases, a refusal (a MilvusTuiError).
    listed = raw.get("aliases") if isinstance(raw, dict) else None if isinstance(raw, BaseException) else raw
    aliases = tuple(sorted(str(a) for a in (listed or ())))
    rows: dict[str, int] = {}
    exact = True
    if version is None:
        version = str((yield Call("get_server_version", sync_only=True)) or "")
    lite = is_lite_version(version)
    # A partition-key collection's partitions are the server's buckets, not the user's; Go Milvus
    # refuses partition_names there ("not support manually specifying the partition names").
    if info.partition_key is None and len(info.partitions) <= MAX_PARTITION_CHECKS and (info.loaded or not lite):
        everything = f"{info.primary.name} not in []" if lite else ""
        for partition in info.partitions:
            if info.loaded:
                rows[partition] = yield from count(info.name, everything, partition_names=[partition])
            else:
                stats = yield Call("get_partition_stats", {"collection_name": info.name, "partition_name": partition},
                                   collection=info.name)
                rows[partition] = int((stats or {}).get("row_count", 0))
                exact = False
    return CollectionDetails(info.name, aliases, rows, exact)


def _consistency_name(level: Any) -> str:
    return {0: "Strong", 1: "Session", 2: "Bounded", 3: "Eventually", 4: "Customized"}.get(level, "Bounded")


def describe_all(names: Iterable[str] | None = None, *, stats_exact: bool = False) -> Op[list[CollectionInfo]]:
    if names is None:
        names = yield from list_collections()
    infos = []
    for name in names:
        infos.append((yield from describe(name, stats_exact=stats_exact)))
    return infos


def milvus_version(text: Any) -> tuple[int, int] | None:
    """(major, minor) of a Milvus server's version string ("v2.3.5-lite" -> (2, 3)); None for
    strings that do not start with a Milvus version (Milvus Lite 3's "milvus_lite-3.2.2", Zilliz)."""
    match = re.match(r"v?(\d+)\.(\d+)", str(text or "").strip())
    return (int(match[1]), int(match[2])) if match else None


def milvus_release(text: Any) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a Milvus server's version string ("v2.6.3" -> (2, 6, 3))."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or "").strip())
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def is_lite_version(text: Any) -> bool:
    """Milvus Lite reports "milvus_lite-3.2.2" (its own numbering, not Milvus's)."""
    return str(text or "").strip().lower().startswith(("milvus_lite", "milvus-lite"))


def check_loadable(collection: str) -> Op[None]:
    """Refuse (NotSupported) to load a collection whose field types the server predates."""
    raw = yield Call("describe_collection", {"collection_name": collection}, collection=collection)
    types = {str(f.get("name")): _type_name(f.get("type")) for f in raw.get("fields", [])}
    newer = {name: t for name, t in types.items() if t in FIELD_TYPES_SINCE}
    if not newer:
        return
    version_text = yield Call("get_server_version", sync_only=True)
    version = milvus_version(version_text)
    if version is None:
        return
    old = {name: t for name, t in newer.items() if version < FIELD_TYPES_SINCE[t]}
    if old:
        fields = ", ".join(f"'{name}' ({t})" for name, t in old.items())
        raise NotSupported(
            f"Not supported by this server: Milvus {version_text} has no {', '.join(sorted(set(old.values())))} "
            f"fields, so it cannot load '{collection}' (field {fields}; loading it would crash the server). "
            f"Use Milvus {'.'.join(map(str, max(FIELD_TYPES_SINCE[t] for t in old.values())))} or newer."
        )


def load(collection: str, *, poll: float = 0.25, timeout: float = 600.0) -> Op[str]:
    """Load a collection, reporting progress while the server works; returns the final state."""
    yield from check_loadable(collection)
    yield Progress(0, 100, f"loading {collection}")
    yield Call("load_collection", {"collection_name": collection, "_async": True}, collection=collection)
    waited = 0.0
    while True:
        raw = yield Call("get_load_state", {"collection_name": collection}, collection=collection)
        state = _load_state_name(raw)
        progress = raw.get("progress") if isinstance(raw, dict) else None
        if state == "Loaded":
            yield Progress(100, 100, f"{collection} loaded")
            return state
        if state == "NotExist":
            raise NotFound(f"Collection '{collection}' does not exist.")
        if waited >= timeout:
            raise MilvusTuiError(f"Loading '{collection}' did not finish within {timeout:.0f} s.")
        yield Progress(int(progress) if progress is not None else 0, 100 if progress is not None else None,
                       f"loading {collection}")
        yield Sleep(poll)
        waited += poll


def release(collection: str) -> Op[str]:
    yield Call("release_collection", {"collection_name": collection}, collection=collection)
    return "NotLoad"


def drop(collection: str) -> Op[None]:
    yield Call("drop_collection", {"collection_name": collection}, collection=collection)


def exists(collection: str) -> Op[bool]:
    found = yield Call("has_collection", {"collection_name": collection})
    return bool(found)


def require_loaded(info: CollectionInfo) -> None:
    if not info.loaded:
        raise NotLoaded(info.name)
