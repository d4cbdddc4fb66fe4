"""Duplicates: near-duplicate vectors, exact duplicates of a field or a vector, duplicate primary keys.

Every read of one run carries one server timestamp taken as it starts (``read_point``): it sees
every write acknowledged before the run began, and on Go Milvus only the first read waits for a
time tick (a Strong read per page waited ~0.25 s each). Everything streams: entities are read in primary-key order with a cursor (``pk > last``, never
an offset), a batch at a time, so memory holds one batch plus what was found. A scan ends on an
empty page, not a short one: on Go Milvus 2.3.5 a page's limit counts every copy of a duplicated
key before the copies merge, so a page may come back short with more entities after it (measured).

**Near-duplicates** are found by Milvus itself (on a server; on Milvus Lite, see below). Each batch of ``batch_size`` entities' stored
vectors goes out as one range search (``nq`` = the batch, ``radius`` = the threshold, the same
filter), so the server compares every entity with the whole collection (or the filter) and
returns only the neighbours inside the threshold. The pairs are joined with union-find into
groups (a chain a~b~c is one group even when a and c are further apart; every member's distance
to the group's first member is shown, so a loose chain is visible). Cost: ``N / batch_size``
searches of ``batch_size`` queries each. With a FLAT index (brute force) each query costs O(N),
so the whole run is O(N²) vector comparisons: where they dominate, 10x the rows is ~100x the time
(Milvus Lite 3, which searches in Python: ~40-150 s at 10k rows, hours at 100k, hence the local
comparison below). On Go Milvus at 16
dims the N/batch round trips dominated up to 100k (27 s -> 281 s). An ANN index (IVF, HNSW) makes
each query sub-linear, at the price of a pair the index misses. Memory: one batch of vectors plus
the pairs found. Measured in docs/BENCHMARKS.md, section 14.

**On Milvus Lite the comparison is done here** (``local=True``, which the Session passes for a
Lite server): Lite's search is brute force in Python, so a range search per entity made the run
O(N²) in Python (~150 s at 10k rows). Here the same brute force runs in numpy, a block of
``LOCAL_BLOCK`` rows against all the others at a time, with the same rules: the metric's own
figure (cosine similarity, inner product, squared L2), the threshold with the same slack, and
for each entity its ``neighbours`` closest inside the threshold (more is "crowded", as a range
search's limit makes it). Memory: every vector of the scope as float32, so it is used up to
``LOCAL_MAX_FLOATS`` components (100k x 256 is 25.6M); beyond, the range searches as on a server.
A test checks that both ways find the same groups on Lite.

The threshold is in the metric's own terms: COSINE and IP are similarities (a pair is kept when
similarity >= t); L2 is Milvus's L2 distance, the *squared* Euclidean distance (kept when
distance <= t).

**Exact duplicates** hash each entity's value of one field (text, JSON, a vector packed as bytes)
while streaming: memory is one 16-byte digest and one key per distinct value.

**Duplicate primary keys.** Measured on Go Milvus 2.3.5: an insert whose key already exists is
accepted and creates a second copy; a query returns each key once (which copy is not stable: a
plain query and an iterator query returned different ones), ``count(*)`` counts every copy,
a search returns each key once, a delete by key removes every copy, and an upsert leaves one.
Milvus Lite 3.2.2 replaces the entity instead (no copy is made; measured). So duplicates are
found by comparing ``count(*)`` over each page's key range with the page's distinct keys, and
bisecting a range that has more. Keeping one copy is a delete of every copy (backed up through
the normal delete chain: the backup holds the copy a query returns) followed by restoring that
backup, which puts exactly one copy of each key back.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import expr as exprs
from .catalog import CollectionInfo, FieldInfo, count, require_loaded
from ..errors import InvalidInput, NotSupported
from .ops import Blocking, Call, Op, Progress, Timer
from .queries import MAX_WINDOW, get_entities, read_consistency, read_point, rows_after, validate_filter

#: Entities per range search (the search's ``nq``); also the progress step.
DEFAULT_BATCH = 200
#: Neighbours asked for per entity; a crowd beyond it is still joined through its members.
DEFAULT_NEIGHBOURS = 64
#: Rows compared with all the others per step of the local comparison (a stop is honoured between).
LOCAL_BLOCK = 512
#: The most figures one block computes (rows x N): 4M float32 is 16 MB.
LOCAL_BLOCK_CELLS = 4_000_000
#: The most vector components (rows x dimensions) held for the local comparison (float32: 256 MB).
LOCAL_MAX_FLOATS = 64_000_000
#: Pairwise distances are computed for groups up to this size (the pane shows them).
MATRIX_MAX = 30
#: Metrics where bigger means closer.
SIMILARITY_METRICS = ("COSINE", "IP")

NEAR = "near"
EXACT_FIELD = "field"
EXACT_VECTOR = "vector"
PRIMARY_KEY = "primary_key"


@dataclass(frozen=True)
class DuplicateGroup:
    """Entities that duplicate each other; ``keys[0]`` is the group's first (smallest) key."""

    kind: str
    keys: tuple[Any, ...]
    #: distance (or similarity) of each member to ``keys[0]`` (None for exact duplicates).
    distances: tuple[float | None, ...] = ()
    #: member x member distances, for groups up to ``MATRIX_MAX`` (near-duplicates only).
    matrix: tuple[tuple[float, ...], ...] = ()
    #: per member: the fields a keep policy or the pane needs (text, the "newest" field).
    values: tuple[dict[str, Any], ...] = ()
    #: duplicate primary keys: how many copies of the key the collection holds.
    copies: int = 0

    @property
    def size(self) -> int:
        return self.copies or len(self.keys)


