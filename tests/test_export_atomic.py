"""Exports are written under a temporary name and renamed when complete."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from tui.session import Session
from tui.errors import Cancelled, OperationFailed
from tui.milvus.export import AtomicFile, write_rows
from tui.milvus.ops import Context, Progress, file_error


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_export_keeps_the_old_file_until_complete(service: Session, docs_collection: str,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("OLD\n")
    out.chmod(0o640)
    seen: list[tuple[str, list[str]]] = []

    def on_progress(p: Progress) -> None:
        seen.append((out.read_text(), leftovers(tmp_path)))

    info = service.run(service.describe(docs_collection))
    report = service.run(service.export(info, out, batch_size=200), Context(on_progress=on_progress))
    assert report.rows == 600
    # While it ran, the target still held the old content; the rows went to a hidden .part file.
    assert seen and all(text == "OLD\n" and len(parts) == 1 for text, parts in seen)
    lines = out.read_text().splitlines()
    assert len(lines) == 600 and all(json.loads(line)["text"] for line in lines)
    assert leftovers(tmp_path) == [] and out.stat().st_mode & 0o777 == 0o640


async def test_cancelled_export_leaves_no_partial_file(service: Session, docs_collection: str,
                                                       tmp_path: Path) -> None:
    info = service.run(service.describe(docs_collection))
    old = tmp_path / "old.jsonl"
    old.write_text("OLD\n")
    events: list[Progress] = []
    with pytest.raises(Cancelled):
        service.run(service.export(info, old, batch_size=100), Context(on_progress=events.append, is_cancelled=lambda: bool(events)))
    assert old.read_text() == "OLD\n" and leftovers(tmp_path) == []
    new = tmp_path / "new.csv"
    with pytest.raises(Cancelled):
        service.run(service.export(info, new, batch_size=100), Context(on_progress=events.append, is_cancelled=lambda: bool(events)))
    assert not new.exists() and leftovers(tmp_path) == []


def test_write_errors_name_the_target_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    out = AtomicFile(target)

    def full(_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as err:
        out.write(full)
    out.abort()
    message = str(file_error(err.value))
    assert isinstance(file_error(err.value), OperationFailed)
    assert str(target) in message and "No space left on device" in message
    assert not target.exists() and leftovers(tmp_path) == []


def test_write_rows_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    target.write_text("OLD\n")
    assert write_rows(target, [{"id": 1, "text": "a"}], ["id", "text"]) == 1
    assert target.read_text().splitlines() == ["id,text,$extra", "1,a,"]
    assert leftovers(tmp_path) == []
