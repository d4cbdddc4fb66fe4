"""The one boundary: Milvus, embedding and timing code imports nothing from Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UI_FREE = ["tui/milvus", "tui/embeddings", "tui/timing", "tui/config.py", "tui/demo.py", "tui/history.py"]


def _modules_imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", UI_FREE)
def test_no_textual_import_in_source(part: str) -> None:
    files = [ROOT / part] if part.endswith(".py") else sorted((ROOT / part).rglob("*.py"))
    assert files
    for path in files:
        bad = {m for m in _modules_imported(path) if m == "textual" or m.startswith("textual.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_importing_the_backend_loads_no_textual() -> None:
    code = ("import sys, tui.milvus, tui.embeddings, tui.timing, tui.config, tui.demo; "
            "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
