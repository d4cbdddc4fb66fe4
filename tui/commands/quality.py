"""``milvus-tui duplicates`` and ``milvus-tui scan``: find duplicates and data-quality problems.

``duplicates`` previews by default; ``--yes`` deletes every member a keep policy does not keep,
through the same chain as ``delete --yes`` (preview by keys at Strong, fsynced backup, delete,
audit; ``milvus-tui restore BACKUP`` undoes it). Duplicate primary keys are brought down to one
copy each (every copy deleted with a backup, the backup restored: one copy per key comes back).
"""

from __future__ import annotations

from typing import Any

import click

from ..cli import _describe_loaded, _fail, _printable, _run_delete, _service, _settings, main


def _key_text(key: Any) -> str:
    return _printable(repr(key) if isinstance(key, str) else str(key))


@main.command()
@click.argument("collection")
@click.option("--threshold", "-t", type=float,
              help="Near-duplicates: COSINE/IP similarity >= T, or L2 (squared) distance <= T.")
@click.option("--field", "anns_field", help="The vector field for near-duplicates (default: the only one).")
@click.option("--exact-field", help="Exact duplicates: the same value of this field (a vector field: the same vector).")
@click.option("--primary-keys", is_flag=True, help="Duplicate primary keys (a key stored more than once).")
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--keep", "keep", default="first", show_default=True,
              help="Which member of a group stays: first, newest:FIELD, longest:FIELD.")
@click.option("--yes", "-y", is_flag=True, help="Delete the others (backed up first). Without it, only preview.")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def duplicates(ctx: click.Context, collection: str, threshold: float | None, anns_field: str | None,
               exact_field: str | None, primary_keys: bool, filter_expr: str, keep: str, yes: bool,
               load_first: bool, as_json: bool) -> None:
    """Find near-duplicates, exact duplicates or duplicate primary keys; --yes keeps one per group."""
    from ..errors import InvalidInput
    from ..milvus import duplicates as dups
    from ..printable import json_text

    chosen = sum(x is not None and x is not False for x in (threshold, exact_field, primary_keys or None))
    if chosen != 1:
        _fail("Give exactly one of --threshold (near-duplicates), --exact-field or --primary-keys.", 2)
    try:
        policy = dups.KeepPolicy.parse(keep)
    except InvalidInput as exc:
        _fail(str(exc), 2)
        raise
    if policy.how == "hand":
        _fail("Choosing by hand is for the app; here use first, newest:FIELD or longest:FIELD.", 2)
    settings = _settings(ctx)
    fixed = deleted = None
    with _service(settings) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        shown = None
        if policy.field:
            if policy.field not in info.field_names and not info.enable_dynamic_field:
                _fail(f"Unknown field '{policy.field}' for --keep. Fields of '{collection}': "
                      f"{', '.join(info.field_names)}.", 2)
            text = info.pick_text_field()
            shown = list(dict.fromkeys([*([text.name] if text else []), policy.field]))
        progress = None if as_json else dups.progress_printer(lambda s: click.echo(s, nl=False, err=True))
        from ..milvus.ops import Context

        report = svc.run(svc.find_duplicates(info, threshold=threshold, anns_field=anns_field,
                                             exact_field=exact_field, primary_keys=primary_keys,
                                             expr=filter_expr, fields=shown),
                         Context(on_progress=progress))
        if not as_json:
            click.echo("", err=True)
        doomed = [g.keys[0] for g in report.groups] if report.kind == dups.PRIMARY_KEY \
            else dups.others(report, policy)
        if yes and doomed:
            if report.kind == dups.PRIMARY_KEY:
                fixed = svc.run(svc.keep_one_copy(info, doomed))
            else:
                preview = svc.run(svc.preview_delete(info, keys=doomed))
                if not as_json:
                    click.echo(f"Deleting {preview.count} entities from '{collection}'. {preview.undo.summary}",
                               err=True)
                deleted = _run_delete(svc, settings, info, preview, backup=True, as_json=as_json)
        after = svc.run(svc.count(collection)) if (fixed or deleted) else None
    if as_json:
        out: dict[str, Any] = {
            "collection": collection, "kind": report.kind, "comparison": report.comparison,
            "metric": report.metric, "threshold": report.threshold, "field": report.field,
            "filter": report.expr, "scanned": report.scanned, "elapsed": round(report.elapsed, 3),
            "groups": [dups.group_json(g, report.metric) for g in report.groups],
            "duplicates": report.duplicates, "keep": policy.label, "to_delete": doomed,
            "applied": bool(fixed or deleted), "warnings": list(report.warnings)}
        if deleted:
            out.update(deleted=deleted.deleted, backup=deleted.backup_path, audit=deleted.audit_path,
                       count_after=after)
        if fixed:
            out.update(deleted=fixed.deleted, restored=fixed.restored, backup=fixed.backup_path, count_after=after)
        click.echo(json_text(out, default=str))
        return
    click.echo(f"{len(report.groups)} group{'' if len(report.groups) == 1 else 's'} ({report.comparison}) among {report.scanned:,} entities "
               f"of '{collection}' in {report.elapsed:.1f} s.")
    for n, group in enumerate(report.groups[:50], 1):
        if group.kind == dups.PRIMARY_KEY:
            click.echo(f"  {n}. key {_key_text(group.keys[0])}: {group.copies} copies")
            continue
        members = []
        for key, distance in zip(group.keys, group.distances):
            members.append(_key_text(key) + (f" ({distance:.4g})" if distance is not None else ""))
        click.echo(f"  {n}. {group.size} entities: {', '.join(members)}")
    if len(report.groups) > 50:
        click.echo(f"  … and {len(report.groups) - 50} more groups (--json lists them all).")
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if fixed:
        click.echo(f"Kept one copy of {fixed.keys} primary keys: deleted {fixed.deleted} entities, put back "
                   f"{fixed.restored}. Backup: {fixed.backup_path}. {after} entities remain.")
    elif deleted:
        click.echo(f"Deleted {deleted.deleted} (kept one per group: {policy.label}). Backup: "
                   f"{deleted.backup_path or 'none'}. {after} entities remain.")
        if deleted.backup_path:
            click.echo(f"Undo with: milvus-tui restore {deleted.backup_path}")
    elif doomed:
        what = ("keep one copy of each key" if report.kind == dups.PRIMARY_KEY
                else f"delete {len(doomed)} entities, keeping one per group ({policy.label})")
        click.echo(f"Nothing changed: this was a preview. Add --yes to {what}.")


