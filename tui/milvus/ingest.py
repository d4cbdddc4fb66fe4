"""Adding documents: read JSONL, CSV or plain text, embed in batches, insert, flush.

A collection we create records which embedding provider, model and dimension built it
(the ``milvus_tui.embedding`` property) so later searches can warn about a mismatch.
We flush at the end because Milvus Lite is slow to search unflushed data.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import EMBEDDING_PROPERTY, CollectionInfo, EmbeddingTag, FieldInfo, describe
from ..errors import Cancelled, InvalidInput, MilvusTuiError, NotFound, NotSupported
from .ops import Blocking, Call, Embed, Op, Progress, Timer

TEXT_KEYS = ("text", "content", "page_content", "document", "body")
#: Keys that carry the user's own key for a document, in order of preference: ``id`` (ours and
#: most exports), ``pk`` (langchain-milvus's default primary field), ``_id`` (MongoDB exports).
KEY_NAMES = ("id", "pk", "_id")
#: Milvus's limit for a VARCHAR field's max_length (and our text field's).
MAX_TEXT = 65535
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: More than this share of control characters (other than tab, newline, CR, FF) means binary.
CONTROL_RATIO = 0.3
_SNIFF_CHUNK = 1 << 20


@dataclass
class Document:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: Any = None
    #: the record's key that held ``id`` ("id", "pk" or "_id"); None when code set it.
    id_key: str | None = field(default=None, compare=False)
    #: where the document came from ("docs.jsonl:12"), for messages.
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class ExtraField:
    """A typed scalar field for a collection we create (others land in the dynamic field)."""

    name: str
    dtype: str  # "VARCHAR", "INT64", "DOUBLE", "BOOL", "JSON", "ARRAY"
    max_length: int | None = None
    element_type: str | None = None
    max_capacity: int | None = None
    nullable: bool = False


@dataclass(frozen=True)
class KeyPlan:
    """The primary key, and what happens to the documents' own keys (``id``/``pk``/``_id``)."""

    primary: str
    dtype: str  # "INT64" or "VARCHAR"
    auto_id: bool
    max_length: int | None = None
    #: "primary key": the documents' keys are the primary key (written with upsert, so a re-run
    #: replaces rather than duplicates); "field": kept in the field ``kept_as``; "dropped":
    #: there was nowhere to keep them; "": the documents carry no keys.
    user_keys: str = ""
    kept_as: str | None = None
    reason: str = ""

    @property
    def upsert(self) -> bool:
        return not self.auto_id

    def sentence(self) -> str:
        if self.user_keys == "primary key":
            return f"Your keys are the primary key '{self.primary}' ({self.dtype}); a re-run replaces, not duplicates."
        if self.user_keys == "field":
            return (f"Your keys are kept in the field '{self.kept_as}'; the primary key '{self.primary}' "
                    f"is assigned by Milvus (auto_id), because {self.reason}.")
        if self.user_keys == "dropped":
            return f"Your keys were not stored, because {self.reason}."
        return f"Primary key '{self.primary}' is assigned by Milvus (auto_id)." if self.auto_id else ""

    def as_dict(self) -> dict[str, Any]:
        return {"primary_key": self.primary, "type": self.dtype, "auto_id": self.auto_id,
                "user_keys": self.user_keys or None, "kept_as": self.kept_as, "reason": self.reason or None}


@dataclass(frozen=True)
class IngestReport:
    collection: str
    inserted: int
    created: bool
    elapsed: float
    skipped_keys: tuple[str, ...] = ()
    keys: KeyPlan | None = None
    #: documents passed over at the start (a resumed run).
    skipped_documents: int = 0


class IngestInterrupted(MilvusTuiError):
    """The server refused a batch after earlier batches were committed; says how many were."""

    def __init__(self, message: str, committed: int, cause: MilvusTuiError) -> None:
        super().__init__(message)
        self.committed = committed
        self.exit_code = cause.exit_code


class IngestStopped(Cancelled):
    """The user stopped an ingest (ctrl+c, SIGTERM, a cancel): exactly how many documents
    were committed, and how to continue."""

    def __init__(self, message: str, *, collection: str, committed: int, in_flight: int, skip: int,
                 created: bool) -> None:
        super().__init__(message)
        self.collection = collection
        self.committed = committed
        #: documents of an insert sent but not answered (a second ctrl+c): the server may keep them.
        self.in_flight = in_flight
        self.skip = skip
        self.created = created


