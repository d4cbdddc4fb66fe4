"""Every kind of vector search a Milvus user runs: on the field they choose, from text (dense
embedding or BM25 full text), a stored entity (by primary key), a pasted dense or sparse vector;
with a range window, grouping, index parameters; and hybrid searches that fuse several.

Each query is checked against the field before anything is sent: a dense vector never goes to
a sparse or binary field, its dimension must match, text goes to a BM25 function's output as
raw text (the server embeds it), and what a server version cannot do (grouping on Milvus 2.3,
which silently ignores it) is refused with "Not supported by this server (version …)".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import AmbiguousField, InvalidInput, NotFound, NotSupported
from . import expr as exprs
from .catalog import CollectionInfo, FieldInfo, is_lite_version, milvus_release, require_loaded
from .ops import Call, Embed, Op, Progress, Timer
from .queries import (
    MAX_WINDOW, QueryResult, check_consistency, check_limit, columns_for, get_entities, resolve_output_fields, validate_filter,
)

#: Where a query's vector comes from.
SOURCES = ("text", "vector", "sparse", "key")
#: Metrics where a larger score is closer (a range window reads the other way round for L2/HAMMING/JACCARD).
SIMILARITY_METRICS = {"COSINE", "IP", "BM25"}


@dataclass(frozen=True)
class SearchQuery:
    """One search (or one part of a hybrid search): what to search with, on which field.

    ``source``: "text" (embedded for a dense field, sent raw to a BM25 output field), "vector"
    (a dense vector), "sparse" (``{index: value}``), or "key" (the stored vector of the entities
    with these primary keys: Attu's "search by entity id"; the entities themselves are left out).
    """

    source: str
    value: Any
    anns_field: str | None = None
    k: int = 10
    expr: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.source}:{self.anns_field or ''}".rstrip(":")


@dataclass(frozen=True)
class SearchShape:
    """How results come back: a range window, grouping."""

    radius: float | None = None
    range_filter: float | None = None
    group_by: str | None = None
    group_size: int | None = None
    strict_group_size: bool = False


def parse_sparse(value: Any) -> dict[int, float]:
    """A sparse vector from JSON text or a dict: ``{"17": 0.4, "942": 1.2}``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"A sparse vector is JSON like {{\"17\": 0.4, \"942\": 1.2}}: {exc}.") from None
    if not isinstance(value, dict) or not value:
        raise InvalidInput("A sparse vector is a non-empty JSON object of index: value pairs.")
    out: dict[int, float] = {}
    for k, v in value.items():
        try:
            index, weight = int(k), float(v)
        except (TypeError, ValueError):
            raise InvalidInput(f"Sparse vector entry {k!r}: {v!r} is not index: number.") from None
        if index < 0 or isinstance(v, bool):
            raise InvalidInput(f"Sparse vector entry {k!r}: {v!r} is not a non-negative index with a number.")
        out[index] = weight
    return out


def parse_keys(text: str, info: CollectionInfo, what: str = "the keys") -> list[Any]:
    """Primary keys typed or pasted by a user: comma-separated, or a JSON list; whole numbers
    for an INT64 key. ``int(1.5) == 1`` and ``int(True) == 1``, so a JSON list of those is
    refused rather than turned into someone else's keys."""
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"{what} is not a valid JSON list: {exc}") from None
    else:
        values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise InvalidInput(f"Give at least one primary key in {what}.")
    if any(isinstance(v, (bool, float)) or not isinstance(v, (int, str)) for v in values):
        raise InvalidInput(f"{what} must hold whole numbers or strings.")
    if info.primary.dtype == "INT64":
        try:
            return [int(v) for v in values]
        except (TypeError, ValueError):
            raise InvalidInput(f"Primary key '{info.primary.name}' is INT64; {what} must be whole numbers.") from None
    return [str(v) for v in values]


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["ef=64", "nprobe=16"]`` -> ``{"ef": 64, "nprobe": 16}`` (numbers as numbers)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"A search parameter is name=value (got {pair!r}), e.g. ef=64 or nprobe=16.")
        try:
            params[name.strip()] = json.loads(raw)
        except ValueError:
            params[name.strip()] = raw
    return params


def _is_bm25_output(info: CollectionInfo, f: FieldInfo) -> bool:
    return any(fn.type == "BM25" and f.name in fn.output_fields for fn in info.functions)


