"""The one data API: a UI-free ``Session`` used by the app, the CLI, the tests and the timing engine.

A session owns one connection, its embedding model, where deletes write their backups and
audit records, and the user's state that outlives a single call: the last delete (what undo
puts back) and the log of what ran. Every intent method (``search``, ``delete``, ``undo``…)
returns an ``Operation``: a typed, not-yet-started piece of work that ``run`` drives with the
sync client (scripts, the CLI, thread workers) and ``arun`` with the async client on the
running event loop (the app's async workers). The two forms are the same generator
(``tui.milvus.ops``), so they cannot drift apart.

Three lines from Python::

    from tui.session import Session
    with Session.connect("./milvus_data", embeddings="local") as s:
        print(s.run(s.search("python_docs", "read a file line by line", k=3)).rows)

Searching needs no backup directory: a session made without one refuses a backed-up delete
instead (``backup_dir`` names where deletes put their backups).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from .loads import RememberedLoads, for_lite
from .milvus import catalog as catalog_ops
from .milvus import backups as backup_files
from .milvus import cleanup as cleanup_ops
from .milvus import drops as drop_ops
from .milvus import edit as edit_ops
from .milvus import export as export_ops
from .milvus import ingest as ingest_ops
from .milvus import queries as query_ops
from .milvus import search as search_ops
from .milvus import vectormap as map_ops
from .milvus import duplicates as dup_ops
from .milvus import quality as quality_ops
from .milvus.catalog import CollectionDetails, CollectionInfo, EmbeddingTag
from .milvus.connection import MilvusConnection
from .errors import DeleteInterrupted, EditIncomplete, InvalidInput, NotSupported, RestoreIncomplete
from .milvus.ops import Blocking, Call, Context, Op, Progress, Timer
from .milvus.queries import Pager, QueryResult

T = TypeVar("T")


class OpKind(StrEnum):
    """What an operation does: its dispatch key, its log name and (``label``) its words on screen."""

    CONNECT = "connect"
    EMBEDDINGS = "embeddings"
    CATALOG = "catalog"
    DESCRIBE = "describe"
    DETAILS = "details"
    PAGE = "page"
    FILTER = "filter"
    SEARCH = "search"
    MORE_LIKE_THIS = "more_like_this"  # the same word as ``QueryResult.kind``
    GET = "get"
    PREVIEW = "preview"
    DELETE = "delete"
    RESTORE = "restore"
    EXPORT = "export"
    INGEST = "ingest"
    LOAD = "load"
    RELEASE = "release"
    DROP = "drop"
    COUNT = "count"
    # Cleanup beyond delete: drops that can be undone and their backups (tui/milvus/drops.py,
    # backups.py), edits (edit.py), duplicates and the quality scan (duplicates.py, quality.py).
    PREVIEW_DROP = "preview_drop"
    BACKED_DROP = "backed_drop"
    BACKUPS = "backups"
    EDIT_PREVIEW = "edit_preview"
    EDIT = "edit"
    DUPLICATES = "duplicates"
    QUALITY = "quality"
    #: The vector map: read a sample's vectors and project them (tui/milvus/vectormap.py).
    MAP = "map"

    @property
    def label(self) -> str:
        """What the status line says while it runs ("deleting")."""
        return _LABELS.get(self, self.value)

    @property
    def words(self) -> str:
        """Its name in a sentence ("more like this")."""
        return self.value.replace("_", " ")

    @property
    def writes(self) -> bool:
        """Changes data: a confirmed write runs to its end, and stops only between batches."""
        return self in (OpKind.DELETE, OpKind.RESTORE, OpKind.EDIT, OpKind.BACKED_DROP)


_LABELS = {
    OpKind.MORE_LIKE_THIS: "more like this", OpKind.CATALOG: "reading collections", OpKind.PAGE: "paging", OpKind.SEARCH: "searching",
    OpKind.PREVIEW: "preparing delete", OpKind.DELETE: "deleting", OpKind.RESTORE: "restoring",
    OpKind.EXPORT: "exporting", OpKind.LOAD: "loading", OpKind.RELEASE: "releasing",
    OpKind.INGEST: "ingesting",
    OpKind.PREVIEW_DROP: "preparing drop", OpKind.BACKED_DROP: "dropping", OpKind.BACKUPS: "reading backups",
    OpKind.EDIT_PREVIEW: "preparing edit", OpKind.EDIT: "editing",
}
_LABELS[OpKind.MAP] = "mapping vectors"
_LABELS.update({OpKind.DUPLICATES: "finding duplicates", OpKind.QUALITY: "scanning"})

class ExecMode(StrEnum):
    """How an operation is driven: the async client on the event loop, or the sync one in a thread."""

    ASYNC = "async"
    SYNC = "sync"


@dataclass(frozen=True)
class CatalogSnapshot:
    """Databases, collections, and what a wanted name (a name or an alias) resolves to."""

    databases: list[str]
    collections: list[CollectionInfo]
    resolved: str | None = None


@dataclass
class Operation(Generic[T]):
    """One intent, ready to run once with ``Session.run`` or ``Session.arun``."""

    kind: OpKind
    op: Op[T]
    #: where it runs: the session's connection, or one to the database a backup names.
    conn: MilvusConnection
    #: what the status line says while it runs (defaults to the kind's label).
    label: str = ""
    #: a connection made for this operation alone, closed when it ends.
    owns_conn: bool = False
    #: background work the user did not ask for (the page-boundary fill): kept out of the log.
    quiet: bool = False

    def __post_init__(self) -> None:
        self.label = self.label or self.kind.label


@dataclass(frozen=True)
class LogEntry:
    """One finished operation, for the timing panel's log of what ran by hand."""

    time: str
    kind: OpKind
    mode: ExecMode
    ms: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "what": str(self.kind), "mode": str(self.mode), "ms": self.ms,
                "outcome": "ok" if self.ok else "failed"}


