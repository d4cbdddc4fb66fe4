"""Bench results as JSON, CSV or a Markdown table shaped like the seed tutorial's."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from .engine import OPERATIONS, RunResult

COLUMNS = ["op", "n", "mode", "concurrency", "wall_s", "ops_per_s", "p50_ms", "p95_ms", "p99_ms", "errors", "ok",
           "lag_p99_ms", "lag_max_ms", "speedup", "ideal", "of_ideal", "note", "simulated"]


def to_json(results: Iterable[RunResult], **extra: object) -> str:
    return json.dumps({**extra, "results": [r.as_dict() for r in results]}, indent=2)


def to_csv(results: Iterable[RunResult]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for r in results:
        writer.writerow(r.as_dict())
    return out.getvalue()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ideal(r: RunResult) -> str:
    # N / ceil(N / limit) assumes operations that wait (a remote endpoint); operations that
    # are CPU work in this process (a local model) cannot overlap, whatever the limit.
    if r.mode != "async" or r.ideal is None:
        return "—"
    share = f" ({r.of_ideal:.0%})" if r.of_ideal is not None else ""
    return f"{r.ideal:.1f}x{share}"


def to_markdown(results: Iterable[RunResult]) -> str:
    results = list(results)
    # A simulated run must never pass for a real one: its conditions get their own column.
    simulated = any(r.simulated for r in results)
    extra_head, extra_rule = (" conditions |", "---|") if simulated else ("", "")
    lines = [
        "| operation | N | mode | wall s | ops/s | p50 ms | p95 ms | p99 ms | speedup vs sync | ideal if I/O-bound (% of it) "
        "| errors | loop lag p99 ms | loop lag max ms |" + extra_head,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|" + extra_rule,
    ]
    for r in results:
        mode = r.mode + (f" (≤{r.concurrency})" if r.concurrency else "")
        extra = f" {r.simulated or 'real'} |" if simulated else ""
        if r.note == "no batched form":
            lines.append(f"| {OPERATIONS[r.op][0]} | {r.n} | {mode} | — | — | — | — | — | — | — | — | — | — |" + extra)
            continue
        lines.append(
            f"| {OPERATIONS[r.op][0]} | {r.n} | {mode} | {r.wall_s:.3f} | {r.ops_per_s:.1f} | {r.p50_ms:.1f} "
            f"| {r.p95_ms:.1f} | {r.p99_ms:.1f} | {_fmt(r.speedup, 1)}x | {_ideal(r)} | {r.errors} | {r.lag_p99_ms:.1f} "
            f"| {r.lag_max_ms:.1f} |" + extra
        )
    return "\n".join(lines)