def pick_field(info: CollectionInfo, query: SearchQuery) -> FieldInfo:
    """The field ``query`` searches, checked against what the query is."""
    if query.anns_field:
        f = info.get_field(query.anns_field)
        if not f.is_vector:
            raise InvalidInput(f"Field '{f.name}' is a {f.dtype}, not a vector field.")
    elif query.source == "sparse":
        sparse = [f for f in info.vector_fields if f.dtype == "SPARSE_FLOAT_VECTOR" and not _is_bm25_output(info, f)]
        sparse = sparse or [f for f in info.vector_fields if f.dtype == "SPARSE_FLOAT_VECTOR"]
        if len(sparse) != 1:
            raise InvalidInput(f"Choose the sparse field to search (--anns-field); '{info.name}' has "
                               f"{', '.join(f.name for f in sparse) or 'none'}.")
        f = sparse[0]
    elif query.source == "text":
        f = _text_field(info)
    elif query.source == "key":
        f = _stored_field(info)
    else:
        f = info.pick_vector_field(None)
    if query.source in ("text", "vector") and f.dtype == "SPARSE_FLOAT_VECTOR" and not (
            query.source == "text" and _is_bm25_output(info, f)):
        raise InvalidInput(f"Field '{f.name}' holds sparse vectors: search it with BM25 text (a BM25 function's "
                           "output), a sparse vector, or a stored entity's vector, not a dense embedding.")
    if query.source == "sparse" and f.dtype != "SPARSE_FLOAT_VECTOR":
        raise InvalidInput(f"A sparse vector cannot search '{f.name}', a {f.dtype} field.")
    if query.source == "text" and f.dtype not in ("FLOAT_VECTOR", "SPARSE_FLOAT_VECTOR"):
        raise InvalidInput(f"Text is embedded as float vectors; '{f.name}' is a {f.dtype} field. Search it with a "
                           "stored entity's vector (by key) instead.")
    return f


def _text_field(info: CollectionInfo) -> FieldInfo:
    """Where text goes when no field is named: the one dense field (embedded), else the one BM25
    output (full text); several of either: the user chooses."""
    dense = [f for f in info.vector_fields if f.dtype == "FLOAT_VECTOR"]
    if len(dense) == 1:
        return dense[0]
    bm25 = [f for f in info.vector_fields if _is_bm25_output(info, f)]
    if not dense and len(bm25) == 1:
        return bm25[0]
    if not dense and not bm25:
        return info.pick_vector_field(None)  # says what the collection has instead
    names = [f.name for f in (*dense, *bm25)]
    raise AmbiguousField(f"Collection '{info.name}' has several fields text can search ({', '.join(names)}); "
                         "choose one.", names)


def _stored_field(info: CollectionInfo) -> FieldInfo:
    """The field a stored entity's vector is read from: the one dense field, else the one stored
    sparse (or byte) vector field; several: the user chooses. BM25 outputs are not readable."""
    dense = [f for f in info.vector_fields if f.is_dense_vector]
    if len(dense) == 1:
        return dense[0]
    stored = [f for f in info.vector_fields if not _is_bm25_output(info, f)]
    if len(stored) == 1:
        return stored[0]
    if not stored:
        raise InvalidInput(f"Collection '{info.name}' stores no vector to search with (a BM25 output is computed, "
                           "not stored): search it with text.")
    names = [f.name for f in stored]
    raise AmbiguousField(f"Collection '{info.name}' has several vector fields ({', '.join(names)}); choose one.",
                         names)


def text_fields(info: CollectionInfo) -> list[str]:
    """The fields text can search: dense float fields (embedded) and BM25 outputs (full text)."""
    return [f.name for f in info.vector_fields if f.dtype == "FLOAT_VECTOR" or _is_bm25_output(info, f)]


def field_choices(info: CollectionInfo) -> list[tuple[str, str]]:
    """(label, field) for each vector field a search can run on, saying what it takes."""
    choices = []
    for f in info.vector_fields:
        if _is_bm25_output(info, f):
            kind = "BM25 full text"
        elif f.dtype == "FLOAT_VECTOR":
            kind = f"dense {f.dim}d"
        elif f.dtype == "SPARSE_FLOAT_VECTOR":
            kind = "sparse"
        else:
            kind = f.dtype.lower().replace("_vector", "")
        choices.append((f"{f.name} ({kind})", f.name))
    return choices


def _metric(info: CollectionInfo, f: FieldInfo) -> str | None:
    index = info.index_for(f.name)
    return index.metric_type if index else None


