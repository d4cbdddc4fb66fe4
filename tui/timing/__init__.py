"""The timing engine: the same operations run async, sync in a thread, batched, and sync on
the event loop, measured side by side. Imports nothing from Textual."""

from .engine import (
    MODES,
    OPERATIONS,
    BenchConfig,
    BenchRun,
    LoopMonitor,
    LoopProbe,
    RunResult,
    ideal_speedup,
    percentile,
    run_bench,
)
from .report import to_csv, to_json, to_markdown

__all__ = [
    "MODES", "OPERATIONS", "BenchConfig", "BenchRun", "LoopMonitor", "LoopProbe", "RunResult", "ideal_speedup", "percentile",
    "run_bench", "to_csv", "to_json", "to_markdown",
]
