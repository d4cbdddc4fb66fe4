"""Demo data: docstrings of Python's standard library, with varied metadata.

Real text, available offline, free to use, and it answers questions like "how do I read
a file line by line". Docstrings are read with ``ast`` from the stdlib sources, never by
importing modules (some, like ``antigravity``, do things on import).
"""

from __future__ import annotations

import ast
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .milvus.ingest import Document, ExtraField, IngestReport

if TYPE_CHECKING:
    from .milvus.ops import Context
    from .session import Session

DEMO_COLLECTION = "python_docs"
DEFAULT_LIMIT = 6000
SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "__pycache__", "lib2to3", "turtledemo", "ensurepip"}

DEMO_FIELDS = (
    ExtraField("category", "VARCHAR", max_length=16),
    ExtraField("module", "VARCHAR", max_length=128),
    ExtraField("name", "VARCHAR", max_length=256),
    ExtraField("n_lines", "INT64"),
    ExtraField("n_args", "INT64"),
    ExtraField("modified", "VARCHAR", max_length=10),
    ExtraField("meta", "JSON"),
)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(p in SKIP_PARTS or p.startswith("test_") for p in rel):
            continue
        yield path


def _first_paragraphs(doc: str, limit: int = 1500) -> str:
    doc = doc.strip()
    return doc if len(doc) <= limit else doc[:limit].rsplit(" ", 1)[0] + " …"


def stdlib_documents(limit: int = DEFAULT_LIMIT, root: Path | None = None) -> Iterator[Document]:
    """Up to ``limit`` documents: modules, classes, functions and methods with docstrings."""
    root = root or Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in _sources(root):
        module = _module_name(root, path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, OSError):
            continue
        modified = time.strftime("%Y-%m-%d", time.gmtime(path.stat().st_mtime))
        for doc in _documents_in(tree, module, modified, str(path.relative_to(root))):
            yield Document(doc.text, doc.metadata, id=count + 1)
            count += 1
            if count >= limit:
                return


def _documents_in(tree: ast.Module, module: str, modified: str, rel: str) -> Iterator[Document]:
    def make(node: ast.AST, category: str, name: str, n_args: int, extra: dict) -> Document | None:
        doc = ast.get_docstring(node)  # type: ignore[arg-type]
        if not doc or len(doc) < 40:
            return None
        text = f"{name}: {_first_paragraphs(doc)}"
        return Document(text, {
            "category": category, "module": module[:128], "name": name[:256],
            "n_lines": doc.count("\n") + 1, "n_args": n_args, "modified": modified,
            "meta": {"path": rel, "lineno": getattr(node, "lineno", 1), "package": module.split(".")[0], **extra},
        })

    top = make(tree, "module", module, 0, {})
    if top:
        yield top
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            doc = make(node, "function", f"{module}.{node.name}", len(node.args.args),
                       {"async": isinstance(node, ast.AsyncFunctionDef)})
            if doc:
                yield doc
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            cls = make(node, "class", f"{module}.{node.name}", 0,
                       {"bases": [ast.unparse(b) for b in node.bases][:5]})
            if cls:
                yield cls
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    args = [a.arg for a in item.args.args if a.arg not in ("self", "cls")]
                    doc = make(item, "method", f"{module}.{node.name}.{item.name}", len(args),
                               {"async": isinstance(item, ast.AsyncFunctionDef)})
                    if doc:
                        yield doc


def seed_demo(session: Session, *, limit: int = DEFAULT_LIMIT, reset: bool = False,
              ctx: Context | None = None) -> IngestReport | None:
    """Create and fill the demo collection unless it already holds data; returns the report or None."""
    if session.run(session.exists(DEMO_COLLECTION)):
        if not reset:
            info = session.run(session.describe(DEMO_COLLECTION, with_count=False))
            if info.row_count:
                return None
        session.run(session.drop(DEMO_COLLECTION))
    docs = list(stdlib_documents(limit))
    # full_text=None: a BM25 function on the text where the server has them (Lite, Milvus 2.5+),
    # so dense, full-text and hybrid search all work offline on the demo.
    return session.run(session.ingest(DEMO_COLLECTION, docs, extra=DEMO_FIELDS, auto_id=False, total=len(docs),
                                      batch_size=500, full_text=None), ctx)