def _search_params(info: CollectionInfo, f: FieldInfo, query: SearchQuery, shape: SearchShape) -> dict[str, Any]:
    params = dict(query.params)
    if shape.radius is not None:
        params["radius"] = shape.radius
    if shape.range_filter is not None:
        if shape.radius is None:
            raise InvalidInput("A range filter needs a radius: the window is between the two.")
        params["range_filter"] = shape.range_filter
    metric = _metric(info, f)
    if "radius" in params and "range_filter" in params and metric:
        r, rf = float(params["radius"]), float(params["range_filter"])
        if metric in SIMILARITY_METRICS and not r < rf:
            raise InvalidInput(f"For {metric} (larger is closer) the window is radius < score <= range_filter; "
                               f"got radius {r} and range_filter {rf}.")
        if metric not in SIMILARITY_METRICS and not rf < r:
            raise InvalidInput(f"For {metric} (smaller is closer) the window is range_filter <= distance < radius; "
                               f"got radius {r} and range_filter {rf}.")
    out: dict[str, Any] = {"params": params}
    if metric:
        out["metric_type"] = metric
    return out


def _vectors(info: CollectionInfo, f: FieldInfo, query: SearchQuery) -> Op[tuple[list[Any], list[Any]]]:
    """The query vectors for ``query`` on field ``f``, and the keys to leave out of the hits."""
    if query.source == "text":
        text = str(query.value or "")
        if not text.strip():
            raise InvalidInput("Type some text to search for.")
        if f.dtype == "SPARSE_FLOAT_VECTOR":
            return [text], []  # BM25: the server analyses and embeds the raw text
        vectors = yield Embed([text], query=True)
        vector = [float(x) for x in vectors[0]]
        if f.dim and len(vector) != f.dim:
            from ..embeddings import check_dimension

            check_dimension(f.dim, len(vector), f.name)
        return [vector], []
    if query.source == "vector":
        vector = query.value
        if isinstance(vector, str):
            try:
                vector = json.loads(vector)
            except ValueError as exc:
                raise InvalidInput(f"A vector is a JSON list of numbers: {exc}.") from None
        if not isinstance(vector, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                   for x in vector):
            raise InvalidInput("A vector is a JSON list of numbers.")
        if f.dim and len(vector) != f.dim:
            raise InvalidInput(f"The query vector has {len(vector)} dimensions but field '{f.name}' holds "
                               f"{f.dim}-dimensional vectors.")
        return [[float(x) for x in vector]], []
    if query.source == "sparse":
        return [parse_sparse(query.value)], []
    if query.source == "key":
        keys = list(query.value) if isinstance(query.value, (list, tuple)) else [query.value]
        if not keys:
            raise InvalidInput("Give at least one primary key to search with.")
        if _is_bm25_output(info, f):
            raise InvalidInput(f"'{f.name}' is computed by a BM25 function and not stored for reading; search it "
                               "with text instead.")
        found = yield from get_entities(info, keys, [info.primary.name, f.name])
        by_key = {row[info.primary.name]: row[f.name] for row in found}
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise NotFound(f"No entity with {info.primary.name} = {exprs.literal(missing[0])} in '{info.name}'.")
        return [_as_query_vector(by_key[k]) for k in keys], keys
    raise InvalidInput(f"Unknown search source {query.source!r}; one of {', '.join(SOURCES)}.")


def _as_query_vector(stored: Any) -> Any:
    """A stored vector as pymilvus takes it back: float lists stay, sparse dicts stay, and byte
    vectors (binary, float16, bfloat16, int8) come as one-item lists of bytes."""
    if isinstance(stored, list) and len(stored) == 1 and isinstance(stored[0], (bytes, bytearray)):
        return bytes(stored[0])
    if isinstance(stored, dict):
        return {int(k): float(v) for k, v in stored.items()}
    return [float(x) for x in stored]


def _check_version(version: str, shape: SearchShape, hybrid: bool) -> None:
    release = milvus_release(version)
    if is_lite_version(version) or release is None:
        return
    if shape.group_by and release < (2, 4, 0):
        raise NotSupported(f"Not supported by this server (version {version}): grouping search results needs "
                           "Milvus 2.4 or later (2.3 ignores group_by_field and would return ungrouped hits).")
    if hybrid and release < (2, 4, 0):
        raise NotSupported(f"Not supported by this server (version {version}): hybrid search needs Milvus 2.4 "
                           "or later (several vector fields in one collection).")


