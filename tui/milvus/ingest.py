"""Adding documents: read JSONL, CSV or plain text, embed in batches, insert, flush.

A collection we create records which embedding provider, model and dimension built it
(the ``milvus_tui.embedding`` property) so later searches can warn about a mismatch.
We flush at the end because Milvus Lite is slow to search unflushed data.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import EMBEDDING_PROPERTY, CollectionInfo, EmbeddingTag, describe
from .connection import MilvusConnection
from .errors import InvalidInput, NotFound
from .ops import Call, Context, Embed, Op, Progress, Timer

TEXT_KEYS = ("text", "content", "page_content", "document", "body")
MAX_TEXT = 65535


@dataclass
class Document:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: Any = None


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
class IngestReport:
    collection: str
    inserted: int
    created: bool
    elapsed: float
    skipped_keys: tuple[str, ...] = ()


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


def read_documents(path: Path, *, text_key: str | None = None, fmt: str | None = None) -> Iterator[Document]:
    """Documents from a .jsonl, .csv or plain-text file (paragraphs separated by blank lines)."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if not path.exists():
        raise NotFound(f"File {path} does not exist.")
    try:
        yield from _read_documents(path, text_key, fmt)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None


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
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks = [c.strip() for c in text.split("\n\n") if c.strip()]
        for i, chunk in enumerate(chunks):
            yield Document(chunk, {"source": path.name, "chunk": i})


def _document(record: dict[str, Any], text_key: str | None, where: str) -> Document:
    keys = (text_key,) if text_key else TEXT_KEYS
    for key in keys:
        if key in record:
            text = record.pop(key)
            break
    else:
        raise InvalidInput(f"{where} has no text field (looked for {', '.join(keys)}).")
    meta = record.pop("metadata", None)
    if isinstance(meta, dict):
        record = {**meta, **record}
    doc_id = record.pop("id", None)
    return Document(str(text), record, doc_id)


def create_collection(name: str, dim: int, tag: EmbeddingTag, *, extra: Iterable[ExtraField] = (),
                      auto_id: bool = True) -> Op[None]:
    """Create a collection shaped like langchain-milvus's (id, text, vector + metadata)."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=True,
                                        description="created by milvus-tui")
    schema.add_field("id", DataType.INT64, is_primary=True, auto_id=auto_id)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
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
    yield Call("create_collection", dict(
        collection_name=name, schema=schema, index_params=index_params,
        properties={EMBEDDING_PROPERTY: tag.encode()}, consistency_level="Bounded",
    ), collection=name, sync_only=True)


def _rows(docs: list[Document], vectors: list[list[float]], info: CollectionInfo, text_field: str,
          vector_field: str, skipped: set[str]) -> list[dict[str, Any]]:
    known = set(info.field_names)
    pk = info.primary
    rows = []
    for doc, vector in zip(docs, vectors):
        if len(doc.text) > MAX_TEXT:
            raise InvalidInput(f"A document is {len(doc.text)} characters long; the limit is {MAX_TEXT}.")
        row: dict[str, Any] = {text_field: doc.text, vector_field: [float(x) for x in vector]}
        if not pk.auto_id:
            if doc.id is None:
                raise InvalidInput(f"Collection '{info.name}' needs an explicit '{pk.name}' for every document.")
            row[pk.name] = doc.id
        for key, value in doc.metadata.items():
            if key in known or info.enable_dynamic_field:
                row[key] = value
            else:
                skipped.add(key)
        rows.append(row)
    return rows


def ingest(collection: str, documents: Iterable[Document], tag: EmbeddingTag | None, *,
           batch_size: int = 256, extra: Iterable[ExtraField] = (), auto_id: bool = True,
           total: int | None = None, text_field: str | None = None) -> Op[IngestReport]:
    """Embed and insert documents in batches, creating the collection when it is missing."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"The batch size must be a whole number of at least 1, not {batch_size!r}.")
    timer = Timer()
    exists = yield Call("has_collection", {"collection_name": collection})
    info: CollectionInfo | None = (yield from describe(collection, with_count=False)) if exists else None
    created = False
    inserted = 0
    skipped: set[str] = set()
    batch: list[Document] = []
    iterator = iter(documents)
    while True:
        batch = [d for _, d in zip(range(batch_size), iterator)]
        if not batch:
            break
        vectors = yield Embed([d.text for d in batch])
        if info is None:
            if tag is None:
                raise InvalidInput("Creating a collection needs an embedding model.")
            dim = len(vectors[0])
            yield from create_collection(collection, dim, EmbeddingTag(tag.provider, tag.model, dim),
                                         extra=extra, auto_id=auto_id)
            created = True
            info = yield from describe(collection, with_count=False)
        vfield = info.pick_vector_field()
        if vfield.dim and len(vectors[0]) != vfield.dim:
            from ..embeddings import check_dimension

            check_dimension(vfield.dim, len(vectors[0]), vfield.name)
        tfield = info.pick_text_field(text_field)
        if tfield is None:
            raise InvalidInput(f"Collection '{collection}' has no text field to hold documents.")
        rows = _rows(batch, vectors, info, tfield.name, vfield.name, skipped)
        yield Call("insert", {"collection_name": collection, "data": rows}, collection=collection)
        inserted += len(rows)
        yield Progress(inserted, total, "inserting")
    if inserted:
        yield Progress(inserted, total, "flushing")
        yield Call("flush", {"collection_name": collection}, collection=collection)
    return IngestReport(collection, inserted, created, timer.elapsed, tuple(sorted(skipped)))


class Ingest:
    def __init__(self, conn: MilvusConnection, embeddings: Any) -> None:
        self.conn = conn
        self.embeddings = embeddings

    def _tag(self) -> EmbeddingTag | None:
        e = self.embeddings
        return EmbeddingTag(e.provider, e.model, 0) if e is not None else None

    def ingest(self, collection: str, documents: Iterable[Document], ctx: Context | None = None,
               **kw: Any) -> IngestReport:
        ctx = ctx or Context()
        ctx.embeddings = self.embeddings
        return self.conn.run(ingest(collection, documents, self._tag(), **kw), ctx)

    async def aingest(self, collection: str, documents: Iterable[Document], ctx: Context | None = None,
                      **kw: Any) -> IngestReport:
        ctx = ctx or Context()
        ctx.embeddings = self.embeddings
        return await self.conn.arun(ingest(collection, documents, self._tag(), **kw), ctx)
