"""Run one benchmark script from two checkouts, interleaved, and print each figure side by side.

    python benchmarks/ab_checkouts.py --base ../old-checkout --rounds 2 -- bench_render.py --repeat 3

Each round runs the script from the base checkout and from this one (the order alternates
round by round, so a drift of the machine's speed hits both alike), each with its own
``PYTHONPATH``, so each runs its own code. Every Markdown table row the script prints is read:
each number in a cell is a figure
(a cell "0.6 / 6.6 / 28.0" under "p50 / p99 / max" gives three). For every (row, column) the median over the rounds
is printed for both checkouts, with the ratio this / base (below 1: this checkout is faster,
for times). These machines are noisy: read ratios within ~10-15% as "the same".
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def run(tree: Path, script: str, args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / script), *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"{script} failed in {tree}:\n{done.stderr[-2000:]}")
    return done.stdout


def table_figures(output: str) -> dict[tuple[str, str], float]:
    """(row label, column header) -> the first number of the cell, for every Markdown table."""
    figures: dict[tuple[str, str], float] = {}
    header: list[str] = []
    for line in output.splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue
        if not header:
            header = cells
            continue
        for column, cell in zip(header[1:], cells[1:]):
            found = NUMBER.findall(cell)
            names = [n.strip() for n in column.split("/")] if len(found) > 1 else [column]
            for i, number in enumerate(found):
                # "p50 / p99 / max (ms)" with "0.6 / 6.6 / 28.0": one figure each
                name = names[i] if len(names) == len(found) else f"{column} [{i + 1}]"
                figures[(cells[0], name)] = float(number.replace(",", ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("script", help="a script in benchmarks/, e.g. bench_render.py")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    args = [a for a in ns.args if a != "--"]
    trees = {"base": ns.base.resolve(), "this": HERE}
    seen: dict[str, dict[tuple[str, str], list[float]]] = {"base": defaultdict(list), "this": defaultdict(list)}
    order: list[tuple[str, str]] = []
    for i in range(ns.rounds):
        for name in (("base", "this") if i % 2 == 0 else ("this", "base")):
            print(f"round {i + 1}: {name} ({trees[name]})", file=sys.stderr)
            for key, value in table_figures(run(trees[name], ns.script, args)).items():
                seen[name][key].append(value)
                if key not in order:
                    order.append(key)
    print(f"{ns.script} {' '.join(args)}: {ns.rounds} rounds, interleaved; base = {trees['base']}\n")
    print("| row | figure | base (median) | this (median) | this / base |")
    print("|---|---|---|---|---|")
    for key in order:
        base, this = seen["base"].get(key), seen["this"].get(key)
        if not base or not this:
            continue
        b, t = statistics.median(base), statistics.median(this)
        ratio = f"{t / b:.2f}" if b else "–"
        print(f"| {key[0]} | {key[1]} | {b:,.1f} | {t:,.1f} | {ratio} |")


if __name__ == "__main__":
    main()
