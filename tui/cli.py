"""The ``milvus-tui`` command: opens the app, or runs one headless operation.

Only click is imported at module level so ``milvus-tui --help`` stays fast; pymilvus,
langchain and the embedding model load inside the commands that need them. Every
command that prints data has ``--json``; exit codes: 0 success, 1 the server refused,
2 bad input, 3 not found, 4 collection not loaded, 5 server unreachable, 6 not
supported, 130 cancelled.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _connection_options(fn: Any) -> Any:
    options = [
        click.option("--uri", help="Milvus URI: a local data directory (embedded Milvus Lite, the "
                     "default ./milvus_data) or http(s)://host:port. Env: MILVUS_URI."),
        click.option("--token", help="Token or user:password (prefer the MILVUS_TOKEN env var)."),
        click.option("--db", "db_name", help="Database name. Env: MILVUS_DB_NAME."),
        click.option("--profile", help="A named profile from the config file."),
        click.option("--embedding-provider", type=click.Choice(["local", "openai"]),
                     help="Embedding provider; default openai when OPENAI_API_KEY is set, else local."),
        click.option("--embedding-model", help="Embedding model. Env: MILVUS_TUI_EMBEDDING_MODEL."),
        click.option("--base-url", help="OpenAI-compatible endpoint. Env: OPENAI_BASE_URL."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(ctx: click.Context, **flags: Any) -> Any:
    from .config import ConfigError, load_settings

    merged = dict(ctx.obj or {})
    merged.update({k: v for k, v in flags.items() if v is not None})
    profile = merged.pop("profile", None)
    try:
        return load_settings(merged, profile=profile)
    except ConfigError as exc:
        _fail(str(exc), 2)


def _fail(message: str, code: int) -> None:
    click.secho(f"Error: {_printable(message)}", fg="red", err=True)
    sys.exit(code)


def _printable(text: str) -> str:
    """Control characters from user input (NUL, ESC sequences) shown, not sent to the terminal."""
    return "".join(
        f"\\x{ord(c):02x}" if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F else c
        for c in text
    )


@contextlib.contextmanager
def _service(settings: Any, *, embeddings: bool = False, keep_open: bool = False) -> Iterator[Any]:
    """Connect (starting embedded Lite if needed), yield a MilvusService, always clean up."""
    from .milvus import MilvusConnection, MilvusService
    from .milvus.errors import MilvusTuiError

    conn = MilvusConnection(settings.uri, token=settings.token, db_name=settings.db_name, timeout=settings.timeout)
    try:
        try:
            conn.open()
            model = None
            if embeddings:
                from .embeddings import make_embeddings

                model = make_embeddings(settings.embedding_settings())
            yield MilvusService(conn, model, settings.backup_dir, settings.audit_path)
        except MilvusTuiError as exc:
            _fail(str(exc), exc.exit_code)
        except Exception as exc:  # embedding errors and the like: still a clear line, never a traceback
            from .milvus.errors import scrub, translate

            if type(exc).__module__.split(".")[0] in ("pymilvus", "grpc"):
                # Raised outside the data layer (the bench drives langchain-milvus directly).
                err = translate(exc)
                _fail(str(err), err.exit_code)
            code = getattr(exc, "exit_code", 1)
            _fail(scrub(str(exc)) or type(exc).__name__, code if isinstance(code, int) else 1)
    finally:
        if not keep_open:
            conn.close()


def _describe_loaded(svc: Any, collection: str, load: bool) -> Any:
    info = svc.catalog.describe(collection)
    if not info.loaded and load:
        svc.catalog.load(collection)
        info = svc.catalog.describe(collection)
    return info


def _print_rows(result: Any, as_json: bool) -> None:
    from .milvus.values import encode_row, summarize_vector

    if as_json:
        payload = {
            "collection": result.collection, "kind": result.kind, "elapsed_s": round(result.elapsed, 6),
            "rows": [encode_row(r) for r in result.rows],
        }
        if result.scores is not None:
            payload["scores"] = result.scores
            payload["metric"] = result.metric
        if result.warnings:
            payload["warnings"] = list(result.warnings)
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.collection}: {len(result.rows)} rows in {result.elapsed * 1000:.0f} ms")
    cols = [c for c in result.columns]
    if result.scores is not None:
        table.add_column("score", justify="right")
    for col in cols:
        table.add_column(col, overflow="fold", max_width=60)
    for i, row in enumerate(result.rows):
        cells = [f"{result.scores[i]:.4f}"] if result.scores is not None else []
        for col in cols:
            value = row.get(col)
            if isinstance(value, (bytes, bytearray)) or (isinstance(value, list) and len(value) > 16):
                cells.append(summarize_vector(value))
            else:
                cells.append("" if value is None else str(value))
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@click.group(invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@_connection_options
@click.option("--collection", "-c", help="Collection to open first.")
@click.version_option(package_name="milvus-tui")
@click.pass_context
def main(ctx: click.Context, collection: str | None, **flags: Any) -> None:
    """Explore, search and clean Milvus collections from the terminal.

    With no command, opens the app on the configured connection (by default an embedded
    Milvus Lite in ./milvus_data).
    """
    ctx.obj = {k: v for k, v in flags.items() if v is not None}
    if collection:
        ctx.obj["collection"] = collection
    if ctx.invoked_subcommand is None:
        _run_app(_settings(ctx))


def _run_app(settings: Any, connection: Any = None) -> None:
    from .app import run_app

    code = run_app(settings, connection)
    if code:
        sys.exit(code)


@main.command()
@click.option("--reset", is_flag=True, help="Drop and re-create the demo collection.")
@click.option("--limit", default=6000, show_default=True, help="At most this many documents.")
@click.option("--no-open", is_flag=True, help="Only seed the data; do not open the app.")
@click.pass_context
def demo(ctx: click.Context, reset: bool, limit: int, no_open: bool) -> None:
    """Seed the demo collection (Python stdlib docstrings) and open the app on it."""
    from .demo import DEMO_COLLECTION, seed_demo

    settings = _settings(ctx)
    with _service(settings, embeddings=True, keep_open=not no_open) as svc:
        click.echo(f"Seeding '{DEMO_COLLECTION}' with {svc.embeddings.describe()} …", err=True)
        report = seed_demo(svc, limit=limit, reset=reset)
        if report is None:
            click.echo(f"'{DEMO_COLLECTION}' already has data (use --reset to rebuild it).", err=True)
        else:
            click.echo(f"Inserted {report.inserted} documents in {report.elapsed:.1f} s.", err=True)
        if not no_open:
            # Milvus Lite reports collections released after a restart; load the demo now and
            # hand this very server to the app, so it opens on a ready collection.
            if not svc.catalog.describe(DEMO_COLLECTION, with_count=False).loaded:
                click.echo(f"Loading '{DEMO_COLLECTION}' …", err=True)
                svc.catalog.load(DEMO_COLLECTION)
            from .config import with_overrides

            _run_app(with_overrides(settings, collection=settings.collection or DEMO_COLLECTION), svc.conn)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def collections(ctx: click.Context, as_json: bool) -> None:
    """List collections with row counts, load state, schema and indexes."""
    from dataclasses import asdict

    settings = _settings(ctx)
    with _service(settings) as svc:
        infos = svc.catalog.describe_all()
        databases = svc.catalog.list_databases()
    if as_json:
        click.echo(json.dumps({"databases": databases, "db_name": settings.db_name,
                               "collections": [asdict(i) for i in infos]}, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Collections in database '{settings.db_name}'")
    for col in ("collection", "rows", "load state", "fields", "indexes"):
        table.add_column(col, overflow="fold")
    for info in infos:
        rows = "?" if info.row_count is None else f"{info.row_count:,}" + ("" if info.count_exact else " (approx.)")
        fields = "\n".join(f"{f.name}: {f.summary()}" for f in info.fields)
        if info.enable_dynamic_field:
            fields += "\n$meta: dynamic field"
        indexes = "\n".join(f"{i.field}: {i.index_type} {i.metric_type or ''}" for i in info.indexes)
        table.add_row(info.name, rows, info.load_state, fields, indexes)
    Console().print(table)


_common_query = [
    click.option("--output-fields", "-o", help="Comma-separated fields to return (default: all)."),
    click.option("--consistency", type=click.Choice(["Strong", "Bounded", "Session", "Eventually"],
                                                    case_sensitive=False)),
    click.option("--partition", "partitions", multiple=True, help="Restrict to a partition (repeatable)."),
    click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
]


def _query_options(fn: Any) -> Any:
    for option in reversed(_common_query):
        fn = option(fn)
    return fn


def _fields(value: str | None) -> list[str] | None:
    return [f.strip() for f in value.split(",") if f.strip()] if value else None


@main.command()
@click.argument("collection")
@click.argument("filter_expr", metavar="FILTER", default="")
@click.option("--limit", "-n", default=100, show_default=True)
@_query_options
@click.pass_context
def query(ctx: click.Context, collection: str, filter_expr: str, limit: int, output_fields: str | None,
          consistency: str | None, partitions: tuple[str, ...], load_first: bool, as_json: bool) -> None:
    """Rows matching a filter expression, e.g. 'category == "function" and n_args > 2'."""
    with _service(_settings(ctx)) as svc:
        info = _describe_loaded(svc, collection, load_first)
        result = svc.queries.filter(info, filter_expr, limit=limit, output_fields=_fields(output_fields),
                                    consistency_level=consistency, partition_names=list(partitions) or None)
    _print_rows(result, as_json)


@main.command()
@click.argument("collection")
@click.argument("text")
@click.option("--k", "-k", default=10, show_default=True, help="How many results.")
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--anns-field", help="The vector field to search (when there are several).")
@click.option("--mmr", "mmr", nargs=2, type=(int, float), default=None,
              help="Diverse results: FETCH_K LAMBDA, e.g. --mmr 40 0.5.")
@_query_options
@click.pass_context
def search(ctx: click.Context, collection: str, text: str, k: int, filter_expr: str, anns_field: str | None,
           mmr: tuple[int, float] | None, output_fields: str | None, consistency: str | None,
           partitions: tuple[str, ...], load_first: bool, as_json: bool) -> None:
    """Semantic search: embed TEXT and find the nearest entities, with scores."""
    with _service(_settings(ctx), embeddings=True) as svc:
        info = _describe_loaded(svc, collection, load_first)
        result = svc.queries.semantic_search(
            info, text, k=k, expr=filter_expr, anns_field=anns_field, output_fields=_fields(output_fields),
            consistency_level=consistency, partition_names=list(partitions) or None, mmr=mmr,
        )
    _print_rows(result, as_json)


@main.command()
@click.argument("collection")
@click.option("--filter", "filter_expr", help="Delete entities matching this expression.")
@click.option("--ids", help="Comma-separated primary keys to delete (JSON list also accepted).")
@click.option("--yes", "-y", is_flag=True, help="Apply the delete. Without it, only preview.")
@click.option("--no-backup", is_flag=True, help="Skip the JSONL backup (not recommended).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def delete(ctx: click.Context, collection: str, filter_expr: str | None, ids: str | None, yes: bool,
           no_backup: bool, as_json: bool) -> None:
    """Preview (default) or apply (--yes) a delete; entities are backed up first."""
    if bool(filter_expr) == bool(ids):
        _fail("Give exactly one of --filter or --ids.", 2)
    with _service(_settings(ctx)) as svc:
        info = svc.catalog.describe(collection)
        keys = _parse_ids(ids, info) if ids else None
        preview = svc.cleanup.preview(info, expr=filter_expr, keys=keys)
        report = svc.cleanup.delete(info, preview, backup=not no_backup) if yes and preview.count else None
        after = svc.catalog.count(collection) if report else None
    from .milvus.values import encode_row

    if as_json:
        out: dict[str, Any] = {"collection": collection, "filter": preview.expr, "matched": preview.count,
                               "sample": [encode_row(r) for r in preview.sample], "applied": report is not None}
        if report:
            out.update(deleted=report.deleted, backup=report.backup_path, audit=report.audit_path, count_after=after)
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(f"{preview.count} entities match in '{collection}'.")
    for row in preview.sample[:5]:
        click.echo("  " + json.dumps({k: v for k, v in encode_row(row).items() if not isinstance(v, list)},
                                     ensure_ascii=False)[:200])
    if report:
        click.echo(f"Deleted {report.deleted}. Backup: {report.backup_path or 'none'}. {after} entities remain.")
        click.echo(f"Undo with: milvus-tui restore {report.backup_path}" if report.backup_path else "")
    elif preview.count:
        click.echo("Nothing deleted: this was a preview. Add --yes to delete.")


def _parse_ids(text: str, info: Any) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            _fail(f"--ids is not a valid JSON list: {exc}", 2)
    else:
        values = [v.strip() for v in text.split(",") if v.strip()]
    # int(1.5) == 1 and int(True) == 1: a JSON list must not turn into someone else's keys.
    if any(isinstance(v, (bool, float)) or not isinstance(v, (int, str)) for v in values):
        _fail("--ids must hold whole numbers or strings.", 2)
    if info.primary.dtype == "INT64":
        try:
            return [int(v) for v in values]
        except (TypeError, ValueError):
            _fail(f"Primary key '{info.primary.name}' is INT64; --ids must be whole numbers.", 2)
    return [str(v) for v in values]


@main.command()
@click.argument("backup", type=click.Path(path_type=Path))
@click.option("--collection", help="Restore into this collection instead of the original.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def restore(ctx: click.Context, backup: Path, collection: str | None, as_json: bool) -> None:
    """Re-insert (upsert) the entities of a delete backup; safe to run twice."""
    with _service(_settings(ctx)) as svc:
        report = svc.cleanup.restore(backup, collection=collection)
    if as_json:
        click.echo(json.dumps({"collection": report.collection, "restored": report.restored,
                               "backup": report.backup_path}))
    else:
        click.echo(f"Restored {report.restored} entities into '{report.collection}'.")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--collection", "-c", "target", required=True, help="Collection (created when missing).")
@click.option("--text-key", help="The JSON key or CSV column holding the text.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "txt"]), help="Default: from the extension.")
@click.option("--batch-size", default=256, show_default=True)
@click.option("--skip", default=0, show_default=True, type=click.IntRange(min=0),
              help="Pass over the first N documents (to continue an ingest the server stopped).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ingest(ctx: click.Context, file: Path, target: str, text_key: str | None, fmt: str | None,
           batch_size: int, skip: int, as_json: bool) -> None:
    """Add documents from a JSONL, CSV or plain-text file (embedded in batches).

    The whole file is checked before anything is inserted. Documents with an "id" (or "pk",
    "_id") key: when every document has one, unique and all whole numbers or all strings, a
    new collection uses them as its primary key (and a re-run replaces, not duplicates);
    otherwise they are kept in a field. The output says which.
    """
    from .milvus.ingest import DocumentFile
    from .milvus.ops import Context, Progress

    def progress(p: Progress) -> None:
        if not as_json:
            click.echo(f"\r{p.what}: {p.done}", nl=False, err=True)

    with _service(_settings(ctx), embeddings=True) as svc:
        report = svc.ingest.ingest(target, DocumentFile(file, text_key=text_key, fmt=fmt),
                                   Context(on_progress=progress), batch_size=batch_size, skip=skip)
    keys = report.keys
    if as_json:
        click.echo(json.dumps({"collection": report.collection, "inserted": report.inserted,
                               "created": report.created, "skipped_keys": list(report.skipped_keys),
                               "skipped_documents": report.skipped_documents,
                               "keys": keys.as_dict() if keys else None}, ensure_ascii=False))
    else:
        click.echo(f"\nInserted {report.inserted} documents into '{_printable(report.collection)}'"
                   + (" (new collection)." if report.created else "."))
        if keys and keys.sentence():
            click.echo(_printable(keys.sentence()))
        if report.skipped_keys:
            click.echo(f"Not in the schema, so skipped: {_printable(', '.join(report.skipped_keys))}")


@main.command()
@click.argument("collection")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the extension.")
@click.option("--output-fields", "-o", help="Comma-separated fields (default: all).")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def export(ctx: click.Context, collection: str, out: Path, filter_expr: str, fmt: str | None,
           output_fields: str | None, load_first: bool, as_json: bool) -> None:
    """Stream a whole collection or filter result to JSONL or CSV."""
    with _service(_settings(ctx)) as svc:
        info = _describe_loaded(svc, collection, load_first)
        report = svc.exporter.export(info, out, expr=filter_expr, fmt=fmt, output_fields=_fields(output_fields))
    if as_json:
        click.echo(json.dumps({"collection": collection, "path": report.path, "rows": report.rows}))
    else:
        click.echo(f"Exported {report.rows} entities to {report.path}.")


@main.command()
@click.argument("collection")
@click.pass_context
def load(ctx: click.Context, collection: str) -> None:
    """Load a collection into memory so it can be searched and queried."""
    with _service(_settings(ctx)) as svc:
        svc.catalog.load(collection)
    click.echo(f"'{collection}' is loaded.")


@main.command()
@click.argument("collection")
@click.pass_context
def release(ctx: click.Context, collection: str) -> None:
    """Release a collection from memory."""
    with _service(_settings(ctx)) as svc:
        svc.catalog.release(collection)
    click.echo(f"'{collection}' is released.")


def _csv_list(value: str, cast: Any = str) -> tuple[Any, ...]:
    try:
        return tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        _fail(f"Cannot read the list {value!r}.", 2)
        raise


@main.command()
@click.option("--ops", default="add,search,delete", show_default=True,
              help="Comma-separated: add, search, search_by_vector, mmr, filter, get_pks, delete, upsert.")
@click.option("--n", "ns", default="10,100", show_default=True, help="Comma-separated operation counts.")
@click.option("--concurrency", default="34", show_default=True,
              help="Async concurrency limit: a number, or 'unbounded' (as in the seed tutorial).")
@click.option("--modes", default="async,sync,batched", show_default=True,
              help="Comma-separated: async, sync (thread), batched, blocking (sync on the event loop).")
@click.option("--corpus", default=500, show_default=True, help="Documents loaded for read operations.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@click.pass_context
def bench(ctx: click.Context, ops: str, ns: str, concurrency: str, modes: str, corpus: int, as_json: bool,
          markdown: bool) -> None:
    """Time the same operations sync, async and batched on a scratch collection."""
    import asyncio

    from .timing import BenchConfig, run_bench, to_json, to_markdown
    from .timing.engine import connection_args_for

    limit = None if concurrency.lower() in ("unbounded", "none", "0") else _csv_list(concurrency, int)[0]
    config = BenchConfig(ops=_csv_list(ops), ns=_csv_list(ns, int), modes=_csv_list(modes), concurrency=limit,
                         corpus=corpus)
    try:
        config.validate()
    except ValueError as exc:
        _fail(str(exc), 2)
    settings = _settings(ctx)
    with _service(settings, embeddings=True) as svc:
        def progress(op: str, mode: str, done: int, total: int) -> None:
            if not as_json and sys.stderr.isatty():
                click.echo(f"\r{op} {mode}: {done}/{total}   ", nl=False, err=True)

        run = asyncio.run(run_bench(config, connection_args_for(svc.conn), svc.embeddings, progress=progress))
    if as_json:
        click.echo(to_json(run.results, scratch_collection=run.scratch, scratch_dropped=run.dropped,
                           embeddings=svc.embeddings.describe(), server=svc.conn.kind))
        return
    if markdown:
        click.echo(to_markdown(run.results))
        return
    _print_bench(run)


def _print_bench(run: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from .timing import OPERATIONS

    console = Console()
    summary = Table(title="Sync vs async (wall time, seconds) — shaped like the seed tutorial's table")
    for col in ("operation", "N", "sync", "async", "batched", "speedup async/sync"):
        summary.add_column(col, justify="right" if col != "operation" else "left")
    keyed = {(r.op, r.n, r.mode): r for r in run.results}
    for op in run.config.ops:
        for n in run.config.ns:
            cells = []
            for mode in ("sync", "async", "batched"):
                r = keyed.get((op, n, mode))
                cells.append("—" if r is None or r.note == "no batched form" else f"{r.wall_s:.3f}")
            a = keyed.get((op, n, "async"))
            speed = f"{a.speedup:.1f}x" if a is not None and a.speedup else "—"
            summary.add_row(OPERATIONS[op][0], str(n), *cells, speed)
    console.print(summary)
    detail = Table(title="Every run")
    for col in ("operation", "N", "mode", "wall s", "ops/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                "loop lag p99/max ms"):
        detail.add_column(col, justify="right" if col not in ("operation", "mode") else "left")
    for r in run.results:
        if r.note == "no batched form":
            continue
        mode = r.mode + (f" ≤{r.concurrency}" if r.concurrency else "")
        detail.add_row(r.op, str(r.n), mode, f"{r.wall_s:.3f}", f"{r.ops_per_s:.1f}",
                       f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}", str(r.errors),
                       f"{r.lag_p99_ms:.1f} / {r.lag_max_ms:.1f}")
    console.print(detail)
    console.print(f"Scratch collection {run.scratch} {'dropped' if run.dropped else 'NOT dropped'}.")