def _hits(info: CollectionInfo, result: Any, exclude: list[Any], metric: str | None = None,
          ) -> tuple[list[dict[str, Any]], list[float]]:
    """Rows and scores of the hits, best first. Several query vectors (by several keys): each entity
    once, with its best score in the metric's own direction (largest for COSINE/IP/BM25, smallest
    for L2/HAMMING/JACCARD), merged across the queries."""
    pk = info.primary.name
    larger_is_closer = metric is None or metric in SIMILARITY_METRICS
    best: dict[Any, tuple[float, dict[str, Any]]] = {}
    skip = set(exclude)
    groups = list(result or [])
    for group in groups:
        for hit in group:
            entity = dict(hit.get("entity") or {})
            key = hit.get("id", hit.get(pk))
            entity.setdefault(pk, key)
            if key in skip:
                continue
            score = float(hit.get("distance", 0.0))
            if key not in best:
                best[key] = (score, entity)
            elif (score > best[key][0]) if larger_is_closer else (score < best[key][0]):
                best[key] = (score, best[key][1])
    order = list(best)
    if len(groups) > 1:
        # One query keeps the server's order (grouped results are ordered by group, not score).
        order.sort(key=lambda k: best[k][0], reverse=larger_is_closer)
    return [best[k][1] for k in order], [best[k][0] for k in order]


def vector_search(info: CollectionInfo, query: SearchQuery, *, shape: SearchShape = SearchShape(),
                  output_fields: list[str] | None = None, consistency_level: str | None = None,
                  partition_names: list[str] | None = None, version: str | None = None) -> Op[QueryResult]:
    """One search on the field the query names (or the only one that fits), with scores. A k
    above Milvus's window of 16,384 pages through score windows (``_beyond_window``)."""
    require_loaded(info)
    beyond = query.k > MAX_WINDOW
    if beyond:
        if not query.k <= MAX_HITS:
            raise InvalidInput(f"k {query.k:,} is above the {MAX_HITS:,} hits one search pages out to; "
                               "narrow it with a filter, or export the collection.")
        if shape.group_by:
            raise InvalidInput(f"A grouped search returns at most {MAX_WINDOW:,} hits; lower k.")
    else:
        check_limit(query.k, "k")
    timer = Timer()
    f = pick_field(info, query)
    expr = validate_filter(info, query.expr)
    if shape.group_by:
        info.get_field(shape.group_by)
    if version is None:
        version = str((yield Call("get_server_version", sync_only=True)) or "")
    _check_version(version, shape, hybrid=False)
    vectors, exclude = yield from _vectors(info, f, query)
    fields = resolve_output_fields(info, output_fields)
    # A BM25 output is computed, not stored: the server refuses it as an output field.
    fields = [name for name in fields if name not in info.function_outputs]
    not_self, params = exprs.not_in_template(info.primary.name, exclude) if exclude else ("", {})
    kwargs: dict[str, Any] = dict(
        collection_name=info.name, data=vectors, anns_field=f.name, limit=query.k,
        filter=exprs.conjoin(expr, not_self), output_fields=fields,
        search_params=_search_params(info, f, query, shape),
    )
    if params:
        kwargs["filter_params"] = params
    if shape.group_by:
        kwargs["group_by_field"] = shape.group_by
        if shape.group_size:
            kwargs["group_size"] = check_limit(shape.group_size, "group size")
        if shape.strict_group_size:
            kwargs["strict_group_size"] = True
    if (level := check_consistency(consistency_level)):
        kwargs["consistency_level"] = level
    if partition_names:
        kwargs["partition_names"] = partition_names
    lite = is_lite_version(version)
    if beyond:
        rows, scores = yield from _beyond_window(info, f, kwargs, query, shape, expr, exclude, len(vectors), lite)
        kind = "more_like_this" if query.source == "key" else "search"
        columns = [c for c in columns_for(info, rows, fields) if c not in info.function_outputs]
        return QueryResult(info.name, kind, rows, columns, timer.elapsed, expr=expr, scores=scores,
                           metric=_metric(info, f), anns_field=f.name,
                           query_vector=vectors[0] if vectors else None, query_keys=tuple(exclude))
    if lite and shape.radius is not None:
        # Milvus Lite 3.2.2 (measured) takes each segment's top ``limit`` and only then keeps
        # those inside the window: k=100 on a window holding 6,146 of 20,000 entities found 0.
        # Asking for the whole window size and cutting to k here gives the exact window.
        kwargs["limit"] = MAX_WINDOW
    result = yield Call("search", kwargs, collection=info.name, expr=kwargs["filter"])
    rows, scores = _hits(info, result, exclude, _metric(info, f))
    if len(vectors) > 1 or len(rows) > query.k:
        rows, scores = rows[:query.k], scores[:query.k]
    kind = "more_like_this" if query.source == "key" else "search"
    columns = [c for c in columns_for(info, rows, fields) if c not in info.function_outputs]
    return QueryResult(info.name, kind, rows, columns, timer.elapsed, expr=expr, scores=scores,
                       metric=_metric(info, f), anns_field=f.name, query_vector=vectors[0] if vectors else None,
                       query_keys=tuple(exclude))


