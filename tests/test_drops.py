"""Drops that can be undone, on Milvus Lite with the schema zoo: drop a collection, drop a
partition, empty a collection (truncate), each backed up first, then restored, and compared
with what was there: schema (every field's flags and parameters, functions, dynamic field),
indexes, properties, partitions, aliases, load state, and every entity (keys, fields, vectors
bit-exact, partition, database). Checked with a plain pymilvus client, not with our own code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import zoo
from tests.zoo import ZooCollection, client_for, diff, snapshot
from tui.errors import InvalidInput, NotFound
from tui.milvus import MilvusConnection
from tui.milvus import drops
from tui.milvus.backups import list_backups, read_audit
from tui.session import Session

LITE_SPECS = [s.name for s in zoo.ZOO if s.name not in zoo.LITE_REFUSES]
_NOISE = {"collection_id", "created_timestamp", "update_timestamp", "field_id", "schema_version",
          "total_rows", "indexed_rows", "pending_index_rows", "state", "input_field_ids", "output_field_ids", "id"}


def _plain(value: Any) -> Any:
    """describe_* answers in a comparable form (protobuf defaults as text, enums by name)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _NOISE}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "WhichOneof"):
        return str(value)
    if hasattr(value, "name") and not isinstance(value, str):
        return value.name
    return value


def definition(client: Any, name: str, db_name: str) -> dict[str, Any]:
    """Everything a drop must bring back besides the entities, read with pymilvus itself."""
    config = client._config
    previous = config.db_name
    config.db_name = "" if db_name == "default" else db_name
    try:
        described = _plain(client.describe_collection(name))
        described.pop("collection_name", None)
        indexes = sorted((_plain(client.describe_index(name, i)) for i in client.list_indexes(name)),
                         key=lambda d: d["field_name"])
        for index in indexes:
            index.pop("index_name", None) if False else None
        return {"describe": described, "indexes": indexes, "partitions": sorted(client.list_partitions(name)),
                "aliases": sorted(client.list_aliases(name)["aliases"]),
                "load": _plain(client.get_load_state(name))}
    finally:
        config.db_name = previous


def _session(uri: str, db_name: str, home: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=home / "backups", audit_path=home / "audit.jsonl")


@pytest.fixture
def made(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> Iterator[tuple[str, dict[str, ZooCollection]]]:
    yield lite_zoo


@pytest.mark.parametrize("spec", LITE_SPECS)
def test_drop_then_restore_is_exact(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    shape = definition(client, c.name, c.db_name)
    svc = _session(uri, c.db_name, tmp_path)
    try:
        preview = svc.run(svc.preview_drop(c.alias or c.name))
        assert preview.count == len(before) and preview.collection == c.name and preview.fits
        assert preview.estimate_bytes > 0 and preview.undo.keeps_keys
        report = svc.run(svc.drop_backed_up(c.alias or c.name, preview))
        assert report.backed_up == report.removed == len(before)
        assert not client.has_collection(c.name)
        if c.alias:
            assert report.aliases_dropped == (c.alias,)
        header = json.loads(Path(report.backup_path).read_text(encoding="utf-8").splitlines()[0])
        assert header["operation"] == "drop_collection" and header["db_name"] == c.db_name
        # Undo from the session that dropped it (the backup names its database).
        restored = svc.run(svc.undo())
        assert restored.restored == len(before) and restored.operation == "drop_collection"
        assert definition(client, c.name, c.db_name) == shape
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        svc.close()
        client.close()