@dataclass
class _Progress:
    """What an ingest has done so far, read when it is stopped."""

    committed: int = 0
    in_flight: int = 0
    created: bool = False
    plan: KeyPlan | None = None


# Plain decimal numbers only. Python's int()/float() also accept "nan", "inf", "1_000"
# and "007", which turned a CSV name "Nan" into NaN (stored as null) and zip code
# "02134" into 2134; those stay strings.
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _number(value: str) -> Any:
    text = value.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return value


def check_text_file(path: Path) -> None:
    """Refuse a file that is not text: a binary file named ``.txt`` was ingested as garbage.

    NUL bytes, bytes that are not UTF-8, or mostly control characters mean binary.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = chars = controls = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_SNIFF_CHUNK):
                nul = chunk.find(b"\0")
                if nul >= 0:
                    raise InvalidInput(f"{path} is a binary file, not text (a NUL byte at byte {offset + nul}); "
                                       "ingest reads UTF-8 JSONL, CSV or plain text.")
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise InvalidInput(f"{path} is not UTF-8 text ({exc.reason} at byte {offset + exc.start}); "
                                       "ingest reads UTF-8 JSONL, CSV or plain text.") from None
                offset += len(chunk)
                chars += len(text)
                controls += sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f") or 0x7F <= ord(c) <= 0x9F)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise InvalidInput(f"{path} is not UTF-8 text (it ends inside a character).") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if chars and controls / chars > CONTROL_RATIO:
        raise InvalidInput(f"{path} is a binary file, not text ({controls} of {chars} characters are control "
                           "characters); ingest reads UTF-8 JSONL, CSV or plain text.")


def read_documents(path: Path, *, text_key: str | None = None, fmt: str | None = None) -> Iterator[Document]:
    """Documents from a .jsonl, .csv, .parquet or plain-text file (paragraphs separated by blank
    lines). A Parquet file read here has a text column and no vectors (see ``parquet_ingest``)."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if not path.exists():
        raise NotFound(f"File {path} does not exist.")
    if fmt in ("parquet", "pq"):
        yield from _read_parquet_documents(path, text_key)
        return
    if path.is_file():
        check_text_file(path)
    try:
        yield from _read_documents(path, text_key, fmt)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None


class DocumentFile:
    """A file's documents that can be read more than once: ingest reads the whole file to
    check it before inserting anything, then again to insert, so memory stays one batch."""

    def __init__(self, path: Path, *, text_key: str | None = None, fmt: str | None = None) -> None:
        self.path = path
        self.text_key = text_key
        self.fmt = fmt

    def __iter__(self) -> Iterator[Document]:
        return read_documents(self.path, text_key=self.text_key, fmt=self.fmt)


def _read_documents(path: Path, text_key: str | None, fmt: str) -> Iterator[Document]:
    if fmt in ("jsonl", "ndjson", "json"):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise InvalidInput(f"{path}:{number} is not valid JSON: {exc}") from None
                if not isinstance(record, dict):
                    raise InvalidInput(f"{path}:{number} is not a JSON object.")
                yield _document(record, text_key, f"{path}:{number}")
    elif fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            for number, record in enumerate(csv.DictReader(handle), 2):
                typed = {k: _number(v) if isinstance(v, str) else v for k, v in record.items() if k}
                yield _document(typed, text_key, f"{path}:{number}")
    else:
        text = path.read_text(encoding="utf-8")
        chunks = [c.strip() for c in text.split("\n\n") if c.strip()]
        for i, chunk in enumerate(chunks):
            yield Document(chunk, {"source": path.name, "chunk": i}, where=f"{path} (paragraph {i + 1})")


def _read_parquet_documents(path: Path, text_key: str | None) -> Iterator[Document]:
    from .parquet import DYNAMIC_COLUMN, PARTITION_COLUMN, _plain, open_source

    source = open_source(path)
    number = 0
    for batch in source.batches():
        for record in batch.to_pylist():
            number += 1
            where = f"{path} (row {number})"
            try:
                plain = {k: _plain(v) for k, v in record.items() if k != PARTITION_COLUMN and v is not None}
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            meta = plain.pop(DYNAMIC_COLUMN, None)
            if isinstance(meta, str):
                plain = {**json.loads(meta), **plain}
            yield _document(plain, text_key, where)


