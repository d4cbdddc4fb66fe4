"""``milvus-tui edit``: set fields (or remove dynamic keys) on every entity a filter matches.

Preview by default (the count and a before/after sample; nothing is written); ``--yes`` backs
the entities up and applies the edit. ``milvus-tui restore BACKUP`` undoes it.
"""

from __future__ import annotations

from typing import Any

import click

from ..cli import _deferred_interrupts, _describe_loaded, _fail, _service, _settings, main


@main.command()
@click.argument("collection")
@click.option("--filter", "filter_expr", help="Edit the entities matching this filter expression.")
@click.option("--ids", help="Edit these primary keys instead (comma-separated, or a JSON list).")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Set a field (typed by the schema: text as is, numbers, true/false, JSON for JSON and "
                   "ARRAY fields, null for a nullable field) or a dynamic key. Repeatable.")
@click.option("--unset", "unsets", multiple=True, metavar="KEY", help="Remove a dynamic key. Repeatable.")
@click.option("--yes", "-y", is_flag=True, help="Apply the edit (after a backup). Without it, only preview.")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def edit(ctx: click.Context, collection: str, filter_expr: str | None, ids: str | None, sets: tuple[str, ...],
         unsets: tuple[str, ...], yes: bool, load_first: bool, as_json: bool) -> None:
    """Preview (default) or apply (--yes) an edit; the entities are backed up first.

    Undo it with: milvus-tui restore BACKUP (the path it prints)."""
    from ..errors import EditIncomplete
    from ..milvus.ops import Context, Progress
    from ..printable import json_text, printable

    if bool(filter_expr) == bool(ids):
        _fail("Give exactly one of --filter or --ids.", 2)
    settings = _settings(ctx)
    with _service(settings) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        keys = None
        if ids:
            from ..milvus.search import parse_keys

            keys = parse_keys(ids, info, "--ids")
        preview = svc.run(svc.preview_edit(info, sets=list(sets), unsets=list(unsets), expr=filter_expr, keys=keys))
        report = None
        if yes and preview.count:
            def progress(p: Progress) -> None:
                if not as_json:
                    click.echo(f"\r{p.what}: {p.done}/{p.total}   ", nl=False, err=True)

            try:
                with _deferred_interrupts() as stopping:
                    report = svc.run(svc.edit(info, preview), Context(on_progress=progress, is_cancelled=stopping))
            except EditIncomplete as exc:
                if as_json:
                    click.echo(json_text({"collection": collection, "matched": preview.count, "applied": False,
                                          "stopped": True, "edited": exc.edited, "backup": exc.backup_path}))
                _fail(str(exc), exc.exit_code)
            finally:
                if not as_json:
                    click.echo("", err=True)
    from ..milvus.values import encode_row

    sample = [{"before": encode_row(b), "after": encode_row(a)} for b, a in preview.sample]
    if as_json:
        out: dict[str, Any] = {"collection": collection, "filter": preview.expr, "edit": preview.description,
                               "changes": [c.as_dict() for c in preview.changes], "matched": preview.count,
                               "sample": sample, "applied": report is not None}
        if report:
            out.update(edited=report.edited, backup=report.backup_path, audit=report.audit_path,
                       warnings=list(report.warnings))
        click.echo(json_text(out))
        return
    click.echo(printable(f"{preview.count} entities match in '{collection}'. Edit: {preview.description}"))
    for item in sample:
        click.echo("  before " + json_text(item["before"])[:200])
        click.echo("  after  " + json_text(item["after"])[:200])
    if report:
        click.echo(f"Edited {report.edited}. Backup of the entities as they were: {report.backup_path}")
        click.echo(f"Undo with: milvus-tui restore {report.backup_path}")
        for warning in report.warnings:
            click.echo(f"Warning: {printable(warning)}", err=True)
    elif preview.count:
        click.echo("Nothing changed: this was a preview. Add --yes to back up and apply the edit.")
