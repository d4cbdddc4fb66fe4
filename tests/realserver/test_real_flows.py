"""Filter, semantic search, more like this, delete + backup + restore, and export against a
real Milvus 2.3.5, through the data layer (sync and async) and the ``milvus-tui`` CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realserver.conftest import DOCS_ROWS, cli, ok_json
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.errors import InvalidFilter, InvalidInput, NotFound
from tui.milvus.values import encode_row

pytestmark = pytest.mark.realserver


@pytest.fixture
def info(rservice: Session, docs: str) -> Any:
    info = rservice.run(rservice.describe(docs))
    assert info.loaded
    return info


# -- filter -----------------------------------------------------------------------------------


def test_filter_at_bounded_consistency(rservice: Session, info: Any) -> None:
    result = rservice.run(rservice.filter(info, 'category == "function" and n_args >= 2', limit=500,
                                     consistency_level="Bounded"))
    assert result.rows and len(result.rows) == rservice.run(rservice.count(info.name,
                                                                      'category == "function" and n_args >= 2'))
    assert all(r["category"] == "function" and r["n_args"] >= 2 for r in result.rows)
    assert result.columns[:3] == ["id", "text", "vector"]


def test_filter_json_and_like(rservice: Session, info: Any) -> None:
    everything = rservice.run(rservice.filter(info, "", limit=DOCS_ROWS, output_fields=["module", "meta"])).rows
    # LIKE treats "_" as a wildcard; pick a plain prefix that several modules share.
    prefix = max((r["module"][:2] for r in everything if r["module"][:2].isalpha()),
                 key=lambda p: sum(r["module"].startswith(p) for r in everything))
    expected = sorted(r["id"] for r in everything if r["module"].startswith(prefix) and r["meta"]["lineno"] > 50)
    result = rservice.run(rservice.filter(info, f'module like "{prefix}%" and meta["lineno"] > 50', limit=DOCS_ROWS,
                                     output_fields=["module", "meta"]))
    assert expected and sorted(r["id"] for r in result.rows) == expected
    assert set(result.rows[0]) == {"id", "module", "meta"}


def test_bad_filters_are_clear_errors(rservice: Session, info: Any) -> None:
    with pytest.raises(InvalidFilter) as caught:
        rservice.run(rservice.filter(info, "n_args >>> 2"))
    assert "filter" in str(caught.value).lower()
    with pytest.raises(InvalidInput):
        rservice.run(rservice.filter(info, 'category == "function', limit=5))  # unbalanced quote
    with pytest.raises(InvalidInput):
        rservice.run(rservice.filter(info, "id > 1", limit=20_000))  # above the server's window


async def test_async_filter_matches_sync(real_uri: str, rservice: Session, info: Any) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None)
        result = await svc.arun(svc.filter(info, "id <= 20", consistency_level="Bounded"))
    finally:
        await conn.aclose()
        conn.close()
    sync = rservice.run(rservice.filter(info, "id <= 20", consistency_level="Bounded"))
    assert result.mode == "async" and sync.mode == "sync"
    assert sorted(r["id"] for r in result.rows) == sorted(r["id"] for r in sync.rows) == list(range(1, 21))


# -- semantic search and more like this ------------------------------------------------------


def test_semantic_search_with_local_embeddings(rservice: Session, info: Any) -> None:
    result = rservice.run(rservice.search(info, "read a file line by line", k=8))
    assert result.kind == "search" and result.metric == "COSINE"
    assert len(result.rows) == 8 and len(result.scores) == 8
    assert result.scores == sorted(result.scores, reverse=True)
    assert 0.2 < result.scores[0] <= 1.0001
    assert all(r["text"] for r in result.rows)
    assert not result.warnings  # built and searched with the same local model
    filtered = rservice.run(rservice.search(info, "read a file line by line", k=5,
                                                expr='category == "function"', consistency_level="Bounded"))
    assert filtered.rows and all(r["category"] == "function" for r in filtered.rows)
    mmr = rservice.run(rservice.search(info, "read a file line by line", k=4, mmr=(20, 0.5)))
    assert len(mmr.rows) == 4 and len({r["id"] for r in mmr.rows}) == 4


async def test_async_search_matches_sync(real_uri: str, rservice: Session, info: Any,
                                         embeddings: Any) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, embeddings)
        result = await svc.arun(svc.search(info, "compress data with gzip", k=5))
        similar = await svc.arun(svc.more_like_this(info, result.rows[0]["id"], k=5))
    finally:
        await conn.aclose()
        conn.close()
    sync = rservice.run(rservice.search(info, "compress data with gzip", k=5))
    assert [r["id"] for r in result.rows] == [r["id"] for r in sync.rows]
    assert similar.kind == "more_like_this" and result.rows[0]["id"] not in [r["id"] for r in similar.rows]


def test_more_like_this(rservice: Session, info: Any) -> None:
    key = 42
    (entity,) = rservice.run(rservice.get(info, [key]))
    itself = rservice.run(rservice.search_by_vector(info, entity["vector"], k=3))
    assert itself.rows[0]["id"] == key and itself.scores[0] > 0.99
    result = rservice.run(rservice.more_like_this(info, key, k=6))
    assert result.kind == "more_like_this" and len(result.rows) == 6
    assert key not in [r["id"] for r in result.rows]
    assert result.scores == sorted(result.scores, reverse=True)
    assert result.scores[:2] == pytest.approx(itself.scores[1:3])  # the same neighbours, minus itself
    with pytest.raises(NotFound):
        rservice.run(rservice.more_like_this(info, 10_000_000))


# -- delete with backup, then restore ------------------------------------------------------------


def snapshot(svc: Session, name: str) -> list[str]:
    """Every entity, every field (vectors included), at Strong consistency, as sorted JSON."""
    info = svc.run(svc.describe(name))
    pk = info.primary.name
    rows = svc.conn.client.query(name, filter=f"{pk} >= 0" if info.primary.dtype == "INT64" else f'{pk} != ""',
                                 output_fields=["*"], limit=16384, consistency_level="Strong")
    return sorted(json.dumps(encode_row(dict(r)), sort_keys=True) for r in rows)


@pytest.fixture
def scratch(rservice: Session) -> Iterator[str]:
    """A writable copy of the demo schema: 250 documents, ids 1..250."""
    from tui.demo import DEMO_FIELDS, stdlib_documents

    name = "rs_scratch"
    if rservice.run(rservice.exists(name)):
        rservice.run(rservice.drop(name))
    rservice.run(rservice.ingest(name, list(stdlib_documents(250)), extra=DEMO_FIELDS, auto_id=False))
    yield name
    rservice.run(rservice.drop(name))


def test_delete_with_backup_then_restore_is_identical(rservice: Session, scratch: str) -> None:
    before = snapshot(rservice, scratch)
    assert len(before) == 250
    info = rservice.run(rservice.describe(scratch))
    preview = rservice.run(rservice.preview_delete(info, expr="n_args >= 2"))
    assert 0 < preview.count < 250
    assert preview.count == rservice.run(rservice.count(scratch, "n_args >= 2"))
    assert all(row["n_args"] >= 2 for row in preview.sample)
    report = rservice.run(rservice.delete(info, preview))
    assert report.deleted == report.backed_up == preview.count and report.status == "done"
    backup = Path(report.backup_path)
    assert backup.exists() and backup.stat().st_mode & 0o777 == 0o600
    # Strong: the count right after the delete is the truth, and the keys are gone.
    assert rservice.run(rservice.count(scratch)) == 250 - preview.count
    assert rservice.run(rservice.count(scratch, "n_args >= 2")) == 0
    assert rservice.run(rservice.get(info, list(preview.keys))) == []
    audit = [json.loads(line) for line in rservice.audit_path.read_text().splitlines()]
    assert audit[-1]["action"] == "delete" and audit[-1]["deleted"] == preview.count

    restored = rservice.run(rservice.restore(backup))
    assert restored.restored == preview.count
    assert rservice.run(rservice.count(scratch)) == 250
    assert snapshot(rservice, scratch) == before
    # Restoring twice changes nothing (upsert).
    rservice.run(rservice.restore(backup))
    assert snapshot(rservice, scratch) == before


async def test_async_delete_selected_keys_and_restore(real_uri: str, scratch: str, tmp_path: Path) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None, backup_dir=tmp_path / "abackups", audit_path=tmp_path / "aaudit.jsonl")
        before = snapshot(svc, scratch)
        info = await svc.arun(svc.describe(scratch))
        preview = await svc.arun(svc.preview_delete(info, keys=[3, 5, 7, 999_999]))
        assert sorted(preview.keys) == [3, 5, 7]  # a key that does not exist is not "deleted"
        report = await svc.arun(svc.delete(info, preview))
        assert report.deleted == 3
        assert await svc.arun(svc.count(scratch)) == 247
        await svc.arun(svc.restore(Path(report.backup_path)))
        assert await svc.arun(svc.count(scratch)) == 250
        assert snapshot(svc, scratch) == before
    finally:
        await conn.aclose()
        conn.close()


def test_backup_reads_as_of_its_start_and_holds_an_upsert_made_right_before(
        rservice: Session, scratch: str, raw: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Go 2.3.5 gives a server timestamp (AllocTimestamp): every read of the backup carries the same
    one instead of a Strong read each. An upsert by another client, acknowledged just before the
    delete, is in the backup with its new values (a read at Eventually here misses it: measured
    20 of 20 times right after an upsert, docs/BENCHMARKS.md issue 10)."""
    from tui.milvus import cleanup as cleanup_module
    from tui.milvus.cleanup import execute_delete

    info = rservice.run(rservice.describe(scratch))
    preview = rservice.run(rservice.preview_delete(info, expr="id <= 30"))
    assert preview.count == 30
    changed = raw.query(scratch, filter="id <= 30", output_fields=["*"], consistency_level="Strong")
    for row in changed:
        row["n_args"] = 1000 + row["id"]
    raw.upsert(scratch, changed)
    reads: list[dict[str, Any]] = []
    real = cleanup_module.get_entities

    def spy(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs)
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(cleanup_module, "get_entities", spy)
    report = rservice.conn.run(execute_delete(info, preview, backup_dir=tmp_path / "b",
                                              audit_path=tmp_path / "a.jsonl", batch_size=7))
    assert report.deleted == report.backed_up == 30
    lines = Path(report.backup_path).read_text(encoding="utf-8").splitlines()
    assert {r["id"]: r["n_args"] for r in map(json.loads, lines[1:-1])} == {i: 1000 + i for i in range(1, 31)}
    stamps = {r.get("guarantee_timestamp") for r in reads}
    assert len(reads) == 5 and len(stamps) == 1 and isinstance(stamps.pop(), int)