def _document(record: dict[str, Any], text_key: str | None, where: str) -> Document:
    keys = (text_key,) if text_key else TEXT_KEYS
    for key in keys:
        if key in record:
            text = record.pop(key)
            break
    else:
        raise InvalidInput(f"{where} has no text field (looked for {', '.join(keys)}).")
    if text is None or isinstance(text, (dict, list)):
        raise InvalidInput(f"{where}: the text ('{key}') is {'null' if text is None else 'not a string'}.")
    meta = record.pop("metadata", None)
    if isinstance(meta, dict):
        record = {**meta, **record}
    for id_key in KEY_NAMES:
        if id_key in record:
            return Document(str(text), record, record.pop(id_key), id_key=id_key, where=where)
    return Document(str(text), record, None, where=where)


# -- checking a whole file before inserting ------------------------------------------------


def _where(doc: Document, index: int) -> str:
    return doc.where or f"document {index + 1}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


@dataclass
class _Survey:
    count: int = 0
    with_key: int = 0
    key_names: set[str] = field(default_factory=set)
    meta_keys: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    seen: dict[Any, str] = field(default_factory=dict)
    duplicate: str = ""
    out_of_range: str = ""
    longest_key: int = 0  # UTF-8 bytes: the Go server measures VARCHAR in bytes
    first_missing: str = ""


def _survey(docs: Iterable[Document]) -> _Survey:
    """One pass over every document: the file parses, and what its keys look like."""
    s = _Survey()
    for i, doc in enumerate(docs):
        s.count += 1
        s.meta_keys.update(doc.metadata)
        if doc.id is None:
            s.first_missing = s.first_missing or _where(doc, i)
            continue
        s.with_key += 1
        if doc.id_key:
            s.key_names.add(doc.id_key)
        kind = _kind(doc.id)
        s.kinds.add(kind)
        if kind == "int" and not INT64_MIN <= doc.id <= INT64_MAX and not s.out_of_range:
            s.out_of_range = f"{doc.id} at {_where(doc, i)} is outside INT64"
        if kind == "str":
            s.longest_key = max(s.longest_key, len(doc.id.encode("utf-8")))
        if kind in ("int", "str") and not s.duplicate:
            first = s.seen.setdefault(doc.id, _where(doc, i))
            if first != _where(doc, i):
                s.duplicate = f"the key {doc.id!r} appears at {first} and at {_where(doc, i)}"
    return s


def _why_not_primary(s: _Survey) -> str:
    if s.with_key < s.count:
        return f"{s.count - s.with_key} of {s.count} documents have no key (first: {s.first_missing})"
    if len(s.key_names) > 1:
        return f"the documents use different key names ({', '.join(sorted(s.key_names))})"
    if len(s.kinds) > 1 or not s.kinds <= {"int", "str"}:
        return f"the keys are of mixed or unusable types ({', '.join(sorted(s.kinds))}); a primary key is INT64 or VARCHAR"
    if s.out_of_range:
        return s.out_of_range
    if s.duplicate:
        return s.duplicate
    if s.longest_key > MAX_TEXT:
        return f"a key is {s.longest_key} bytes long; a VARCHAR primary key holds at most {MAX_TEXT}"
    return ""


def _new_plan(s: _Survey, auto_id: bool | None) -> KeyPlan:
    """The primary key of a collection we create for these documents."""
    key = next(iter(s.key_names), "id")
    reason = _why_not_primary(s) if s.with_key else ""
    if auto_id is False:
        if reason:
            raise InvalidInput(f"The documents' keys cannot be the primary key: {reason}.")
        dtype = "VARCHAR" if s.kinds == {"str"} else "INT64"
        return _key_plan(key, dtype, s)
    if s.with_key and not reason and auto_id is None:
        return _key_plan(key, "VARCHAR" if s.kinds == {"str"} else "INT64", s)
    taken = s.key_names | s.meta_keys
    primary = next(n for n in ("id", "pk", "auto_pk", "milvus_pk") if n not in taken)
    if not s.with_key:
        return KeyPlan(primary, "INT64", True)
    reason = reason or "auto_id was asked for"
    if len(s.key_names) > 1:  # keep each under its own name
        return KeyPlan(primary, "INT64", True, user_keys="field", kept_as=", ".join(sorted(s.key_names)), reason=reason)
    return KeyPlan(primary, "INT64", True, user_keys="field", kept_as=key, reason=reason)


