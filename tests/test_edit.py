"""Edits on Milvus Lite, on the schema zoo (made with pymilvus, never our ingest): a bulk edit by
filter or by keys and an undo, compared entity by entity (keys, every field, vectors bit for bit,
partition, dynamic keys) before, after the edit and after the undo; refusals before any write;
the CLI (preview, --yes, restore of the edit backup).

Every test that edits the shared zoo puts it back (the undo is what it tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import zoo
from tests.zoo import DYNAMIC_KEY, ZooCollection, client_for, diff, normalize, snapshot
from tui.errors import InvalidInput, NotSupported, UnknownField
from tui.milvus import MilvusConnection
from tui.milvus.edit import FieldChange, check_keys_kept, parse_changes
from tui.session import Session

HOSTILE_TEXT = "<s>[INST] new [/INST] [bold]x[/] \x1b[2J \x1b]0;t\x07 nul\x00 c1\x85"

#: spec -> (the edit's --set/--unset, how entities are chosen: "filter" or "keys")
EDITS: dict[str, tuple[list[str], list[str], str]] = {
    "zoo_auto_id": ([f"text={HOSTILE_TEXT}"], [], "filter"),
    "zoo_varchar_pk": (["text=\"[/INST] edited\""], [], "keys"),
    "zoo_dynamic": (["color=[purple]", "added={\"k\": [1, \"x\"]}"], ["n"], "filter"),
    "zoo_json_array": (['meta={"new": [1, "two", null], "q": "it\'s \\"q\\""}', 'tags=["a", "[b]"]', "nums=[1, -2]",
                        "flag=true", "i8=-128", "f32=1.5", "f64=-2.25", "i32=2147483647"], [], "filter"),
    "zoo_nullable": (["maybe_int=null", "maybe_text=set", "maybe_tags=null", "maybe_json={\"j\": 1}", "weight=0.25"],
                     [], "keys"),
    "zoo_partitions": (["text=still in my partition"], [], "filter"),
    "zoo_partition_key": (["text=routed by tenant"], [], "filter"),
    "zoo_bm25": (["text=zebra quokka"], [], "keys"),
    "zoo_db1": (["text=other database"], [], "filter"),
}


def _chosen(before: dict[Any, dict[str, Any]]) -> list[Any]:
    return sorted(before, key=str)[1::2]


def _service(uri: str, db_name: str, tmp_path: Path) -> Session:
    conn = MilvusConnection(uri, db_name=db_name)
    conn.open()
    return Session(conn, None, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


def _types(client: Any, name: str) -> dict[str, tuple[Any, Any]]:
    described = client.describe_collection(name)
    return {f["name"]: (f["type"], f.get("element_type")) for f in described["fields"]}


def expected_after(before: dict[Any, dict[str, Any]], keys: list[Any], sets: list[str], unsets: list[str],
                   types: dict[str, tuple[Any, Any]], info: Any) -> dict[Any, dict[str, Any]]:
    """``before`` with the edit applied to ``keys``, normalised as ``snapshot`` reads it."""
    changes = parse_changes(info, sets, unsets)
    out = {k: dict(v) for k, v in before.items()}
    for key in keys:
        entry = out[key]
        dynamic = json.loads(entry.get(DYNAMIC_KEY, "{}"))
        for c in changes:
            if c.dynamic:
                if c.remove:
                    dynamic.pop(c.field, None)
                else:
                    dynamic[c.field] = c.value
            else:
                dtype, element = types[c.field]
                entry[c.field] = normalize(dtype, c.value, element)
        if DYNAMIC_KEY in entry:
            entry[DYNAMIC_KEY] = zoo._canonical_json(dynamic)
    return out


@pytest.mark.parametrize("spec", list(EDITS))
def test_edit_then_undo_is_exact(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    sets, unsets, how = EDITS[spec]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name, db_name=c.db_name)
    svc = _service(uri, c.db_name, tmp_path)
    try:
        info = svc.run(svc.describe(c.name))
        if how == "keys":
            chosen = _chosen(before)
            preview = svc.run(svc.preview_edit(info, sets=sets, unsets=unsets, keys=chosen))
        else:
            chosen = list(before)  # every entity, in every partition
            where = f'{c.pk} != ""' if isinstance(chosen[0], str) else f"{c.pk} >= 0"
            preview = svc.run(svc.preview_edit(info, sets=sets, unsets=unsets, expr=where))
        assert sorted(preview.keys, key=str) == sorted(chosen, key=str)
        assert preview.sample and all(b[c.pk] == a[c.pk] for b, a in preview.sample)
        assert snapshot(client, c.name, db_name=c.db_name) == before  # a preview writes nothing
        report = svc.run(svc.edit(info, preview))
        assert report.edited == len(chosen) and report.backed_up == len(chosen) and report.status == "done"
        header = json.loads(Path(report.backup_path).read_text(encoding="utf-8").splitlines()[0])
        assert header["operation"] == "edit" and header["edit"] == preview.description
        assert header["db_name"] == c.db_name

        after = snapshot(client, c.name, db_name=c.db_name)
        want = expected_after(before, chosen, sets, unsets, _types(client, c.name), info)
        # Same keys (no duplicate, no new key, auto_id included), every field, vector, partition.
        assert diff(want, after) == []

        if spec == "zoo_bm25":  # the server recomputed the BM25 output from the new text
            hits = client.search(c.name, data=["quokka"], anns_field="sparse", limit=50,
                                 search_params={"metric_type": "BM25"}, output_fields=[c.pk])
            assert sorted(h["entity"][c.pk] for h in hits[0]) == sorted(chosen)

        restored = svc.run(svc.undo())
        assert restored.restored == len(chosen) and svc.last_edit is None
        assert diff(before, snapshot(client, c.name, db_name=c.db_name)) == []
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [(r["action"], r.get("status")) for r in audit] == [("edit", "started"), ("edit", "done"),
                                                                   ("restore", None)]
    finally:
        svc.close()
        client.close()


async def test_async_edit_and_undo(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made["zoo_partitions"]
    client = client_for(uri, c.db_name)
    before = snapshot(client, c.name)
    svc = _service(uri, c.db_name, tmp_path)
    try:
        keys = _chosen(before)
        preview = await svc.arun(svc.preview_edit(c.name, sets=["text=async"], keys=keys))
        report = await svc.arun(svc.edit(c.name, preview))
        after = snapshot(client, c.name)
        assert report.edited == len(keys)
        assert {k: v["text"] for k, v in after.items() if k in keys} == dict.fromkeys(keys, "async")
        assert diff(before, after, ignore=("text",)) == []
        await svc.arun(svc.undo())
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        await svc.conn.aclose()
        svc.close()
        client.close()


def test_a_stopped_edit_says_exactly_what_it_did_and_undo_puts_it_back(
        lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    from tui.errors import EditInterrupted
    from tui.milvus.ops import Progress

    uri, made = lite_zoo
    c = made["zoo_dynamic"]  # on Lite its batches are replaced whole (delete, then upsert)
    client = client_for(uri)
    before = snapshot(client, c.name)
    svc = _service(uri, "default", tmp_path)
    try:
        preview = svc.run(svc.preview_edit(c.name, sets=["color=stopped"], expr="pk >= 0"))
        seen: list[Progress] = []
        # Stop once the first 4-entity batch is applied: the driver checks between steps.
        ctx = svc.context(seen.append, lambda: any(p.what == "editing" for p in seen))
        with pytest.raises(EditInterrupted) as caught:
            svc.run(svc.edit(c.name, preview, batch_size=4), ctx)
        after = snapshot(client, c.name)
        edited = [k for k in after if json.loads(after[k][DYNAMIC_KEY]).get("color") == "stopped"]
        assert caught.value.edited == len(edited) == 4 and set(after) == set(before)  # none lost, none doubled
        assert f"{len(edited)} of {len(before)} entities" in str(caught.value)
        assert svc.last_edit is not None and svc.last_edit.status == "stopped"
        svc.run(svc.undo())
        assert diff(before, snapshot(client, c.name)) == []
        closing = json.loads((tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[1])
        assert closing["status"] == "cancelled" and closing["edited"] == 4
    finally:
        svc.close()
        client.close()


REFUSED = [
    ("zoo_json_array", ["i8=300"], [], InvalidInput, "from -128 to 127"),
    ("zoo_json_array", ["i16=1.5"], [], InvalidInput, "whole numbers"),
    ("zoo_json_array", ["flag=maybe"], [], InvalidInput, "true or false"),
    ("zoo_json_array", ["tags=[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]"], [], InvalidInput, "at most 8"),
    ("zoo_json_array", ["tags=[1]"], [], InvalidInput, "holds text"),
    ("zoo_json_array", ["nums=[1, \"x\"]"], [], InvalidInput, "whole numbers"),
    ("zoo_json_array", ["meta={oops"], [], InvalidInput, "not valid JSON"),
    ("zoo_json_array", ["meta={\"a\": NaN}"], [], InvalidInput, "not valid JSON"),
    ("zoo_json_array", ["f32=1e39"], [], InvalidInput, "too large"),
    ("zoo_json_array", ["f64=inf"], [], InvalidInput, "finite"),
    ("zoo_json_array", ["flag=null"], [], InvalidInput, "not nullable"),
    ("zoo_json_array", ["text=" + "é" * 300], [], InvalidInput, "at most 512 bytes"),
    ("zoo_json_array", ["pk=5"], [], InvalidInput, "primary key"),
    ("zoo_json_array", ["vec=[1,2]"], [], InvalidInput, "vector field"),
    ("zoo_json_array", ["nope=1"], [], UnknownField, "no field 'nope'"),
    ("zoo_json_array", ["text"], [], InvalidInput, "FIELD=VALUE"),
    ("zoo_json_array", ["text=a", "text=b"], [], InvalidInput, "twice"),
    ("zoo_json_array", [], ["text"], InvalidInput, "only a dynamic key"),
    ("zoo_json_array", [], [], InvalidInput, "Say what to change"),
    ("zoo_nullable", ["weight=null"], [], InvalidInput, "has a default value"),
    ("zoo_nullable", ["maybe_text=" + "x" * 65], [], InvalidInput, "at most 64 bytes"),
    ("zoo_partition_key", ["tenant=acme"], [], InvalidInput, "partition key"),
    ("zoo_bm25", ["sparse={}"], [], InvalidInput, "computed by the server"),
    ("zoo_dynamic", ["bad key=1"], [], InvalidInput, "cannot be a dynamic key"),
]


@pytest.mark.parametrize(("spec", "sets", "unsets", "error", "words"), REFUSED)
def test_values_that_do_not_fit_are_refused_before_any_write(
        lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str, sets: list[str], unsets: list[str],
        error: type[Exception], words: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made[spec]
    svc = _service(uri, c.db_name, tmp_path)
    try:
        with pytest.raises(error) as caught:
            svc.run(svc.preview_edit(c.name, sets=sets, unsets=unsets, expr=f"{c.pk} >= 0"))
        assert words in str(caught.value)
        assert "\x1b" not in str(caught.value) and "\x00" not in str(caught.value)
        assert not (tmp_path / "backups").exists() and not (tmp_path / "audit.jsonl").exists()
    finally:
        svc.close()


def test_a_hand_made_change_is_checked_too(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made["zoo_json_array"]
    svc = _service(uri, c.db_name, tmp_path)
    try:
        with pytest.raises(InvalidInput, match="from -128 to 127"):
            svc.run(svc.preview_edit(c.name, changes=[FieldChange("i8", 1000)], keys=[1]))
        with pytest.raises(InvalidInput, match="empty filter"):
            svc.run(svc.preview_edit(c.name, sets=["i8=1"], expr=""))
    finally:
        svc.close()


def test_values_are_typed_by_the_schema(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    uri, made = lite_zoo
    svc = _service(uri, "default", tmp_path)
    try:
        info = svc.run(svc.describe(made["zoo_json_array"].name))
        typed = {c.field: c.value for c in parse_changes(info, [
            "i32=-2147483648", "f64=1e300", "flag=FALSE", "text= spaced ", "meta=[1]", "nums=[]"])}
        assert typed == {"i32": -2**31, "f64": 1e300, "flag": False, "text": " spaced ", "meta": [1], "nums": []}
        nullable = svc.run(svc.describe(made["zoo_nullable"].name))
        got = {c.field: c.value for c in parse_changes(nullable, ['maybe_text="null"', "maybe_int=null"])}
        assert got == {"maybe_text": "null", "maybe_int": None}
        dynamic = svc.run(svc.describe(made["zoo_dynamic"].name))
        got = {c.field: c.value for c in parse_changes(dynamic, ["a=5", "b=red", 'c={"x": [1]}', "d=true"])}
        assert got == {"a": 5, "b": "red", "c": {"x": [1]}, "d": True}
    finally:
        svc.close()


@pytest.mark.parametrize(("version", "words"), [
    ("v2.3.5", "refuses an upsert"), ("v2.4.9", "new primary key"), ("v2.6.5", "new primary key"),
    ("", "new primary key")])
def test_auto_id_edits_are_refused_where_an_upsert_would_not_keep_the_key(
        lite_zoo: tuple[str, dict[str, ZooCollection]], version: str, words: str, tmp_path: Path) -> None:
    uri, made = lite_zoo
    svc = _service(uri, "default", tmp_path)
    try:
        auto = svc.run(svc.describe(made["zoo_auto_id"].name))
        with pytest.raises(NotSupported, match=words):
            check_keys_kept(auto, version)
        check_keys_kept(auto, "milvus_lite-3.2.2")  # measured: Lite keeps the key
        check_keys_kept(svc.run(svc.describe(made["zoo_partitions"].name)), version)  # not auto_id: fine
    finally:
        svc.close()


SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]


def _cli(home: Path, uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS", "XDG_"))}
    env.update(MILVUS_URI=uri, MILVUS_TUI_HOME=str(home), NO_COLOR="1")
    return subprocess.run([*COMMAND, *args], cwd=home, env=env, capture_output=True, text=True, timeout=120)


def test_cli_preview_apply_and_restore(lite_zoo: tuple[str, dict[str, ZooCollection]], tmp_path: Path) -> None:
    uri, made = lite_zoo
    c = made["zoo_varchar_pk"]
    client = client_for(uri)
    before = snapshot(client, c.name)
    home = tmp_path / "home"
    home.mkdir()
    try:
        keys = _chosen(before)
        where = f"{c.pk} in [{', '.join(json.dumps(k) for k in keys)}]"
        # A NUL cannot be in a command line: a JSON-quoted value carries it (and the escapes) as \u0000.
        hostile = "text=" + json.dumps(HOSTILE_TEXT)
        preview = _cli(home, uri, "edit", c.name, "--filter", where, "--set", hostile, "--json")
        assert preview.returncode == 0, preview.stderr
        out = json.loads(preview.stdout)
        assert out["matched"] == len(keys) and out["applied"] is False and out["edit"].startswith("text = ")
        assert out["sample"][0]["after"]["text"] == HOSTILE_TEXT
        assert snapshot(client, c.name) == before and not (home / "backups").exists()
        text = _cli(home, uri, "edit", c.name, "--filter", where, "--set", hostile)
        assert text.returncode == 0 and "\x1b" not in text.stdout and "\x00" not in text.stdout
        assert "Nothing changed: this was a preview" in text.stdout

        applied = _cli(home, uri, "edit", c.name, "--filter", where, "--set", hostile, "--yes", "--json")
        assert applied.returncode == 0, applied.stderr
        done = json.loads(applied.stdout)
        assert done["edited"] == len(keys) and Path(done["backup"]).exists()
        after = snapshot(client, c.name)
        assert {k: after[k]["text"] for k in keys} == dict.fromkeys(keys, HOSTILE_TEXT)
        assert diff(before, after, ignore=("text",)) == []

        bad = _cli(home, uri, "edit", c.name, "--filter", where, "--set", "nope=1", "--yes")
        assert bad.returncode == 2 and "no field 'nope'" in bad.stderr

        restored = _cli(home, uri, "restore", done["backup"], "--json")
        assert restored.returncode == 0, restored.stderr
        assert json.loads(restored.stdout)["restored"] == len(keys)
        assert diff(before, snapshot(client, c.name)) == []
    finally:
        client.close()