#: The most hits one search pages out to: a bound on the memory the rows take.
MAX_HITS = 1_000_000
#: Where a score window starts when the user gave none: looser than any score of the metric.
_LOOSEST = {"COSINE": -1.5, "IP": -3.0e38, "L2": 3.0e38}


def _beyond_window(info: CollectionInfo, f: FieldInfo, kwargs: dict[str, Any], query: SearchQuery,
                   shape: SearchShape, expr: str, exclude: list[Any], vectors: int, lite: bool,
                   ) -> Op[tuple[list[dict[str, Any]], list[float]]]:
    """More than 16,384 hits: searches of at most 16,384 each, every one a range search whose
    window starts at the last score seen (``range_filter``, inclusive on the closer side), with
    the hits already seen at exactly that score left out by key, so ties are neither repeated
    nor lost. pymilvus's search iterator does the same thing, but on Milvus Lite 3.2.2 it
    returned between 305 and 13,712 of 20,000 entities (measured), and it has no async form.
    Stops at k hits, or when a window comes back short (the collection, or the user's own
    radius, has no more). On Milvus Lite every window asks for 16,384 hits (see the range search
    note in ``vector_search``)."""
    metric = _metric(info, f)
    if metric not in _LOOSEST:
        raise NotSupported(f"A k above {MAX_WINDOW:,} pages through score windows (range search), which Milvus "
                           f"offers for COSINE, IP and L2 fields; '{f.name}' uses {metric or 'no index'}.")
    if vectors != 1:
        raise InvalidInput(f"A k above {MAX_WINDOW:,} needs one query vector (one key), not {vectors}.")
    # For L2 the window reads range_filter <= distance < radius: the same loop, the other way round.
    base = dict(kwargs["search_params"])
    params = dict(base.get("params") or {})
    radius = shape.radius if shape.radius is not None else _LOOSEST[metric]
    bound = shape.range_filter
    pk = info.primary.name
    rows: list[dict[str, Any]] = []
    scores: list[float] = []
    seen: set[Any] = set(exclude)
    ties: list[Any] = []
    while len(rows) < query.k:
        want = MAX_WINDOW if lite else min(MAX_WINDOW, query.k - len(rows))
        window = {**params, "radius": radius}
        if bound is not None:
            window["range_filter"] = bound
        left_out, values = exprs.not_in_template(pk, [*exclude, *ties]) if exclude or ties else ("", {})
        call = {**kwargs, "limit": want, "search_params": {**base, "params": window},
                "filter": exprs.conjoin(expr, left_out)}
        call.pop("filter_params", None)
        if values:
            call["filter_params"] = values
        result = yield Call("search", call, collection=info.name, expr=call["filter"])
        hits = list(result[0]) if result else []
        fresh = 0
        for hit in hits:
            key = hit.get("id", hit.get(pk))
            if key in seen:
                continue
            seen.add(key)
            entity = dict(hit.get("entity") or {})
            entity.setdefault(pk, key)
            rows.append(entity)
            scores.append(float(hit.get("distance", 0.0)))
            fresh += 1
        yield Progress(len(rows), query.k, "hits")
        if len(hits) < want or not fresh:
            break
        last = scores[-1]
        ties = [*(ties if bound == last else []), *(k for k, s in zip(
            (r[pk] for r in rows[-fresh:]), scores[-fresh:]) if s == last)]
        bound = last
    return rows[:query.k], scores[:query.k]


