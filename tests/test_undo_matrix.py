"""The undo matrix on Milvus Lite: every zoo collection (made with pymilvus, never our ingest),
every flow, compared entity by entity (keys, fields, vectors, partition, database).

Flows per collection: the data API's sync and async delete -> restore; the console script's
query, export, delete --yes and restore (one fresh command each, settings from the environment);
and the app through Pilot (open, last page, entity detail, more like this, delete, u).
docs/RELIABILITY.md has the matrix as a table; tests/realserver/test_undo_matrix_real.py runs
the Go server's part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import zoo
from tests.zoo import ZooCollection, client_for, diff, snapshot
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.cleanup import UPSERT

from .apphelpers import SIZE, focus_table, idle, make_app, notifications, result, submit, wait_first_page, wait_result, wait_until

LITE_REFUSES = zoo.LITE_REFUSES
LITE_SPECS = [s.name for s in zoo.ZOO if s.name not in LITE_REFUSES]

SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]


def test_lite_holds_the_zoo_but_byte_vectors(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    _, made = lite_zoo
    assert {name for name, c in made.items() if not c.created} == LITE_REFUSES
    for name in LITE_REFUSES:
        assert "does not support" in (made[name].skipped or "")


def _doomed(before: dict[Any, dict[str, Any]]) -> list[Any]:
    """About half the entities, from every partition: the ones a test deletes."""
    return sorted(before, key=str)[::2]


def _target(c: ZooCollection) -> str:
    return c.alias or c.name  # the aliased collection is reached through its alias, as a user would


def _service(uri: str, db_name: str, tmp_path: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


@pytest.mark.parametrize("spec", LITE_SPECS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_data_api_delete_then_restore_is_exact(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str,
                                                     mode: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    doomed = _doomed(before)
    svc = _service(uri, c.db_name, tmp_path)
    try:
        info = svc.run(svc.describe(_target(c)))
        if mode == "sync":
            preview = svc.run(svc.preview_delete(info, keys=doomed))
            report = svc.run(svc.delete(info, preview))
        else:
            preview = await svc.arun(svc.preview_delete(info, keys=doomed))
            report = await svc.arun(svc.delete(info, preview))
        assert preview.undo.method == UPSERT and preview.undo.keeps_keys  # Lite keeps keys, auto_id too
        assert report.deleted == len(doomed)
        assert set(snapshot(client, c.name, db_name=c.db_name)) == set(before) - set(doomed)
        header = json.loads(Path(report.backup_path).read_text(encoding="utf-8").splitlines()[0])
        assert header["db_name"] == c.db_name and header["function_outputs"] == list(c.function_outputs)
        # Restored from a connection to the default database: the backup says where it belongs.
        home = _service(uri, "default", tmp_path)
        try:
            restored = (home.run(home.restore(Path(report.backup_path))) if mode == "sync"
                        else await home.arun(home.restore(Path(report.backup_path))))
        finally:
            await home.conn.aclose()
            home.conn.close()
        assert restored.restored == len(doomed) and restored.db_name == c.db_name
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        await svc.conn.aclose()
        svc.conn.close()
        client.close()


def _cli(home: Path, uri: str, db_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS", "XDG_"))}
    env.update(MILVUS_URI=uri, MILVUS_TUI_HOME=str(home), NO_COLOR="1")
    if db_name != "default":
        env["MILVUS_DB_NAME"] = db_name
    return subprocess.run([*COMMAND, *args], cwd=home, env=env, capture_output=True, text=True, timeout=120)


def _ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result.stdout


@pytest.mark.parametrize("spec", LITE_SPECS)
def test_cli_query_export_delete_restore(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str,
                                         tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    home = tmp_path / "home"
    home.mkdir()
    target = _target(c)
    try:
        queried = _ok(_cli(home, uri, c.db_name, "query", target, "--limit", "1000", "--json"))
        rows = queried["rows"] if isinstance(queried, dict) else queried
        assert {json.dumps(r[c.pk]) for r in rows} == {json.dumps(k) for k in before}
        out = home / "all.jsonl"
        _ok(_cli(home, uri, c.db_name, "export", target, str(out)))
        exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert sorted(json.dumps(r[c.pk]) for r in exported) == sorted(json.dumps(k) for k in before)

        doomed = _doomed(before)
        deleted = _ok(_cli(home, uri, c.db_name, "delete", target, "--ids", json.dumps(doomed), "--yes", "--json"))
        assert deleted["deleted"] == len(doomed) and deleted["undo"]["keeps_keys"]
        assert set(snapshot(client, c.name, db_name=c.db_name)) == set(before) - set(doomed)
        # No --db, no MILVUS_DB_NAME: the backup names its database.
        restored = _ok(_cli(home, uri, "default", "restore", deleted["backup"], "--json"))
        assert restored["restored"] == len(doomed) and restored["db_name"] == c.db_name
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        client.close()


@pytest.mark.parametrize("spec", LITE_SPECS)
async def test_app_browse_delete_and_undo(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.screens.delete import ConfirmDeleteScreen
    from tui.screens.entity import EntityScreen
    from tui.screens.main import MainScreen

    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    doomed = _doomed(before)
    app = make_app(uri, _target(c), db_name=c.db_name)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_first_page(pilot, app)
            await focus_table(pilot, app)
            await pilot.press("G")
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.page == (r.pages or 1) - 1,
                              what="the last page")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen), what="the entity detail")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the detail to close")
            if any(f.is_dense_vector for f in app.main.info.fields) and len(
                    [f for f in app.main.info.fields if f.is_vector]) == 1:
                await pilot.press("m")
                await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="more like this")
                assert result(app).rows
            keys = ", ".join(json.dumps(k) for k in doomed)
            await submit(pilot, app, "filter", f"{c.pk} in [{keys}]")
            await wait_result(pilot, app, lambda r: r.kind == "page" and r.total == len(doomed), what="the filter")
            await focus_table(pilot, app)
            await pilot.press("D")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), what="the delete modal")
            assert app.screen.preview.count == len(doomed) and app.screen.preview.undo.keeps_keys
            await pilot.click("#delete-confirm")
            await wait_until(pilot, lambda: app.main.last_delete is not None and idle(app), what="the delete")
            assert set(snapshot(client, c.name, db_name=c.db_name)) == set(before) - set(doomed)
            await focus_table(pilot, app)
            await pilot.press("u")
            await wait_until(pilot, lambda: app.main.last_delete is None and idle(app), what="the undo")
            assert not any("Traceback" in n for n in notifications(app))
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
    finally:
        client.close()
