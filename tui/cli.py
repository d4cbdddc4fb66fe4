"""The ``milvus-tui`` command: opens the app, or runs one headless operation.

Only click is imported at module level so ``milvus-tui --help`` stays fast; pymilvus,
langchain and the embedding model load inside the commands that need them. Every
command that prints data has ``--json``; exit codes: 0 success, 1 the server refused,
2 bad input, 3 not found, 4 collection not loaded, 5 server unreachable, 6 not
supported, 130 interrupted (ctrl+c), 143 terminated (SIGTERM).

On the embedded default each command starts its own Milvus Lite, which comes up with every
collection released; so commands load what they need when it was loaded before (the
remembered loads the app keeps, ``tui/loads.py``). On a server, loading is the user's call:
``--load``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

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
        settings = load_settings(merged, profile=profile)
    except ConfigError as exc:
        _fail(str(exc), 2)
    for warning in settings.warnings:  # e.g. a token in a config.toml others can read
        click.echo(f"Warning: {warning}", err=True)
    return settings


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, like ctrl+c: the same ``finally`` blocks run (the
    Lite child is stopped, an interrupted delete writes its audit record), then exit 143."""


def _on_sigterm(signum: int, frame: Any) -> None:
    # One is enough; a second one must not cut the cleanup that the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _handle_sigterm() -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        with contextlib.suppress(ValueError):  # not the main thread (an embedding test)
            signal.signal(signal.SIGTERM, _on_sigterm)


#: What a running ``delete --yes`` has done so far, for the account an interruption prints.
_in_flight: dict[str, Any] = {}
#: The signal of an interruption deferred until the server has answered the current request.
_pending: dict[str, int] = {}


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[Any]:
    """ctrl+c and SIGTERM stop the work between two requests, not during one: a delete batch
    the server is already applying is then counted, so the account and the audit record are
    exact (a request abandoned mid-flight is applied by the server all the same, uncounted).
    A second signal stops at once. Yields the ``is_cancelled`` poll for ``ops.Context``."""
    def defer(signum: int, frame: Any) -> None:
        if _pending:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        _pending["signum"] = signum
        click.echo("\nStopping after the current batch (ctrl+c again stops at once) …", err=True)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # a background job's ignored SIGINT stays ignored
            with contextlib.suppress(ValueError):
                previous[sig] = signal.signal(sig, defer)
    try:
        yield lambda: bool(_pending)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _interruption(exc: BaseException) -> int | None:
    """The signal behind ``exc`` (SIGINT or SIGTERM), if an interruption caused it."""
    for link in _chain(exc):
        if isinstance(link, Terminated):
            return int(signal.SIGTERM)
        if isinstance(link, KeyboardInterrupt):
            return int(signal.SIGINT)
    return None


def _account(exc: BaseException) -> dict[str, Any]:
    """Exactly what an interrupted delete did: the exception's own account first (the data
    layer's), then the audit record it appended, then our progress count."""
    if not _in_flight:
        return {}
    found: dict[str, Any] = {}
    for link in _chain(exc):
        for key in ("deleted", "requested", "backup_path", "audit_path"):
            value = getattr(link, key, None)
            if value is not None and key not in found:
                found[key] = value
    audit = Path(_in_flight["audit_path"])
    record: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError), open(audit, "rb") as handle:
        handle.seek(_in_flight["audit_offset"])
        for line in handle.read().decode("utf-8", "replace").splitlines():
            item = json.loads(line)
            if item.get("action") == "delete" and item.get("collection") == _in_flight["collection"]:
                record = item
    if record:
        found.setdefault("deleted", record.get("deleted"))
        found.setdefault("requested", record.get("previewed"))
        found.setdefault("backup_path", record.get("backup"))
        found.setdefault("audit_path", str(audit))
    found.setdefault("deleted", _in_flight.get("deleted"))
    found.setdefault("requested", _in_flight.get("requested"))
    found.setdefault("backup_path", _in_flight.get("backup_path"))
    return found


def _ingest_account(exc: BaseException) -> Any:
    from .milvus.ingest import IngestStopped

    return next((link for link in _chain(exc) if isinstance(link, IngestStopped)), None)