def test_string_keys_with_quotes_json_and_arrays_round_trip(rservice: Session, raw: Any) -> None:
    """Keys the app quotes itself, JSON and ARRAY fields: deleted, backed up, restored exactly."""
    from pymilvus import DataType, MilvusClient

    name = "rs_strings"
    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("doc", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    index = MilvusClient.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="IP")
    raw.create_collection(name, schema=schema, index_params=index)
    keys = ['plain', 'it\'s', 'say "hi"', 'br[ack]et', 'back\\slash', 'mixed "\'[]\\', 'ünïcode ✓']
    raw.insert(name, [{"pk": k, "doc": {"k": k, "n": i, "nested": {"a": [1, 2]}}, "tags": ["x", k[:16]],
                       "v": [0.1 * i, 0.2, 0.3, 0.4], "extra": i} for i, k in enumerate(keys)])
    raw.flush(name)
    try:
        before = snapshot(rservice, name)
        info = rservice.run(rservice.describe(name))
        preview = rservice.run(rservice.preview_delete(info, keys=keys[1:]))
        assert set(preview.keys) == set(keys[1:])
        report = rservice.run(rservice.delete(info, preview))
        assert report.deleted == len(keys) - 1
        assert rservice.run(rservice.count(name)) == 1
        rservice.run(rservice.restore(Path(report.backup_path)))
        assert snapshot(rservice, name) == before
    finally:
        raw.drop_collection(name)


