"""The data-quality scan: one pass over a collection, a list of findings, each linked to its rows.

The scan reads every entity once, in primary-key order with a cursor (``pk > last``), a batch
at a time (all fields), so memory holds one batch, the counters, and up to ``KEYS_MAX`` keys per
finding (the rows a finding links to; its count is always exact). It reports:

- zero vectors, and vectors holding NaN or infinity (dense float fields). Measured: Milvus Lite
  3.2.2 accepts NaN and infinity in a FLOAT_VECTOR; Go Milvus 2.3.5 refuses them ("value 'NaN'
  is not a number or infinity"); both accept zero vectors;
- vectors that are not unit length on a COSINE or IP field. It matters for IP (a score grows with
  the vector's length, so a long vector outranks a closer one); COSINE normalises both sides, so
  search results do not change, and the finding is marked as not mattering there;
- empty or whitespace-only text in VARCHAR fields, and values longer than the field's
  ``max_length`` in UTF-8 bytes (servers refuse those on insert, measured on Lite 3.2.2; the check
  is there for data written by other means);
- nulls per field, and for every dynamic-field key how many entities carry it (the rest miss it);
- JSON values (JSON fields and dynamic keys) whose type varies: a key holding numbers in most
  entities and text in a few links the few;
- with ``duplicates``: exact duplicate vectors and texts (hashes, ``tui.milvus.duplicates``) and
  duplicate primary keys. Its rows are every member but the first of each group, so deleting
  them keeps one per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .catalog import CollectionInfo, count, require_loaded
from . import duplicates as dups
from .ops import Op, Progress, Timer
from .queries import read_point, rows_after, validate_filter
from .values import vector_numbers

#: Keys kept per finding (the count stays exact beyond it).
KEYS_MAX = 10_000
DEFAULT_BATCH = 500
#: How far from 1.0 a vector's length may be and still count as unit length.
UNIT_TOLERANCE = 1e-3
_NUMERIC_VECTORS = ("FLOAT_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR")

ZERO = "zero_vector"
NON_FINITE = "nan_or_inf_vector"
NOT_UNIT = "not_unit_length"
EMPTY_TEXT = "empty_text"
TOO_LONG = "over_max_length"
NULL = "null"
MISSING_KEY = "missing_dynamic_key"
JSON_TYPE = "json_type_varies"
DUP_VECTOR = "duplicate_vector"
DUP_TEXT = "duplicate_text"
DUP_KEY = "duplicate_primary_key"


@dataclass
class Finding:
    """One kind of problem in one field: how many entities, which (up to ``KEYS_MAX``), and why."""

    check: str
    field: str
    count: int = 0
    keys: list[Any] = field(default_factory=list)
    detail: str = ""
    #: False where the problem does not change what Milvus returns (non-unit on COSINE).
    matters: bool = True

    def add(self, key: Any) -> None:
        self.count += 1
        if len(self.keys) < KEYS_MAX:
            self.keys.append(key)

    @property
    def complete(self) -> bool:
        """Whether ``keys`` lists every entity of the finding."""
        return len(self.keys) == self.count

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "field": self.field, "count": self.count, "detail": self.detail,
                "matters": self.matters, "keys": list(self.keys), "keys_complete": self.complete}


@dataclass(frozen=True)
class QualityReport:
    collection: str
    scanned: int
    findings: tuple[Finding, ...]
    #: dynamic-field key -> how many entities carry it
    dynamic_keys: dict[str, int]
    #: field -> nulls, for every scalar field that holds any
    nulls: dict[str, int]
    elapsed: float
    expr: str = ""
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "scanned": self.scanned, "filter": self.expr,
                "elapsed": round(self.elapsed, 3), "dynamic_keys": self.dynamic_keys, "nulls": self.nulls,
                "findings": [f.as_dict() for f in self.findings], "warnings": list(self.warnings)}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Types:
    """Per JSON key: the entities of each type seen (capped), to link the unusual ones."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], dict[str, Finding]] = {}

    def add(self, fld: str, key: str, value: Any, pk: Any) -> None:
        kinds = self.by_key.setdefault((fld, key), {})
        name = _type_name(value)
        if name == "null":
            return
        kinds.setdefault(name, Finding(JSON_TYPE, f"{fld}.{key}" if fld else key)).add(pk)

    def findings(self) -> list[Finding]:
        out = []
        for (fld, key), kinds in self.by_key.items():
            if len(kinds) < 2:
                continue
            usual = max(kinds.values(), key=lambda f: f.count)
            usual_type = next(t for t, f in kinds.items() if f is usual)
            for type_name, found in kinds.items():
                if found is usual:
                    continue
                where = f"JSON field '{fld}'" if fld else "the dynamic field"
                found.detail = (f"key '{key}' in {where} holds {type_name} here, {usual_type} in "
                                f"{usual.count:,} other entities")
                out.append(found)
        return out


