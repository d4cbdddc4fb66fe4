"""Entity values as JSON: what backups, exports and the detail view write.

pymilvus hands back bytes for binary/float16 vectors, int-keyed dicts for sparse
vectors and occasionally numpy scalars. ``encode_row`` makes a row JSON-safe and
``decode_row`` reverses it using the schema, so a backup restores bit-for-bit.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .catalog import CollectionInfo

_BYTES_VECTORS = {"BINARY_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR"}


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """Convert numpy scalars/arrays, bytes and nested containers to JSON types."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Vectors: a list of plain numbers needs no per-element walk (12.8M floats in a
        # 50k-row backup took ~10 s through the recursive path below).
        if all(type(v) in _SCALARS for v in value):
            return list(value) if isinstance(value, tuple) else value
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, int, float, bool)):
        try:
            return plain(value.tolist()) if hasattr(value, "tolist") else item()
        except (TypeError, ValueError):
            return str(value)
    return value


def _json_default(value: Any) -> Any:
    """``json.dumps`` hook for what JSON cannot hold natively: ``plain``'s conversions."""
    converted = plain(value)
    if converted is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return converted


def encode_row(row: dict[str, Any]) -> dict[str, Any]:
    return {str(k): plain(v) for k, v in row.items()}


def decode_row(row: dict[str, Any], info: CollectionInfo) -> dict[str, Any]:
    """Turn a JSON row (a format-1 backup line) back into what ``insert``/``upsert`` expect
    for this schema."""
    out = dict(row)
    for f in info.fields:
        if f.name not in out or out[f.name] is None:
            continue
        value = out[f.name]
        if f.dtype in _BYTES_VECTORS or f.dtype == "INT8_VECTOR":
            # Format 1 wrote byte vectors as pymilvus's query returns them, a one-item list
            # (``["<base64>"]``); pymilvus takes the raw bytes back for every byte vector type.
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
                value = value[0]
            if isinstance(value, str):
                out[f.name] = base64.b64decode(value)
        elif f.dtype == "SPARSE_FLOAT_VECTOR" and isinstance(value, dict):
            out[f.name] = {int(k): float(v) for k, v in value.items()}
    return out


def dumps(row: dict[str, Any]) -> str:
    """One row as compact JSON (backups, JSONL export): ``json.dumps(encode_row(row))``,
    with the conversions done by the C encoder's ``default`` hook instead of a Python walk
    over every value (a 50k x 256-dim backup: ~2x faster).

    NEL (U+0085) and the Unicode line and paragraph separators are escaped: JSON allows them raw,
    but ``str.splitlines()`` and many JSONL readers split lines on them, which cut a stored text
    in two (seen with an export of hostile data). They only occur inside JSON strings, so the
    replacement cannot touch the structure."""
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        text = text.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


def summarize_vector(value: Any, width: int = 4, dtype: str | None = None) -> str:
    """A short cell text for a vector: its first numbers (or bits) and its length.

    ``dtype`` is the field's Milvus type; byte vectors (binary, float16, bfloat16, int8) come
    from pymilvus as bytes in a one-item list and only the type says how to read them.
    """
    if dtype in BYTE_VECTORS or _byte_vector(value) is not None:
        numbers = vector_numbers(value, dtype) if dtype in BYTE_VECTORS else None
        if numbers is None:
            raw = _byte_vector(value)
            return f"<{len(raw) if raw is not None else '?'} bytes>"
        if dtype == "BINARY_VECTOR":
            shown = "".join(str(b) for b in numbers[: width * 4])
            return f"{shown}{'…' if len(numbers) > width * 4 else ''} ({len(numbers)} bits)"
        value = numbers
    if isinstance(value, dict):
        # The heaviest entries first: what a sparse vector (a term's weight) says about the entity.
        try:
            heaviest = sorted(((int(k), float(v)) for k, v in value.items()), key=lambda kv: (-abs(kv[1]), kv[0]))
        except (TypeError, ValueError):
            return f"<sparse, {len(value)} nonzero>"
        head = ", ".join(f"{k}: {v:.3g}" for k, v in heaviest[:width])
        return f"{{{head}{', …' if len(heaviest) > width else ''}}} ({len(heaviest)} nonzero)"
    try:
        items = list(value)
    except TypeError:
        return str(value)
    try:
        head = ", ".join(f"{x:d}" if isinstance(x, int) else f"{float(x):.3f}" for x in items[:width])
    except (TypeError, ValueError):  # not numbers after all: show what it is, never fail a render
        return f"<{type(value).__name__} of {len(items)}>"
    return f"[{head}{', …' if len(items) > width else ''}] ({len(items)}d)"


# -- byte vectors for people: display, --json and export -------------------------------------

#: Vector types pymilvus hands back as raw bytes (in a one-item list).
BYTE_VECTORS = frozenset({*_BYTES_VECTORS, "INT8_VECTOR"})


