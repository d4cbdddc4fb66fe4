"""The Milvus data layer: connections, catalog, queries, cleanup, ingest and export.

Nothing in this package imports Textual; it returns plain dataclasses, and every
operation is one generator that a sync or an async driver runs (see ``ops``). Callers use
it through ``tui.session.Session``, the one data API.
"""

from __future__ import annotations

from .catalog import CollectionInfo, EmbeddingTag, FieldInfo, IndexInfo
from .cleanup import DeletePreview, DeleteReport, RestoreReport
from .connection import MilvusConnection, ServerInfo, is_local
from ..errors import MilvusTuiError
from .export import ExportReport
from .ingest import Document, IngestReport
from .queries import Pager, QueryResult

__all__ = [
    "CollectionInfo", "DeletePreview", "DeleteReport", "Document", "EmbeddingTag", "ExportReport", "FieldInfo",
    "IndexInfo", "IngestReport", "MilvusConnection", "MilvusTuiError", "Pager", "QueryResult", "RestoreReport",
    "ServerInfo", "is_local",
]