def scan(info: CollectionInfo, *, expr: str = "", duplicates: bool = False,
         batch_size: int = DEFAULT_BATCH) -> Op[QualityReport]:
    """One streaming pass over ``info`` (or a filter); the module docstring lists the checks."""
    import numpy as np

    require_loaded(info)
    expr = validate_filter(info, expr)
    pk = info.primary.name
    timer = Timer()
    total = int((yield from count(info.name, expr)))
    schema = set(info.field_names)
    leave_out = set(info.function_outputs)
    dense = [f for f in info.fields if f.dtype in _NUMERIC_VECTORS and f.name not in leave_out]
    texts = [f for f in info.fields if f.dtype in ("VARCHAR", "STRING")]
    jsons = [f.name for f in info.fields if f.dtype == "JSON"]
    scalars = [f for f in info.fields if not f.is_vector]
    metrics = {f.name: ((info.index_for(f.name).metric_type or "").upper() if info.index_for(f.name) else "")
               for f in dense}

    findings: dict[tuple[str, str], Finding] = {}

    def finding(check: str, name: str, detail: str, matters: bool = True) -> Finding:
        return findings.setdefault((check, name), Finding(check, name, detail=detail, matters=matters))

    nulls: dict[str, int] = {}
    dynamic_count: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    missing: dict[str, Finding] = {}
    prefix: list[Any] = []  # the first KEYS_MAX keys: who missed a key before it first appeared
    types = _Types()
    hashes: dict[str, tuple[dict[bytes, Any], set[bytes]]] = {}
    dup_fields = []
    dense_names = {f.name for f in dense}
    if duplicates:
        dup_fields = [f.name for f in dense[:1]] + [f.name for f in texts if not f.is_primary][:1]
        hashes = {name: ({}, set()) for name in dup_fields}
    scanned = 0
    cursor = None
    as_of = yield from read_point()  # one timestamp for every page (see tui/milvus/duplicates.py)
    while True:
        rows = yield from rows_after(info, cursor, expr=expr, limit=batch_size, output_fields=["*"],
                                     consistency_level="Strong", strict_float32=any(
                                         f.dtype == "FLOAT_VECTOR" for f in dense), guarantee_timestamp=as_of)
        if not rows:
            break
        cursor = rows[-1][pk]
        keys = [r[pk] for r in rows]
        for f in dense:
            vectors = [r.get(f.name) for r in rows]
            present = [(k, v) for k, v in zip(keys, vectors) if v is not None]
            if not present:
                continue
            if f.dtype != "FLOAT_VECTOR":
                present = [(k, vector_numbers(v, f.dtype)) for k, v in present]
                present = [(k, v) for k, v in present if v is not None]
            matrix = np.asarray([v for _, v in present], dtype=np.float64)
            if matrix.ndim != 2:
                continue
            with np.errstate(invalid="ignore", over="ignore"):
                finite = np.isfinite(matrix).all(axis=1)
                zero = finite & (matrix == 0).all(axis=1)
                norms = np.sqrt((matrix * matrix).sum(axis=1))
            for i, (k, _) in enumerate(present):
                if not finite[i]:
                    finding(NON_FINITE, f.name, "vector holds NaN or infinity").add(k)
                elif zero[i]:
                    finding(ZERO, f.name, "vector is all zeros (no direction: COSINE is undefined, "
                                          "it matches nothing meaningfully)").add(k)
                elif metrics[f.name] in ("COSINE", "IP") and abs(norms[i] - 1.0) > UNIT_TOLERANCE:
                    if metrics[f.name] == "IP":
                        why, matters = "not unit length on an IP field: its scores grow with its length", True
                    else:
                        why, matters = ("not unit length on a COSINE field: COSINE normalises, so search "
                                        "results do not change (it matters if the metric becomes IP)"), False
                    finding(NOT_UNIT, f.name, why, matters).add(k)
        for row, key in zip(rows, keys):
            for f in texts:
                value = row.get(f.name)
                if isinstance(value, str):
                    if not value.strip():
                        finding(EMPTY_TEXT, f.name, "empty or whitespace-only text").add(key)
                    if f.max_length and len(value.encode("utf-8", "surrogatepass")) > f.max_length:
                        finding(TOO_LONG, f.name, f"longer than max_length {f.max_length} (UTF-8 bytes)").add(key)
            for f in scalars:
                if f.name in row and row[f.name] is None:
                    nulls[f.name] = nulls.get(f.name, 0) + 1
                    finding(NULL, f.name, "null").add(key)
            for name in jsons:
                value = row.get(name)
                if isinstance(value, dict):
                    for k, v in value.items():
                        types.add(name, str(k), v, key)
            if info.enable_dynamic_field:
                extra = [k for k in row if k not in schema and k != "$meta"]
                for k in extra:
                    if k not in dynamic_count:
                        first_seen[k] = scanned
                        missing[k] = Finding(MISSING_KEY, k, count=scanned, keys=list(prefix[:scanned]))
                    dynamic_count[k] = dynamic_count.get(k, 0) + 1
                    types.add("", k, row[k], key)
                held = set(extra)
                for k, gap in missing.items():
                    if k not in held:
                        gap.add(key)
            for name in dup_fields:
                value = row.get(name)
                if value is None:
                    continue
                seen, dupes = hashes[name]
                h = dups.digest(value, name in dense_names)
                if h in seen and seen[h] != key:
                    dupes.add(h)
                    finding(DUP_VECTOR if name in dense_names else DUP_TEXT, name,
                            "same value as an entity with a smaller primary key (deleting these keeps one per group)"
                            ).add(key)
                else:
                    seen.setdefault(h, key)
            if len(prefix) < KEYS_MAX:
                prefix.append(key)
            scanned += 1
        yield Progress(scanned, max(total, scanned), f"scanning{dups._eta(timer, scanned, total)}")
    for k, gap in missing.items():
        if gap.count:
            gap.detail = f"dynamic key '{k}' is missing here (present in {dynamic_count[k]:,} of {scanned:,})"
            findings[(MISSING_KEY, k)] = gap
    for found in types.findings():
        findings[(JSON_TYPE, found.field + ":" + found.detail)] = found
    warnings: list[str] = []
    if duplicates:
        report = yield from dups.duplicate_keys(info, expr=expr)
        if report.groups:
            dup = finding(DUP_KEY, pk, "primary key stored more than once (keep one: milvus-tui duplicates "
                                       f"{info.name} --primary-keys --yes)")
            for group in report.groups:
                dup.count += group.copies - 1
                if len(dup.keys) < KEYS_MAX:
                    dup.keys.append(group.keys[0])
    order = [ZERO, NON_FINITE, NOT_UNIT, EMPTY_TEXT, TOO_LONG, NULL, MISSING_KEY, JSON_TYPE, DUP_KEY, DUP_VECTOR,
             DUP_TEXT]
    ordered = sorted((f for f in findings.values() if f.count), key=lambda f: (order.index(f.check), f.field))
    if any(not f.complete for f in ordered):
        warnings.append(f"Findings with more than {KEYS_MAX:,} entities link the first {KEYS_MAX:,}; "
                        f"their counts are exact.")
    return QualityReport(info.name, scanned, tuple(ordered), dict(sorted(dynamic_count.items())), nulls,
                         timer.elapsed, expr, tuple(warnings))


def describe_check(check: str) -> str:
    return check.replace("_", " ")


__all__ = ["Finding", "QualityReport", "scan", "math"]