def _exit_interrupted(exc: BaseException, signum: int, *, as_json: bool = False) -> NoReturn:
    how = "SIGTERM" if signum == signal.SIGTERM else "ctrl+c (SIGINT)"
    lines = [f"Interrupted by {how}."]
    stopped = _ingest_account(exc)
    if stopped is not None:  # the ingest's own account: how many documents were committed
        lines.append(str(stopped))
        if as_json:
            click.echo(json.dumps({"collection": stopped.collection, "interrupted": signal.Signals(signum).name,
                                   "inserted": stopped.committed, "in_flight": stopped.in_flight,
                                   "skipped_documents": stopped.skip, "created": stopped.created},
                                  ensure_ascii=False))
    account = _account(exc)
    if account:
        collection = _in_flight["collection"]
        deleted, requested, backup = account.get("deleted"), account.get("requested"), account.get("backup_path")
        if deleted is None:
            lines.append(f"The delete in '{collection}' stopped; how many entities it deleted is not known: "
                         f"count them with milvus-tui collections.")
        elif deleted:
            rest = f" of {requested}" if requested is not None else ""
            lines.append(f"Deleted {deleted}{rest} entities in '{collection}' before stopping.")
        else:
            lines.append(f"Nothing was deleted in '{collection}'.")
        if backup and deleted:
            lines.append(f"Backup of every previewed entity: {backup}")
            lines.append(f"Undo with: milvus-tui restore {backup}")
        elif backup:
            lines.append(f"Backup file (not needed, nothing was deleted): {backup}")
        if account.get("audit_path"):
            lines.append(f"Audit record: {account['audit_path']}")
        if _in_flight.get("as_json"):
            click.echo(json.dumps({"collection": collection, "interrupted": signal.Signals(signum).name,
                                   "requested": requested, "deleted": deleted, "backup": backup,
                                   "audit": account.get("audit_path")}, ensure_ascii=False))
    click.secho("\n".join(_printable(line) for line in lines), fg="yellow", err=True)
    sys.exit(128 + signum)


def _cli_message(exc: BaseException) -> str:
    """An error's message with the command line's advice, also where it wraps another error."""
    from .errors import MilvusTuiError

    text = exc.for_cli() if isinstance(exc, MilvusTuiError) else str(exc)
    for cause in list(_chain(exc))[1:]:
        if isinstance(cause, MilvusTuiError) and cause.app_hint:
            text = text.replace(str(cause), cause.for_cli())
    return text


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # click would print "Aborted!" and exit 1
            _exit_interrupted(exc, int(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT))


def _fail(message: str, code: int) -> None:
    click.secho(f"Error: {_printable(message)}", fg="red", err=True)
    sys.exit(code)


def _printable(text: str) -> str:
    """Control characters from user input (NUL, ESC sequences) shown, not sent to the terminal."""
    from .printable import printable

    return printable(text)


@contextlib.contextmanager
def _service(settings: Any, *, embeddings: bool = False, keep_open: bool = False) -> Iterator[Any]:
    """Connect (starting embedded Lite if needed), yield a Session, always clean up."""
    from .milvus import MilvusConnection
    from .errors import MilvusTuiError
    from .session import Session

    if not keep_open:  # keep_open hands the connection to the app, which handles its own exits
        _handle_sigterm()
    conn = MilvusConnection(settings.uri, token=settings.token, db_name=settings.db_name, timeout=settings.timeout)
    try:
        try:
            conn.open()
            model = None
            if embeddings:
                from .embeddings import make_embeddings

                model = make_embeddings(settings.embedding_settings())
            yield Session(conn, model, backup_dir=settings.backup_dir, audit_path=settings.audit_path)
        except MilvusTuiError as exc:
            signum = _interruption(exc) or _pending.get("signum")
            if signum is not None:  # the data layer's account of an interrupted operation
                _exit_interrupted(exc, signum)
            _fail(_cli_message(exc), exc.exit_code)
        except Exception as exc:  # embedding errors and the like: still a clear line, never a traceback
            from .errors import scrub
            from .milvus.errors import translate

            if type(exc).__module__.split(".")[0] in ("pymilvus", "grpc"):
                # Raised outside the data layer (the bench drives langchain-milvus directly).
                err = translate(exc)
                _fail(str(err), err.exit_code)
            code = getattr(exc, "exit_code", 1)
            _fail(scrub(str(exc)) or type(exc).__name__, code if isinstance(code, int) else 1)
    finally:
        if not keep_open:
            conn.close()


def _remembered_loads(svc: Any) -> Any:
    from .config import state_dir
    from .loads import for_lite

    return for_lite(state_dir(), svc.conn)