@main.command()
@click.argument("collection")
@click.option("--filter", "filter_expr", default="", help="Only entities matching this expression.")
@click.option("--duplicates", "with_duplicates", is_flag=True,
              help="Also find exact duplicate vectors, texts and primary keys (costs more memory and time).")
@click.option("--load", "load_first", is_flag=True, help="Load the collection first if it is released.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every finding with its keys).")
@click.pass_context
def scan(ctx: click.Context, collection: str, filter_expr: str, with_duplicates: bool, load_first: bool,
         as_json: bool) -> None:
    """Data-quality scan: zero/NaN/non-unit vectors, empty text, nulls, dynamic keys, JSON types."""
    from ..milvus import duplicates as dups
    from ..milvus.ops import Context
    from ..printable import json_text

    settings = _settings(ctx)
    with _service(settings) as svc:
        info = _describe_loaded(svc, collection, load_first, quiet=as_json)
        progress = None if as_json else dups.progress_printer(lambda s: click.echo(s, nl=False, err=True))
        report = svc.run(svc.scan_quality(info, expr=filter_expr, duplicates=with_duplicates),
                         Context(on_progress=progress))
    if as_json:
        click.echo(json_text(report.as_dict(), default=str))
        return
    click.echo("", err=True)
    click.echo(f"Scanned {report.scanned:,} entities of '{collection}' in {report.elapsed:.1f} s: "
               f"{len(report.findings)} findings.")
    for f in report.findings:
        sample = ", ".join(_key_text(k) for k in f.keys[:5]) + (" …" if f.count > 5 else "")
        note = "" if f.matters else " (does not change search results)"
        click.echo(f"  {f.count:>8,}  {_printable(f.field)}: {_printable(f.detail)}{note}  [{sample}]")
    if report.dynamic_keys:
        keys = ", ".join(f"{_printable(k)} {n:,}/{report.scanned:,}" for k, n in report.dynamic_keys.items())
        click.echo(f"Dynamic keys: {keys}")
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if report.findings:
        click.echo("Browse or delete a finding's entities in the app (Q), or with --json and "
                   "milvus-tui delete --ids.")
