"""The Milvus data layer: connections, catalog, queries, cleanup, ingest and export.

Nothing in this package imports Textual; it returns plain dataclasses, and every
operation has a sync form and an ``a``-prefixed async form (see ``ops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import Catalog, CollectionInfo, EmbeddingTag, FieldInfo, IndexInfo
from .cleanup import Cleanup, DeletePreview, DeleteReport, RestoreReport
from .connection import MilvusConnection, ServerInfo, is_local
from .export import Exporter, ExportReport
from .ingest import Document, Ingest, IngestReport
from .queries import Pager, Queries, QueryResult

__all__ = [
    "Catalog", "Cleanup", "CollectionInfo", "DeletePreview", "DeleteReport", "Document", "EmbeddingTag",
    "Exporter", "ExportReport", "FieldInfo", "IndexInfo", "Ingest", "IngestReport", "MilvusConnection",
    "MilvusService", "Pager", "Queries", "QueryResult", "RestoreReport", "ServerInfo",
    "is_local",
]


@dataclass
class MilvusService:
    """Everything the app and the CLI use, on one connection."""

    conn: MilvusConnection
    embeddings: Any
    backup_dir: Path
    audit_path: Path

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.conn)
        self.queries = Queries(self.conn, self.embeddings)
        self.cleanup = Cleanup(self.conn, backup_dir=self.backup_dir, audit_path=self.audit_path)
        self.ingest = Ingest(self.conn, self.embeddings)
        self.exporter = Exporter(self.conn)

    def set_embeddings(self, embeddings: Any) -> None:
        self.embeddings = embeddings
        self.queries.embeddings = embeddings
        self.ingest.embeddings = embeddings