def _key_plan(key: str, dtype: str, s: _Survey) -> KeyPlan:
    length = min(MAX_TEXT, max(256, 2 * s.longest_key)) if dtype == "VARCHAR" else None
    return KeyPlan(key, dtype, False, max_length=length, user_keys="primary key")


def _existing_plan(s: _Survey, info: CollectionInfo) -> KeyPlan:
    """Follow an existing collection's schema."""
    pk = info.primary
    base = dict(primary=pk.name, dtype=pk.dtype, auto_id=pk.auto_id, max_length=pk.max_length)
    if not pk.auto_id:
        return KeyPlan(**base, user_keys="primary key" if s.with_key else "")
    if not s.with_key:
        return KeyPlan(**base)
    names = s.key_names or {"id"}
    keepable = [n for n in names if n != pk.name and (n in info.field_names or info.enable_dynamic_field)]
    if keepable and len(keepable) == len(names):
        return KeyPlan(**base, user_keys="field", kept_as=", ".join(sorted(keepable)),
                       reason=f"'{info.name}' assigns its primary key '{pk.name}' itself (auto_id)")
    return KeyPlan(**base, user_keys="dropped",
                   reason=f"'{info.name}' assigns its primary key '{pk.name}' itself (auto_id) and has no "
                          f"other field for {', '.join(sorted(names))}")


def _planned_info(name: str, plan: KeyPlan, extra: Iterable[ExtraField]) -> CollectionInfo:
    fields = [FieldInfo(plan.primary, plan.dtype, is_primary=True, auto_id=plan.auto_id, max_length=plan.max_length),
              FieldInfo("text", "VARCHAR", max_length=MAX_TEXT), FieldInfo("vector", "FLOAT_VECTOR")]
    fields += [FieldInfo(f.name, f.dtype, nullable=f.nullable, max_length=f.max_length, element_type=f.element_type)
               for f in extra]
    return CollectionInfo(name, "", tuple(fields), enable_dynamic_field=True)


_INT_RANGES = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}


def _check_value(where: str, f: FieldInfo, value: Any) -> None:
    """What Milvus would refuse for this field, said before anything is inserted."""
    if value is None:
        if not f.nullable and not f.has_default:
            raise InvalidInput(f"{where}: field '{f.name}' is null, and the field is not nullable.")
        return
    kind = _kind(value)
    bad = ""
    if f.dtype == "VARCHAR":
        if kind != "str":
            bad = f"a {kind}, but the field is VARCHAR"
        elif len(value) > (f.max_length or MAX_TEXT):
            bad = f"{len(value)} characters long; its max_length is {f.max_length or MAX_TEXT}"
    elif f.dtype in _INT_RANGES:
        bits = _INT_RANGES[f.dtype]
        if kind != "int":
            bad = f"a {kind}, but the field is {f.dtype}"
        elif not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            bad = f"{value}, outside {f.dtype}"
    elif f.dtype in ("FLOAT", "DOUBLE"):
        if kind not in ("int", "float"):
            bad = f"a {kind}, but the field is {f.dtype}"
    elif f.dtype == "BOOL":
        if kind != "bool":
            bad = f"a {kind}, but the field is BOOL"
    elif f.dtype == "ARRAY":
        if not isinstance(value, list):
            bad = f"a {kind}, but the field is an ARRAY"
        elif f.element_type == "VARCHAR" and f.max_length and any(
                isinstance(v, str) and len(v) > f.max_length for v in value):
            bad = f"an array with a string longer than its max_length {f.max_length}"
    if bad:
        raise InvalidInput(f"{where}: field '{f.name}' is {bad}.")


