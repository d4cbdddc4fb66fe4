"""The undo matrix on the Go Milvus 2.3.5 server, compared entity by entity.

Every zoo collection 2.3.5 holds goes through the data API's delete -> restore (sync; async on
a representative set); the console script and the app run on the product's own auto_id data
(``milvus-tui ingest``), the case the issue was filed for. On 2.3.5 an auto_id collection cannot
take its keys back (insert and upsert carrying them are refused, measured), so the undo gives
new keys: the confirmation says so before the delete, and the restore's old -> new map is what
the comparison follows. FLOAT16 is refused before anything is deleted (batched writes crash 2.3.5).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests import zoo
from tests.realserver.conftest import cli, ok_json
from tests.zoo import client_for, diff, snapshot
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.cleanup import INSERT_NEW_KEYS, UPSERT
from tui.errors import NotSupported

pytestmark = pytest.mark.realserver

GO_HOLDS = ["zoo_auto_id", "zoo_varchar_pk", "zoo_dynamic", "zoo_json_array", "zoo_binary", "zoo_partitions",
            "zoo_partition_key", "zoo_aliased", "zoo_db1"]
ASYNC_TOO = {"zoo_auto_id", "zoo_partitions", "zoo_db1", "zoo_binary"}


def _service(uri: str, db_name: str, tmp_path: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


def _key_map(report: Any) -> dict[Any, Any]:
    return {json.loads(old): new for old, new in report.key_map.items()}


def test_go_holds_what_the_matrix_runs(go_zoo: tuple[str, dict[str, Any]]) -> None:
    _, made = go_zoo
    assert {name for name in GO_HOLDS + ["zoo_float16"] if made[name].created} == set(GO_HOLDS) | {"zoo_float16"}


@pytest.mark.parametrize(("spec", "mode"), [(s, "sync") for s in GO_HOLDS] + [(s, "async") for s in sorted(ASYNC_TOO)])
async def test_go_delete_then_restore_is_exact(go_zoo: tuple[str, dict[str, Any]], spec: str, mode: str,
                                               tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    doomed = sorted(before, key=str)[::2]
    svc = _service(uri, c.db_name, tmp_path)
    home = _service(uri, "default", tmp_path)
    try:
        info = svc.run(svc.describe(c.alias or c.name))
        if mode == "sync":
            preview = svc.run(svc.preview_delete(info, keys=doomed))
            report = svc.run(svc.delete(info, preview))
        else:
            preview = await svc.arun(svc.preview_delete(info, keys=doomed))
            report = await svc.arun(svc.delete(info, preview))
        assert preview.undo.method == (INSERT_NEW_KEYS if c.auto_id else UPSERT)
        if c.auto_id:
            assert "new primary keys" in preview.undo.summary and "v2.3.5" in preview.undo.summary
        assert report.deleted == len(doomed)
        restored = (home.run(home.restore(Path(report.backup_path))) if mode == "sync"
                    else await home.arun(home.restore(Path(report.backup_path))))
        assert restored.restored == len(doomed) and restored.db_name == c.db_name
        after = snapshot(client, c.name, db_name=c.db_name)
        if c.auto_id:
            key_map = _key_map(restored)
            assert set(key_map) == set(doomed) and not set(key_map.values()) & set(before)
            assert diff(before, after, key_map=key_map) == []
            # Running it again changes nothing: the journal says what went back.
            again = home.run(home.restore(Path(report.backup_path)))
            assert again.restored == 0 and again.skipped == len(doomed)
            assert snapshot(client, c.name, db_name=c.db_name) == after
            audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
            assert {json.loads(k): v for k, v in audit[-2]["key_map"].items()} == key_map
        else:
            assert diff(before, after) == []
    finally:
        for s in (svc, home):
            await s.conn.aclose()
            s.conn.close()
        client.close()


def test_go_float16_delete_is_refused_before_anything_is_deleted(go_zoo: tuple[str, dict[str, Any]],
                                                                 tmp_path: Path) -> None:
    uri, made = go_zoo
    c = made["zoo_float16"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    svc = _service(uri, "default", tmp_path)
    try:
        info = svc.run(svc.describe(c.name))
        with pytest.raises(NotSupported, match=r"Not supported by this server \(version v2\.3\.5"):
            svc.run(svc.preview_delete(info, keys=list(before)[:3]))
        assert snapshot(client, c.name) == before
    finally:
        svc.conn.close()
        client.close()


def test_go_cli_undo_of_an_ingested_auto_id_collection(real_uri: str, tmp_path: Path) -> None:
    """The issue's journey: `milvus-tui ingest` made an auto_id collection on the Go server;
    delete 50 entities; the preview said what undo would do; undo; the same 50 are back."""
    home = tmp_path / "home"
    home.mkdir()
    notes = home / "notes.jsonl"
    notes.write_text("".join(json.dumps({"text": f"note {i} about {['moon', 'bread', 'bonds'][i % 3]}",
                                         "metadata": {"n": i}}) + "\n" for i in range(120)), encoding="utf-8")
    name = f"undo_auto_{os.getpid()}"
    client = client_for(real_uri)
    try:
        ok_json(cli("ingest", str(notes), "-c", name, "--json", uri=real_uri, home=home))
        assert client.describe_collection(name)["auto_id"]
        before = snapshot(client, name)
        preview = ok_json(cli("delete", name, "--filter", "n < 50", "--json", uri=real_uri, home=home))
        assert preview["matched"] == 50 and not preview["applied"]
        assert not preview["undo"]["keeps_keys"] and "new primary keys" in preview["undo"]["summary"]
        done = ok_json(cli("delete", name, "--filter", "n < 50", "--yes", "--json", uri=real_uri, home=home))
        assert done["deleted"] == 50 and done["count_after"] == 70
        restored = ok_json(cli("restore", done["backup"], "--json", uri=real_uri, home=home))
        assert restored["restored"] == 50 and restored["method"] == INSERT_NEW_KEYS
        key_map = {json.loads(k): v for k, v in restored["key_map"].items()}
        assert diff(before, snapshot(client, name), key_map=key_map) == []
    finally:
        client.drop_collection(name)
        client.close()


@pytest.mark.parametrize("spec", ["zoo_db1", "zoo_auto_id"])
async def test_go_app_delete_and_undo(go_zoo: tuple[str, dict[str, Any]], spec: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.apphelpers import SIZE, focus_table, idle, make_app, submit, wait_first_page, wait_result, wait_until
    from tui.screens.delete import ConfirmDeleteScreen

    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    uri, made = go_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    doomed = sorted(before, key=str)[::2]
    app = make_app(uri, c.name, db_name=c.db_name)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "filter", f"{c.pk} in [{', '.join(json.dumps(k) for k in doomed)}]")
        await wait_result(pilot, app, lambda r: r.total == len(doomed), what="the filter")
        await focus_table(pilot, app)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
        await wait_until(pilot, lambda: app.screen.query("#delete-confirm"), what="the modal's buttons")
        keeps = app.screen.preview.undo.keeps_keys
        assert keeps == (not c.auto_id)
        if not keeps:  # said before anything is deleted
            assert "new primary keys" in str(app.screen.query_one("#delete-undo").render())
        await wait_until(pilot, lambda: app.screen.query("#delete-confirm"), what="the confirm button")
        app.screen.query_one("#delete-confirm").press()
        await wait_until(pilot, lambda: app.main.last_delete is not None and idle(app),
                         what=f"the delete (running {app.main.running}, screen {app.screen})", timeout=90)
        await focus_table(pilot, app)
        await pilot.press("u")
        await wait_until(pilot, lambda: app.main.last_delete is None and idle(app), what="the undo", timeout=60)
    after = snapshot(client, c.name, db_name=c.db_name)
    if c.auto_id:
        audit = [json.loads(line) for line in (tmp_path / "home" / "state" / "audit.jsonl").read_text().splitlines()]
        key_map = {json.loads(k): v for k, v in audit[-1]["key_map"].items()}
        assert diff(before, after, key_map=key_map) == []
    else:
        assert diff(before, after) == []
    client.close()



def test_zoo_specs_are_all_covered() -> None:
    """Every zoo spec is in the Go matrix, refused before a delete, or one 2.3.5 cannot hold."""
    from tests.realserver.test_zoo_real import GO_REFUSES, GO_UNSAFE

    assert {s.name for s in zoo.ZOO} == set(GO_HOLDS) | {"zoo_float16"} | set(GO_REFUSES) | GO_UNSAFE
