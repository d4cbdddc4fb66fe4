"""``milvus-tui drop`` (a collection, a partition, or ``--truncate``), always backed up first, and
``milvus-tui backups`` (the backups and audit records on disk). ``milvus-tui restore BACKUP``
undoes a drop or a truncate too (``Session.restore`` reads the backup's operation).

A drop is confirmed by the collection's name, never by ``--yes``: ``--confirm NAME``, or the
name typed at the prompt when standard input is a terminal. Without either it is a preview:
the entity count, the backup's size estimate and the disk's free space.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..cli import _deferred_interrupts, _exit_interrupted, _fail, _pending, _printable, _remembered_loads, \
    _service, _settings, main


@main.command()
@click.argument("collection")
@click.option("--partition", help="Drop this partition (its entities) instead of the whole collection.")
@click.option("--truncate", is_flag=True, help="Empty the collection (delete every entity); it stays, with its "
              "indexes, partitions and aliases.")
@click.option("--confirm", "confirm", metavar="NAME", help="The collection's name, to drop without a prompt. "
              "Without it (and no terminal to type it at) this is a preview.")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released (the "
              "backup reads every entity).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def drop(ctx: click.Context, collection: str, partition: str | None, truncate: bool, confirm: str | None,
         load_first: bool, as_json: bool) -> None:
    """Drop a collection (or --partition P, or --truncate to empty it), backed up first.

    The backup holds the schema, functions, indexes, properties, partitions, aliases and every
    entity; `milvus-tui restore BACKUP` re-creates the collection from it. Refused before anything
    is written or dropped when the backup's disk cannot hold it."""
    from ..milvus import drops

    if partition and truncate:
        _fail("Give --partition or --truncate, not both.", 2)
    operation = drops.DROP_PARTITION if partition else drops.TRUNCATE if truncate else drops.DROP_COLLECTION
    settings = _settings(ctx)
    with _service(settings) as svc:
        info = svc.run(svc.describe(collection))
        loads = _remembered_loads(svc)
        # The embedded default comes up with everything released: remembered loads say what was loaded.
        remembered = loads is not None and info.name in loads.names()
        if not info.loaded and not (load_first or remembered):
            from ..errors import NotLoaded

            raise NotLoaded(collection, cli_hint="Pass --load (the backup reads every entity; the restore "
                            "leaves it released as it is now).")
        if not info.loaded and not as_json:
            click.echo(f"Loading '{collection}' …", err=True)
        preview = svc.run(svc.preview_drop(info, operation=operation, partition=partition, load=True,
                                           was_loaded=info.loaded or remembered))
        name = preview.collection  # the collection's own name, also when an alias was given
        if confirm is not None and confirm != name:
            _fail(f"--confirm '{confirm}' does not match the collection's name '{name}'; nothing was dropped.", 2)
        typed = confirm
        if typed is None and not as_json and sys.stdin.isatty():
            _print_preview(preview)
            if preview.refusal():
                _fail(preview.refusal() or "", 1)
            typed = click.prompt(f"Type the collection's name ({name}) to go ahead, or press enter to cancel",
                                 default="", show_default=False, err=True)
            if typed != name:
                click.echo("Cancelled: the name did not match; nothing was dropped.")
                return
        report = None
        if typed == name:
            if preview.refusal():
                _fail(preview.refusal() or "", 1)
            # Described again: the preview may have loaded it (the embedded default, or --load).
            report = _run(svc, svc.run(svc.describe(name)), preview, as_json)
    if as_json:
        click.echo(json.dumps(_preview_json(preview) | ({"applied": True, **_report_json(report)} if report
                                                        else {"applied": False}), default=str, ensure_ascii=False))
        return
    if report is None:
        _print_preview(preview)
        click.echo(f"Nothing dropped: this was a preview. Add --confirm {name} to go ahead.")
        return
    done = {drops.DROP_COLLECTION: "Dropped", drops.DROP_PARTITION: "Dropped", drops.TRUNCATE: "Emptied"}
    click.echo(_printable(f"{done[operation]}: {preview.what} ({report.removed:,} entities). "
                          f"Backup: {report.backup_path} ({drops.human_bytes(report.backup_bytes)})."))
    click.echo(_printable(f"Undo with: milvus-tui restore {report.backup_path}"))
    for warning in report.warnings:
        click.echo(f"Warning: {_printable(warning)}", err=True)