def _remember_if_loaded(svc: Any, collection: str) -> None:
    """A collection created (and loaded) here: later commands on the embedded default load it again."""
    loads = _remembered_loads(svc)
    if loads is not None and svc.run(svc.describe(collection, with_count=False)).loaded:
        loads.remember(collection)


def _describe_loaded(svc: Any, collection: str, load: bool, *, quiet: bool = False) -> Any:
    """The collection, loaded: with ``--load``, or on the embedded default when it was
    loaded before (Lite released it when this command's server started); else NotLoaded
    with advice this command can follow."""
    info = svc.run(svc.describe(collection))
    loads = _remembered_loads(svc)
    if not info.loaded and (load or (loads is not None and collection in loads.names())):
        if not quiet:  # --json output stays one JSON document, even with 2>&1
            click.echo(f"Loading '{collection}' …", err=True)
        svc.run(svc.load(collection))
        info = svc.run(svc.describe(collection))
    if not info.loaded:
        from .errors import NotLoaded

        again = " Later commands on this data directory then load it themselves." if loads is not None else ""
        raise NotLoaded(collection, cli_hint=f"Pass --load, or run: milvus-tui load {collection}.{again}")
    if loads is not None:
        loads.remember(collection)
    return info


def _print_rows(result: Any, as_json: bool, info: Any = None) -> None:
    """Rows as a table or JSON. Data is shown as text, never as Rich markup, and control
    characters in it as escapes (``tui.printable``); with ``info`` (the collection's schema)
    byte vectors are read by their type: bits and numbers, in the table and in the JSON."""
    from .milvus.values import json_row, summarize_vector, vector_types
    from .printable import json_text, printable, printable_text

    types = vector_types(info) if info is not None else {}
    vectors = {f.name: f.dtype for f in info.vector_fields} if info is not None else {}
    if as_json:
        payload = {
            "collection": result.collection, "kind": result.kind, "elapsed_s": round(result.elapsed, 6),
            "rows": [json_row(r, types) for r in result.rows],
        }
        if result.scores is not None:
            payload["scores"] = result.scores
            payload["metric"] = result.metric
        if result.warnings:
            payload["warnings"] = list(result.warnings)
        click.echo(json_text(payload))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{result.collection}: {len(result.rows)} rows in {result.elapsed * 1000:.0f} ms"))
    cols = [c for c in result.columns]
    if result.scores is not None:
        table.add_column("score", justify="right")
    for col in cols:
        table.add_column(Text(printable(col)), overflow="fold", max_width=60)
    for i, row in enumerate(result.rows):
        cells: list[Any] = [f"{result.scores[i]:.4f}"] if result.scores is not None else []
        for col in cols:
            value = row.get(col)
            if value is None:
                cells.append(Text(""))
            elif col in vectors or isinstance(value, (bytes, bytearray)) or (
                    isinstance(value, list) and len(value) > 16):
                cells.append(Text(summarize_vector(value, dtype=vectors.get(col))))
            elif isinstance(value, (dict, list)):
                cells.append(printable_text(json_text(json_row({"v": value})["v"])))
            else:
                cells.append(printable_text(str(value)))
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for warning in result.warnings:
        console.print(Text.assemble(("warning:", "yellow"), " ", printable_text(warning)))