Collection = str | CollectionInfo


@dataclass
class Session:
    """One connection, its embeddings and the user's state, with every intent as a method."""

    conn: MilvusConnection
    embeddings: Any = None
    #: where deletes put their backups; None: a backed-up delete is refused (search needs none).
    backup_dir: Path | None = None
    audit_path: Path | None = None
    last_delete: cleanup_ops.DeleteReport | None = None
    #: the last edit (``undo`` puts back whichever of it and ``last_delete`` came last).
    last_edit: edit_ops.EditReport | None = None
    log: list[LogEntry] = field(default_factory=list)
    #: on the embedded default, the collections the user loaded before (Milvus Lite releases
    #: everything when its server starts): an intent given such a collection by name loads it.
    loads: RememberedLoads | None = None
    #: (endpoint, version): a reconnect may reach another server.
    _version: tuple[str, str] | None = field(default=None, repr=False)

    # -- making one ----------------------------------------------------------------------

    @classmethod
    def connect(cls, uri: str | None = None, *, embeddings: Any = None, settings: Any = None,
                **overrides: Any) -> Session:
        """Open a session from the user's settings (config file and environment), ``uri``
        and ``overrides`` on top. ``embeddings="local"`` (or "openai") loads that provider;
        a model object is used as it is."""
        from .config import load_settings, state_dir

        flags = dict(overrides, uri=uri)
        if isinstance(embeddings, str):
            flags["embedding_provider"] = embeddings
        # The same merge as the CLI's: flags over environment over config profile over defaults.
        base = settings if settings is not None else load_settings(flags)
        conn = MilvusConnection(base.uri, token=base.token, db_name=base.db_name, timeout=base.timeout)
        conn.open()
        session = cls(conn, backup_dir=base.backup_dir, audit_path=base.audit_path,
                      loads=for_lite(state_dir(), conn))
        if embeddings is not None:
            try:
                session.embeddings = _make_embeddings(base) if isinstance(embeddings, str) else embeddings
            except BaseException:
                conn.close()
                raise
        return session

    def close(self) -> None:
        self.conn.close()

    async def aclose(self) -> None:
        await self.conn.aclose()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------

    def context(self, on_progress: Callable[[Progress], None] | None = None,
                is_cancelled: Callable[[], bool] | None = None) -> Context:
        return Context(self.embeddings, on_progress, is_cancelled)

    def _ctx(self, ctx: Context | None) -> Context:
        if ctx is None:
            return self.context()
        if ctx.embeddings is None:
            ctx.embeddings = self.embeddings
        return ctx

    def run(self, operation: Operation[T], ctx: Context | None = None) -> T:
        """Drive ``operation`` with the sync client (a script, the CLI, a thread worker)."""
        timer = Timer()
        try:
            result = operation.conn.run(operation.op, self._ctx(ctx))
        except BaseException:
            self._logged(operation, ExecMode.SYNC, timer, ok=False)
            raise
        finally:
            if operation.owns_conn:
                operation.conn.close()
        self._logged(operation, ExecMode.SYNC, timer)
        return _with_mode(result, ExecMode.SYNC)

    async def arun(self, operation: Operation[T], ctx: Context | None = None) -> T:
        """Drive ``operation`` with the async client on the running event loop."""
        timer = Timer()
        try:
            result = await operation.conn.arun(operation.op, self._ctx(ctx))
        except BaseException:
            self._logged(operation, ExecMode.ASYNC, timer, ok=False)
            raise
        finally:
            if operation.owns_conn:
                await operation.conn.aclose()
                operation.conn.close()
        self._logged(operation, ExecMode.ASYNC, timer)
        return _with_mode(result, ExecMode.ASYNC)

    def _logged(self, operation: Operation[Any], mode: ExecMode, timer: Timer, ok: bool = True) -> None:
        if operation.quiet:
            return
        self.log.append(LogEntry(time.strftime("%H:%M:%S"), operation.kind, mode, timer.elapsed * 1000, ok))
        del self.log[:-1000]  # a day of browsing must not grow without bound

    def _op(self, kind: OpKind, op: Op[T], label: str = "") -> Operation[T]:
        return Operation(kind, op, self.conn, label)

    # -- the server and its catalog ------------------------------------------------------

    @property
    def server_label(self) -> str:
        """The user's URI (passwords masked) and the database, as audit records name a server."""
        return f"{self.conn.display_uri} db={self.conn.db_name}"

    @property
    def stats_exact(self) -> bool:
        # Our own Lite child: counting exactly is cheap and the user owns the server.
        return self.conn.lite is not None

    def bench_connection(self) -> dict[str, Any]:
        """How the timing engine's langchain-milvus store reaches this session's server (the same
        URI, token and database; on the embedded default, the Lite child this session started)."""
        from .timing.engine import connection_args_for

        return connection_args_for(self.conn)

    def embedding_tag(self) -> EmbeddingTag | None:
        """The model a text search embeds with, checked against the tag a collection carries."""
        e = self.embeddings
        if e is None or not hasattr(e, "provider"):
            return None
        return EmbeddingTag(e.provider, e.model, 0)

    def _exact(self, exact: bool | None) -> bool:
        return self.stats_exact if exact is None else exact

    def catalog(self, wanted: str | None = None, *, exact: bool | None = None) -> Operation[CatalogSnapshot]:
        """Databases and collections (with counts and load state), and what ``wanted`` names.
        ``exact`` counts with count(*) (default: on the embedded default only)."""
        exact = self._exact(exact)

        def op() -> Op[CatalogSnapshot]:
            databases = yield from catalog_ops.list_databases()
            infos = yield from catalog_ops.describe_all(stats_exact=exact)
            resolved = None
            if wanted:
                resolved = yield from catalog_ops.resolve_collection(wanted, [i.name for i in infos])
            return CatalogSnapshot(databases, infos, resolved)

        return self._op(OpKind.CATALOG, op())

    def list_databases(self) -> Operation[list[str]]:
        return self._op(OpKind.CATALOG, catalog_ops.list_databases())

    def list_collections(self) -> Operation[list[str]]:
        return self._op(OpKind.CATALOG, catalog_ops.list_collections())

    def describe(self, collection: str, *, with_count: bool = True, exact: bool | None = None,
                 label: str = "") -> Operation[CollectionInfo]:
        return self._op(OpKind.DESCRIBE, catalog_ops.describe(collection, with_count=with_count,
                                                              stats_exact=self._exact(exact)), label)

    def details(self, info: CollectionInfo) -> Operation[CollectionDetails]:
        """The opened collection's aliases and per-partition entity counts (the schema view)."""
        def op() -> Op[CollectionDetails]:
            version = yield from self._server_version()
            return (yield from catalog_ops.details(info, version=version))

        return self._op(OpKind.DETAILS, op(), "reading details")

    def describe_all(self, *, exact: bool | None = None) -> Operation[list[CollectionInfo]]:
        return self._op(OpKind.CATALOG, catalog_ops.describe_all(stats_exact=self._exact(exact)))

    def resolve(self, name: str) -> Operation[str | None]:
        """A collection's name, or the collection an alias points to; None if neither."""
        return self._op(OpKind.DESCRIBE, catalog_ops.resolve_collection(name))

    def count(self, collection: str, expr: str = "") -> Operation[int]:
        return self._op(OpKind.COUNT, catalog_ops.count(collection, expr))

    def exists(self, collection: str) -> Operation[bool]:
        return self._op(OpKind.DESCRIBE, catalog_ops.exists(collection))

    def load(self, collection: str, *, describe: bool = False) -> Operation[Any]:
        """Load a collection (polling its progress); with ``describe``, return its new description."""
        return self._op(OpKind.LOAD, self._then_describe(catalog_ops.load(collection), collection, describe),
                        f"loading {collection}")

    def release(self, collection: str, *, describe: bool = False) -> Operation[Any]:
        return self._op(OpKind.RELEASE, self._then_describe(catalog_ops.release(collection), collection, describe),
                        f"releasing {collection}")

    def _then_describe(self, op: Op[str], collection: str, describe: bool) -> Op[Any]:
        state = yield from op
        if not describe:
            return state
        return (yield from catalog_ops.describe(collection))

    def drop(self, collection: str) -> Operation[None]:
        return self._op(OpKind.DROP, catalog_ops.drop(collection))

    def _server_version(self) -> Op[str]:
        """The server's version, asked once per connection (what a search may use depends on it)."""
        key = self.conn.endpoint  # a restarted Lite child listens on another port
        if self._version is None or self._version[0] != key:
            text = yield Call("get_server_version", sync_only=True)
            self._version = (key, str(text or ""))
        return self._version[1]

    def _info(self, collection: Collection) -> Op[CollectionInfo]:
        """A collection's description: the one given, or read from the server by name."""
        if isinstance(collection, CollectionInfo):
            return collection
        info = yield from catalog_ops.describe(collection, with_count=False, stats_exact=self.stats_exact)
        if not info.loaded and self.loads is not None and info.name in self.loads.names():
            yield from catalog_ops.load(info.name)
            info = yield from catalog_ops.describe(info.name, with_count=False, stats_exact=self.stats_exact)
        return info

    # -- reading -------------------------------------------------------------------------

    def pager(self, info: CollectionInfo, *, expr: str = "", page_size: int = 50, **kw: Any) -> Pager:
        """A primary-key cursor over ``info`` (or a filter): ``page`` runs it."""
        return Pager(info, expr=expr, page_size=page_size, **kw)

    def page(self, pager: Pager, page: int) -> Operation[QueryResult]:
        """Page ``page`` of ``pager`` (-1: the last); never an offset, so far pages cost what page 1 does."""
        return self._op(OpKind.PAGE, pager.goto(page), f"loading page {page + 1 if page >= 0 else 'last'}")

    def fill_step(self, fill: query_ops.BoundaryFill) -> Operation[query_ops.Boundaries]:
        """One key scan of a background boundary fill (``BoundaryFill``): quiet, not logged."""
        return Operation(OpKind.PAGE, fill.step(), self.conn, "finding pages", quiet=True)

    def filter(self, collection: Collection, expr: str, **kw: Any) -> Operation[QueryResult]:
        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            return (yield from query_ops.filter_query(info, expr, **kw))

        return self._op(OpKind.FILTER, op())

    def search(self, collection: Collection, text: str, **kw: Any) -> Operation[QueryResult]:
        """Semantic search: embed ``text`` with the session's model, search the vector field."""
        using = self.embedding_tag()

        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            return (yield from query_ops.semantic_search(info, text, using=using, **kw))

        return self._op(OpKind.SEARCH, op())

    def search_by_vector(self, collection: Collection, vector: list[float], **kw: Any) -> Operation[QueryResult]:
        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            return (yield from query_ops.search(info, vector, **kw))

        return self._op(OpKind.SEARCH, op())

    def more_like_this(self, collection: Collection, key: Any, **kw: Any) -> Operation[QueryResult]:
        """Entities near the one with primary key ``key``, by its stored vector (no embedding)."""
        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            return (yield from query_ops.more_like_this(info, key, **kw))

        return self._op(OpKind.MORE_LIKE_THIS, op())

    def vector_search(self, collection: Collection, query: search_ops.SearchQuery, *,
                      shape: search_ops.SearchShape = search_ops.SearchShape(), **kw: Any) -> Operation[QueryResult]:
        """Any one search on the field the query names: text (dense or BM25), a pasted dense or
        sparse vector, stored entities by key; with a range window, grouping and index parameters."""
        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            version = yield from self._server_version()
            return (yield from search_ops.vector_search(info, query, shape=shape, version=version, **kw))

        kind = OpKind.MORE_LIKE_THIS if query.source == "key" else OpKind.SEARCH
        return self._op(kind, op())

    def hybrid_search(self, collection: Collection, queries: list[search_ops.SearchQuery], *,
                      fusion: search_ops.Fusion = search_ops.Fusion(), k: int = 10,
                      **kw: Any) -> Operation[QueryResult]:
        """Two or more searches fused (RRF or weights), each hit with its rank in every part."""
        def op() -> Op[QueryResult]:
            info = yield from self._info(collection)
            version = yield from self._server_version()
            return (yield from search_ops.hybrid_search(info, queries, fusion=fusion, k=k, version=version, **kw))

        return self._op(OpKind.SEARCH, op(), "hybrid search")

    def get(self, collection: Collection, keys: list[Any], **kw: Any) -> Operation[list[dict[str, Any]]]:
        def op() -> Op[list[dict[str, Any]]]:
            info = yield from self._info(collection)
            return (yield from query_ops.get_entities(info, keys, **kw))

        return self._op(OpKind.GET, op())

    # -- the vector map ------------------------------------------------------------------

    def vector_map(self, collection: Collection, rows: list[dict[str, Any]] | None = None, *,
                   expr: str = "", limit: int = map_ops.DEFAULT_SAMPLE, keys: list[Any] | None = None,
                   labels: list[Any] | None = None, **kw: Any) -> Operation[map_ops.VectorMap]:
        """Project entities onto a plane: ``rows`` in hand (a page, a search's hits), or a sample
        of up to ``limit`` entities matching ``expr`` (ids, one vector field, the colour and title
        fields only). The projection runs off the event loop (PCA, or UMAP when installed).

        ``keys`` with ``labels`` (one a key): these entities, coloured by their label (duplicate
        groups, quality findings); ``marked=``, ``label_name=`` and ``background=`` (a grey
        sample of ``expr`` around them) as ``vectormap.map_keys`` takes them."""
        def op() -> Op[map_ops.VectorMap]:
            info = yield from self._info(collection)
            if keys is not None:
                return (yield from map_ops.map_keys(info, keys, list(labels or []), expr=expr, **kw))
            if rows is not None:
                return (yield from map_ops.map_rows(info, rows, **kw))
            return (yield from map_ops.map_sample(info, expr, limit=limit, **kw))

        return self._op(OpKind.MAP, op())

    def map_colours(self, collection: Collection, keys: list[Any], colour_field: str | None) -> Operation[list[Any]]:
        """The values of another colour field for a map's points (no new projection)."""
        def op() -> Op[list[Any]]:
            info = yield from self._info(collection)
            return (yield from map_ops.colour_values(info, keys, colour_field))

        return self._op(OpKind.MAP, op(), "reading colours")

    # -- cleanup -------------------------------------------------------------------------

    def preview_delete(self, collection: Collection, *, expr: str | None = None,
                       keys: list[Any] | None = None, **kw: Any) -> Operation[cleanup_ops.DeletePreview]:
        """Count, sample and capture the keys a delete would remove (Strong), and how undo works."""
        db_name = self.conn.db_name

        def op() -> Op[cleanup_ops.DeletePreview]:
            info = yield from self._info(collection)
            return (yield from cleanup_ops.preview_delete(info, expr=expr, keys=keys, db_name=db_name, **kw))

        label = "counting matches" if expr else "preparing delete"
        return self._op(OpKind.PREVIEW, op(), label)

    def delete(self, collection: Collection, preview: cleanup_ops.DeletePreview, *, backup: bool = True,
               **kw: Any) -> Operation[cleanup_ops.DeleteReport]:
        """Back up (fsynced), then delete exactly the previewed keys; audited. It becomes
        ``last_delete`` (what ``undo`` puts back), also when it stops part-way."""
        if backup and self.backup_dir is None:
            raise InvalidInput("This session has no backup directory; a delete without a backup needs backup=False.")
        backup_dir = self.backup_dir if backup else None

        def op() -> Op[cleanup_ops.DeleteReport]:
            info = yield from self._info(collection)
            try:
                report = yield from cleanup_ops.execute_delete(info, preview, backup_dir=backup_dir,
                                                               audit_path=self.audit_path,
                                                               server=self.server_label, **kw)
            except DeleteInterrupted as exc:
                self.last_delete = self.stopped_report(exc)
                self.last_edit = None
                raise
            self.last_delete = report
            self.last_edit = None
            return report

        return self._op(OpKind.DELETE, op(), "deleting")

    def stopped_report(self, exc: DeleteInterrupted, elapsed: float = 0.0) -> cleanup_ops.DeleteReport:
        """A delete stopped part-way, reported like a finished one: its exact count, backup and undo."""
        return cleanup_ops.DeleteReport(
            exc.collection, exc.requested, exc.requested if exc.backup_path else 0, exc.deleted,
            exc.backup_path, str(self.audit_path) if self.audit_path else None, elapsed,
            status="stopped", warnings=(str(exc),))

    def undo(self) -> Operation[cleanup_ops.RestoreReport]:
        """Restore the last delete's backup (into its own database, collection and partitions),
        or the last edit's (its originals are upserted back)."""
        edit = self.last_edit
        if edit is not None and edit.backup_path:
            operation = self.restore(Path(edit.backup_path))
            inner_edit = operation.op

            def undo_edit() -> Op[cleanup_ops.RestoreReport]:
                restored = yield from inner_edit
                self.last_edit = None
                return restored

            operation.op = undo_edit()
            return operation
        report = self.last_delete
        if report is None or not report.backup_path:
            raise InvalidInput("There is no delete to undo in this session, and no drop.")
        operation = self.restore(Path(report.backup_path))
        inner = operation.op

        def op() -> Op[cleanup_ops.RestoreReport]:
            restored = yield from inner
            self.last_delete = None
            return restored

        operation.op = op()
        return operation

    def restore(self, path: Path, *, db_name: str | None = None, **kw: Any) -> Operation[cleanup_ops.RestoreReport]:
        """Put a backup's entities back: into the database it names (or ``db_name``), audited."""
        path = Path(path)
        backup_db = db_name or cleanup_ops.backup_database(path)
        conn = self.conn if backup_db == self.conn.db_name else self.conn.sibling(backup_db)
        server = f"{self.conn.display_uri} db={conn.db_name}"
        audit = self.audit_path

        def op() -> Op[cleanup_ops.RestoreReport]:
            try:
                header = yield Blocking(lambda: cleanup_ops.read_backup_header(path))
                if drop_ops.operation_of(header) in drop_ops.OPERATIONS:  # re-creates what the drop removed
                    report = yield from drop_ops.restore_dropped(path, **kw)
                else:  # a delete's or an edit's: the entities go back into the collection
                    report = yield from cleanup_ops.restore(path, db_name=None if db_name else conn.db_name, **kw)
                    report = replace(report, operation=drop_ops.operation_of(header))
            except RestoreIncomplete as exc:
                if audit is not None:
                    cleanup_ops.append_audit(audit, cleanup_ops.restore_stopped_record(exc, path, server))
                raise
            if audit is not None:
                cleanup_ops.append_audit(audit, cleanup_ops.restore_record(report, server))
            return report

        return Operation(OpKind.RESTORE, op(), conn, "restoring", owns_conn=conn is not self.conn)

    # -- drops that can be undone, and the backups on disk ------------------------------

    def preview_drop(self, collection: Collection, *, operation: str = drop_ops.DROP_COLLECTION,
                     partition: str | None = None, load: bool = False,
                     was_loaded: bool | None = None) -> Operation[drop_ops.DropPreview]:
        """What a drop, a partition drop or a truncate would remove: the definition, the count
        (Strong), the backup's size estimate and the disk's free space. Changes nothing, except
        that with ``load`` a released collection is loaded (the backup reads every entity) and
        its restore leaves it released. ``was_loaded`` overrides what the restore does (the
        embedded default releases everything when it starts; the remembered loads say better)."""
        db_name = self.conn.db_name
        backup_dir = self.backup_dir

        def op() -> Op[drop_ops.DropPreview]:
            info = yield from self._info(collection)
            loaded = info.loaded if was_loaded is None else was_loaded
            if load and not info.loaded:
                yield from catalog_ops.load(info.name)
                info = yield from catalog_ops.describe(info.name, with_count=False, stats_exact=self.stats_exact)
            return (yield from drop_ops.preview_drop(info, operation, partition=partition, db_name=db_name,
                                                     backup_dir=backup_dir, was_loaded=loaded))

        return self._op(OpKind.PREVIEW_DROP, op())

    def drop_backed_up(self, collection: Collection, preview: drop_ops.DropPreview,
                       **kw: Any) -> Operation[drop_ops.DropReport]:
        """Back up every entity and the definition (fsynced), then drop, drop the partition or
        empty the collection; audited. It becomes what ``undo`` puts back."""
        if self.backup_dir is None:
            raise InvalidInput("This session has no backup directory, and a drop is never made without a backup.")
        backup_dir = self.backup_dir

        def op() -> Op[drop_ops.DropReport]:
            info = yield from self._info(collection)
            try:
                report = yield from drop_ops.execute_drop(info, preview, backup_dir=backup_dir,
                                                          audit_path=self.audit_path, server=self.server_label, **kw)
            except DeleteInterrupted as exc:  # a truncate stopped between its delete batches
                self.last_delete = self.stopped_report(exc)
                self.last_edit = None
                raise
            self.last_edit = None  # undo puts back the newest: this drop
            self.last_delete = cleanup_ops.DeleteReport(
                report.collection, report.previewed, report.backed_up, report.removed, report.backup_path,
                report.audit_path, report.elapsed, warnings=report.warnings)
            return report

        return self._op(OpKind.BACKED_DROP, op(), "backing up, then dropping")

    def backups(self, *, all_servers: bool = False) -> Operation[backup_files.BackupList]:
        """The backups and audit records on disk: this server's, or every server's."""
        backup_dir, audit = self.backup_dir, self.audit_path
        if backup_dir is None or audit is None:
            raise InvalidInput("This session has no backup directory.")
        server = None if all_servers else self.conn.display_uri

        def op() -> Op[backup_files.BackupList]:
            return (yield Blocking(lambda: backup_files.listing(backup_dir, audit, server=server)))

        return self._op(OpKind.BACKUPS, op())

    def read_backup(self, path: Path, *, limit: int = 1000) -> Operation[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """A backup's header and its first ``limit`` entities, decoded, read-only."""
        def op() -> Op[tuple[dict[str, Any], list[dict[str, Any]]]]:
            return (yield Blocking(lambda: backup_files.read_rows(Path(path), limit=limit)))

        return self._op(OpKind.BACKUPS, op(), "reading backup")

    def delete_backup(self, path: Path) -> Operation[int]:
        """Remove an old backup from the backup directory (audited); the bytes freed."""
        backup_dir, audit, server = self.backup_dir, self.audit_path, self.server_label
        if backup_dir is None:
            raise InvalidInput("This session has no backup directory.")

        def op() -> Op[int]:
            entry = yield Blocking(lambda: backup_files.read_entry(Path(path)) if Path(path).exists() else None)
            freed = yield Blocking(lambda: backup_files.delete_backup(Path(path), backup_dir))
            if audit is not None:
                record = {"time": cleanup_ops._now(), "action": "delete_backup", "server": server,
                          "backup": str(path), "bytes": freed}
                if entry is not None:
                    record.update(collection=entry.collection, db_name=entry.db_name, operation=entry.operation,
                                  count=entry.count)
                yield Blocking(lambda: cleanup_ops.append_audit(audit, record))
            return freed

        return self._op(OpKind.BACKUPS, op(), "deleting backup")
    # -- edits -----------------------------------------------------------------------------

    def preview_edit(self, collection: Collection, *, sets: list[str] | tuple[str, ...] = (),
                     unsets: list[str] | tuple[str, ...] = (),
                     changes: list[edit_ops.FieldChange] | tuple[edit_ops.FieldChange, ...] | None = None,
                     expr: str | None = None, keys: list[Any] | None = None,
                     **kw: Any) -> Operation[edit_ops.EditPreview]:
        """Type the changes by the schema (``FIELD=VALUE`` texts and dynamic keys to remove, or
        ready ``changes``), refuse what does not fit or cannot keep the keys, then count, capture
        the keys (Strong) and sample before/after. Nothing is written."""
        db_name = self.conn.db_name

        def op() -> Op[edit_ops.EditPreview]:
            info = yield from self._info(collection)
            typed = tuple(changes) if changes is not None else edit_ops.parse_changes(info, sets, unsets)
            version = yield from self._server_version()
            return (yield from edit_ops.preview_edit(info, typed, expr=expr, keys=keys, db_name=db_name,
                                                     version=version, **kw))

        return self._op(OpKind.EDIT_PREVIEW, op(), "counting matches" if expr else "preparing edit")

    def edit(self, collection: Collection, preview: edit_ops.EditPreview,
             **kw: Any) -> Operation[edit_ops.EditReport]:
        """Back up the previewed entities (fsynced), then upsert each with the change; audited.
        It becomes ``last_edit`` (what ``undo`` puts back), also when it stops part-way."""
        if self.backup_dir is None:
            raise InvalidInput("This session has no backup directory, and an edit is always backed up first.")
        backup_dir = self.backup_dir

        def op() -> Op[edit_ops.EditReport]:
            info = yield from self._info(collection)
            try:
                report = yield from edit_ops.execute_edit(info, preview, backup_dir=backup_dir,
                                                          audit_path=self.audit_path, server=self.server_label, **kw)
            except EditIncomplete as exc:
                if exc.backup_path:
                    self.last_edit = edit_ops.EditReport(
                        exc.collection, exc.requested, exc.requested, exc.edited, exc.backup_path,
                        str(self.audit_path) if self.audit_path else None, 0.0, preview.description,
                        status="stopped", warnings=(str(exc),))
                raise
            if report.backup_path:
                self.last_edit = report
            return report

        return self._op(OpKind.EDIT, op(), "editing")

    # -- duplicates and the quality scan (issue 14) ---------------------------------------

    def find_duplicates(self, collection: Collection, *, threshold: float | None = None,
                        anns_field: str | None = None, exact_field: str | None = None,
                        primary_keys: bool = False, expr: str = "", fields: list[str] | None = None,
                        **kw: Any) -> Operation[dup_ops.DuplicateReport]:
        """Near-duplicates (``threshold`` in the metric's terms), exact duplicates of a field
        (``exact_field``; a vector field: the same vector), or duplicate primary keys."""
        def op() -> Op[dup_ops.DuplicateReport]:
            info = yield from self._info(collection)
            if primary_keys:
                return (yield from dup_ops.duplicate_keys(info, expr=expr))
            if exact_field:
                return (yield from dup_ops.exact_duplicates(info, exact_field, expr=expr, fields=fields, **kw))
            if threshold is None:
                raise InvalidInput("Give a threshold for near-duplicates, or a field for exact duplicates.")
            # On Milvus Lite the vectors are compared here: its search is brute force in Python.
            kw.setdefault("local", catalog_ops.is_lite_version((yield from self._server_version())))
            return (yield from dup_ops.near_duplicates(info, threshold, anns_field=anns_field, expr=expr,
                                                       fields=fields, **kw))

        return self._op(OpKind.DUPLICATES, op())

    def keep_one_copy(self, collection: Collection, keys: list[Any]) -> Operation[dup_ops.KeysFixed]:
        """Duplicate primary keys down to one copy each: back up and delete every copy (the
        normal delete chain), then restore that backup, which holds one copy per key."""
        if self.backup_dir is None:
            raise InvalidInput("This session has no backup directory; keeping one copy needs a backup.")

        def op() -> Op[dup_ops.KeysFixed]:
            info = yield from self._info(collection)
            if info.primary.auto_id:
                raise NotSupported(
                    f"'{info.name}' has auto_id keys: putting one copy back could give it a new key on this "
                    f"server, so nothing was changed.")
            preview = yield from cleanup_ops.preview_delete(info, keys=list(keys), db_name=self.conn.db_name)
            if preview.undo.method != cleanup_ops.UPSERT:
                raise NotSupported("This server cannot put the kept copy back with its key; nothing was changed.")
            deleted = yield from self.delete(info, preview).op
            restored = yield from self.restore(Path(deleted.backup_path or "")).op if deleted.backup_path else None
            if restored is None:
                raise InvalidInput("No backup was written, so no copy could be kept.")
            self.last_delete = None  # the restore already put the kept copies back
            return dup_ops.KeysFixed(info.name, preview.count, deleted.deleted, restored.restored,
                                     deleted.backup_path or "")

        return self._op(OpKind.DELETE, op(), "keeping one copy")

    def scan_quality(self, collection: Collection, **kw: Any) -> Operation[quality_ops.QualityReport]:
        """The data-quality scan: zero/NaN/non-unit vectors, empty text, nulls, dynamic keys,
        JSON types, over-long values, and (``duplicates=True``) exact duplicates."""
        def op() -> Op[quality_ops.QualityReport]:
            info = yield from self._info(collection)
            return (yield from quality_ops.scan(info, **kw))

        return self._op(OpKind.QUALITY, op())

    # -- moving data in and out ----------------------------------------------------------

    def export(self, collection: Collection, path: Path, **kw: Any) -> Operation[export_ops.ExportReport]:
        def op() -> Op[export_ops.ExportReport]:
            info = yield from self._info(collection)
            if not info.db_name:  # a Parquet file names its database
                info = replace(info, db_name=self.conn.db_name)
            return (yield from export_ops.export(info, Path(path), **kw))

        return self._op(OpKind.EXPORT, op())

    def write_rows(self, info: CollectionInfo, path: Path, rows: list[dict[str, Any]], columns: list[str],
                   fmt: str) -> Operation[export_ops.ExportReport]:
        """Export the rows already on screen (a page or a search's hits), as they are."""
        from .milvus.ops import Blocking
        from .milvus.values import vector_types

        def op() -> Op[export_ops.ExportReport]:
            timer = Timer()
            schema = None
            if export_ops.format_for(Path(path), fmt) == "parquet":  # the file carries the schema
                from .milvus.parquet import schema_record

                raw = yield Call("describe_collection", {"collection_name": info.name}, collection=info.name)
                schema = schema_record(dict(raw), info)
            named = info if info.db_name else replace(info, db_name=self.conn.db_name)
            count = yield Blocking(lambda: export_ops.write_rows(Path(path), rows, columns, fmt, vector_types(info),
                                                                 schema=schema, info=named))
            return export_ops.ExportReport(info.name, str(path), count, timer.elapsed)

        return self._op(OpKind.EXPORT, op())

    def ingest(self, collection: str, documents: Iterable[ingest_ops.Document],
               **kw: Any) -> Operation[ingest_ops.IngestReport]:
        """Embed and insert documents (a new collection is created to fit them)."""
        return self._op(OpKind.INGEST, ingest_ops.ingest(collection, documents, self.embedding_tag(), **kw))

    def ingest_parquet(self, collection: str, path: Path, *, text_key: str | None = None,
                       **kw: Any) -> Operation[ingest_ops.IngestReport]:
        """Ingest a Parquet file: one with vectors (our export, or another tool's with a list of
        floats) goes in as it is, creating the collection from the file's schema when missing;
        one with text and no vectors is embedded like JSONL (``kw`` as ``ingest``'s)."""
        from .milvus.ops import Blocking
        from .milvus.parquet import open_source
        from .milvus.parquet_ingest import ingest_parquet

        def op() -> Op[ingest_ops.IngestReport]:
            source = yield Blocking(lambda: open_source(Path(path)))
            if source.has_vectors:
                kw.pop("full_text", None)
                kw.pop("auto_id", None)
                return (yield from ingest_parquet(collection, source, **kw))
            documents = ingest_ops.DocumentFile(Path(path), text_key=text_key, fmt="parquet")
            return (yield from ingest_ops.ingest(collection, documents, self.embedding_tag(), **kw))

        return self._op(OpKind.INGEST, op())


def _with_mode(result: T, mode: ExecMode) -> T:
    return result.with_mode(str(mode)) if isinstance(result, QueryResult) else result  # type: ignore[return-value]


def _make_embeddings(settings: Any) -> Any:
    from .embeddings import make_embeddings

    return make_embeddings(settings.embedding_settings())


__all__ = ["CatalogSnapshot", "ExecMode", "LogEntry", "OpKind", "Operation", "Session"]