def _bits_collection(raw: Any, name: str, dtype: str) -> list[dict[str, Any]]:
    """A collection whose only vector field is ``dtype`` (2.3.5 allows one), with values that
    JSON text would be most likely to bend; the rows inserted."""
    import numpy as np
    from pymilvus import DataType, MilvusClient

    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    index = MilvusClient.prepare_index_params()
    if dtype == "BINARY_VECTOR":
        schema.add_field("v", DataType.BINARY_VECTOR, dim=64)
        index.add_index("v", index_type="BIN_FLAT", metric_type="HAMMING")
        rows = [{"pk": i, "v": bytes((i * 37 + j) % 256 for j in range(8))} for i in range(40)]
    else:
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
        index.add_index("v", index_type="FLAT", metric_type="L2")
        f32 = np.finfo(np.float32)
        base = np.array([-0.0, 1e-45, f32.tiny, f32.max, -f32.max, 0.1, 1 / 3, 7.0], dtype=np.float32)
        rows = [{"pk": i, "v": np.roll(base, i).copy()} for i in range(40)]
    schema.add_field("grp", DataType.INT64)
    for r in rows:
        r["grp"] = r["pk"] % 2
    raw.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    raw.insert(name, rows)
    raw.flush(name)
    return rows


def _vector_bits(raw: Any, name: str) -> dict[int, bytes]:
    got = raw.query(name, filter="pk >= 0", output_fields=["*"], limit=100, consistency_level="Strong",
                    strict_float32=True)
    out = {}
    for r in got:
        v = r["v"]
        out[r["pk"]] = v[0] if isinstance(v, list) else v.tobytes()  # pymilvus wraps byte vectors in a list
    return out


