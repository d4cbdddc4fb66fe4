"""The data behind the vector map: which vectors, which colours, and their projection.

A map is made from rows already in hand (a page, a search's hits: ``map_rows``) or from a
sample of a filter (``map_sample``: up to a few thousand entities, spread evenly over the
filter's primary keys, since Milvus has no random sample). Either way it reads only what the
map needs (primary key, one vector field, the colour field and a short title field), in
batches between which a stop is honoured, then projects the vectors off the event loop
(``Blocking``: a thread in async mode, the worker's own thread in sync mode).

A map of chosen entities (``map_keys``: the members of duplicate groups, the entities of quality
findings) reads them by primary key (a filter template, whatever the keys hold), each with a label
that becomes its colour, optionally over a grey background sample of the collection (the same
projection, so the labelled points sit where they belong among the rest).

Vectors that cannot be placed are left out of the projection, by name, never silently: nulls,
vectors holding NaN or infinity (one would turn the whole PCA into NaN), and on a COSINE field
zero vectors (COSINE compares directions; a zero vector has none).

Vector types: float vectors as they are; float16 and bfloat16 decoded to floats; int8 as
numbers; binary vectors as bits (one 0/1 dimension per bit, so PCA works on Hamming-like
geometry). Sparse vectors are refused with a sentence: their dimensions are a vocabulary
(BM25 outputs are not even stored for reading), too many and too empty to project here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import AmbiguousField, InvalidInput
from . import expr as exprs
from .catalog import CollectionInfo, FieldInfo, require_loaded
from .ops import Blocking, Op, Progress, Timer
from .projection import Projection, project
from .queries import MAX_WINDOW, get_entities, scan_keys, validate_filter
from .values import BYTE_VECTORS, vector_numbers

#: Vector types the map can project.
MAPPABLE = frozenset({"FLOAT_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR", "INT8_VECTOR", "BINARY_VECTOR"})
DEFAULT_SAMPLE = 2000
#: the most points a map draws: a terminal has ~10k braille cells, and PCA on 5k x 1k floats
#: takes well under a second.
MAX_SAMPLE = 5000
#: a sample is spread over at most this many of the filter's keys (key-only scans, 16k a request).
SCAN_MAX = 5 * MAX_WINDOW
#: entities read per request when fetching by key.
FETCH_BATCH = 500
#: Field names that usually hold a category, in the order they are preferred as the colour.
COLOUR_NAMES = ("category", "label", "class", "type", "kind", "group", "topic", "cluster", "tag")
TITLE_NAMES = ("name", "title", "label", "caption", "text")
#: Scalar types whose values colour points (each distinct value a colour; the rest "other").
COLOUR_TYPES = frozenset({"VARCHAR", "INT64", "INT32", "INT16", "INT8", "BOOL"})


@dataclass(frozen=True)
class VectorMap:
    """Projected entities: point i is ``keys[i]``, coloured by ``colours[i]``, titled ``titles[i]``."""

    collection: str
    field: str
    dtype: str
    pk: str
    keys: list[Any]
    colour_field: str | None
    colours: list[Any]
    title_field: str | None
    titles: list[str]
    projection: Projection
    #: what the points are, in words ("10 search hits", "2,000 of 5,439 entities").
    source: str
    #: what the marked point is ("query", "source entity id = 7"), None: no mark.
    query_label: str | None = None
    scores: list[float] | None = None
    elapsed: float = 0.0
    warnings: tuple[str, ...] = ()
    #: how many the filter matched (a sample), or None.
    total: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: per point, whether it carries the mark (the member a keep policy keeps); None: no marks.
    marks: list[bool] | None = None
    #: the last ``background`` points are a sample of the collection for context, not labelled.
    background: int = 0
    #: entities asked for but not drawn: (primary key, why: "null", "NaN or infinity", "zero", "gone").
    left_out: tuple[tuple[Any, str], ...] = ()

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def labelled(self) -> int:
        """The points before the background sample (all of them without one)."""
        return self.size - self.background


@dataclass(frozen=True)
class LabelledKeys:
    """Entities to map by primary key, each with a label that is its colour (duplicate groups,
    quality findings): what a finder hands the map screen."""

    keys: tuple[Any, ...]
    labels: tuple[str, ...]
    #: what the labels are ("duplicate group", "finding"): the colour's name on the map.
    label_name: str
    #: what the points are, in words.
    source: str
    #: keys drawn with the mark, and what the mark and its absence mean ("kept", "would be deleted").
    marked: frozenset[Any] = frozenset()
    mark_names: tuple[str, str] = ("", "")
    #: a grey sample of up to this many other entities of the filter, for context.
    background: int = 0
    vector_field: str | None = None
    #: the key the cursor starts on.
    start: Any = None


def mappable_fields(info: CollectionInfo) -> list[FieldInfo]:
    """The vector fields a map can project (stored dense, float16/bfloat16, int8, binary)."""
    return [f for f in info.vector_fields if f.dtype in MAPPABLE and not f.is_function_output
            and f.name not in info.function_outputs]


def pick_map_field(info: CollectionInfo, preferred: str | None = None) -> FieldInfo:
    """The field to map: ``preferred`` (the field a search used, or the user's choice) when the
    map can project it, else the collection's only such field; several: AmbiguousField."""
    fields = mappable_fields(info)
    if preferred:
        chosen = info.get_field(preferred)
        if chosen.dtype in MAPPABLE and chosen in fields:
            return chosen
        if len(fields) != 1:
            _refuse(info, chosen, fields)
    if len(fields) == 1:
        return fields[0]
    if not fields:
        sparse = [f.name for f in info.vector_fields]
        raise InvalidInput(f"Collection '{info.name}' has no dense or binary vector field to map"
                           + (f" ({', '.join(sparse)} {'holds' if len(sparse) == 1 else 'hold'} sparse vectors, "
                              "whose dimensions are a vocabulary: "
                              "too many and too empty to project)." if sparse else "."))
    names = [f.name for f in fields]
    raise AmbiguousField(f"Collection '{info.name}' has several vector fields ({', '.join(names)}); "
                         "choose the one to map.", names)


def _refuse(info: CollectionInfo, chosen: FieldInfo, fields: list[FieldInfo]) -> None:
    why = ("holds sparse vectors, whose dimensions are a vocabulary: too many and too empty to project"
           if chosen.dtype == "SPARSE_FLOAT_VECTOR" else f"is a {chosen.dtype} field")
    if not fields:
        raise InvalidInput(f"Field '{chosen.name}' {why}; '{info.name}' has no other vector field to map.")
    names = [f.name for f in fields]
    raise AmbiguousField(f"Field '{chosen.name}' {why}. Choose a vector field to map ({', '.join(names)}).", names)


def colour_fields(info: CollectionInfo) -> list[str]:
    """Scalar fields whose values can colour the points."""
    return [f.name for f in info.scalar_fields if f.dtype in COLOUR_TYPES and not f.is_primary]


def default_colour_field(info: CollectionInfo) -> str | None:
    """The partition key, else a field named like a category; None: one colour."""
    usable = colour_fields(info)
    for f in info.scalar_fields:
        if f.is_partition_key and f.name in usable:
            return f.name
    lowered = {name.lower(): name for name in usable}
    return next((lowered[n] for n in COLOUR_NAMES if n in lowered), None)


def default_title_field(info: CollectionInfo, colour: str | None = None) -> str | None:
    """A short text naming each point under the cursor: a field named like a title, else the
    first VARCHAR field (not the key, not the colour); None: the primary key alone."""
    texts = [f for f in info.scalar_fields if f.dtype == "VARCHAR" and not f.is_primary and f.name != colour]
    lowered = {f.name.lower(): f.name for f in texts}
    return next((lowered[n] for n in TITLE_NAMES if n in lowered), texts[0].name if texts else None)


def decode_vector(value: Any, dtype: str) -> Any:
    """One stored vector as numbers (float32 array, or a list; bits for binary); None for a
    missing (null) vector."""
    if value is None:
        return None
    if dtype == "SPARSE_FLOAT_VECTOR" or isinstance(value, dict):
        raise InvalidInput("Sparse vectors cannot be mapped: their dimensions are a vocabulary, too many and "
                           "too empty to project.")
    if dtype in BYTE_VECTORS:
        numbers = vector_numbers(value, dtype)
        if numbers is None:
            raise InvalidInput(f"A stored {dtype} value could not be read as a vector.")
        return [float(x) for x in numbers]
    if hasattr(value, "dtype"):  # a float32 array (``strict_float32`` reads)
        return value
    return [float(x) for x in value]


def _fetch(info: CollectionInfo, keys: list[Any], fields: list[str], what: str) -> Op[dict[Any, dict[str, Any]]]:
    """Entities by key, in batches (a stop is honoured between them); key -> row. Float vectors
    come as float32 arrays, not a Python float per component (less work wherever it is parsed:
    on the event loop with the async client)."""
    pk = info.primary.name
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(keys), FETCH_BATCH):
        batch = keys[start:start + FETCH_BATCH]
        rows = yield from get_entities(info, batch, list(dict.fromkeys([pk, *fields])), consistency_level=None,
                                       strict_float32=True)
        found.update((row[pk], row) for row in rows)
        yield Progress(min(start + FETCH_BATCH, len(keys)), len(keys), what)
    return found


