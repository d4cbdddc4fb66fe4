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
        try:
            aliases = sorted(client.list_aliases(name)["aliases"])
        except Exception:  # noqa: BLE001 - Go 2.3.5 looks for the collection in the default database
            aliases = sorted(described.get("aliases") or [])
        return {"describe": described, "indexes": indexes, "partitions": sorted(client.list_partitions(name)),
                "aliases": aliases,
                "load": getattr(client.get_load_state(name)["state"], "name", None)}
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


TRUNCATE_SPECS = ["zoo_auto_id", "zoo_varchar_pk", "zoo_partitions", "zoo_bm25", "zoo_dynamic", "zoo_db1"]


@pytest.mark.parametrize("spec", TRUNCATE_SPECS)
def test_truncate_then_restore_is_exact(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str,
                                        tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    shape = definition(client, c.name, c.db_name)
    svc = _session(uri, c.db_name, tmp_path)
    try:
        preview = svc.run(svc.preview_drop(c.name, operation=drops.TRUNCATE))
        assert preview.count == len(before)
        report = svc.run(svc.drop_backed_up(c.name, preview))
        assert report.removed == report.backed_up == len(before)
        # Emptied, not dropped: the collection, its indexes, partitions and aliases stay.
        assert snapshot(client, c.name, db_name=c.db_name) == {}
        assert definition(client, c.name, c.db_name) == shape
        # Restored from a session on the default database: the backup says where it belongs.
        home = _session(uri, "default", tmp_path)
        try:
            restored = home.run(home.restore(Path(report.backup_path)))
        finally:
            home.close()
        assert restored.restored == len(before) and restored.operation == "truncate"
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
        assert definition(client, c.name, c.db_name) == shape
    finally:
        svc.close()
        client.close()


@pytest.mark.parametrize(("spec", "partition"), [("zoo_partitions", "p_a"), ("zoo_db1", "p_db1")])
def test_drop_partition_then_restore_is_exact(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str,
                                              partition: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    shape = definition(client, c.name, c.db_name)
    inside = {k for k, v in before.items() if v[zoo.PARTITION_KEY] == partition}
    assert inside
    svc = _session(uri, c.db_name, tmp_path)
    try:
        preview = svc.run(svc.preview_drop(c.name, operation=drops.DROP_PARTITION, partition=partition))
        assert preview.count == len(inside)
        report = svc.run(svc.drop_backed_up(c.name, preview))
        assert report.removed == len(inside)
        assert set(snapshot(client, c.name, db_name=c.db_name)) == set(before) - inside
        assert partition not in definition(client, c.name, c.db_name)["partitions"]
        restored = svc.run(svc.undo())
        assert restored.restored == len(inside) and restored.operation == "drop_partition"
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
        assert definition(client, c.name, c.db_name) == shape
    finally:
        svc.close()
        client.close()


def test_refusals_change_nothing(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    uri, made = lite_zoo
    svc = _session(uri, "default", tmp_path)
    try:
        with pytest.raises(InvalidInput, match="_default partition cannot be dropped"):
            svc.run(svc.preview_drop(made["zoo_partitions"].name, operation=drops.DROP_PARTITION, partition="_default"))
        with pytest.raises(InvalidInput, match="partition key"):
            svc.run(svc.preview_drop(made["zoo_partition_key"].name, operation=drops.DROP_PARTITION,
                                     partition="_default_0"))
        with pytest.raises(NotFound, match="no partition 'nope'"):
            svc.run(svc.preview_drop(made["zoo_partitions"].name, operation=drops.DROP_PARTITION, partition="nope"))
    finally:
        svc.close()
    assert not (tmp_path / "backups").exists()


def test_a_full_disk_refuses_before_anything(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The one fake here: shutil.disk_usage's answer (a full disk cannot be made cheaply)."""
    uri, made = lite_zoo
    c = made["zoo_json_array"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    svc = _session(uri, c.db_name, tmp_path)
    real = shutil.disk_usage
    free = {"bytes": None}

    def disk_usage(path: Any) -> Any:
        usage = real(path)
        return usage if free["bytes"] is None else usage._replace(free=free["bytes"])

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    try:
        preview = svc.run(svc.preview_drop(c.name))
        # The estimate is measured from a packed sample: within 25% of the real backup's size.
        assert preview.row_bytes > 0 and preview.fits
        free["bytes"] = 1000
        small = svc.run(svc.preview_drop(c.name))
        assert not small.fits and "Not enough disk space" in (small.refusal() or "")
        for what in (preview, small):  # refused by the drop itself too, whatever the preview said
            with pytest.raises(drops.NotEnoughSpace, match="Nothing was dropped"):
                svc.run(svc.drop_backed_up(c.name, what))
        assert client.has_collection(c.name)
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
        assert not list((tmp_path / "backups").glob("*.jsonl")) if (tmp_path / "backups").exists() else True
        assert not (tmp_path / "audit.jsonl").exists()
        # With room, the same preview goes ahead, and the estimate was close to the real size.
        free["bytes"] = None
        report = svc.run(svc.drop_backed_up(c.name, preview))
        assert 0.75 < preview.estimate_bytes / report.backup_bytes < 1.25, (preview.estimate_bytes, report.backup_bytes)
        svc.run(svc.undo())
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        svc.close()
        client.close()


def test_restore_twice_elsewhere_and_a_different_collection(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                            tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made["zoo_nullable"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    svc = _session(uri, c.db_name, tmp_path)
    copy = f"{c.name}_copy"
    try:
        report = svc.run(svc.drop_backed_up(c.name, svc.run(svc.preview_drop(c.name))))
        path = Path(report.backup_path)
        svc.run(svc.restore(path))
        again = svc.run(svc.restore(path))  # the collection is back: upserts into it, no duplicates
        assert again.restored == len(before)
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
        # Into a new name: re-created there with the same schema.
        svc.run(svc.restore(path, collection=copy))
        assert diff(before, snapshot(client, copy, db_name=c.db_name)) == []
        # Into a collection whose fields differ: refused, nothing written.
        other = made["zoo_defaults"].name
        count = len(snapshot(client, other))
        with pytest.raises(InvalidInput, match="fields are not the backup's"):
            svc.run(svc.restore(path, collection=other))
        assert len(snapshot(client, other)) == count
        # Every step is in the audit log, and the backups list shows the drop.
        actions = [r.action for r in read_audit(tmp_path / "audit.jsonl")]
        assert actions[:4] == ["restore", "restore", "restore", "drop_collection"]
        listed = list_backups(tmp_path / "backups")
        assert [(b.operation, b.collection, b.count, b.whole) for b in listed] == [
            ("drop_collection", c.name, len(before), True)]
    finally:
        if client.has_collection(copy):
            client.drop_collection(copy)
        svc.close()
        client.close()


def test_no_secret_reaches_a_backup_or_the_audit_log(lite_server: Any, raw_client: Any, tmp_path: Path) -> None:
    from pymilvus import DataType, MilvusClient

    name = "drop_secret_probe"
    schema = MilvusClient.create_schema()
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index)
    raw_client.insert(name, [{"pk": 1, "vec": [0.5, 0.25]}])
    host = lite_server.uri.split("://", 1)[1]
    conn = MilvusConnection(f"http://root:pw-s3cret-1@{host}", token="tok-s3cret-2")
    conn.open()
    svc = Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")
    try:
        report = svc.run(svc.drop_backed_up(name, svc.run(svc.preview_drop(name))))
        backup = Path(report.backup_path).read_text()
        assert "pw-s3cret-1" not in backup and "tok-s3cret-2" not in backup and "root:***@" in backup
        svc.run(svc.undo())
        svc.run(svc.delete_backup(Path(report.backup_path)))
    finally:
        svc.close()
        raw_client.drop_collection(name)
    written = (tmp_path / "audit.jsonl").read_text()
    assert "pw-s3cret-1" not in written and "tok-s3cret-2" not in written
    assert "root:***@" in written
    assert [r.action for r in read_audit(tmp_path / "audit.jsonl")] == ["delete_backup", "restore",
                                                                        "drop_collection", "drop_collection"]


def test_cli_drop_needs_the_name_then_backups_and_restore(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                          tmp_path: Path) -> None:
    """The console script, one fresh command each, on a collection in the second database."""
    from tests.test_undo_matrix import _cli, _ok

    uri, made = lite_zoo
    c = made["zoo_db1"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    home = tmp_path / "home"
    home.mkdir()
    try:
        preview = _ok(_cli(home, uri, c.db_name, "drop", c.name, "--json"))
        assert preview["applied"] is False and preview["count"] == len(before) and preview["fits"]
        assert preview["estimate_bytes"] > 0 and preview["undo"]["keeps_keys"]
        wrong = _cli(home, uri, c.db_name, "drop", c.name, "--confirm", "zoo_db", "--json")
        assert wrong.returncode == 2 and "does not match" in wrong.stderr and "Traceback" not in wrong.stderr
        assert client.has_collection(c.name)
        # --partition drops one partition only.
        part = _ok(_cli(home, uri, c.db_name, "drop", c.name, "--partition", "p_db1", "--confirm", c.name, "--json"))
        inside = {k for k, v in before.items() if v[zoo.PARTITION_KEY] == "p_db1"}
        assert part["applied"] and part["removed"] == len(inside)
        assert set(snapshot(client, c.name, db_name=c.db_name)) == set(before) - inside
        dropped = _ok(_cli(home, uri, c.db_name, "drop", c.name, "--confirm", c.name, "--json"))
        assert dropped["applied"] and dropped["removed"] == len(before) - len(inside)
        assert not client.has_collection(c.name)
        listed = _ok(_cli(home, uri, "default", "backups", "--json"))
        assert [(b["operation"], b["collection"], b["db_name"], b["count"]) for b in listed["backups"]] == [
            ("drop_collection", c.name, c.db_name, len(before) - len(inside)),
            ("drop_partition", c.name, c.db_name, len(inside))]
        assert [a["action"] for a in listed["audit"]][:2] == ["drop_collection", "drop_collection"]
        text = _ok(_cli(home, uri, "default", "backups", "--all-servers"))
        assert "drop_partition" in text and "partition p_db1" in text
        # Restored from the default database, in order: the collection, then the partition.
        for backup in (dropped["backup"], part["backup"]):
            out = _ok(_cli(home, uri, "default", "restore", backup, "--json"))
            assert out["db_name"] == c.db_name
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        client.close()


def test_a_restore_stopped_after_the_create_is_finished_by_the_next(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                                    tmp_path: Path) -> None:
    """A restore cut right after create_collection leaves a bare collection (no partitions, no
    index, no alias, not loaded): running it again makes what is missing and puts the entities back."""
    uri, made = lite_zoo
    c = made["zoo_aliased"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    shape = definition(client, c.name, "default")
    svc = _session(uri, "default", tmp_path)
    try:
        report = svc.run(svc.drop_backed_up(c.name, svc.run(svc.preview_drop(c.name))))
        header = json.loads(Path(report.backup_path).read_text(encoding="utf-8").splitlines()[0])
        client.create_collection(c.name, schema=drops.build_schema(header["definition"]["schema"]),
                                 consistency_level=header["definition"]["consistency_level"])
        assert client.list_indexes(c.name) == [] and client.list_aliases(c.name)["aliases"] == []
        restored = svc.run(svc.restore(Path(report.backup_path)))
        assert restored.restored == len(before)
        assert definition(client, c.name, "default") == shape
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        svc.close()
        client.close()


def test_cli_asks_for_the_name_on_a_terminal(lite_server: Any, raw_client: Any, tmp_path: Path) -> None:
    """Without --confirm, on a terminal, the name is typed at a prompt: a wrong one cancels."""
    import os
    import subprocess

    from pymilvus import DataType, MilvusClient

    from tests.test_undo_matrix import COMMAND

    name = "drop_tty_probe"
    schema = MilvusClient.create_schema()
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    raw_client.insert(name, [{"pk": i, "vec": [i / 4, 0.5]} for i in range(5)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS", "XDG_"))}
    env.update(MILVUS_URI=lite_server.uri, MILVUS_TUI_HOME=str(tmp_path / "home"), NO_COLOR="1")

    def typed(text: str) -> subprocess.CompletedProcess[str]:
        main, child = os.openpty()
        try:
            os.write(main, (text + "\n").encode())
            return subprocess.run([*COMMAND, "drop", name], stdin=child, capture_output=True, text=True,
                                  env=env, timeout=60, cwd=tmp_path)
        finally:
            os.close(main)
            os.close(child)

    try:
        wrong = typed("drop_tty")
        assert wrong.returncode == 0 and "Cancelled" in wrong.stdout and "5 entities" in wrong.stdout
        assert raw_client.has_collection(name)
        right = typed(name)
        assert right.returncode == 0 and "Dropped" in right.stdout, (right.stdout, right.stderr)
        assert not raw_client.has_collection(name)
        backup = next((tmp_path / "home" / "state" / "backups").glob("*.jsonl"))
        restored = subprocess.run([*COMMAND, "restore", str(backup)], capture_output=True, text=True, env=env,
                                  timeout=60, cwd=tmp_path)
        assert restored.returncode == 0 and "Restored 5 entities" in restored.stdout
        rows = raw_client.query(name, filter="", limit=10, output_fields=["*"], consistency_level="Strong")
        assert sorted((r["pk"], [float(x) for x in r["vec"]]) for r in rows) == [(i, [i / 4, 0.5]) for i in range(5)]
    finally:
        if raw_client.has_collection(name):
            raw_client.drop_collection(name)


def test_a_released_collection_is_loaded_for_the_backup_and_comes_back_released(
        lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    from tui.errors import NotLoaded

    uri, made = lite_zoo
    c = made["zoo_two_dense"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    client.release_collection(c.name)
    shape = definition(client, c.name, "default")
    assert shape["load"] == "NotLoad"
    svc = _session(uri, "default", tmp_path)
    try:
        with pytest.raises(NotLoaded):  # not without saying so: loading it is the caller's call
            svc.run(svc.preview_drop(c.name))
        preview = svc.run(svc.preview_drop(c.name, load=True))
        assert preview.definition["loaded"] is False and preview.count == len(before)
        svc.run(svc.drop_backed_up(c.name, preview))
        svc.run(svc.undo())
        assert definition(client, c.name, "default") == shape  # released again, like before
        client.load_collection(c.name)
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        client.load_collection(c.name)  # the zoo is shared: loaded, as the other tests expect it
        svc.close()
        client.close()


def test_an_edit_then_a_drop_undo_puts_back_the_drop_and_the_list_names_both(
        lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    """Backups of every kind in one list (an edit's says what it set), each restored through
    Session.restore as the backups screen does; undo puts back the newest (the drop)."""
    uri, made = lite_zoo
    c = made["zoo_defaults"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    svc = _session(uri, "default", tmp_path)
    try:
        edited = svc.run(svc.edit(c.name, svc.run(svc.preview_edit(c.name, sets=["label=relabelled"],
                                                                   expr="pk >= 0"))))
        dropped = svc.run(svc.drop_backed_up(c.name, svc.run(svc.preview_drop(c.name))))
        listed = svc.run(svc.backups()).backups
        assert [(b.operation, b.count) for b in listed] == [("drop_collection", len(before)), ("edit", len(before))]
        assert "label" in listed[1].description and "pk >= 0" in listed[1].description
        back = svc.run(svc.undo())  # the newest: the drop
        assert back.operation == "drop_collection" and svc.last_delete is None and svc.last_edit is None
        assert {v["label"] for v in snapshot(client, c.name).values()} == {"relabelled"}
        # The edit's backup, restored from the list: the labels before the edit are back.
        again = svc.run(svc.restore(Path(edited.backup_path)))
        assert again.operation == "edit"
        assert diff(before, snapshot(client, c.name)) == []
        assert Path(dropped.backup_path).exists()
    finally:
        svc.close()
        client.close()