@dataclass(frozen=True)
class DuplicateReport:
    collection: str
    kind: str
    groups: tuple[DuplicateGroup, ...]
    scanned: int
    elapsed: float
    field: str = ""
    metric: str = ""
    threshold: float | None = None
    expr: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def comparison(self) -> str:
        """The threshold in the metric's words ("COSINE similarity >= 0.95")."""
        if self.kind == NEAR and self.threshold is not None:
            if self.metric in SIMILARITY_METRICS:
                return f"{self.metric} similarity >= {self.threshold:g}"
            return f"{self.metric} distance (squared) <= {self.threshold:g}"
        if self.kind == EXACT_FIELD:
            return f"same value of '{self.field}'"
        if self.kind == EXACT_VECTOR:
            return f"same vector in '{self.field}'"
        return "same primary key"

    @property
    def duplicates(self) -> int:
        """Entities beyond one per group: what keeping one per group removes."""
        return sum(g.size - 1 for g in self.groups)


@dataclass(frozen=True)
class KeysFixed:
    """Duplicate primary keys brought down to one copy each (delete every copy, restore one)."""

    collection: str
    keys: int
    deleted: int
    restored: int
    backup_path: str


# -- keep policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeepPolicy:
    """Which member of a group stays: ``first`` (smallest primary key), ``newest`` (largest
    value of ``field``), ``longest`` (longest text in ``field``), or ``hand`` (chosen keys)."""

    how: str = "first"
    field: str = ""

    @classmethod
    def parse(cls, text: str) -> KeepPolicy:
        how, _, name = (text or "first").partition(":")
        how = how.strip().lower()
        if how not in ("first", "newest", "longest", "hand"):
            raise InvalidInput(f"Unknown keep policy '{text}'. Use first, newest:FIELD or longest:FIELD.")
        if how in ("newest", "longest") and not name.strip():
            raise InvalidInput(f"The keep policy '{how}' needs a field: {how}:FIELD.")
        return cls(how, name.strip())

    @property
    def label(self) -> str:
        return f"{self.how}:{self.field}" if self.field else self.how

    def keep(self, group: DuplicateGroup, chosen: set[Any] | None = None) -> set[Any]:
        """The keys of ``group`` that stay."""
        if self.how == "hand":
            kept = {k for k in group.keys if chosen and k in chosen}
            return kept
        if self.how == "first" or not group.values:
            return {group.keys[0]}
        values = [v.get(self.field) for v in group.values]
        if self.how == "newest":
            scored = [(_order(v), i) for i, v in enumerate(values)]
            best = max(scored, key=lambda s: (s[0], -s[1]))[1]
        else:
            best = max(range(len(values)), key=lambda i: (len(str(values[i])) if values[i] is not None else -1, -i))
        return {group.keys[best]}


