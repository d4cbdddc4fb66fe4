"""Run every benchmark, one after another, and print their Markdown reports (``make bench``).

Each script measures its target side by side with its comparison in the same run, so the
figures hold on a noisy machine; the load average is printed next to each. The first run
builds the cached data sets under ``benchmarks/.data/`` (about 2-3 minutes on 2 cores);
later runs reuse them.

    .venv/bin/python benchmarks/run_all.py [--only startup,paging] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments, arguments with --quick)
SCRIPTS: dict[str, tuple[str, list[str], list[str]]] = {
    "responsiveness": ("bench_responsiveness.py", [], ["--quick"]),
    "startup": ("bench_startup.py", ["--runs", "7"], ["--runs", "3"]),
    "paging": ("bench_paging.py", [], ["--repeat", "3"]),
    "async": ("bench_async.py", [], []),
    "async-sweep": ("bench_async_sweep.py", [], ["--limits", "16,32,0"]),
    "cleanup": ("bench_cleanup.py", [], ["--rounds", "1"]),
    "render": ("bench_render.py", ["--repeat", "5"], ["--repeat", "3"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCRIPTS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    parser.add_argument("--out", help="also write the combined report to this file")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    report: list[str] = []
    failed = []
    for name in names:
        script, full, quick = SCRIPTS[name]
        argv = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(Path(a).name if a.endswith('.py') else a for a in argv[1:])} "
              f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - t0
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
        report.append(done.stdout)
        print(f"=== {name}: {'ok' if done.returncode == 0 else f'FAILED ({done.returncode})'} in {elapsed:.0f} s",
              file=sys.stderr, flush=True)
        if done.returncode:
            failed.append(name)
    if args.out:
        Path(args.out).write_text("".join(report), encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
