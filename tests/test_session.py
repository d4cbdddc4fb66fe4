"""The Session, the one data API: the README's three lines run as written, searching needs no
backup directory, and what the session remembers (the last delete, the log) is what ran."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pymilvus import MilvusClient

from tests.test_journeys import Shell
from tui.milvus import MilvusConnection
from tui.errors import InvalidInput
from tui.session import ExecMode, OpKind, Session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path)


def readme_snippet(path: Path) -> str:
    """The Python block under "One search from Python" in a Markdown file."""
    text = path.read_text()
    section = text[text.index("One search from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.parametrize("doc", ["README.md", "docs/ARCHITECTURE.md"])
def test_the_three_lines_in_the_docs_run_as_written(shell: Shell, doc: str) -> None:
    code = readme_snippet(ROOT / doc)
    assert len(code.strip().splitlines()) == 3
    shell.ok("demo", "--no-open", "--limit", "300")
    env = {k: v for k, v in shell.env.items() if k != "MILVUS_URI"}  # the snippet names its directory
    done = subprocess.run([sys.executable, "-c", code], cwd=shell.cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = eval(done.stdout)  # noqa: S307 - the snippet prints a list of row dicts
    assert len(rows) == 3 and all(row["name"] for row in rows)
    assert any("file" in (row["text"] + row["name"]).lower() for row in rows), rows


def test_search_needs_no_backup_directory_and_delete_says_so(milvus_uri: str, docs_collection: str,
                                                             embeddings) -> None:  # noqa: ANN001
    with MilvusConnection(milvus_uri) as conn:
        session = Session(conn, embeddings)
        hits = session.run(session.search(docs_collection, "open a file", k=2))
        assert len(hits.rows) == 2 and hits.mode == "sync"
        preview = session.run(session.preview_delete(docs_collection, keys=[hits.rows[0]["id"]]))
        with pytest.raises(InvalidInput, match="no backup directory"):
            session.delete(docs_collection, preview)
        with pytest.raises(InvalidInput, match="no delete to undo"):
            session.undo()
        assert [(e.kind, e.mode, e.ok) for e in session.log] == [(OpKind.SEARCH, ExecMode.SYNC, True),
                                                                  (OpKind.PREVIEW, ExecMode.SYNC, True)]


async def test_delete_then_undo_through_the_session(milvus_uri: str, raw_client: MilvusClient, new_name: str,
                                                    tmp_path: Path) -> None:
    raw_client.create_collection(new_name, dimension=4, auto_id=False)
    raw_client.insert(new_name, [{"id": i, "vector": [i, 0.5, 0.25, 1.0], "tag": f"t{i}"} for i in range(10)])
    before = raw_client.query(new_name, filter="id >= 0", output_fields=["*"], consistency_level="Strong")
    with MilvusConnection(milvus_uri) as conn:
        session = Session(conn, backup_dir=tmp_path / "b", audit_path=tmp_path / "audit.jsonl")
        preview = await session.arun(session.preview_delete(new_name, expr="id < 4"))
        report = await session.arun(session.delete(new_name, preview))
        assert session.last_delete == report and report.deleted == 4
        restored = await session.arun(session.undo())
        assert restored.restored == 4 and session.last_delete is None
        await session.aclose()
    after = raw_client.query(new_name, filter="id >= 0", output_fields=["*"], consistency_level="Strong")
    assert sorted(after, key=lambda r: r["id"]) == sorted(before, key=lambda r: r["id"])
    records = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert '"action": "restore"' in records[-1] and "db=default" in records[-1]