def _order(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (2, value)
    return (1, str(value))


def others(report: DuplicateReport, policy: KeepPolicy, chosen: set[Any] | None = None) -> list[Any]:
    """Every key of every group that the policy does not keep (what "delete the others" removes)."""
    out: list[Any] = []
    for group in report.groups:
        kept = policy.keep(group, chosen)
        out.extend(k for k in group.keys if k not in kept)
    return out


# -- helpers --------------------------------------------------------------------------------


def _eta(timer: Timer, done: int, total: int | None) -> str:
    if not total or done <= 0 or done >= total:
        return ""
    left = timer.elapsed / done * (total - done)
    return f", about {left:.0f} s left" if left >= 1 else ", under a second left"


def _dense_field(info: CollectionInfo, name: str | None) -> FieldInfo:
    vfield = info.pick_vector_field(name)
    if vfield.dtype != "FLOAT_VECTOR":
        raise NotSupported(
            f"Near-duplicates need a FLOAT_VECTOR field; '{vfield.name}' is {vfield.dtype}. "
            f"Exact duplicates of that vector work on every type (--exact-field {vfield.name}).")
    return vfield


def _metric(info: CollectionInfo, vfield: FieldInfo) -> str:
    index = info.index_for(vfield.name)
    if index is None or not index.metric_type:
        raise NotSupported(f"'{vfield.name}' has no index, so Milvus cannot search it; create an index first.")
    return index.metric_type.upper()


def _range_params(metric: str, threshold: float) -> dict[str, Any]:
    """Range-search parameters that include the threshold itself: Milvus's window is
    ``radius < similarity`` (COSINE/IP) and ``distance < radius`` (L2), open at the radius,
    so the radius is moved a hair outwards and hits are checked against ``threshold`` here."""
    slack = 1e-6 * max(1.0, abs(threshold))
    if metric in SIMILARITY_METRICS:
        return {"radius": threshold - slack}
    return {"radius": threshold + slack}


def _inside(metric: str, distance: float, threshold: float) -> bool:
    if math.isnan(distance):
        return False
    slack = 1e-6 * max(1.0, abs(threshold))
    return distance >= threshold - slack if metric in SIMILARITY_METRICS else distance <= threshold + slack


class _Union:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def join(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def groups(self) -> list[list[Any]]:
        out: dict[Any, list[Any]] = {}
        for key in self.parent:
            out.setdefault(self.find(key), []).append(key)
        return [g for g in out.values() if len(g) > 1]


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _measure(metric: str, a: Any, b: Any) -> float:
    import numpy as np

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if metric == "COSINE":
        norm = float(np.linalg.norm(x) * np.linalg.norm(y))
        return float(x @ y / norm) if norm else 0.0
    if metric == "IP":
        return float(x @ y)
    return float(((x - y) ** 2).sum())


def _dump(value: Any, vector: bool) -> bytes:
    """A value's bytes for hashing: a vector packed (float32 for dense float vectors, the raw
    bytes pymilvus gives for the others), anything else as canonical JSON. Only vectors are
    packed: an ARRAY of big integers packed as float32 would make different arrays collide."""
    if vector:
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (bytes, bytearray)):
            return bytes(value[0])  # pymilvus wraps byte vectors in a one-item list
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, dict):  # sparse
            return json.dumps(sorted((int(k), float(v)) for k, v in value.items())).encode()
        import numpy as np

        return np.asarray(value, dtype=np.float32).tobytes()
    from .values import plain

    return json.dumps(plain(value), sort_keys=True, ensure_ascii=False).encode()


def digest(value: Any, vector: bool = False) -> bytes:
    return hashlib.blake2b(_dump(value, vector), digest_size=16).digest()