@click.group(cls=_Main, invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
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
            loads = _remembered_loads(svc)
            if loads is not None and svc.run(svc.describe(DEMO_COLLECTION, with_count=False)).loaded:
                loads.remember(DEMO_COLLECTION)  # seeded here: later commands load it again
        if not no_open:
            # Milvus Lite reports collections released after a restart; load the demo now and
            # hand this very server to the app, so it opens on a ready collection.
            if not svc.run(svc.describe(DEMO_COLLECTION, with_count=False)).loaded:
                click.echo(f"Loading '{DEMO_COLLECTION}' …", err=True)
                svc.run(svc.load(DEMO_COLLECTION))
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
        infos = svc.run(svc.describe_all())
        details = {i.name: _details(svc, i) for i in infos}
        databases = svc.run(svc.list_databases())
        loads = _remembered_loads(svc)
        if loads is not None and any(i.loaded for i in infos):  # as the app does on a catalog refresh
            loads.remember(*(i.name for i in infos if i.loaded))
    if as_json:
        click.echo(json.dumps({"databases": databases, "db_name": settings.db_name,
                               "collections": [{**asdict(i), "aliases": list(details[i.name].aliases),
                                                "partition_rows": details[i.name].partition_rows,
                                                "partition_rows_exact": details[i.name].counts_exact}
                                               for i in infos]}, default=str))
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
        indexes = "\n".join(f"{i.field}: {i.index_type} {i.metric_type or ''} {i.progress()}".rstrip()
                            for i in info.indexes)
        more = details[info.name]
        name = info.name + "".join(f"\nalias {a}" for a in more.aliases)
        if len(info.partitions) > 1:  # one partition holds what the rows column says
            name += "".join(f"\n{p}: {more.partition_rows[p]:,}{'' if more.counts_exact else '~'}"
                            if p in more.partition_rows else f"\n{p}" for p in info.partitions)
        table.add_row(name, rows, info.load_state, fields, indexes)
    Console().print(table)


def _details(svc: Any, info: Any) -> Any:
    """Aliases and partition counts; a collection whose details the server refuses is still listed."""
    from .errors import MilvusTuiError
    from .milvus.catalog import CollectionDetails

    try:
        return svc.run(svc.details(info))
    except MilvusTuiError:
        return CollectionDetails(info.name)


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
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        result = svc.run(svc.filter(info, filter_expr, limit=limit, output_fields=_fields(output_fields),
                                    consistency_level=consistency, partition_names=list(partitions) or None))
    _print_rows(result, as_json, info)


@main.command()
@click.argument("collection")
@click.argument("text", required=False)
@click.option("--k", "-k", default=10, show_default=True, help="How many results.")
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--anns-field", help="The vector field to search (when there are several). Text on a BM25 "
              "function's output field is a full-text search.")
@click.option("--mmr", "mmr", nargs=2, type=(int, float), default=None,
              help="Diverse results: FETCH_K LAMBDA, e.g. --mmr 40 0.5.")
@click.option("--by-key", "by_key", help="Search with the stored vectors of these primary keys (comma-separated "
              "or a JSON list), instead of TEXT; they are left out of the hits.")
@click.option("--sparse", help='Search with this sparse vector (JSON: {"17": 0.4, "942": 1.2}).')
@click.option("--vector", help="Search with this dense vector (a JSON list of numbers).")
@click.option("--radius", type=float, help="Range search: only hits within this radius (the metric's own terms).")
@click.option("--range-filter", type=float, help="Range search: the other end of the window.")
@click.option("--group-by", help="Group hits by this scalar field (one group per value).")
@click.option("--group-size", type=int, help="Hits per group (with --group-by).")
@click.option("--strict-group-size", is_flag=True, help="Only full groups (with --group-by).")
@click.option("--param", "params", multiple=True, help="A search parameter of the index, e.g. ef=64, nprobe=16.")
@click.option("--hybrid", "hybrid", multiple=True, metavar="FIELD[;k=N][;filter=EXPR][;PARAM=V]",
              help="Hybrid search: repeat for each field to search with the same query (TEXT, --by-key, "
                   "--sparse or --vector), e.g. --hybrid vec --hybrid 'sparse;k=50;filter=n > 2'; each part may "
                   "set its own k, filter and index parameters; fused with RRF unless --weights.")