@dataclass
class _Target:
    """Where rows go: the schema (real or planned), its text and vector fields, the key plan."""

    info: CollectionInfo
    plan: KeyPlan
    text_field: str
    vector_field: str

    def row(self, doc: Document, where: str, skipped: set[str]) -> dict[str, Any]:
        """The row for ``doc`` without its vector; raises InvalidInput for what Milvus would refuse."""
        info, plan = self.info, self.plan
        by_name = {f.name: f for f in info.fields}
        row: dict[str, Any] = {}
        _check_value(where, by_name[self.text_field], doc.text)
        row[self.text_field] = doc.text
        meta = dict(doc.metadata)
        key = doc.id
        if key is None and not plan.auto_id and plan.primary in meta:
            key = meta.pop(plan.primary)
        if not plan.auto_id:
            if key is None:
                raise InvalidInput(f"{where}: collection '{info.name}' needs an explicit '{plan.primary}' "
                                   "for every document.")
            _check_value(where, by_name[plan.primary], key)
            row[plan.primary] = key
        elif doc.id is not None and plan.user_keys == "field":
            meta[doc.id_key or "id"] = doc.id
        for name, value in meta.items():
            f = by_name.get(name)
            if f is not None:
                if f.is_vector and name == self.vector_field:
                    given_vector(doc, name, where)  # checked now; the ingest sends it instead of embedding
                    continue
                if f.is_vector or f.is_primary:
                    skipped.add(name)
                    continue
                _check_value(where, f, value)
                row[name] = value
            elif info.enable_dynamic_field:
                row[name] = value
            else:
                skipped.add(name)
        for f in info.fields:
            if (f.name not in row and not f.is_vector and not f.is_primary and not f.nullable
                    and not f.has_default):
                raise InvalidInput(f"{where}: field '{f.name}' is missing, and the field is not nullable.")
        return row


