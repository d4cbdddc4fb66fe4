"""Reading data: filter queries, primary-key paging, vector search, more-like-this.

Paging never uses offsets: Milvus caps ``offset + limit`` at 16384, so we walk the
collection with a primary-key cursor (``pk > last``), as Attu and pymilvus's own query
iterator do. ``iterator=True`` asks the server for primary-key order (Milvus Lite only
sorts when asked), and rows are sorted again here so correctness never depends on it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from . import expr as exprs
from .catalog import CollectionInfo, require_loaded
from ..errors import InvalidInput, NotFound
from .ops import Call, Embed, Op, Timer

#: Milvus's result window: offset + limit may not exceed this.
MAX_WINDOW = 16384
#: The background fill stops after this many page boundaries (1M rows at 50 a page): the
#: list costs ~40 bytes a boundary for int keys (~0.8 MB here), more for long VARCHAR keys,
#: and each 16k-key scan ~0.3-0.5 s on Lite. Jumps past it scan from the last boundary, as
#: every jump did before the fill.
FILL_MAX_PAGES = 20_000
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")


@dataclass(frozen=True)
class QueryResult:
    """Rows from a filter, a page, or a search (then ``scores`` is set)."""

    collection: str
    kind: str  # "filter", "page", "search", "more_like_this"
    rows: list[dict[str, Any]]
    columns: list[str]
    elapsed: float
    expr: str = ""
    scores: list[float] | None = None
    metric: str | None = None
    mode: str = ""  # "sync" or "async", set by whoever ran it
    page: int | None = None  # 0-based page number for kind == "page"
    pages: int | None = None
    total: int | None = None
    warnings: tuple[str, ...] = ()
    #: a search's vector field and query vector, and (by key, more like this) its source
    #: entities' keys: the vector map marks the query with them.
    anns_field: str | None = None
    query_vector: Any = None
    query_keys: tuple[Any, ...] = ()

    def with_mode(self, mode: str) -> QueryResult:
        return replace(self, mode=mode)


def check_limit(value: int, what: str = "limit") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{what} must be a whole number, not {value!r}.")
    if value < 1:
        raise InvalidInput(f"{what} must be at least 1 (got {value}).")
    if value > MAX_WINDOW:
        raise InvalidInput(
            f"{what} {value} is above Milvus's limit of {MAX_WINDOW}; page through the results "
            f"or export them instead."
        )
    return value


def check_consistency(level: str | None) -> str | None:
    if level is None or level == "":
        return None
    for known in CONSISTENCY_LEVELS:
        if level.lower() == known.lower():
            return known
    raise InvalidInput(f"Unknown consistency level '{level}'. Use one of: {', '.join(CONSISTENCY_LEVELS)}.")


def resolve_output_fields(info: CollectionInfo, requested: list[str] | None) -> list[str]:
    """Validate requested output fields; default to every field."""
    if not requested or requested == ["*"]:
        return ["*"]
    known = set(info.field_names)
    for name in requested:
        if name != "*" and name not in known and not info.enable_dynamic_field:
            raise InvalidInput(
                f"Unknown output field '{name}'. Fields of '{info.name}': {', '.join(info.field_names)}."
            )
    pk = info.primary.name
    return requested if pk in requested or "*" in requested else [pk, *requested]


def validate_filter(info: CollectionInfo, expr: str) -> str:
    expr = (expr or "").strip()
    if expr:
        exprs.validate(expr, info.field_names, dynamic=info.enable_dynamic_field)
    return expr


def dynamic_warnings(info: CollectionInfo, expr: str) -> tuple[str, ...]:
    """Names a filter reads from the dynamic field: legal, but often a typo."""
    if not expr or not info.enable_dynamic_field:
        return ()
    known = set(info.field_names) | {"$meta"}
    unknown = [n for n in exprs.referenced_fields(expr) if n not in known]
    if not unknown:
        return ()
    names = ", ".join(f"'{n}'" for n in unknown)
    return (f"{names} {'is' if len(unknown) == 1 else 'are'} not in the schema; matched against the "
            f"dynamic field, where a typo silently matches nothing.",)


def columns_for(info: CollectionInfo, rows: list[dict[str, Any]], output_fields: list[str]) -> list[str]:
    """Display columns: schema order first, then dynamic keys as they appear."""
    if output_fields != ["*"]:
        cols = [f for f in output_fields if f != "*"]
    else:
        cols = list(info.field_names)
    for row in rows:
        for key in row:
            if key not in cols and key != "$meta":
                cols.append(key)
    return cols


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


# -- operations ------------------------------------------------------------------------


def filter_query(info: CollectionInfo, expr: str, *, limit: int = 100, output_fields: list[str] | None = None,
                 consistency_level: str | None = None, partition_names: list[str] | None = None) -> Op[QueryResult]:
    """Rows matching a boolean expression (an empty expression matches everything)."""
    require_loaded(info)
    check_limit(limit)
    expr = validate_filter(info, expr)
    fields = resolve_output_fields(info, output_fields)
    kwargs: dict[str, Any] = dict(collection_name=info.name, filter=expr, limit=limit, output_fields=fields)
    if (level := check_consistency(consistency_level)):
        kwargs["consistency_level"] = level
    if partition_names:
        kwargs["partition_names"] = partition_names
    timer = Timer()
    rows = yield Call("query", kwargs, collection=info.name, expr=expr)
    rows = [dict(r) for r in rows]
    return QueryResult(info.name, "filter", rows, columns_for(info, rows, fields), timer.elapsed, expr=expr,
                       warnings=dynamic_warnings(info, expr))


def rows_after(info: CollectionInfo, cursor: Any, *, expr: str = "", limit: int = 50,
               output_fields: list[str] | None = None, partition_names: list[str] | None = None,
               consistency_level: str | None = None, strict_float32: bool = False,
               guarantee_timestamp: int | None = None) -> Op[list[dict[str, Any]]]:
    """The next ``limit`` rows in primary-key order after ``cursor`` (None = from the start).

    ``strict_float32``: float vectors as float32 arrays; ``guarantee_timestamp``: read as of that
    server timestamp (both as in ``get_entities``)."""
    pk = info.primary.name
    fields = output_fields or ["*"]
    after, params = exprs.compare_template(pk, ">", cursor, "tui_cursor") if cursor is not None else ("", {})
    where = exprs.conjoin(expr, after)
    kwargs: dict[str, Any] = dict(
        collection_name=info.name, filter=where, limit=limit, output_fields=fields, iterator="True",
    )
    if params:
        kwargs["filter_params"] = params
    if partition_names:
        kwargs["partition_names"] = partition_names
    if (level := check_consistency(consistency_level)):
        kwargs["consistency_level"] = level
    if strict_float32 and any(f.dtype == "FLOAT_VECTOR" for f in info.fields):
        kwargs["strict_float32"] = True
    if guarantee_timestamp:
        kwargs.update(read_consistency(consistency_level, guarantee_timestamp))
    rows = yield Call("query", kwargs, collection=info.name, expr=expr or None)
    rows = sorted((dict(r) for r in rows), key=lambda r: _sort_key(r[pk]))
    return rows[:limit]


def scan_keys(info: CollectionInfo, cursor: Any, *, expr: str = "", limit: int = MAX_WINDOW,
              partition_names: list[str] | None = None, consistency_level: str | None = None) -> Op[list[Any]]:
    """Primary keys only, after ``cursor``: the cheap way to find page boundaries."""
    rows = yield from rows_after(info, cursor, expr=expr, limit=min(limit, MAX_WINDOW),
                                 output_fields=[info.primary.name], partition_names=partition_names,
                                 consistency_level=consistency_level)
    pk = info.primary.name
    return [r[pk] for r in rows]


@dataclass(frozen=True)
class Boundaries:
    """Page boundaries found by one primary-key scan from ``boundaries[start]``.

    ``keys[i]`` is the boundary of page ``start + 1 + i``. ``pages`` is set when the scan
    reached the end of the data: it is then the exact page count. ``total`` is the count the
    pager had when a background fill began (a different count means the data changed).
    """

    start: int
    keys: tuple[Any, ...]
    pages: int | None = None
    total: int | None = None


def boundaries_from_keys(start: int, keys: list[Any], page_size: int, limit: int) -> Boundaries:
    """The boundaries in ``keys`` (the primary keys after ``boundaries[start]``, in order), asked
    for with ``limit``: fewer keys than asked for means the data ended there."""
    found = tuple(keys[j * page_size - 1] for j in range(1, len(keys) // page_size + 1))
    pages = None
    if len(keys) < limit:
        pages = max(1, math.ceil((start * page_size + len(keys)) / page_size))
    return Boundaries(start, found, pages)


@dataclass
class Pager:
    """Page forward and back through a whole collection or filter result.

    ``boundaries[i]`` is the exclusive primary-key lower bound of page ``i``; jumping
    ahead scans primary keys only (up to 16384 per request) to fill them in, so page
    500 costs a few key scans once, then one query like any other page. A background
    ``BoundaryFill`` can find them ahead of time; its results come in through ``merge``,
    which may run on another thread than ``goto`` (every change to ``boundaries`` is a
    ``merge`` under a lock, and a boundary already known is never replaced).
    """

    info: CollectionInfo
    expr: str = ""
    page_size: int = 50
    output_fields: list[str] | None = None
    partition_names: list[str] | None = None
    #: for the rows of each page; the total (count(*)) is always read at Strong.
    consistency_level: str | None = None
    boundaries: list[Any] = field(default_factory=lambda: [None])
    total: int | None = None
    #: True once a scan reached the end, so ``boundaries`` is complete.
    exhausted: bool = False
    #: primary-key scans this pager ran itself (a jump past the known boundaries).
    key_scans: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_loaded(self.info)
        check_limit(self.page_size, "page size")
        self.expr = validate_filter(self.info, self.expr)
        self.consistency_level = check_consistency(self.consistency_level)
        self.output_fields = resolve_output_fields(self.info, self.output_fields)

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.page_size))

    def merge(self, found: Boundaries) -> int:
        """Add the boundaries in ``found`` not known yet; returns how many were new."""
        with self._lock:
            if found.start >= len(self.boundaries):
                return 0  # a gap before them: they cannot be placed
            known = len(self.boundaries) - 1 - found.start
            new = found.keys[known:] if known < len(found.keys) else ()
            self.boundaries.extend(new)
            if found.pages is not None:
                del self.boundaries[found.pages:]  # the last boundary would open an empty page
                self.exhausted = True
            if self.pages is not None and len(self.boundaries) >= self.pages:
                self.exhausted = True  # every page's boundary is known (the count says so)
            return len(new)

    def _count(self) -> Op[int]:
        kwargs: dict[str, Any] = dict(
            collection_name=self.info.name, filter=self.expr, output_fields=["count(*)"],
            consistency_level="Strong",
        )
        if self.partition_names:
            kwargs["partition_names"] = self.partition_names
        rows = yield Call("query", kwargs, collection=self.info.name, expr=self.expr or None)
        return int(rows[0]["count(*)"]) if rows else 0

    def _fill_boundaries(self, page: int) -> Op[None]:
        """Scan keys until ``boundaries`` reaches ``page`` (or the data ends)."""
        while len(self.boundaries) <= page and not self.exhausted:
            with self._lock:
                start = len(self.boundaries) - 1
                cursor = self.boundaries[start]
            # Only as many keys as the jump needs (a key scan's cost grows with its length).
            limit = min(MAX_WINDOW, (page - start) * self.page_size)
            keys = yield from scan_keys(self.info, cursor, expr=self.expr, limit=limit,
                                        partition_names=self.partition_names)
            self.key_scans += 1
            self.merge(boundaries_from_keys(start, keys, self.page_size, limit))

    def goto(self, page: int) -> Op[QueryResult]:
        """Fetch page ``page`` (0-based; negative counts from the end, -1 = last)."""
        timer = Timer()
        if self.total is None or page < 0:
            self.total = yield from self._count()
        pages = self.pages or 1
        if page < 0:
            page = pages + page
        page = max(0, min(page, pages - 1))
        if page >= len(self.boundaries):
            yield from self._fill_boundaries(page)
            page = min(page, len(self.boundaries) - 1)
        rows = yield from rows_after(self.info, self.boundaries[page], expr=self.expr, limit=self.page_size,
                                     output_fields=self.output_fields, partition_names=self.partition_names,
                                     consistency_level=self.consistency_level)
        # A short page before the last one the count promises still gives the next page's start:
        # Go Milvus counts every copy of a duplicated key in a query's limit (and in count(*)), so
        # such a page comes back short with more entities after it.
        if rows and page + 1 < pages:
            self.merge(Boundaries(page, (rows[-1][self.info.primary.name],)))
        return QueryResult(
            self.info.name, "page", rows, columns_for(self.info, rows, self.output_fields or ["*"]),
            timer.elapsed, expr=self.expr, page=page, pages=pages, total=self.total,
            warnings=dynamic_warnings(self.info, self.expr),
        )


class BoundaryFill:
    """Finds a pager's remaining page boundaries ahead of time, without touching the pager.

    It starts from what the pager knows when it is made, scans primary keys only (whole
    pages, ≤ 16,384 keys a request) and keeps its own cursor, so it can run in a worker
    while the pager serves pages elsewhere. Each ``step`` is one request; whoever drives it
    hands the ``Boundaries`` to ``Pager.merge``, pausing or stopping between steps as it likes.
    It stops at the end of the data, at the page count the pager knows, or at ``max_pages``.
    """

    def __init__(self, pager: Pager, *, max_pages: int = FILL_MAX_PAGES, window: int = MAX_WINDOW) -> None:
        with pager._lock:
            self.start = len(pager.boundaries) - 1
            self.cursor = pager.boundaries[-1]
            exhausted = pager.exhausted
        self.info = pager.info
        self.expr = pager.expr
        self.page_size = pager.page_size
        self.partition_names = pager.partition_names
        self.total = pager.total
        self.pages = pager.pages
        self.max_pages = max(1, max_pages if self.pages is None else min(max_pages, self.pages))
        self.per_request = max(1, min(window, MAX_WINDOW) // self.page_size) * self.page_size
        self.requests = 0
        self.done = exhausted or self.start + 1 >= self.max_pages

    def rest(self, elapsed: float, minimum: float = 0.05) -> float:
        """Seconds to wait after a step that took ``elapsed``: as long again, so the server
        (on Lite, the same two cores as the UI) spends at most half its time on the fill."""
        return max(minimum, elapsed)

    def step(self) -> Op[Boundaries]:
        """Scan the next window of keys; ``done`` is True after the last one."""
        # With the count known, the last request asks for exactly the keys still needed.
        limit = min(self.per_request, (self.max_pages - 1 - self.start) * self.page_size)
        keys = yield from scan_keys(self.info, self.cursor, expr=self.expr, limit=limit,
                                    partition_names=self.partition_names)
        self.requests += 1
        found = replace(boundaries_from_keys(self.start, keys, self.page_size, limit), total=self.total)
        if found.keys:
            self.start += len(found.keys)
            self.cursor = found.keys[-1]
        if found.pages is not None or not found.keys or self.start + 1 >= self.max_pages:
            self.done = True
        return found


def search(info: CollectionInfo, vector: list[float], *, k: int = 10, expr: str = "",
           anns_field: str | None = None, output_fields: list[str] | None = None,
           consistency_level: str | None = None, partition_names: list[str] | None = None,
           kind: str = "search", mmr: tuple[int, float] | None = None, timer: Timer | None = None,
           built_filter: str = "", built_params: dict[str, Any] | None = None) -> Op[QueryResult]:
    """Vector search with scores; ``mmr=(fetch_k, lambda)`` re-ranks for diversity.

    ``built_filter`` is a filter template we built from data, its values in ``built_params`` (any
    key, NUL included; see ``expr.in_template``); it is ANDed to the user's validated ``expr``
    without re-checking.
    """
    require_loaded(info)
    check_limit(k, "k")
    expr = validate_filter(info, expr)
    vfield = info.pick_vector_field(anns_field)
    if vfield.dim and len(vector) != vfield.dim:
        raise InvalidInput(
            f"The query vector has {len(vector)} dimensions but field '{vfield.name}' holds "
            f"{vfield.dim}-dimensional vectors."
        )
    fields = resolve_output_fields(info, output_fields)
    limit = k
    if mmr is not None:
        limit = check_limit(mmr[0], "fetch_k")
        if not 0.0 <= mmr[1] <= 1.0:
            raise InvalidInput(f"MMR lambda must be between 0 and 1 (got {mmr[1]}).")
        if fields != ["*"] and vfield.name not in fields:
            fields = [*fields, vfield.name]
    index = info.index_for(vfield.name)
    metric = index.metric_type if index else None
    kwargs: dict[str, Any] = dict(
        collection_name=info.name, data=[vector], anns_field=vfield.name, limit=limit,
        filter=exprs.conjoin(expr, built_filter),
        output_fields=fields,
    )
    if built_params:
        kwargs["filter_params"] = built_params
    if (level := check_consistency(consistency_level)):
        kwargs["consistency_level"] = level
    if partition_names:
        kwargs["partition_names"] = partition_names
    timer = timer or Timer()
    result = yield Call("search", kwargs, collection=info.name, expr=kwargs["filter"])
    hits = list(result[0]) if result else []
    rows, scores = [], []
    for hit in hits:
        entity = dict(hit.get("entity") or {})
        entity.setdefault(info.primary.name, hit.get("id", hit.get(info.primary.name)))
        rows.append(entity)
        scores.append(float(hit.get("distance", 0.0)))
    if mmr is not None and rows:
        rows, scores = _mmr(vector, rows, scores, vfield.name, k, mmr[1])
    return QueryResult(info.name, kind, rows, columns_for(info, rows, fields), timer.elapsed, expr=expr,
                       scores=scores, metric=metric, anns_field=vfield.name, query_vector=vector)


def _mmr(query: list[float], rows: list[dict[str, Any]], scores: list[float], vfield: str, k: int,
         lambda_mult: float) -> tuple[list[dict[str, Any]], list[float]]:
    import numpy as np
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    vectors = [r[vfield] for r in rows]
    chosen = maximal_marginal_relevance(np.array(query, dtype=np.float32), vectors, lambda_mult=lambda_mult, k=k)
    return [rows[i] for i in chosen], [scores[i] for i in chosen]


def semantic_search(info: CollectionInfo, text: str, *, k: int = 10, expr: str = "",
                    anns_field: str | None = None, output_fields: list[str] | None = None,
                    consistency_level: str | None = None, partition_names: list[str] | None = None,
                    mmr: tuple[int, float] | None = None, using: Any = None) -> Op[QueryResult]:
    """Embed ``text`` with the operation's embedding model, then search.

    ``using`` is the ``EmbeddingTag`` of the model in use; when the collection records a
    different one, the result carries a warning (scores across models mean little).
    """
    if not text or not text.strip():
        raise InvalidInput("Type some text to search for.")
    require_loaded(info)
    vfield = info.pick_vector_field(anns_field)
    check_limit(k, "k")
    timer = Timer()
    vectors = yield Embed([text], query=True)
    vector = [float(x) for x in vectors[0]]
    if vfield.dim and len(vector) != vfield.dim:
        from ..embeddings import check_dimension

        check_dimension(vfield.dim, len(vector), vfield.name)
    result = yield from search(info, vector, k=k, expr=expr, anns_field=vfield.name,
                               output_fields=output_fields, consistency_level=consistency_level,
                               partition_names=partition_names, mmr=mmr, timer=timer)
    tag = info.embedding
    if tag is not None and using is not None and (tag.provider, tag.model) != (using.provider, using.model):
        result = replace(result, warnings=(
            f"'{info.name}' was built with {tag.provider} · {tag.model}, but this search used "
            f"{using.provider} · {using.model}; scores may not mean much.",
        ))
    return result


def read_point() -> Op[int | None]:
    """A timestamp for reads that must see every write acknowledged before now, or None when
    the server gives none (then read at Strong).

    On Go Milvus a Strong read waits for the query node's service time to pass the request's
    own timestamp, which moves by time ticks (200 ms by default): ~0.2-0.3 s a query, however
    small. A read carrying a timestamp taken once (``AllocTimestamp``, from the server's own
    timestamp oracle) as its guarantee waits for the service time to pass *that* timestamp
    (on each replica that serves it), so only the first such read waits. Measured on Go 2.3.5:
    a read right after an upsert saw the old value 20 of 20 times at Eventually and Bounded,
    the new one 20 of 20 times at Strong and with a timestamp taken after the upsert; a
    timestamp 1.5 s ahead made the read wait 1.8 s. Milvus Lite 3 does not implement the call
    (pymilvus gives 0); its reads see every acknowledged write at every level, and Strong costs
    it nothing more (measured: 20k entities, 1.08 s Strong vs 1.09 s Eventually)."""
    ts = yield Call("alloc_timestamp", sync_only=True, soft=True)
    return ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else None


def read_consistency(consistency_level: str | None, guarantee_timestamp: int | None) -> dict[str, Any]:
    """Query arguments for a read at ``consistency_level``, or at the guarantee timestamp when one is given."""
    if guarantee_timestamp:
        return {"consistency_level": "Customized", "guarantee_timestamp": guarantee_timestamp}
    return {"consistency_level": consistency_level} if consistency_level else {}


def get_entities(info: CollectionInfo, keys: list[Any], output_fields: list[str] | None = None,
                 consistency_level: str | None = "Strong", *, strict_float32: bool = False,
                 guarantee_timestamp: int | None = None) -> Op[list[dict[str, Any]]]:
    """Whole entities by primary key (quoted safely, whatever the key holds).

    ``strict_float32`` has pymilvus hand float vectors over as float32 arrays instead of a
    Python float per component (backups store float32 anyway: 27 -> 15 ms a 1000-row batch).
    ``guarantee_timestamp`` (a server timestamp, see ``read_point``) reads at the "Customized"
    level instead: the answer holds every write acknowledged before that timestamp."""
    if not keys:
        return []
    pk = info.primary.name
    # The limit is the window's, not len(keys): measured on Go Milvus 2.3.5, a query's limit counts
    # every copy of a duplicated primary key before the copies are merged, so `id in [3, 7, 12]`
    # with limit 3 returned only 3 and 7 when 7 had three copies (and a backup missed entities).
    # The filter still bounds the answer to one row per key.
    template, params = exprs.in_template(pk, keys)
    kwargs: dict[str, Any] = dict(
        collection_name=info.name, filter=template, filter_params=params, output_fields=output_fields or ["*"],
        limit=max(len(keys), MAX_WINDOW),
    )
    kwargs.update(read_consistency(consistency_level, guarantee_timestamp))
    if strict_float32 and any(f.dtype == "FLOAT_VECTOR" for f in info.fields):
        kwargs["strict_float32"] = True
    rows = yield Call("query", kwargs, collection=info.name)
    return [dict(r) for r in rows]


def more_like_this(info: CollectionInfo, key: Any, *, k: int = 10, expr: str = "", anns_field: str | None = None,
                   output_fields: list[str] | None = None, consistency_level: str | None = None,
                   partition_names: list[str] | None = None) -> Op[QueryResult]:
    """Search with the stored vector of entity ``key``, leaving the entity itself out."""
    require_loaded(info)
    vfield = info.pick_vector_field(anns_field)
    timer = Timer()
    found = yield from get_entities(info, [key], [info.primary.name, vfield.name])
    if not found:
        raise NotFound(f"No entity with {info.primary.name} = {exprs.literal(key)} in '{info.name}'.")
    vector = found[0][vfield.name]
    if isinstance(vector, (bytes, bytearray, dict)):
        raise InvalidInput(f"More like this needs a dense float vector; '{vfield.name}' is {vfield.dtype}.")
    not_self, params = exprs.compare_template(info.primary.name, "!=", key, "tui_self")
    result = yield from search(info, [float(x) for x in vector], k=k, expr=expr, built_filter=not_self,
                               built_params=params,
                               anns_field=vfield.name, output_fields=output_fields,
                               consistency_level=consistency_level, partition_names=partition_names,
                               kind="more_like_this", timer=timer)
    return replace(result, expr=expr, query_keys=(key,))