@click.option("--rrf", "rrf_k", type=int, default=60, show_default=True, help="RRF's k (hybrid search).")
@click.option("--weights", help="Fuse a hybrid search with these weights instead of RRF, one per --hybrid field.")
@click.option("--part-k", type=int, help="How many hits each part of a hybrid search fetches (default: k).")
@_query_options
@click.pass_context
def search(ctx: click.Context, collection: str, text: str | None, k: int, filter_expr: str, anns_field: str | None,
           mmr: tuple[int, float] | None, by_key: str | None, sparse: str | None, vector: str | None,
           radius: float | None, range_filter: float | None, group_by: str | None, group_size: int | None,
           strict_group_size: bool, params: tuple[str, ...], hybrid: tuple[str, ...], rrf_k: int,
           weights: str | None, part_k: int | None, output_fields: str | None, consistency: str | None,
           partitions: tuple[str, ...], load_first: bool, as_json: bool) -> None:
    """Search: semantic (embed TEXT), full text (TEXT on a BM25 field), by key, by a pasted
    dense or sparse vector; range, group-by and hybrid searches; scores shown."""
    from .milvus.search import Fusion, SearchQuery, SearchShape, parse_params

    given = [name for name, value in (("TEXT", text), ("--by-key", by_key), ("--sparse", sparse),
                                      ("--vector", vector)) if value]
    if len(given) != 1:
        _fail("Give exactly one query: TEXT, --by-key, --sparse or --vector.", 2)
    # A k above one search's window of 16,384 pages through score windows (vector_search).
    plain = not (by_key or sparse or vector or radius is not None or range_filter is not None or group_by
                 or params or hybrid or (k > 16_384 and not mmr))
    settings = _settings(ctx)
    with _service(settings, embeddings=bool(text)) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        common = dict(output_fields=_fields(output_fields), consistency_level=consistency,
                      partition_names=list(partitions) or None)
        if plain and not _is_sparse_field(info, anns_field):
            result = svc.run(svc.search(info, text or "", k=k, expr=filter_expr, anns_field=anns_field, mmr=mmr,
                                        **common))
        else:
            if mmr:
                _fail("--mmr goes with a plain text search only.", 2)
            source, value = (("key", _parse_ids(by_key, info, "--by-key")) if by_key else ("sparse", sparse) if sparse
                             else ("vector", vector) if vector else ("text", text))
            extra = parse_params(params)
            if hybrid:
                fusion = (Fusion("weighted", weights=tuple(float(w) for w in weights.split(",")))
                          if weights else Fusion("rrf", k=rrf_k))
                parts = [_hybrid_part(spec, source, value, part_k or k, filter_expr, extra) for spec in hybrid]
                result = svc.run(svc.hybrid_search(info, parts, fusion=fusion, k=k, **common))
            else:
                query = SearchQuery(source, value, anns_field=anns_field, k=k, expr=filter_expr, params=extra)
                shape = SearchShape(radius, range_filter, group_by, group_size, strict_group_size)
                result = svc.run(svc.vector_search(info, query, shape=shape, **common))
    _print_rows(result, as_json, info)


def _hybrid_part(spec: str, source: str, value: Any, k: int, expr: str, params: dict[str, Any]) -> Any:
    """One part of a hybrid search: ``FIELD[;k=N][;filter=EXPR][;PARAM=VALUE]`` (the rest from the
    command's own k, --filter and --param)."""
    from .milvus.search import SearchQuery, parse_params

    name, *settings = [piece.strip() for piece in spec.split(";")]
    own = dict(params)
    for setting in settings:
        key, sep, raw = setting.partition("=")
        if not sep:
            _fail(f"--hybrid {spec!r}: write FIELD;k=N;filter=EXPR;PARAM=VALUE (got {setting!r}).", 2)
        if key.strip() == "k":
            try:
                k = int(raw)
            except ValueError:
                _fail(f"--hybrid {spec!r}: k must be a whole number.", 2)
        elif key.strip() == "filter":
            expr = raw.strip()
        else:
            own.update(parse_params([setting]))
    return SearchQuery(source, value, anns_field=name, k=k, expr=expr, params=own, label=name)


def _is_sparse_field(info: Any, name: str | None) -> bool:
    """A search named a sparse field (BM25 full text, or a sparse vector field)."""
    if name:
        return any(f.name == name and f.dtype == "SPARSE_FLOAT_VECTOR" for f in info.fields)
    return not any(f.dtype == "FLOAT_VECTOR" for f in info.fields) and any(
        f.dtype == "SPARSE_FLOAT_VECTOR" for f in info.fields)