@dataclass(frozen=True)
class Fusion:
    """How a hybrid search fuses its parts: RRF with its k, or weights (one per part)."""

    method: str = "rrf"
    k: int = 60
    weights: tuple[float, ...] = ()

    def ranker(self, parts: int) -> Any:
        from pymilvus import RRFRanker, WeightedRanker

        if self.method == "rrf":
            if not 0 < self.k < 16384:
                raise InvalidInput(f"RRF's k must be between 1 and 16383 (got {self.k}).")
            return RRFRanker(self.k)
        if self.method == "weighted":
            if len(self.weights) != parts:
                raise InvalidInput(f"Give one weight per search ({parts}), e.g. --weights 0.7,0.3.")
            if not all(0.0 <= w <= 1.0 for w in self.weights):
                raise InvalidInput("Weights are between 0 and 1.")
            return WeightedRanker(*self.weights)
        raise InvalidInput(f"Fuse with rrf or weighted, not {self.method!r}.")


def hybrid_search(info: CollectionInfo, queries: list[SearchQuery], *, fusion: Fusion = Fusion(), k: int = 10,
                  output_fields: list[str] | None = None, consistency_level: str | None = None,
                  partition_names: list[str] | None = None, version: str | None = None) -> Op[QueryResult]:
    """Two or more searches fused by the server (RRF or weights); each hit also carries its rank in
    every part (from the same parts run alone), so a user can see why it came first."""
    from pymilvus import AnnSearchRequest

    require_loaded(info)
    check_limit(k, "k")
    if len(queries) < 2:
        raise InvalidInput("A hybrid search fuses two or more searches.")
    timer = Timer()
    if version is None:
        version = str((yield Call("get_server_version", sync_only=True)) or "")
    _check_version(version, SearchShape(), hybrid=True)
    ranker = fusion.ranker(len(queries))
    fields = resolve_output_fields(info, output_fields)
    fields = [name for name in fields if name not in info.function_outputs]
    reqs, parts = [], []
    for q in queries:
        check_limit(q.k, f"k of {q.name}")
        f = pick_field(info, q)
        expr = validate_filter(info, q.expr)
        vectors, exclude = yield from _vectors(info, f, q)
        if len(vectors) != 1:
            raise InvalidInput(f"In a hybrid search each part has one query vector; {q.name} has {len(vectors)}.")
        not_self, values = exprs.not_in_template(info.primary.name, exclude) if exclude else ("", {})
        where = exprs.conjoin(expr, not_self)
        params = _search_params(info, f, q, SearchShape())
        reqs.append(AnnSearchRequest(data=vectors, anns_field=f.name, param=params, limit=q.k, expr=where or None,
                                     expr_params=values or None))
        parts.append((q, f, vectors, where, values, params))
    kwargs: dict[str, Any] = dict(collection_name=info.name, reqs=reqs, ranker=ranker, limit=k, output_fields=fields)
    if (level := check_consistency(consistency_level)):
        kwargs["consistency_level"] = level
    if partition_names:
        kwargs["partition_names"] = partition_names
    fused = yield Call("hybrid_search", kwargs, collection=info.name)
    rows, scores = _hits(info, fused, [])
    ranks: dict[str, list[int | None]] = {}
    for q, f, vectors, where, values, params in parts:
        alone: dict[str, Any] = dict(collection_name=info.name, data=vectors, anns_field=f.name, limit=q.k,
                                     filter=where, output_fields=[info.primary.name], search_params=params)
        if values:
            alone["filter_params"] = values
        if "consistency_level" in kwargs:
            alone["consistency_level"] = kwargs["consistency_level"]
        if partition_names:
            alone["partition_names"] = partition_names
        result = yield Call("search", alone, collection=info.name, expr=where)
        order = [hit.get("id", hit.get(info.primary.name)) for hit in (result[0] if result else [])]
        position = {key: i + 1 for i, key in enumerate(order)}
        ranks[q.name] = [position.get(row[info.primary.name]) for row in rows]
    for i, row in enumerate(rows):
        for name, column in ranks.items():
            row[f"rank:{name}"] = column[i]
    columns = [*(f"rank:{name}" for name in ranks),
               *(c for c in columns_for(info, rows, fields) if c not in info.function_outputs)]
    columns = list(dict.fromkeys(columns))
    metric = "RRF" if fusion.method == "rrf" else "weighted"
    return QueryResult(info.name, "search", rows, columns, timer.elapsed, scores=scores, metric=metric,
                       expr=" | ".join(q.expr for q in queries if q.expr))


__all__ = ["Fusion", "SearchQuery", "SearchShape", "field_choices", "hybrid_search", "parse_keys", "parse_params",
           "parse_sparse", "pick_field", "text_fields", "vector_search"]