def given_vector(doc: Document, field: str, where: str) -> list[float] | None:
    """The dense vector a record carries under the vector field's name (None: embed its text)."""
    value = doc.metadata.get(field)
    if value is None:
        return None
    if (not isinstance(value, list) or not value
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
        raise InvalidInput(f"{where}: '{field}' holds the vector, so it must be a list of numbers.")
    floats = [float(x) for x in value]
    if not all(math.isfinite(x) for x in floats):
        raise InvalidInput(f"{where}: '{field}' holds NaN or infinity, which Milvus does not store reliably.")
    return floats


def _validate(docs: Iterable[Document], target: _Target) -> tuple[int, set[str]]:
    skipped: set[str] = set()
    seen: dict[Any, str] = {}
    n = 0
    for i, doc in enumerate(docs):
        where = _where(doc, i)
        row = target.row(doc, where, skipped)
        if not target.plan.auto_id:
            key = row[target.plan.primary]
            first = seen.setdefault(key, where)
            if first != where:
                raise InvalidInput(f"The key {key!r} appears at {first} and at {where}; a primary key must be unique.")
        n += 1
    return n, skipped


#: With ``full_text``: the field a BM25 function fills from ``text`` (the server computes it).
FULL_TEXT_FIELD = "text_sparse"


def create_collection(name: str, dim: int, tag: EmbeddingTag, *, extra: Iterable[ExtraField] = (),
                      auto_id: bool = True, plan: KeyPlan | None = None, full_text: bool = False) -> Op[None]:
    """Create a collection shaped like langchain-milvus's (id, text, vector + metadata); with
    ``full_text``, also a BM25 function from ``text`` to ``text_sparse`` (full-text and hybrid
    search), with an analyzer and text match on ``text``."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    plan = plan or KeyPlan("id", "INT64", auto_id)
    schema = MilvusClient.create_schema(auto_id=plan.auto_id, enable_dynamic_field=True,
                                        description="created by milvus-tui")
    pk_kwargs: dict[str, Any] = {"max_length": plan.max_length} if plan.dtype == "VARCHAR" else {}
    schema.add_field(plan.primary, getattr(DataType, plan.dtype), is_primary=True, auto_id=plan.auto_id, **pk_kwargs)
    text_kwargs: dict[str, Any] = {"enable_analyzer": True, "enable_match": True} if full_text else {}
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT, **text_kwargs)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    if full_text:
        schema.add_field(FULL_TEXT_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                     output_field_names=[FULL_TEXT_FIELD]))
    for f in extra:
        kwargs: dict[str, Any] = {"nullable": f.nullable}
        if f.max_length:
            kwargs["max_length"] = f.max_length
        if f.element_type:
            kwargs["element_type"] = getattr(DataType, f.element_type)
        if f.max_capacity:
            kwargs["max_capacity"] = f.max_capacity
        schema.add_field(f.name, getattr(DataType, f.dtype), **kwargs)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    if full_text:
        # Milvus Lite takes BM25 only on this index (docs/BRIEF: no AUTOINDEX for BM25 there).
        index_params.add_index(FULL_TEXT_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    yield Call("create_collection", dict(
        collection_name=name, schema=schema, index_params=index_params,
        properties={EMBEDDING_PROPERTY: tag.encode()}, consistency_level="Bounded",
    ), collection=name, sync_only=True)


def _full_text_supported(wanted: bool | None) -> Op[bool]:
    """BM25 functions need Milvus 2.5+ (or Milvus Lite 3). ``wanted`` None: use them where the server
    has them; True: refuse, before anything is created, where it has not."""
    from .catalog import is_lite_version, milvus_release

    version = str((yield Call("get_server_version", sync_only=True)) or "")
    release = milvus_release(version)
    if is_lite_version(version) or (release is not None and release >= (2, 5, 0)):
        return True
    if wanted:
        raise NotSupported(f"Not supported by this server (version {version}): full-text search (a BM25 function) "
                           "needs Milvus 2.5 or later.")
    return False


def _interrupted(collection: str, exc: MilvusTuiError, committed: int, skip: int, batch: list[Document],
                 plan: KeyPlan) -> IngestInterrupted:
    first = batch[0].where or f"document {skip + committed + 1}"
    done = skip + committed
    if plan.upsert:
        rerun = "Running the same command again is safe: documents are upserted by their key."
    elif committed:
        rerun = (f"Running the same command again would add those {committed} again; to continue after them, "
                 f"skip the first {done} documents (ingest --skip {done}).")
    else:
        rerun = "Nothing was inserted, so the same command can simply be run again."
    return IngestInterrupted(
        f"{exc} (at the batch starting at {first}). {committed} documents were committed to '{collection}' "
        f"before that" + (f", after the {skip} skipped" if skip else "") + f". {rerun}", committed, exc)


def _stopped(collection: str, done: _Progress, skip: int) -> IngestStopped:
    committed, at = done.committed, skip + done.committed
    if done.in_flight:
        account = (f"{committed} documents were committed to '{collection}', and the {done.in_flight} of the "
                   f"batch under way when it stopped may be too.")
    elif committed:
        account = f"{committed} documents were committed to '{collection}'" + (
            f" (after the {skip} skipped)." if skip else ".")
    else:
        account = f"Nothing was inserted into '{collection}'."
    if done.created:
        account += f" The collection '{collection}' was created."
    if done.plan is not None and done.plan.upsert:
        rerun = " Running the same command again is safe: documents are upserted by their key."
    elif done.in_flight:
        rerun = (f" Count the collection (milvus-tui collections) before continuing: ingest --skip N, where N "
                 f"is between {at} and {at + done.in_flight}.")
    elif committed:
        rerun = f" To continue after them, skip the first {at} documents (ingest --skip {at})."
    else:
        rerun = " The same command can simply be run again."
    return IngestStopped(f"Stopped: {account}{rerun}", collection=collection, committed=committed,
                         in_flight=done.in_flight, skip=skip, created=done.created)


def ingest(collection: str, documents: Iterable[Document], tag: EmbeddingTag | None, *,
           batch_size: int = 256, extra: Iterable[ExtraField] = (), auto_id: bool | None = None,
           total: int | None = None, text_field: str | None = None, skip: int = 0,
           full_text: bool | None = False) -> Op[IngestReport]:
    """Check every document, then embed and insert them in batches, creating the collection
    when it is missing.

    Stopped (the driver closes it at a cancel between steps, or ctrl+c is thrown in while it
    waits), it raises ``IngestStopped`` with the number of documents committed: exact when
    the stop came between batches, as the CLI's first ctrl+c does.
    """
    done = _Progress()
    try:
        return (yield from _ingest(collection, documents, tag, batch_size=batch_size, extra=extra, auto_id=auto_id,
                                   total=total, text_field=text_field, skip=skip, done=done, full_text=full_text))
    except (GeneratorExit, KeyboardInterrupt):
        raise _stopped(collection, done, skip if isinstance(skip, int) else 0) from None


def _ingest(collection: str, documents: Iterable[Document], tag: EmbeddingTag | None, *,
            batch_size: int, extra: Iterable[ExtraField], auto_id: bool | None, total: int | None,
            text_field: str | None, skip: int, done: _Progress, full_text: bool | None = False) -> Op[IngestReport]:
    """Check every document, then embed and insert them in batches, creating the collection
    when it is missing.

    Nothing is written until the whole input has parsed and every row fits the schema (types,
    max_length, keys), so a bad line 1001 no longer leaves 768 rows behind. Documents that
    carry their own keys are upserted, so a re-run after a failure replaces rather than
    duplicates; a failure that still happens mid-way (the server refused a batch) raises
    ``IngestInterrupted`` stating how many documents were committed. ``auto_id`` None
    means: decide from the documents (see ``KeyPlan``); True or False forces it.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"The batch size must be a whole number of at least 1, not {batch_size!r}.")
    if not isinstance(skip, int) or skip < 0:
        raise InvalidInput(f"The number of documents to skip must be 0 or more, not {skip!r}.")
    timer = Timer()
    exists = yield Call("has_collection", {"collection_name": collection})
    info: CollectionInfo | None = (yield from describe(collection, with_count=False)) if exists else None
    docs: Iterable[Document] = documents if iter(documents) is not documents else list(documents)
    survey = yield Blocking(lambda: _survey(docs))
    if info is None:
        if tag is None:
            raise InvalidInput("Creating a collection needs an embedding model.")
        if full_text is not False:
            full_text = yield from _full_text_supported(full_text)
        plan = _new_plan(survey, auto_id)
        planned = _planned_info(collection, plan, extra)
        target = _Target(planned, plan, "text", "vector")
    else:
        plan = _existing_plan(survey, info)
        vfield = info.pick_vector_field()
        tfield = info.pick_text_field(text_field)
        if tfield is None:
            raise InvalidInput(f"Collection '{collection}' has no text field to hold documents.")
        target = _Target(info, plan, tfield.name, vfield.name)
    done.plan = plan
    count, skipped = yield Blocking(lambda: _validate(docs, target))
    if skip > count:
        raise InvalidInput(f"Cannot skip {skip} documents; the input holds {count}.")
    total = total if total is not None else count - skip
    created = False
    inserted = 0
    iterator = iter(docs)
    for _ in range(skip):
        next(iterator)
    method = "upsert" if plan.upsert else "insert"
    while True:
        batch = [d for _, d in zip(range(batch_size), iterator)]
        if not batch:
            break
        # A record that carries its vector (our own export, or planted data) is stored as given.
        given = [given_vector(d, target.vector_field, _where(d, skip + inserted + i)) for i, d in enumerate(batch)]
        needed = [d.text for d, v in zip(batch, given) if v is None]
        embedded = iter((yield Embed(needed)) if needed else [])
        vectors = [v if v is not None else next(embedded) for v in given]
        if len({len(v) for v in vectors}) > 1:
            raise InvalidInput(f"{_where(batch[0], skip + inserted)}: the vectors in this batch have different "
                               f"dimensions ({', '.join(str(n) for n in sorted({len(v) for v in vectors}))}).")
        if info is None:
            dim = len(vectors[0])
            yield from create_collection(collection, dim, EmbeddingTag(tag.provider, tag.model, dim),  # type: ignore[union-attr]
                                         extra=extra, plan=plan, full_text=bool(full_text))
            created = done.created = True
            info = yield from describe(collection, with_count=False)
            target = _Target(info, plan, "text", "vector")
        vfield = info.get_field(target.vector_field)
        if vfield.dim and len(vectors[0]) != vfield.dim:
            from ..embeddings import check_dimension

            check_dimension(vfield.dim, len(vectors[0]), vfield.name)
        rows = []
        for i, (doc, vector) in enumerate(zip(batch, vectors)):
            row = target.row(doc, _where(doc, skip + inserted + i), set())
            row[target.vector_field] = [float(x) for x in vector]
            rows.append(row)
        done.in_flight = len(rows)
        try:
            yield Call(method, {"collection_name": collection, "data": rows}, collection=collection)
        except GeneratorExit:
            # Closed at this yield: the sync driver checks for a stop before it makes the call,
            # so the batch was never sent (ctrl+c during the call arrives as KeyboardInterrupt).
            # The async driver also closes a call it cancelled, but it shows no account.
            done.in_flight = 0
            raise
        except MilvusTuiError as exc:
            done.in_flight = 0  # refused: none of the batch was written
            if isinstance(exc, Cancelled):
                raise
            raise _interrupted(collection, exc, inserted, skip, batch, plan) from exc
        done.in_flight = 0
        inserted += len(rows)
        done.committed = inserted
        yield Progress(inserted, total, "inserting")
    if inserted:
        yield Progress(inserted, total, "flushing")
        yield Call("flush", {"collection_name": collection}, collection=collection)
    return IngestReport(collection, inserted, created, timer.elapsed, tuple(sorted(skipped)), plan, skip)