def _print_preview(preview: Any) -> None:
    click.echo(_printable(preview.summary()))
    if preview.refusal():
        click.echo(_printable(preview.refusal()), err=True)


def _preview_json(preview: Any) -> dict[str, Any]:
    return {"operation": preview.operation, "collection": preview.collection, "db_name": preview.db_name,
            "partition": preview.partition, "count": preview.count, "estimate_bytes": preview.estimate_bytes,
            "row_bytes": preview.row_bytes, "free_bytes": preview.free_bytes, "fits": preview.fits,
            "aliases": preview.definition.get("aliases", []),
            "undo": {"method": preview.undo.method, "keeps_keys": preview.undo.keeps_keys,
                     "summary": preview.undo_summary()}}


def _report_json(report: Any) -> dict[str, Any]:
    return {"removed": report.removed, "backed_up": report.backed_up, "backup": report.backup_path,
            "backup_bytes": report.backup_bytes, "audit": report.audit_path,
            "aliases_dropped": list(report.aliases_dropped), "warnings": list(report.warnings)}


def _run(svc: Any, info: Any, preview: Any, as_json: bool) -> Any:
    from ..milvus.ops import Context, Progress

    def progress(p: Progress) -> None:
        if not as_json and p.total:
            click.echo(f"\r{p.what}: {p.done:,}/{p.total:,}   ", nl=False, err=True)

    try:
        with _deferred_interrupts() as stopping:
            return svc.run(svc.drop_backed_up(info, preview), Context(on_progress=progress, is_cancelled=stopping))
    except Exception as exc:
        signum = _pending.get("signum")
        if signum is not None:
            click.echo("", err=True)
            click.secho(_printable(str(exc)), fg="yellow", err=True)
            _exit_interrupted(exc, signum, as_json=as_json)
        raise
    finally:
        if not as_json:
            click.echo("", err=True)


@main.command()
@click.option("--all-servers", is_flag=True, help="Every server's backups and records, not only this one's.")
@click.option("--audit", "audit_only", is_flag=True, help="Only the audit records.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backups(ctx: click.Context, all_servers: bool, audit_only: bool, as_json: bool) -> None:
    """List the backups (newest first) and the audit log: when, what, how many, the file and its size."""
    from dataclasses import asdict

    from ..milvus import backups as files
    from ..milvus.drops import human_bytes
    from ..printable import json_text

    settings = _settings(ctx)
    from ..errors import display_uri

    # Files only: no server is started or asked. "This server" is the URI the settings name.
    server = None if all_servers else display_uri(settings.uri)
    listing = files.listing(Path(settings.backup_dir), Path(settings.audit_path), server=server)
    if as_json:
        click.echo(json_text({"server": listing.server, "backup_dir": listing.backup_dir,
                              "audit_path": listing.audit_path,
                              "backups": [] if audit_only else [asdict(b) for b in listing.backups],
                              "audit": [{k: v for k, v in asdict(a).items() if k != "raw"} for a in listing.audit]},
                             default=str))
        return
    where = "every server" if server is None else server
    if not audit_only:
        click.echo(_printable(f"Backups in {listing.backup_dir} ({where}): {len(listing.backups)}"))
        for b in listing.backups:
            count = f"{b.count:,}" if b.count is not None else "?"
            state = "" if b.whole else "  (cut short)"
            if b.problem:
                state = f"  ({b.problem})"
            what = f"{b.operation} {b.db_name}.{b.collection}" + (f" [{b.description}]" if b.description else "")
            click.echo(_printable(f"  {b.created}  {what}  {count} entities  {human_bytes(b.size)}  "
                                  f"{b.path}{state}"))
    click.echo(_printable(f"Audit log {listing.audit_path} ({where}): {len(listing.audit)} records"))
    for a in listing.audit[:200]:
        count = f"{a.count:,}" if a.count is not None else ""
        what = f"{a.action} {a.status}".strip() + f"  {a.db_name}.{a.collection}".rstrip(".")
        click.echo(_printable(f"  {a.time}  {what}  {count}  {a.description}  {a.backup or ''}".rstrip()))
    if len(listing.audit) > 200:
        click.echo(f"  … {len(listing.audit) - 200} older records (see --json).")