#: why a vector is not drawn, as the user reads it.
NULL_VECTOR, NON_FINITE, ZERO_VECTOR, GONE = "null", "NaN or infinity", "zero", "gone"


def _prepare(rows: list[dict[str, Any]], vfield: FieldInfo, query: Any, method: str,
             normalize: bool) -> tuple[list[int], dict[int, str], Projection]:
    """Decode the vectors, leave out the ones that cannot be placed (index -> why), and project
    the rest: the CPU part, run off the event loop."""
    import numpy as np

    present, vectors, dropped = [], [], {}
    for i, row in enumerate(rows):
        vector = decode_vector(row.get(vfield.name), vfield.dtype)
        if vector is None:
            dropped[i] = NULL_VECTOR
        else:
            present.append(i)
            vectors.append(vector)
    # The checks on the whole matrix at once: per row they were ~6,000 numpy calls holding the
    # GIL for ~15 ms, long enough to cost the UI's loop a frame (BENCHMARKS §13).
    matrix = np.asarray(np.stack(vectors), dtype=np.float32) if vectors else np.zeros((0, 0), np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    usable = finite & matrix.any(axis=1) if normalize else finite
    kept = []
    for i, is_finite, ok in zip(present, finite.tolist(), usable.tolist()):
        if ok:
            kept.append(i)
        else:  # one NaN makes the mean, and so every point, NaN
            dropped[i] = NON_FINITE if not is_finite else ZERO_VECTOR
    dropped = dict(sorted(dropped.items()))
    matrix = matrix[usable]
    if not kept:
        return kept, dropped, project(np.zeros((0, 2)))
    query_vector = None if query is None else decode_vector(query, vfield.dtype)
    if query_vector is not None and not np.isfinite(np.asarray(query_vector, dtype=np.float32)).all():
        query_vector = None
    return kept, dropped, project(matrix, query_vector, method=method, normalize=normalize)


_WHY = {NULL_VECTOR: "no {field} (null)", NON_FINITE: "a {field} vector holding NaN or infinity",
        ZERO_VECTOR: "a zero {field} vector (COSINE compares directions; it has none)",
        GONE: "no entity any more (deleted since)"}


def left_out_warnings(left_out: list[tuple[Any, str]], field_name: str) -> tuple[str, ...]:
    """One sentence per reason: "2 entities with a NaN ... are not drawn: 'a', 'b'"."""
    out = []
    for why in (NULL_VECTOR, NON_FINITE, ZERO_VECTOR, GONE):
        keys = [k for k, w in left_out if w == why]
        if keys:
            shown = ", ".join(exprs.literal(k) if isinstance(k, (str, int)) else repr(k) for k in keys[:3])
            more = f" and {len(keys) - 3:,} more" if len(keys) > 3 else ""
            n = len(keys)
            out.append(f"{n:,} {'entity' if n == 1 else 'entities'} with {_WHY[why].format(field=field_name)} "
                       f"{'is' if n == 1 else 'are'} not drawn: {shown}{more}.")
    return tuple(out)


def _finish(info: CollectionInfo, vfield: FieldInfo, rows: list[dict[str, Any]], colour: str | None,
            title: str | None, *, source: str, timer: Timer, method: str, scores: list[float] | None = None,
            query: Any = None, query_label: str | None = None, total: int | None = None,
            warnings: tuple[str, ...] = (), colours: list[Any] | None = None, marks: list[bool] | None = None,
            background: int = 0, gone: tuple[Any, ...] = ()) -> Op[VectorMap]:
    """``colours``/``marks``: given per row (labelled keys) instead of read from ``colour``;
    the last ``background`` rows are the grey context sample."""
    pk = info.primary.name
    metric = info.index_for(vfield.name)
    normalize = bool(metric and metric.metric_type == "COSINE")
    yield Progress(0, None, f"projecting {len(rows):,} points")
    kept, dropped, projection = yield Blocking(lambda: _prepare(rows, vfield, query, method, normalize))
    labelled = len(rows) - background
    # The background is context: its unplaceable vectors are left out without a word.
    left_out = [(k, GONE) for k in gone] + [(rows[i][pk], why) for i, why in dropped.items() if i < labelled]
    warnings = (*warnings, *left_out_warnings(left_out, vfield.name))
    if not kept:
        raise InvalidInput(" ".join(warnings) if warnings else f"There are no {vfield.name} vectors to map here.")
    kept_rows = [rows[i] for i in kept]
    if colours is None:
        colours = [row.get(colour) for row in rows] if colour else [None] * len(rows)
    return VectorMap(
        info.name, vfield.name, vfield.dtype, pk, [row[pk] for row in kept_rows], colour,
        [colours[i] for i in kept], title,
        [_title(row, pk, title) for row in kept_rows], projection, source,
        query_label if query is not None and projection.query_xy is not None else None,
        [scores[i] for i in kept] if scores is not None else None, timer.elapsed, warnings, total,
        marks=[marks[i] for i in kept] if marks is not None else None,
        background=sum(1 for i in kept if i >= labelled), left_out=tuple(left_out))


def _title(row: dict[str, Any], pk: str, title: str | None) -> str:
    value = row.get(title) if title else None
    text = "" if value is None else str(value)
    return text[:200]


def map_rows(info: CollectionInfo, rows: list[dict[str, Any]], *, vector_field: str | None = None,
             colour_field: str | None = None, title_field: str | None = None, source: str = "",
             scores: list[float] | None = None, query_vector: Any = None, query_field: str | None = None,
             query_keys: tuple[Any, ...] = (), method: str = "auto") -> Op[VectorMap]:
    """Map rows in hand (a page, a search's hits). What they lack (the vector field when the
    output fields left it out, the colour field) is read by key.

    The query's mark: a more-like-this or by-key search's source entity (read in the mapped
    field, whichever it is), else ``query_vector`` when it was searched on this very field."""
    require_loaded(info)
    timer = Timer()
    vfield = pick_map_field(info, vector_field)
    pk = info.primary.name
    wanted = [name for name in (vfield.name, colour_field, title_field) if name]
    rows = [row for row in rows if pk in row]
    if any(name not in row for row in rows for name in wanted):
        found = yield from _fetch(info, [row[pk] for row in rows], wanted, "reading vectors")
        rows = [{**row, **found.get(row[pk], {})} for row in rows]
    query, label = None, None
    if query_keys:
        source_rows = yield from get_entities(info, [query_keys[0]], [pk, vfield.name], consistency_level=None,
                                              strict_float32=True)
        if source_rows and source_rows[0].get(vfield.name) is not None:
            query, label = source_rows[0][vfield.name], f"source entity {pk} = {exprs.literal(query_keys[0])}"
    elif query_vector is not None and query_field == vfield.name and not isinstance(query_vector, (str, dict)):
        query, label = query_vector, "query"
    return (yield from _finish(info, vfield, rows, colour_field, title_field, source=source or f"{len(rows)} rows",
                               timer=timer, method=method, scores=scores, query=query, query_label=label))


def sample_keys(keys: list[Any], limit: int) -> list[Any]:
    """``limit`` keys spread evenly over ``keys`` (all of them when there are no more)."""
    if len(keys) <= limit:
        return list(keys)
    step = len(keys) / limit
    return [keys[int(i * step)] for i in range(limit)]


def _scan(info: CollectionInfo, expr: str, partition_names: list[str] | None) -> Op[list[Any]]:
    """The first ``SCAN_MAX`` primary keys matching ``expr``, by key-only scans."""
    keys: list[Any] = []
    cursor = None
    while len(keys) < SCAN_MAX:
        want = min(MAX_WINDOW, SCAN_MAX - len(keys))
        batch = yield from scan_keys(info, cursor, expr=expr, limit=want, partition_names=partition_names)
        keys.extend(batch)
        yield Progress(len(keys), None, "reading keys")
        if len(batch) < want:
            break
        cursor = batch[-1]
    return keys


def map_sample(info: CollectionInfo, expr: str = "", *, limit: int = DEFAULT_SAMPLE, vector_field: str | None = None,
               colour_field: str | None = None, title_field: str | None = None,
               partition_names: list[str] | None = None, method: str = "auto") -> Op[VectorMap]:
    """Map up to ``limit`` entities matching ``expr``, spread evenly over its primary keys (the
    first ``SCAN_MAX`` of them: key-only scans), reading only the key, the vector, the colour
    and the title fields."""
    require_loaded(info)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SAMPLE:
        raise InvalidInput(f"A map samples between 1 and {MAX_SAMPLE:,} entities (got {limit!r}).")
    timer = Timer()
    expr = validate_filter(info, expr)
    vfield = pick_map_field(info, vector_field)
    keys = yield from _scan(info, expr, partition_names)
    if not keys:
        raise InvalidInput("Nothing matches " + (f"the filter {expr}" if expr else f"in '{info.name}'") + " to map.")
    chosen = sample_keys(keys, limit)
    wanted = [name for name in (vfield.name, colour_field, title_field) if name]
    found = yield from _fetch(info, chosen, wanted, "reading vectors")
    rows = [found[k] for k in chosen if k in found]
    more = len(keys) >= SCAN_MAX
    matching = f" matching {expr}" if expr else ""
    if len(chosen) == len(keys) and not more:
        source = f"all {len(rows):,} entities{matching}"
    else:
        source = (f"{len(rows):,} of {'the first ' if more else ''}{len(keys):,} entities{matching}, "
                  "spread over their primary keys")
    warnings = (f"Sampled from the first {SCAN_MAX:,} matching entities by primary key.",) if more else ()
    return (yield from _finish(info, vfield, rows, colour_field, title_field, source=source, timer=timer,
                               method=method, total=None if more else len(keys), warnings=warnings))


def cap_labelled(keys: list[Any], labels: list[Any], limit: int) -> tuple[list[Any], list[Any]]:
    """At most ``limit`` of ``keys`` (with their labels), every label kept: labels with fewer
    entities than a fair share keep them all, the larger ones are sampled evenly down to the
    rest (so a finding of 8,000 entities does not crowd out one of 3). Order is kept."""
    if len(keys) <= limit:
        return list(keys), list(labels)
    by_label: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    sizes = sorted(len(v) for v in by_label.values())
    budget, share, left = limit, 0, len(sizes)
    for n in sizes:  # water-filling: the smallest labels fit whole, the rest share what is left
        share = budget // left
        if n > share:
            break
        budget -= n
        left -= 1
    else:
        share = budget
    chosen = sorted(i for members in by_label.values() for i in sample_keys(members, max(1, share)))
    return [keys[i] for i in chosen], [labels[i] for i in chosen]


def whole_groups(sizes: list[int], limit: int, first: int | None = None) -> list[int]:
    """Which groups (indexes into ``sizes``) fit ``limit`` entities whole, in order, group
    ``first`` always among them (the one the user is on), and at least one group."""
    order = list(range(len(sizes)))
    if first is not None and 0 <= first < len(sizes):
        order.remove(first)
        order.insert(0, first)
    chosen, total = [], 0
    for i in order:
        if chosen and total + sizes[i] > limit:
            continue
        chosen.append(i)
        total += sizes[i]
    return sorted(chosen)


def map_keys(info: CollectionInfo, keys: list[Any], labels: list[Any], *, label_name: str = "label",
             marked: Any = (), background: int = 0, expr: str = "", partition_names: list[str] | None = None,
             vector_field: str | None = None, title_field: str | None = None, source: str = "",
             method: str = "auto", colour_field: str | None = None) -> Op[VectorMap]:
    """Map the entities ``keys`` (read by key: a filter template), point i coloured by
    ``labels[i]``; the keys in ``marked`` carry the mark. ``background``: also up to that many
    other entities matching ``expr``, spread over its keys, projected with the labelled ones
    and drawn as context (their label None). ``colour_field`` is not used (the labels colour)."""
    require_loaded(info)
    if len(keys) != len(labels):
        raise InvalidInput(f"{len(keys)} keys but {len(labels)} labels: one label a key.")
    if not keys:
        raise InvalidInput("There are no entities to map.")
    if len(keys) > MAX_SAMPLE or not isinstance(background, int) or not 0 <= background <= MAX_SAMPLE:
        raise InvalidInput(f"A map draws up to {MAX_SAMPLE:,} chosen entities and {MAX_SAMPLE:,} around them "
                           f"(got {len(keys):,} and {background!r}).")
    timer = Timer()
    vfield = pick_map_field(info, vector_field)
    wanted = [name for name in (vfield.name, title_field) if name]
    unique = list(dict.fromkeys(keys))
    label_of = dict(zip(reversed(keys), reversed(labels)))  # a key listed twice: its first label
    found = yield from _fetch(info, unique, wanted, "reading vectors")
    rows = [found[k] for k in unique if k in found]
    gone = tuple(k for k in unique if k not in found)
    marks = set(marked)
    colours = [label_of[row[info.primary.name]] for row in rows]
    flags = [row[info.primary.name] in marks for row in rows] if marks else None
    behind: list[dict[str, Any]] = []
    if background:
        expr = validate_filter(info, expr)
        all_keys = yield from _scan(info, expr, partition_names)
        others = [k for k in all_keys if k not in found and k not in label_of]
        chosen = sample_keys(others, background)
        more = yield from _fetch(info, chosen, wanted, "reading the background")
        behind = [more[k] for k in chosen if k in more]
    n = len(rows)
    source = source or f"{n:,} entities"
    if behind:
        source += f" over {len(behind):,} others" + (f" matching {expr}" if expr else "")
    return (yield from _finish(
        info, vfield, rows + behind, label_name, title_field, source=source, timer=timer, method=method,
        colours=colours + [None] * len(behind), marks=None if flags is None else flags + [False] * len(behind),
        background=len(behind), gone=gone))


def colour_values(info: CollectionInfo, keys: list[Any], colour_field: str | None) -> Op[list[Any]]:
    """The values of ``colour_field`` for ``keys``, in order (a new colour, without re-projecting)."""
    if not colour_field:
        return [None] * len(keys)
    info.get_field(colour_field)  # a clear error for an unknown field
    found = yield from _fetch(info, list(keys), [colour_field], "reading colours")
    return [found.get(k, {}).get(colour_field) for k in keys]


__all__ = ["DEFAULT_SAMPLE", "MAPPABLE", "MAX_SAMPLE", "LabelledKeys", "VectorMap", "cap_labelled", "colour_fields", "colour_values",
           "decode_vector", "default_colour_field", "default_title_field", "left_out_warnings", "map_keys",
           "map_rows", "map_sample", "mappable_fields", "pick_map_field", "sample_keys", "whole_groups"]