@main.command()
@click.argument("collection")
@click.option("--filter", "filter_expr", help="Delete entities matching this expression.")
@click.option("--ids", help="Comma-separated primary keys to delete (JSON list also accepted).")
@click.option("--yes", "-y", is_flag=True, help="Apply the delete. Without it, only preview.")
@click.option("--no-backup", is_flag=True, help="Skip the JSONL backup (not recommended).")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def delete(ctx: click.Context, collection: str, filter_expr: str | None, ids: str | None, yes: bool,
           no_backup: bool, load_first: bool, as_json: bool) -> None:
    """Preview (default) or apply (--yes) a delete; entities are backed up first.

    Interrupted (ctrl+c, SIGTERM), it says how many entities it deleted and where the backup
    is, and exits 130 (143 for SIGTERM)."""
    if bool(filter_expr) == bool(ids):
        _fail("Give exactly one of --filter or --ids.", 2)
    settings = _settings(ctx)
    with _service(settings) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        keys = _parse_ids(ids, info) if ids else None
        preview = svc.run(svc.preview_delete(info, expr=filter_expr, keys=keys))
        if yes and preview.count and not as_json:
            # Said before anything is deleted: what undo will do on this server.
            click.echo(f"Deleting {preview.count} entities from '{collection}'. {preview.undo.summary}", err=True)
        report = None
        if yes and preview.count:
            report = _run_delete(svc, settings, info, preview, backup=not no_backup, as_json=as_json)
        after = svc.run(svc.count(collection)) if report else None
    from .milvus.values import encode_row, json_row, vector_types
    from .printable import json_text

    if as_json:
        out: dict[str, Any] = {"collection": collection, "filter": preview.expr, "matched": preview.count,
                               "sample": [json_row(r, vector_types(info)) for r in preview.sample], "applied": report is not None,
                               "undo": {"method": preview.undo.method, "keeps_keys": preview.undo.keeps_keys,
                                        "summary": preview.undo.summary}}
        if report:
            out.update(deleted=report.deleted, backup=report.backup_path, audit=report.audit_path, count_after=after,
                       warnings=list(report.warnings))
        click.echo(json_text(out))
        return
    click.echo(f"{preview.count} entities match in '{collection}'.")
    for row in preview.sample[:5]:
        click.echo("  " + json_text({k: v for k, v in encode_row(row).items() if not isinstance(v, list)})[:200])
    if report:
        click.echo(f"Deleted {report.deleted}. Backup: {report.backup_path or 'none'}. {after} entities remain.")
        click.echo(f"Undo with: milvus-tui restore {report.backup_path}" if report.backup_path else "")
        for warning in report.warnings:
            click.echo(f"Warning: {warning}", err=True)
    elif preview.count:
        click.echo(preview.undo.summary)
        click.echo("Nothing deleted: this was a preview. Add --yes to delete.")


def _run_delete(svc: Any, settings: Any, info: Any, preview: Any, *, backup: bool, as_json: bool) -> Any:
    from .milvus.ops import Context, Progress

    audit = Path(settings.audit_path)
    try:
        offset = audit.stat().st_size
    except OSError:
        offset = 0
    _in_flight.update(collection=info.name, requested=preview.count, deleted=0, audit_path=str(audit),
                      audit_offset=offset, as_json=as_json)

    def progress(p: Progress) -> None:
        if p.what == "deleting":
            _in_flight["deleted"] = p.done
        if not as_json:
            click.echo(f"\r{p.what}: {p.done}/{p.total}   ", nl=False, err=True)

    try:
        with _deferred_interrupts() as stopping:
            report = svc.run(svc.delete(info, preview, backup=backup), Context(on_progress=progress, is_cancelled=stopping))
    finally:
        if not as_json:
            click.echo("", err=True)
    _in_flight.clear()
    return report


def _parse_ids(text: str, info: Any, flag: str = "--ids") -> list[Any]:
    from .errors import InvalidInput
    from .milvus.search import parse_keys

    try:
        return parse_keys(text, info, flag)
    except InvalidInput as exc:
        _fail(str(exc), 2)
        raise  # unreachable: _fail exits