def vector_types(info: CollectionInfo) -> dict[str, str]:
    """Field name -> Milvus type for the byte vector fields: what ``json_row`` needs to know."""
    return {f.name: f.dtype for f in info.fields if f.dtype in BYTE_VECTORS}


def _byte_vector(value: Any) -> bytes | None:
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]  # pymilvus's query and search wrap each byte vector in a one-item list
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


def vector_numbers(value: Any, dtype: str | None) -> list[int] | list[float] | None:
    """A byte vector as one number per dimension: 0/1 bits for a binary vector (the first
    byte's highest bit first, as ``numpy.packbits`` packs them), floats for float16 and
    bfloat16, ints for int8. None when ``value`` is not a byte vector of that type."""
    if dtype not in BYTE_VECTORS or value is None:
        return None
    import numpy as np

    raw = _byte_vector(value)
    if raw is None:
        tobytes = getattr(value, "tobytes", None)  # a numpy array, as some pymilvus paths give
        if not callable(tobytes):
            return None
        if dtype == "FLOAT16_VECTOR" or dtype == "INT8_VECTOR":
            return np.asarray(value).tolist()
        raw = tobytes()
    if dtype == "BINARY_VECTOR":
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).tolist()
    if dtype == "INT8_VECTOR":
        return np.frombuffer(raw, dtype=np.int8).tolist()
    if len(raw) % 2:
        return None
    if dtype == "FLOAT16_VECTOR":
        return np.frombuffer(raw, dtype="<f2").astype(np.float64).tolist()
    # bfloat16 is the upper half of a float32: shift it back into place (numpy has no bfloat16).
    halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return halves.view(np.float32).astype(np.float64).tolist()


def json_row(row: dict[str, Any], types: dict[str, str] | None = None) -> dict[str, Any]:
    """A row as JSON types for people and other tools (``--json``, export, the detail view):
    ``encode_row``, except that byte vectors (``types`` from ``vector_types``) become one
    number per dimension instead of pymilvus's ``["<base64>"]``."""
    out = encode_row(row)
    for name, dtype in (types or {}).items():
        numbers = vector_numbers(row.get(name), dtype)
        if numbers is not None:
            out[name] = numbers
    return out


# -- backup format 2: dense vectors packed as base64 -----------------------------------------

#: How a backup (format 2) stores a dense vector field, by the field's Milvus type. Float
#: vectors as JSON numbers cost ~0.5 µs per float to write and 4-5x the bytes; packed, they are
#: bit-exact and ~4x smaller than float text. Byte vectors (binary, float16, bfloat16, int8) are
#: already bytes; format 1 wrote them as pymilvus returns them, ``["<base64>"]``.
FLOAT32_BASE64 = "float32-le-base64"
BYTES_BASE64 = "bytes-base64"
_PACKINGS = {"FLOAT_VECTOR": FLOAT32_BASE64, **{t: BYTES_BASE64 for t in (*_BYTES_VECTORS, "INT8_VECTOR")}}


def vector_packing(info: CollectionInfo) -> dict[str, str]:
    """Field name -> packing for every dense vector field of the schema (sparse vectors stay
    JSON objects: their values are exact as JSON numbers and they are small)."""
    return {f.name: _PACKINGS[f.dtype] for f in info.fields if f.dtype in _PACKINGS}


def _vector_bytes(value: Any, packing: str) -> bytes:
    if packing == FLOAT32_BASE64:
        import numpy as np

        return np.asarray(value, dtype="<f4").tobytes()
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]  # pymilvus's query wraps each byte vector in a one-item list
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    tobytes = getattr(value, "tobytes", None)  # a numpy array (float16, int8, ...)
    if callable(tobytes):
        return tobytes()
    raise TypeError(f"a {type(value).__name__} is not a byte vector")


def pack_line(row: dict[str, Any], packing: dict[str, str]) -> str:
    """One backup line (format 2): ``dumps`` of the row with its dense vectors packed."""
    row = dict(row)
    for name, how in packing.items():
        value = row.get(name)
        if value is not None:
            row[name] = base64.b64encode(_vector_bytes(value, how)).decode("ascii")
    return dumps(row)


def unpack_row(row: dict[str, Any], packing: dict[str, str]) -> dict[str, Any]:
    """A format-2 line's row as ``insert``/``upsert`` take it: float vectors as float32 arrays,
    byte vectors as bytes. Raises ValueError on a value that is not what ``packing`` says."""
    import numpy as np

    out = dict(row)
    for name, how in packing.items():
        value = out.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"field '{name}' should hold base64 text, not {type(value).__name__}")
        raw = base64.b64decode(value, validate=True)
        if how == FLOAT32_BASE64:
            if len(raw) % 4:
                raise ValueError(f"field '{name}' holds {len(raw)} bytes, not whole float32 values")
            out[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False)
        elif how == BYTES_BASE64:
            out[name] = raw
        else:
            raise ValueError(f"field '{name}' has an unknown packing '{how}'")
    return out
