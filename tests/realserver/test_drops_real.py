"""Drops that can be undone, on the Go Milvus 2.3.5 server: drop -> restore of the zoo
collections 2.3.5 holds, compared entity by entity and by definition (describe_collection,
indexes, partitions, aliases, load state, read with pymilvus); a truncate and a partition drop;
FLOAT16 refused before anything is dropped. On 2.3.5 an auto_id collection cannot take its keys
back, so the re-created collection keeps auto_id and the entities get new keys: the preview says
so, and the restore's old -> new map is what the comparison follows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_drops import definition
from tests.zoo import client_for, diff, snapshot
from tui.errors import NotSupported
from tui.milvus import MilvusConnection, drops
from tui.milvus.cleanup import INSERT_NEW_KEYS, UPSERT
from tui.session import Session

pytestmark = pytest.mark.realserver

DROPPED = ["zoo_auto_id", "zoo_varchar_pk", "zoo_dynamic", "zoo_json_array", "zoo_binary", "zoo_partitions",
           "zoo_partition_key", "zoo_aliased", "zoo_db1"]


def _session(uri: str, db_name: str, tmp_path: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


@pytest.mark.parametrize("spec", DROPPED)
def test_go_drop_then_restore(go_zoo: tuple[str, dict[str, Any]], spec: str, tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    shape = definition(client, c.name, c.db_name)
    svc = _session(uri, c.db_name, tmp_path)
    try:
        preview = svc.run(svc.preview_drop(c.alias or c.name))
        assert preview.count == len(before) and preview.collection == c.name
        assert preview.undo.method == (INSERT_NEW_KEYS if c.auto_id else UPSERT)
        if c.auto_id:
            assert "NEW primary keys" in preview.summary()
        report = svc.run(svc.drop_backed_up(c.name, preview))
        assert report.removed == len(before) and not client.has_collection(c.name)
        restored = svc.run(svc.restore(Path(report.backup_path)))
        assert restored.restored == len(before) and restored.db_name == c.db_name
        after = snapshot(client, c.name, db_name=c.db_name)
        now = definition(client, c.name, c.db_name)
        if c.auto_id:
            key_map = {json.loads(old): new for old, new in restored.key_map.items()}
            assert set(key_map) == set(before)
            assert diff(before, after, key_map=key_map) == []
        else:
            assert not restored.key_map and diff(before, after) == []
        assert now == shape
    finally:
        svc.close()
        client.close()


def test_go_truncate_and_partition_drop(go_zoo: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made["zoo_partitions"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    shape = definition(client, c.name, "default")
    svc = _session(uri, "default", tmp_path)
    try:
        part = svc.run(svc.drop_backed_up(c.name, svc.run(svc.preview_drop(
            c.name, operation=drops.DROP_PARTITION, partition="p_b"))))
        assert "p_b" not in client.list_partitions(c.name)
        svc.run(svc.undo())
        assert diff(before, snapshot(client, c.name)) == [] and definition(client, c.name, "default") == shape
        emptied = svc.run(svc.drop_backed_up(c.name, svc.run(svc.preview_drop(c.name, operation=drops.TRUNCATE))))
        assert emptied.removed == len(before) and snapshot(client, c.name) == {}
        svc.run(svc.undo())
        assert diff(before, snapshot(client, c.name)) == [] and definition(client, c.name, "default") == shape
        assert part.removed == sum(1 for v in before.values() if v["$partition"] == "p_b")
    finally:
        svc.close()
        client.close()


def test_go_float16_drop_is_refused_before_anything(go_zoo: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made["zoo_float16"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    svc = _session(uri, "default", tmp_path)
    try:
        with pytest.raises(NotSupported, match="v2.3.5"):
            svc.run(svc.preview_drop(c.name))
        assert snapshot(client, c.name) == before
        assert not (tmp_path / "backups").exists()
    finally:
        svc.close()
        client.close()