@pytest.mark.parametrize("dtype", ["FLOAT_VECTOR", "BINARY_VECTOR"])
def test_vectors_round_trip_bit_for_bit_in_both_backup_formats(rservice: Session, raw: Any, dtype: str,
                                                               tmp_path: Path) -> None:
    """Backup format 2 packs float vectors as float32 and binary vectors as their bytes;
    format 1 files (vectors as pymilvus returned them, written by ``values.dumps``) still
    restore, binary ones included."""
    from tui.milvus.values import dumps

    name = f"rs_bits_{dtype.lower()}"
    rows = _bits_collection(raw, name, dtype)
    try:
        before = _vector_bits(raw, name)
        assert len(before) == 40
        info = rservice.run(rservice.describe(name))
        preview = rservice.run(rservice.preview_delete(info, expr="grp == 0"))
        report = rservice.run(rservice.delete(info, preview))
        assert report.deleted == report.backed_up == 20 and rservice.run(rservice.count(name)) == 20
        lines = Path(report.backup_path).read_text().splitlines()
        header = json.loads(lines[0])
        assert header["format"] == "milvus-tui-backup/3"
        assert header["vectors"] == {"v": "float32-le-base64" if dtype == "FLOAT_VECTOR" else "bytes-base64"}
        assert len(lines) == 1 + 20 + 1  # header, entities, trailer
        rservice.run(rservice.restore(Path(report.backup_path)))
        assert _vector_bits(raw, name) == before

        # Format 1, as the earlier version wrote it, then restored by this one.
        old = [dict(r) for r in raw.query(name, filter="grp == 1", output_fields=["*"], limit=100,
                                           consistency_level="Strong")]
        v1 = tmp_path / "v1.jsonl"
        v1.write_text(json.dumps({"format": "milvus-tui-backup/1", "collection": name, "count": len(old)}) + "\n"
                      + "".join(dumps(r) + "\n" for r in old))
        raw.delete(name, filter="grp == 1")
        assert rservice.run(rservice.count(name)) == 20
        assert rservice.run(rservice.restore(v1)).restored == 20
        assert _vector_bits(raw, name) == before
        assert len(rows) == 40
    finally:
        raw.drop_collection(name)