def _fill_values(info: CollectionInfo, groups: list[list[Any]], fields: list[str],
                 vfield: str | None) -> Op[dict[Any, dict[str, Any]]]:
    """The fields the pane and the keep policies need, for every member (in batches)."""
    wanted = [f for f in dict.fromkeys([*fields, *([vfield] if vfield else [])]) if f]
    if not wanted:
        return {}
    pk = info.primary.name
    keys = [k for g in groups for k in g]
    out: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(keys), 1000):
        rows = yield from get_entities(info, keys[start:start + 1000], [pk, *wanted])
        for row in rows:
            out[row[pk]] = row
    return out


def _text_fields(info: CollectionInfo) -> list[str]:
    text = info.pick_text_field()
    return [text.name] if text is not None else []


def _scope(info: CollectionInfo, expr: str) -> Op[int]:
    """How many entities the scan will read (for progress and the time left)."""
    n = yield from count(info.name, expr)
    return int(n)


# -- near-duplicates ------------------------------------------------------------------------


def near_duplicates(info: CollectionInfo, threshold: float, *, anns_field: str | None = None, expr: str = "",
                    batch_size: int = DEFAULT_BATCH, neighbours: int = DEFAULT_NEIGHBOURS,
                    fields: list[str] | None = None, local: bool = False) -> Op[DuplicateReport]:
    """Groups of entities whose vectors are within ``threshold`` of each other (module docstring).
    ``local``: compare the vectors here rather than by range searches (for Milvus Lite)."""
    require_loaded(info)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or math.isnan(threshold):
        raise InvalidInput(f"The threshold must be a number, not {threshold!r}.")
    vfield = _dense_field(info, anns_field)
    metric = _metric(info, vfield)
    if metric == "COSINE" and not -1.0 <= threshold <= 1.0:
        raise InvalidInput(f"A COSINE similarity threshold lies between -1 and 1 (got {threshold:g}).")
    if metric == "L2" and threshold < 0:
        raise InvalidInput(f"An L2 distance threshold cannot be negative (got {threshold:g}).")
    expr = validate_filter(info, expr)
    pk = info.primary.name
    timer = Timer()
    total = yield from _scope(info, expr)
    params = _range_params(metric, threshold)
    as_of = yield from read_point()
    union = _Union()
    pairs: dict[tuple[Any, Any], float] = {}
    crowded = 0
    skipped = 0
    cursor = None
    done = 0
    local = local and total * max(1, vfield.dim or 1) <= LOCAL_MAX_FLOATS
    held_keys: list[Any] = []
    held: list[Any] = []
    while True:
        rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=[pk, vfield.name],
                                     consistency_level="Strong", strict_float32=True, guarantee_timestamp=as_of)
        if not rows:
            break
        cursor = rows[-1][pk]
        usable = [r for r in rows if _finite(r.get(vfield.name))]
        skipped += len(rows) - len(usable)
        if local:
            held_keys += [r[pk] for r in usable]
            held += [r[vfield.name] for r in usable]
        elif usable:
            kwargs: dict[str, Any] = dict(
                collection_name=info.name, data=[_floats(r[vfield.name]) for r in usable],
                anns_field=vfield.name, limit=neighbours + 1, filter=expr, output_fields=[pk],
                search_params={"metric_type": metric, "params": params},
                **read_consistency("Strong", as_of),
            )
            result = yield Call("search", kwargs, collection=info.name, expr=expr or None)
            for row, hits in zip(usable, result or []):
                me = row[pk]
                hits = list(hits)
                if len(hits) > neighbours:
                    crowded += 1
                for hit in hits:
                    other = hit.get("id", (hit.get("entity") or {}).get(pk))
                    distance = float(hit.get("distance", math.nan))
                    if other == me or other is None or not _inside(metric, distance, threshold):
                        continue
                    union.join(me, other)
                    pair = (me, other) if _sort_key(me) <= _sort_key(other) else (other, me)
                    pairs[pair] = distance
        done += len(rows)
        yield Progress(done, max(total, done), "reading vectors" if local
                       else f"finding near-duplicates{_eta(timer, done, total)}")
    if local and held:
        compare = _LocalComparison(held, metric, threshold, neighbours)
        held = []
        step = compare.step
        for start in range(0, compare.n, step):
            found = yield Blocking(lambda start=start: compare.block(start, start + step))  # type: ignore[misc]
            for i, j, distance in found:
                me, other = held_keys[i], held_keys[j]
                union.join(me, other)
                pair = (me, other) if _sort_key(me) <= _sort_key(other) else (other, me)
                pairs[pair] = distance
            compared = min(start + step, compare.n)
            yield Progress(compared, compare.n, f"comparing vectors{_eta(timer, compared, compare.n)}")
        crowded = compare.crowded
    members = [sorted(g, key=_sort_key) for g in union.groups()]
    members.sort(key=lambda g: _sort_key(g[0]))
    shown = list(fields) if fields is not None else _text_fields(info)
    values = yield from _fill_values(info, members, shown, vfield.name)
    groups = []
    for keys in members:
        vectors = [values.get(k, {}).get(vfield.name) for k in keys]
        first = vectors[0]
        # The server's own figure where the pair came back from a search; computed the same way
        # (squared for L2) for a member joined to the first one through others.
        distances = tuple(
            None if not i else pairs[(keys[0], k)] if (keys[0], k) in pairs
            else _measure(metric, first, v) if first is not None and v is not None else None
            for i, (k, v) in enumerate(zip(keys, vectors)))
        matrix: tuple[tuple[float, ...], ...] = ()
        if len(keys) <= MATRIX_MAX and all(v is not None for v in vectors):
            matrix = tuple(tuple(_measure(metric, a, b) for b in vectors) for a in vectors)
        kept = tuple({f: values.get(k, {}).get(f) for f in shown} for k in keys)
        groups.append(DuplicateGroup(NEAR, tuple(keys), distances, matrix, kept))
    warnings = []
    if skipped:
        warnings.append(f"{skipped} entities with a NaN or infinite vector were left out (the quality scan lists them).")
    if crowded:
        warnings.append(f"{crowded} entities have more than {neighbours} neighbours inside the threshold; "
                        f"their groups are joined through those neighbours, but a pair may be missing from "
                        f"the distances shown. A tighter threshold splits such crowds.")
    return DuplicateReport(info.name, NEAR, tuple(groups), done, timer.elapsed, field=vfield.name, metric=metric,
                           threshold=float(threshold), expr=expr, warnings=tuple(warnings))


