"""Edits on the Go Milvus 2.3.5 server: a bulk edit and its undo, compared entity by entity (keys,
every field, vectors, partition, dynamic keys), and the auto_id case: 2.3.5 refuses an upsert
that carries an auto_id key (measured here with pymilvus), so an edit there is refused before
anything is written, and the collection is unchanged.

The edits run on the session's Go zoo (conftest's ``go_zoo``, shared with the drop, zoo and
undo-matrix tests): each test reads its collection as it finds it and its undo puts it back
exactly, which the test asserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_edit import expected_after
from tests.zoo import client_for, diff, snapshot
from tui.errors import NotSupported
from tui.milvus import MilvusConnection
from tui.session import Session

pytestmark = pytest.mark.realserver

EDITS = {
    "zoo_dynamic": (["color=[purple]", 'added={"k": [1, "x"]}'], ["n"], "filter"),
    "zoo_json_array": (['meta={"new": [1, "two", null]}', 'tags=["a", "[b]"]', "nums=[1, -2]", "flag=true",
                        "i8=-128", "f32=1.5", 'text="<s>[INST] hi [/INST] \\u001b[2J \\u0000"'], [], "filter"),
    "zoo_partitions": (["text=still in my partition"], [], "keys"),
    "zoo_varchar_pk": (['text="[/INST] edited"'], [], "keys"),
}


def _service(uri: str, db_name: str, tmp_path: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


@pytest.mark.parametrize("spec", list(EDITS))
def test_go_edit_then_undo_is_exact(go_zoo: tuple[str, dict[str, Any]], spec: str, tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made[spec]
    sets, unsets, how = EDITS[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    svc = _service(uri, c.db_name, tmp_path)
    try:
        info = svc.run(svc.describe(c.name))
        if how == "keys":
            chosen = sorted(before, key=str)[1::2]
            preview = svc.run(svc.preview_edit(info, sets=sets, unsets=unsets, keys=chosen))
        else:
            chosen = list(before)
            preview = svc.run(svc.preview_edit(info, sets=sets, unsets=unsets, expr=f"{c.pk} >= 0"))
        assert sorted(preview.keys, key=str) == sorted(chosen, key=str)
        report = svc.run(svc.edit(info, preview))
        assert report.edited == len(chosen)
        described = client.describe_collection(c.name)
        types = {f["name"]: (f["type"], f.get("element_type")) for f in described["fields"]}
        assert diff(expected_after(before, chosen, sets, unsets, types, info),
                    snapshot(client, c.name, db_name=c.db_name)) == []
        svc.run(svc.undo())
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        svc.close()
        client.close()


def test_go_auto_id_edit_is_refused_before_any_write(go_zoo: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made["zoo_auto_id"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name)
    svc = _service(uri, c.db_name, tmp_path)
    try:
        with pytest.raises(NotSupported, match="refuses an upsert") as caught:
            svc.run(svc.preview_edit(c.name, sets=["text=x"], expr="pk >= 0"))
        assert "Nothing was changed" in str(caught.value)
        assert not (tmp_path / "backups").exists() and not (tmp_path / "audit.jsonl").exists()
        # What the server itself does with such an upsert (why we refuse): it refuses it too.
        row = client.query(c.name, filter="pk >= 0", limit=1, output_fields=["*"], consistency_level="Strong")[0]
        with pytest.raises(Exception, match="less than needed"):
            client.upsert(c.name, [{**row, "text": "upserted"}])
        assert diff(before, snapshot(client, c.name)) == []
        # The CLI says the same, with exit code 6 (not supported).
        from tests.realserver.conftest import cli

        result = cli("edit", c.name, "--filter", "pk >= 0", "--set", "text=x", "--yes", uri=uri, home=tmp_path)
        assert result.returncode == 6 and "auto_id" in result.stderr, result.stderr
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        svc.close()
        client.close()