def test_cli_delete_then_restore(real_uri: str, scratch: str, tmp_path: Path) -> None:
    preview = ok_json(cli("delete", scratch, "--filter", 'category == "method"', "--json", uri=real_uri,
                          home=tmp_path))
    assert preview["matched"] > 0 and not preview["applied"]
    done = ok_json(cli("delete", scratch, "--filter", 'category == "method"', "--yes", "--json",
                       uri=real_uri, home=tmp_path))
    assert done["deleted"] == preview["matched"] and done["count_after"] == 250 - preview["matched"]
    restored = ok_json(cli("restore", done["backup"], "--json", uri=real_uri, home=tmp_path))
    assert restored["restored"] == preview["matched"]
    rows = ok_json(cli("query", scratch, "", "--limit", "300", "-o", "id", "--consistency", "Strong", "--json",
                       uri=real_uri, home=tmp_path))["rows"]
    assert sorted(r["id"] for r in rows) == list(range(1, 251))


# -- export -------------------------------------------------------------------------------------


def test_export_whole_collection_jsonl(rservice: Session, info: Any, tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    report = rservice.run(rservice.export(info, out, batch_size=128))
    assert report.rows == DOCS_ROWS
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(1, DOCS_ROWS + 1))
    assert len(rows[0]["vector"]) == 256 and isinstance(rows[0]["meta"], dict)


def test_export_filter_to_csv(rservice: Session, info: Any, tmp_path: Path) -> None:
    out = tmp_path / "functions.csv"
    report = rservice.run(rservice.export(info, out, expr='category == "function"', output_fields=["name", "n_args"]))
    assert report.rows == rservice.run(rservice.count(info.name, 'category == "function"'))
    with open(out, newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["id", "name", "n_args", "$extra"]
    assert len(table) == report.rows + 1


async def test_async_export(real_uri: str, info: Any, tmp_path: Path) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None)
        report = await svc.arun(svc.export(info, tmp_path / "a.jsonl", expr="id <= 300", batch_size=64))
    finally:
        await conn.aclose()
        conn.close()
    assert report.rows == 300


# -- the CLI's read commands -----------------------------------------------------------------------


def test_cli_collections_search_and_load(real_uri: str, docs: str, raw: Any, tmp_path: Path) -> None:
    listing = ok_json(cli("collections", "--json", uri=real_uri, home=tmp_path))
    assert "default" in listing["databases"]
    mine = next(c for c in listing["collections"] if c["name"] == docs)
    assert mine["row_count"] == DOCS_ROWS and mine["load_state"] == "Loaded"
    found = ok_json(cli("search", docs, "parse command line arguments", "-k", "3", "--json", uri=real_uri,
                        home=tmp_path))
    assert len(found["rows"]) == 3 and found["metric"] == "COSINE"
    try:
        assert cli("release", docs, uri=real_uri, home=tmp_path).returncode == 0
        not_loaded = cli("query", docs, "id < 3", "--json", uri=real_uri, home=tmp_path)
        assert not_loaded.returncode == 4 and "not loaded" in not_loaded.stderr
        loaded = ok_json(cli("query", docs, "id < 3", "--load", "--json", uri=real_uri, home=tmp_path))
        assert sorted(r["id"] for r in loaded["rows"]) == [1, 2]
    finally:
        raw.load_collection(docs)