class _LocalComparison:
    """Every usable vector against every other, in numpy, as a range search would: the metric's
    figure, inside the threshold (same slack), each row's ``neighbours`` closest (``module docstring``)."""

    def __init__(self, vectors: list[Any], metric: str, threshold: float, neighbours: int) -> None:
        import numpy as np

        self.matrix = np.asarray(np.stack([np.asarray(v, dtype=np.float32) for v in vectors]), dtype=np.float32)
        self.n = len(self.matrix)
        self.metric, self.threshold, self.neighbours = metric, threshold, neighbours
        self.similar = metric in SIMILARITY_METRICS
        if metric == "COSINE":
            norms = np.linalg.norm(self.matrix, axis=1, keepdims=True)
            norms[norms == 0] = 1.0  # a zero vector is similar to nothing (its products are 0)
            self.matrix = self.matrix / norms
        self.squares = (self.matrix * self.matrix).sum(axis=1)
        self.crowded = 0

    @property
    def step(self) -> int:
        """Rows per block: a block's figures (rows x N float32) stay near 16 MB whatever N is."""
        return max(16, min(LOCAL_BLOCK, LOCAL_BLOCK_CELLS // max(1, self.n)))

    def block(self, start: int, stop: int) -> list[tuple[int, int, float]]:
        import numpy as np

        from .projection import one_blas_thread

        rows = self.matrix[start:stop]
        with one_blas_thread():  # a second spinning BLAS thread would take the UI's core
            figures = rows @ self.matrix.T
        if not self.similar:  # squared L2, as Milvus reports it
            figures *= -2
            figures += self.squares[start:stop, None]
            figures += self.squares[None, :]
            np.maximum(figures, 0.0, out=figures)
        slack = 1e-6 * max(1.0, abs(self.threshold))
        inside = figures >= self.threshold - slack if self.similar else figures <= self.threshold + slack
        inside[np.arange(len(rows)), np.arange(start, start + len(rows))] = False  # not itself
        hit_rows, hit_cols = np.nonzero(inside)  # row-major: each row's hits are together
        if not len(hit_rows):
            return []
        counts = np.bincount(hit_rows, minlength=len(rows))
        bounds = np.concatenate(([0], np.cumsum(counts)))
        values = figures[hit_rows, hit_cols]
        found: list[tuple[int, int, float]] = []
        for r in np.flatnonzero(counts).tolist():
            cols, vals = hit_cols[bounds[r]:bounds[r + 1]], values[bounds[r]:bounds[r + 1]]
            if len(cols) > self.neighbours:
                self.crowded += 1
                order = np.argsort(-vals if self.similar else vals, kind="stable")[:self.neighbours]
                cols, vals = cols[order], vals[order]
            found += [(start + r, j, v) for j, v in zip(cols.tolist(), vals.tolist())]
        return found


def _floats(vector: Any) -> list[float]:
    tolist = getattr(vector, "tolist", None)  # a float32 array (strict_float32)
    return [float(x) for x in (tolist() if callable(tolist) else vector)]


def _finite(vector: Any) -> bool:
    if vector is None:
        return False
    import numpy as np

    try:
        return bool(np.isfinite(np.asarray(vector, dtype=np.float64)).all())
    except (TypeError, ValueError):
        return False


# -- exact duplicates -----------------------------------------------------------------------


def exact_duplicates(info: CollectionInfo, field_name: str, *, expr: str = "", batch_size: int = 1000,
                     fields: list[str] | None = None) -> Op[DuplicateReport]:
    """Groups of entities with the same value of ``field_name`` (a vector field: the same vector)."""
    require_loaded(info)
    if field_name not in info.field_names:
        if not info.enable_dynamic_field:
            raise InvalidInput(f"Unknown field '{field_name}'. Fields of '{info.name}': {', '.join(info.field_names)}.")
        target = None
    else:
        target = info.get_field(field_name)
    if target is not None and target.is_primary:
        return (yield from duplicate_keys(info, expr=expr))
    is_vector = target is not None and target.is_vector
    kind = EXACT_VECTOR if is_vector else EXACT_FIELD
    expr = validate_filter(info, expr)
    pk = info.primary.name
    timer = Timer()
    total = yield from _scope(info, expr)
    seen: dict[bytes, Any] = {}
    dupes: dict[bytes, list[Any]] = {}
    as_of = yield from read_point()
    cursor = None
    done = 0
    while True:
        rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=[pk, field_name],
                                     consistency_level="Strong",
                                     strict_float32=target is not None and target.dtype == "FLOAT_VECTOR",
                                     guarantee_timestamp=as_of)
        if not rows:
            break
        cursor = rows[-1][pk]
        for row in rows:
            if field_name not in row or row[field_name] is None:
                continue  # missing and null values are the quality scan's, not duplicates
            h = digest(row[field_name], is_vector)
            first = seen.setdefault(h, row[pk])
            if first != row[pk]:
                dupes.setdefault(h, [first]).append(row[pk])
        done += len(rows)
        yield Progress(done, max(total, done), f"finding exact duplicates{_eta(timer, done, total)}")
    members = sorted((sorted(g, key=_sort_key) for g in dupes.values()), key=lambda g: _sort_key(g[0]))
    shown = list(fields) if fields is not None else [f for f in _text_fields(info) if f != field_name]
    if kind == EXACT_FIELD and field_name not in shown:
        shown.insert(0, field_name)
    values = yield from _fill_values(info, members, shown, None)
    groups = tuple(DuplicateGroup(kind, tuple(keys), tuple(None for _ in keys), (),
                                  tuple({f: values.get(k, {}).get(f) for f in shown} for k in keys))
                   for keys in members)
    return DuplicateReport(info.name, kind, groups, done, timer.elapsed, field=field_name, expr=expr)


# -- duplicate primary keys -----------------------------------------------------------------


def _range_expr(pk: str, low: Any, high: Any) -> str:
    if low == high:
        return f"{pk} == {exprs.literal(low)}"
    return f"{pk} >= {exprs.literal(low)} and {pk} <= {exprs.literal(high)}"


def duplicate_keys(info: CollectionInfo, *, expr: str = "") -> Op[DuplicateReport]:
    """Primary keys the collection holds more than once (module docstring: how, and what was measured)."""
    require_loaded(info)
    expr = validate_filter(info, expr)
    pk = info.primary.name
    timer = Timer()
    total = yield from _scope(info, expr)
    found: dict[Any, int] = {}
    cursor = None
    done = 0
    as_of = yield from read_point()

    def counted(keys: list[Any]) -> Op[int]:
        where = exprs.conjoin(expr, _range_expr(pk, keys[0], keys[-1]))
        n = yield Call("query", {"collection_name": info.name, "filter": where, "output_fields": ["count(*)"],
                                 **read_consistency("Strong", as_of)}, collection=info.name, expr=expr or None)
        return int(n[0]["count(*)"]) if n else 0

    def bisect(keys: list[Any], n: int) -> Op[None]:
        # ``keys`` (consecutive in key order) hold ``n`` > len(keys) entities: find which repeat.
        if len(keys) == 1:
            found[keys[0]] = n
            return
        mid = len(keys) // 2
        left = yield from counted(keys[:mid])
        if left > mid:
            yield from bisect(keys[:mid], left)
        if n - left > len(keys) - mid:
            yield from bisect(keys[mid:], n - left)

    while True:
        rows = yield from rows_after(info, cursor, expr=expr, limit=MAX_WINDOW, output_fields=[pk],
                                     consistency_level="Strong", guarantee_timestamp=as_of)
        keys = [r[pk] for r in rows]
        if not keys:
            break
        keys = list(dict.fromkeys(keys))  # a server that returned a key twice: counted below all the same
        cursor = keys[-1]
        n = yield from counted(keys)
        if n > len(keys):
            yield from bisect(keys, n)
        done += len(keys)
        yield Progress(done, max(total, done), f"checking primary keys{_eta(timer, done, total)}")
    groups = tuple(DuplicateGroup(PRIMARY_KEY, (k,), (None,), (), (), copies=c)
                   for k, c in sorted(found.items(), key=lambda kv: _sort_key(kv[0])))
    return DuplicateReport(info.name, PRIMARY_KEY, groups, done, timer.elapsed, field=pk, expr=expr)


def progress_printer(echo: Callable[[str], None]) -> Callable[[Progress], None]:
    """A CLI progress callback: one rewritten line."""
    def report(p: Progress) -> None:
        echo(f"\r{p.what}: {p.done:,}/{p.total:,}   " if p.total else f"\r{p.what}: {p.done:,}   ")

    return report


def group_json(group: DuplicateGroup, metric: str = "") -> dict[str, Any]:
    from .values import encode_row

    out: dict[str, Any] = {"size": group.size, "keys": list(group.keys)}
    if group.kind == PRIMARY_KEY:
        out["copies"] = group.copies
    if any(d is not None for d in group.distances):
        out["distances"] = list(group.distances)
        out["metric"] = metric
    if group.values:
        out["values"] = [encode_row({k: v for k, v in vals.items() if not _is_vectorish(v)}) for vals in group.values]
    return out


def _is_vectorish(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 8 and all(isinstance(v, (int, float)) for v in value)


__all__ = ["DuplicateGroup", "DuplicateReport", "KeepPolicy", "KeysFixed", "duplicate_keys", "exact_duplicates",
           "near_duplicates", "others"]