@main.command()
@click.argument("backup", type=click.Path(path_type=Path))
@click.option("--collection", help="Restore into this collection instead of the original.")
@click.option("--partial", is_flag=True, help="Restore a backup that was cut short (what it holds).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def restore(ctx: click.Context, backup: Path, collection: str | None, partial: bool, as_json: bool) -> None:
    """Put back what a backup holds (database, partition, keys); safe to run twice.

    A delete's or an edit's entities go back into their collection; a dropped collection is
    re-created first (schema, indexes, properties, partitions, aliases), a dropped partition too."""
    with _service(_settings(ctx)) as svc:
        db_name = ctx.obj.get("db_name") if isinstance(ctx.obj, dict) else None
        report = svc.run(svc.restore(backup, collection=collection, partial=partial, db_name=db_name))
    if as_json:
        click.echo(json.dumps({"collection": report.collection, "db_name": report.db_name,
                               "restored": report.restored, "skipped": report.skipped, "method": report.method,
                               "backup": report.backup_path, "key_map": report.key_map,
                               "operation": report.operation, "notes": list(report.notes)}, default=str))
    else:
        where = f"'{report.collection}'" + (f" (database '{report.db_name}')" if report.db_name != "default" else "")
        click.echo(f"Restored {report.restored} entities into {where}."
                   + (f" {report.skipped} were already there." if report.skipped else ""))
        if report.key_map:
            click.echo("This server gave them new primary keys; the old -> new map is in the audit log.")
        for note in report.notes:  # what a drop's restore could not put back as it was
            click.echo(_printable(note))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--collection", "-c", "target", required=True, help="Collection (created when missing).")
@click.option("--text-key", help="The JSON key or CSV column holding the text.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "txt", "parquet"]),
              help="Default: from the extension.")
@click.option("--batch-size", default=256, show_default=True)
@click.option("--full-text", is_flag=True, help="A new collection also gets a BM25 function on its text "
              "(full-text and hybrid search; Milvus 2.5+ or Milvus Lite).")
@click.option("--skip", default=0, show_default=True, type=click.IntRange(min=0),
              help="Pass over the first N documents (to continue an ingest the server stopped).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ingest(ctx: click.Context, file: Path, target: str, text_key: str | None, fmt: str | None,
           batch_size: int, full_text: bool, skip: int, as_json: bool) -> None:
    """Add documents from a JSONL, CSV, Parquet or plain-text file (embedded in batches).

    A Parquet file with vectors (written by `milvus-tui export`, or another tool's with a
    list-of-floats column) goes in as it is, nothing embedded: a missing collection is made
    from the file's schema, with the same keys, fields, vectors and partitions.

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

    from .milvus.ingest import IngestStopped

    parquet, vectors = _parquet_input(file, fmt)
    with _service(_settings(ctx), embeddings=not vectors) as svc:
        try:
            # ctrl+c and SIGTERM stop between batches, so the number committed is exact.
            with _deferred_interrupts() as stopping:
                if parquet:
                    operation = svc.ingest_parquet(target, file, text_key=text_key, batch_size=batch_size,
                                                   skip=skip, full_text=full_text)
                else:
                    operation = svc.ingest(target, DocumentFile(file, text_key=text_key, fmt=fmt),
                                           batch_size=batch_size, skip=skip, full_text=full_text)
                report = svc.run(operation, Context(on_progress=progress, is_cancelled=stopping))
        except IngestStopped as exc:
            if not as_json and not _pending:
                click.echo("", err=True)  # end the progress line ("Stopping …" has ended it otherwise)
            if exc.created:
                with contextlib.suppress(Exception):
                    _remember_if_loaded(svc, exc.collection)
            _exit_interrupted(exc, _interruption(exc) or _pending.get("signum") or int(signal.SIGINT),
                              as_json=as_json)
        _remember_if_loaded(svc, report.collection)
    keys = report.keys
    if as_json:
        click.echo(json.dumps({"collection": report.collection, "inserted": report.inserted,
                               "created": report.created, "skipped_keys": list(report.skipped_keys),
                               "skipped_documents": report.skipped_documents,
                               "keys": keys.as_dict() if keys else None}, ensure_ascii=False))
    else:
        unit = "entities" if vectors else "documents"
        click.echo(f"\nInserted {report.inserted} {unit} into '{_printable(report.collection)}'"
                   + (" (new collection)." if report.created else "."))
        if keys and keys.sentence():
            click.echo(_printable(keys.sentence()))
        if report.skipped_keys:
            click.echo(f"Not in the schema, so skipped: {_printable(', '.join(report.skipped_keys))}")


def _parquet_input(file: Path, fmt: str | None) -> tuple[bool, bool]:
    """(the file is Parquet, it carries vectors): such a file needs no embedding model."""
    if (fmt or file.suffix.lstrip(".").lower()) not in ("parquet", "pq"):
        return False, False
    from .errors import MilvusTuiError
    from .milvus.parquet import open_source

    try:
        return True, open_source(file).has_vectors
    except MilvusTuiError as exc:
        _fail(_cli_message(exc), exc.exit_code)
        raise  # not reached: _fail exits


@main.command()
@click.argument("collection")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), help="Default: from the extension.")
@click.option("--output-fields", "-o", help="Comma-separated fields (default: all).")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def export(ctx: click.Context, collection: str, out: Path, filter_expr: str, fmt: str | None,
           output_fields: str | None, load_first: bool, as_json: bool) -> None:
    """Stream a whole collection or filter result to JSONL, CSV or Parquet.

    Parquet keeps the schema and each entity's partition, so `milvus-tui ingest FILE -c NEW`
    brings the collection back as it was."""
    with _service(_settings(ctx)) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        report = svc.run(svc.export(info, out, expr=filter_expr, fmt=fmt, output_fields=_fields(output_fields)))
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
        svc.run(svc.load(collection))
        loads = _remembered_loads(svc)
        if loads is not None:
            loads.remember(collection)
    if loads is not None:
        click.echo(f"'{collection}' is loaded, and later commands on this data directory load it again "
                   "(Milvus Lite releases everything when its server restarts).")
    else:
        click.echo(f"'{collection}' is loaded.")


@main.command()
@click.argument("collection")
@click.pass_context
def release(ctx: click.Context, collection: str) -> None:
    """Release a collection from memory."""
    with _service(_settings(ctx)) as svc:
        loads = _remembered_loads(svc)
        if loads is not None:
            loads.forget(collection)  # what the user asked for, even if the release then fails
        svc.run(svc.release(collection))
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
@click.option("--concurrency", default="unbounded", show_default=True,
              help="Async concurrency limit: a number (34: 100 operations in 3 waves), or 'unbounded' "
                   "(as in the seed tutorial and the timing panel).")
@click.option("--modes", default="async,sync,batched", show_default=True,
              help="Comma-separated: async, sync (thread), batched, blocking (sync on the event loop).")
@click.option("--corpus", default=500, show_default=True, help="Documents loaded for read operations.")
@click.option("--simulated-latency", default="off", show_default=True,
              type=click.Choice(["off", "50", "100", "250"]),
              help="Simulated remote embedding API: embeddings come from a loopback OpenAI-compatible "
                   "endpoint serving the local model after this many ms per request (the seed's network, offline).")
@click.option("--simulated-milvus-latency", default="off", show_default=True,
              type=click.Choice(["off", "10", "25", "50", "100", "250"]),
              help="Simulated remote Milvus: a loopback delay line in front of the server, ms per round trip "
                   "(plain http:// servers, such as the embedded Lite child).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@click.pass_context
def bench(ctx: click.Context, ops: str, ns: str, concurrency: str, modes: str, corpus: int, simulated_latency: str,
          simulated_milvus_latency: str, as_json: bool, markdown: bool) -> None:
    """Time the same operations sync, async and batched on a scratch collection."""
    import asyncio

    from .timing import BenchConfig, run_bench, to_json, to_markdown
    from .timing.simulated import parse_ms

    limit = None if concurrency.lower() in ("unbounded", "none", "0") else _csv_list(concurrency, int)[0]
    config = BenchConfig(ops=_csv_list(ops), ns=_csv_list(ns, int), modes=_csv_list(modes), concurrency=limit,
                         corpus=corpus, simulated_embedding_ms=parse_ms(simulated_latency),
                         simulated_milvus_ms=parse_ms(simulated_milvus_latency))
    try:
        config.validate()
    except ValueError as exc:
        _fail(str(exc), 2)
    settings = _settings(ctx)
    # The simulated endpoint replaces the configured embeddings for the run: none to load.
    with _service(settings, embeddings=not config.simulated_embedding_ms) as svc:
        def progress(op: str, mode: str, done: int, total: int) -> None:
            if not as_json and sys.stderr.isatty():
                click.echo(f"\r{op} {mode}: {done}/{total}   ", nl=False, err=True)

        connection = svc.bench_connection()
        if config.simulated_milvus_ms and not str(connection.get("uri", "")).startswith("http://"):
            _fail("--simulated-milvus-latency needs a server reached over plain http:// (the embedded Milvus "
                  "Lite child is one); this connection is not.", 2)
        run = asyncio.run(run_bench(config, connection, svc.embeddings, progress=progress))
    if as_json:
        simulated = {"label": run.simulated, "embedding_ms": config.simulated_embedding_ms,
                     "milvus_ms": config.simulated_milvus_ms, "pids": run.remote_pids,
                     "ports": run.remote_ports} if run.simulated else None
        click.echo(to_json(run.results, scratch_collection=run.scratch, scratch_dropped=run.dropped,
                           embeddings=run.embeddings, server=svc.conn.kind, simulated=simulated))
        return
    if markdown:
        click.echo(to_markdown(run.results))
        return
    _print_bench(run)


def _print_bench(run: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .timing import OPERATIONS

    console = Console()
    if run.simulated:  # first, in bold: nobody should take these figures for a real network's
        console.print(f"[bold yellow]{escape(run.simulated)}[/] (embeddings: {escape(run.embeddings)})")
    summary = Table(title="Sync vs async (wall time, seconds) — shaped like the seed tutorial's table"
                    + (" — SIMULATED network" if run.simulated else ""))
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


# Subcommands by topic (tui/commands/): one import each registers its commands.
from .commands import drops as _drops  # noqa: E402,F401
from .commands import serve as _serve_command  # noqa: E402,F401  (milvus-tui serve)
from .commands import edit as _edit_commands  # noqa: E402,F401  (milvus-tui edit)
from .commands import quality as _quality  # noqa: E402,F401  (milvus-tui duplicates, scan)
