"""The boundaries: Milvus, embedding and timing code imports nothing from Textual; the
embedding providers know nothing of Milvus; the Milvus layer uses them through one interface.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
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


# -- layering between the backend packages ---------------------------------------------------

#: What ``tui/milvus`` may take from ``tui.embeddings``, and from nowhere else in it: the
#: package's own interface (the providers themselves arrive as objects, duck-typed).
MILVUS_USES_FROM_EMBEDDINGS = {"check_dimension", "RETRY_LISTENER"}


def _imports(path: Path, package: str | None = None) -> list[tuple[str, str | None, int]]:
    """Every import in ``path``, at any depth (lazy ones inside functions too), as
    ``(absolute module, imported name or None, line)``; relative imports resolved from
    ``package`` (by default the file's own, from its place under ROOT), and
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name included."""
    if package is None:
        package = ".".join(path.relative_to(ROOT).parent.parts)
    here = package.split(".")
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(module, alias.name, node.lineno) for alias in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) == "__import__")):
            found.append((node.args[0].value, None, node.lineno))
    return found


def _names_package(module: str, name: str | None, package: str) -> bool:
    """Whether an import reaches ``package`` (``tui.milvus``): the package, a module in it,
    or the package as a name (``from tui import milvus``)."""
    full = f"{module}.{name}" if name else module
    return any(m == package or m.startswith(package + ".") for m in (module, full))


def test_imports_are_resolved_with_lazy_and_relative_forms(tmp_path: Path) -> None:
    """The checker itself: every form an import can take is seen."""
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent("""
        import tui.milvus.errors
        from .. import milvus
        from .base import EmbeddingError
        def later():
            from ..milvus.catalog import Catalog
            import importlib
            importlib.import_module("tui.milvus.queries")
    """), encoding="utf-8")
    got = [m for m, name, _ in _imports(sample, "tui.embeddings") if _names_package(m, name, "tui.milvus")]
    assert got == ["tui.milvus.errors", "tui", "tui.milvus.catalog", "tui.milvus.queries"]


def test_embeddings_never_import_the_milvus_layer() -> None:
    files = sorted((ROOT / "tui" / "embeddings").rglob("*.py"))
    assert files
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}{'.' + name if name else ''}"
           for path in files for module, name, line in _imports(path) if _names_package(module, name, "tui.milvus")]
    assert bad == []


def test_the_milvus_layer_uses_embeddings_through_one_interface() -> None:
    files = sorted((ROOT / "tui" / "milvus").rglob("*.py"))
    assert files
    uses = [(path, module, name, line) for path in files for module, name, line in _imports(path)
            if _names_package(module, name, "tui.embeddings")]
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}{'.' + name if name else ''}"
           for path, module, name, line in uses
           if module != "tui.embeddings" or name not in MILVUS_USES_FROM_EMBEDDINGS]
    assert bad == [], f"tui/milvus may import only {sorted(MILVUS_USES_FROM_EMBEDDINGS)} from tui.embeddings"
    assert uses, "no use of tui.embeddings found: update MILVUS_USES_FROM_EMBEDDINGS"
