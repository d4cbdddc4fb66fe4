"""Safe deletes against the real server: preview, backup, delete exactly the previewed keys,
audit, restore (idempotent). Sync and async forms."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from tests.conftest import unique_name
from tui.session import Session
from tui.milvus.catalog import CollectionInfo
from tui.milvus.cleanup import BACKUP_FORMAT, DeletePreview, execute_delete
from tui.errors import InvalidFilter, InvalidInput, MilvusTuiError, NotFound, UnknownField
from tui.milvus.ops import Context, Progress

MODE = pytest.mark.parametrize("mode", ["sync", "async"])


async def cleanup(service: Session, mode: str, method: str, *args: Any, ctx: Context | None = None,
                  **kwargs: Any) -> Any:
    intent = {"preview": service.preview_delete, "delete": service.delete, "restore": service.restore}[method]
    operation = intent(*args, **kwargs)
    return service.run(operation, ctx) if mode == "sync" else await service.arun(operation, ctx)


def entities(client: MilvusClient, collection: str, expr: str = "", pk: str = "id") -> dict[Any, dict[str, Any]]:
    """Every entity (all fields, vectors included) by primary key, straight from pymilvus."""
    rows = client.query(collection, filter=expr, output_fields=["*"], limit=16384, consistency_level="Strong")
    return {r[pk]: dict(r) for r in rows}


def count(client: MilvusClient, collection: str, expr: str = "") -> int:
    rows = client.query(collection, filter=expr, output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])


def assert_same_entities(before: dict[Any, dict[str, Any]], after: dict[Any, dict[str, Any]]) -> None:
    assert sorted(before) == sorted(after)
    for key, row in before.items():
        other = after[key]
        assert set(row) == set(other), key
        for field, value in row.items():
            if field == "vector":
                a = np.asarray(value, dtype=np.float32)
                b = np.asarray(other[field], dtype=np.float32)
                assert a.shape == b.shape == (256,)
                assert np.array_equal(a, b), f"vector of {key} changed"
            else:
                assert other[field] == value, (key, field)


def audit_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@MODE
async def test_preview_captures_exact_keys_at_strong(service: Session, scratch_collection: str,
                                                     raw_client: MilvusClient, mode: str) -> None:
    info = service.run(service.describe(scratch_collection))
    expr = 'category == "method" and n_args >= 1'
    truth = sorted(entities(raw_client, scratch_collection, expr))
    assert 10 < len(truth) < 250
    preview = await cleanup(service, mode, "preview", info, expr=expr)
    assert isinstance(preview, DeletePreview)
    assert sorted(preview.keys) == truth and preview.count == len(truth)
    assert preview.expr == expr and preview.pk_field == "id" and preview.collection == scratch_collection
    assert 0 < len(preview.sample) <= 10
    assert all(r["category"] == "method" and r["n_args"] >= 1 for r in preview.sample)
    assert all(len(r["vector"]) == 256 for r in preview.sample)  # the sample holds whole entities
    # A preview changes nothing.
    assert count(raw_client, scratch_collection) == 250


@MODE
async def test_delete_backs_up_deletes_audits_and_restore_is_identical(
        service: Session, scratch_collection: str, raw_client: MilvusClient, tmp_path: Path, mode: str) -> None:
    name = scratch_collection
    info = service.run(service.describe(name))
    expr = 'category == "class" or n_lines > 20'
    originals = entities(raw_client, name)
    doomed = entities(raw_client, name, expr)
    assert 5 < len(doomed) < 250

    preview = await cleanup(service, mode, "preview", info, expr=expr)
    events: list[Progress] = []
    report = await cleanup(service, mode, "delete", info, preview, ctx=Context(on_progress=events.append))
    assert report.requested == report.backed_up == report.deleted == len(doomed)
    assert report.status == "done"
    assert any(e.what == "backing up" for e in events) and events[-1] == Progress(len(doomed), len(doomed), "deleting")

    # The backup: private, a header, then exactly one line per deleted entity, vectors included.
    backup = Path(report.backup_path)
    assert backup.parent == tmp_path / "backups"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    lines = backup.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["format"] == BACKUP_FORMAT
    assert (header["collection"], header["filter"], header["count"], header["primary_key"]) == (
        name, expr, len(doomed), "id")
    assert json.loads(lines[-1]) == {"$backup_end": len(doomed)}  # the trailer: the backup is whole
    body = [json.loads(line) for line in lines[1:-1]]
    assert len(body) == len(doomed)
    assert sorted(r["id"] for r in body) == sorted(doomed)
    # Format 2: the float vector packed as base64 little-endian float32, bit for bit.
    assert header["vectors"] == {"vector": "float32-le-base64"}
    for r in body:
        packed = base64.b64decode(r["vector"], validate=True)
        assert packed == np.asarray(doomed[r["id"]]["vector"], dtype="<f4").tobytes(), r["id"]
        assert isinstance(r["meta"], dict) and r["meta"] == doomed[r["id"]]["meta"]

    # The rows are gone, the others untouched.
    assert count(raw_client, name, expr) == 0
    assert count(raw_client, name) == 250 - len(doomed)
    # The audit log says what happened and where the backup is.
    record = audit_records(tmp_path / "audit.jsonl")[-1]
    assert record["action"] == "delete" and record["status"] == "done"
    assert (record["collection"], record["filter"], record["previewed"], record["deleted"]) == (
        name, expr, len(doomed), len(doomed))
    assert record["backup"] == str(backup)

    # Restore brings back exactly what was there, to float32 precision.
    restored = await cleanup(service, mode, "restore", backup)
    assert restored.restored == len(doomed) and restored.collection == name
    assert_same_entities(originals, entities(raw_client, name))
    # Twice is harmless: upsert, not insert.
    again = await cleanup(service, mode, "restore", backup)
    assert again.restored == len(doomed)
    assert count(raw_client, name) == 250
    assert_same_entities(originals, entities(raw_client, name))
    restores = [r for r in audit_records(tmp_path / "audit.jsonl") if r["action"] == "restore"]
    assert len(restores) == 2 and restores[-1]["restored"] == len(doomed)


@MODE
async def test_rows_matching_after_the_preview_are_not_deleted(
        service: Session, scratch_collection: str, raw_client: MilvusClient, embeddings, mode: str) -> None:  # noqa: ANN001
    name = scratch_collection
    info = service.run(service.describe(name))
    expr = "n_args >= 3"
    preview = await cleanup(service, mode, "preview", info, expr=expr)
    assert preview.count > 0
    vector = [float(x) for x in embeddings.embed_query("late arrival")]
    late = [{"id": 10_000 + i, "text": f"late {i}", "vector": vector, "category": "function", "module": "late",
             "name": f"late.f{i}", "n_lines": 1, "n_args": 9, "modified": "2026-01-01", "meta": {}}
            for i in range(5)]
    raw_client.insert(name, late)
    assert count(raw_client, name, expr) == preview.count + 5  # the filter now matches more ...
    report = await cleanup(service, mode, "delete", info, preview)
    assert report.deleted == preview.count
    # ... but only the previewed keys were deleted.
    assert sorted(entities(raw_client, name, expr)) == [10_000 + i for i in range(5)]
    assert count(raw_client, name) == 250 - preview.count + 5


def backed_up(path: Path, field: str) -> dict[Any, Any]:
    """``field`` of every entity in a backup, by primary key ``id``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {r["id"]: r[field] for r in map(json.loads, lines[1:-1])}


def record_backup_reads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``get_entities`` the backup makes (sync and async)."""
    from tui.milvus import cleanup as cleanup_module

    seen: list[dict[str, Any]] = []
    real = cleanup_module.get_entities

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(cleanup_module, "get_entities", spy)
    return seen


@MODE
async def test_backup_holds_an_upsert_made_right_before_the_delete(
        service: Session, scratch_collection: str, raw_client: MilvusClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Another client changes the previewed entities just before the delete: the backup (and so
    the undo) holds the new values. Lite gives no server timestamp, so its reads stay Strong."""
    name = scratch_collection
    info = service.run(service.describe(name))
    preview = await cleanup(service, mode, "preview", info, expr="id <= 30")
    assert preview.count == 30
    changed = list(entities(raw_client, name, "id <= 30").values())
    for row in changed:
        row["n_args"] = 1000 + row["id"]
    raw_client.upsert(name, changed)
    reads = record_backup_reads(monkeypatch)
    op = execute_delete(info, preview, backup_dir=tmp_path / "b", audit_path=tmp_path / "a.jsonl", batch_size=7)
    report = service.conn.run(op) if mode == "sync" else await service.conn.arun(op)
    assert report.deleted == report.backed_up == 30
    assert backed_up(Path(report.backup_path), "n_args") == {i: 1000 + i for i in range(1, 31)}
    assert len(reads) == 5 and all(r.get("guarantee_timestamp") is None for r in reads)


@MODE
@pytest.mark.parametrize("expr", ["", "   ", None])
async def test_empty_filter_is_refused(service: Session, docs_collection: str, expr: str | None,
                                       mode: str) -> None:
    info = service.run(service.describe(docs_collection))
    with pytest.raises(InvalidFilter) as err:
        await cleanup(service, mode, "preview", info, expr=expr)
    assert "empty filter would match every entity" in str(err.value)
    assert "id >= 0" in str(err.value)
    with pytest.raises(InvalidInput, match="No entities are selected"):
        await cleanup(service, mode, "preview", info, keys=[])


@MODE
@pytest.mark.parametrize("expr, error", [
    ("n_args >>> 3", InvalidFilter),  # the server rejects it
    ("(n_args > 3", InvalidFilter),  # we reject it
])
async def test_failed_preview_means_no_delete(service: Session, scratch_collection: str,
                                              raw_client: MilvusClient, tmp_path: Path, expr: str,
                                              error: type, mode: str) -> None:
    info = service.run(service.describe(scratch_collection))
    with pytest.raises(error):
        preview = await cleanup(service, mode, "preview", info, expr=expr)
        await cleanup(service, mode, "delete", info, preview)  # never reached
    assert count(raw_client, scratch_collection) == 250
    assert not (tmp_path / "backups").exists()
    assert not (tmp_path / "audit.jsonl").exists()


@MODE
async def test_delete_by_keys_ignores_missing_keys(service: Session, scratch_collection: str,
                                                   raw_client: MilvusClient, tmp_path: Path, mode: str) -> None:
    name = scratch_collection
    info = service.run(service.describe(name))
    keys = [3, 4, 5, 4, 999_999, -7, 250, 251]
    preview = await cleanup(service, mode, "preview", info, keys=keys)
    assert preview.keys == (3, 4, 5, 250)  # de-duplicated, in order, only existing ones
    assert preview.expr == ""
    report = await cleanup(service, mode, "delete", info, preview)
    assert report.deleted == report.backed_up == 4
    assert count(raw_client, name) == 246
    assert count(raw_client, name, "id in [3, 4, 5, 250]") == 0
    backup_lines = Path(report.backup_path).read_text().splitlines()
    assert len(backup_lines) == 2 + 4


@MODE
async def test_unknown_field_in_delete_filter(service: Session, raw_client: MilvusClient,
                                              mode: str) -> None:
    name = unique_name("strictdel")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index)
    try:
        raw_client.insert(name, [{"id": i, "vec": [1.0, float(i)]} for i in range(5)])
        raw_client.flush(name)
        info = service.run(service.describe(name))
        with pytest.raises(UnknownField):
            await cleanup(service, mode, "preview", info, expr="idd > 1")
        assert count(raw_client, name) == 5
    finally:
        raw_client.drop_collection(name)


QUOTED_KEYS = ['he said "hi"', "it's", "back\\slash", 'x") or ("1"=="1', "[1]", "plain", "tab\there", "ünï"]


@pytest.fixture
def quoted_keys_collection(raw_client: MilvusClient) -> Iterator[str]:
    name = unique_name("quotedpk")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=256)
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    raw_client.create_collection(name, schema=schema, index_params=index)
    rows = [{"pk": k, "vector": [float(i + 1) / (j + 1) for j in range(256)], "extra": {"i": i}}
            for i, k in enumerate(QUOTED_KEYS)]
    raw_client.insert(name, rows)
    raw_client.flush(name)
    yield name
    raw_client.drop_collection(name)


@MODE
async def test_quoted_varchar_keys_delete_exactly_those_rows(service: Session, quoted_keys_collection: str,
                                                             raw_client: MilvusClient, mode: str) -> None:
    name = quoted_keys_collection
    info = service.run(service.describe(name))
    before = {r["pk"]: r for r in raw_client.query(name, filter='pk != ""', output_fields=["*"],
                                                      consistency_level="Strong")}
    chosen = ['he said "hi"', 'x") or ("1"=="1', "back\\slash", "not a key"]
    preview = await cleanup(service, mode, "preview", info, keys=chosen)
    assert sorted(preview.keys) == sorted(chosen[:3])
    report = await cleanup(service, mode, "delete", info, preview)
    assert report.deleted == 3
    left = sorted(r["pk"] for r in raw_client.query(name, filter='pk != ""', output_fields=["pk"],
                                                     consistency_level="Strong"))
    assert left == sorted(set(QUOTED_KEYS) - set(chosen))
    # The backup keeps the keys (and the dynamic field) byte for byte, and restores them.
    await cleanup(service, mode, "restore", Path(report.backup_path))
    after = {r["pk"]: r for r in raw_client.query(name, filter='pk != ""', output_fields=["*"],
                                                     consistency_level="Strong")}
    assert sorted(after) == sorted(QUOTED_KEYS)
    for key in chosen[:3]:
        assert after[key]["extra"] == before[key]["extra"]
        assert np.array_equal(np.float32(after[key]["vector"]), np.float32(before[key]["vector"]))


def test_batched_delete_with_progress(service: Session, scratch_collection: str,
                                      raw_client: MilvusClient, tmp_path: Path) -> None:
    info: CollectionInfo = service.run(service.describe(scratch_collection))
    preview = service.run(service.preview_delete(info, expr="id <= 100"))
    assert preview.count == 100
    events: list[Progress] = []
    report = service.conn.run(
        execute_delete(info, preview, backup_dir=tmp_path / "b", audit_path=tmp_path / "a.jsonl", batch_size=7),
        Context(on_progress=events.append),
    )
    assert report.deleted == 100
    deleting = [e.done for e in events if e.what == "deleting"]
    assert deleting == [min(7 * i, 100) for i in range(1, 16)]  # 15 batches of at most 7
    assert count(raw_client, scratch_collection) == 150
    assert len(Path(report.backup_path).read_text().splitlines()) == 1 + 100 + 1  # header, entities, trailer


async def test_delete_without_backup_and_wrong_collection(service: Session, scratch_collection: str,
                                                          docs_collection: str, raw_client: MilvusClient,
                                                          tmp_path: Path) -> None:
    info = service.run(service.describe(scratch_collection))
    preview = service.run(service.preview_delete(info, keys=[1, 2]))
    other = service.run(service.describe(docs_collection))
    with pytest.raises(InvalidInput, match="another collection"):
        service.run(service.delete(other, preview))
    assert count(raw_client, docs_collection) == 600
    report = await service.arun(service.delete(info, preview, backup=False))
    assert report.backup_path is None and report.deleted == 2
    assert not (tmp_path / "backups").exists()
    assert audit_records(tmp_path / "audit.jsonl")[-1]["backup"] is None


async def test_restore_rejects_non_backups(service: Session, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        service.run(service.restore(tmp_path / "nope.jsonl"))
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"id": 1}\n')
    with pytest.raises(InvalidInput, match="not a milvus-tui backup"):
        await service.arun(service.restore(bogus))
    bogus.write_text("not json at all\n")
    with pytest.raises(InvalidInput, match="not a milvus-tui backup"):
        service.run(service.restore(bogus))


def test_two_deletes_in_the_same_second_get_distinct_backups(service: Session, scratch_collection: str) -> None:
    info = service.run(service.describe(scratch_collection))
    first = service.run(service.preview_delete(info, keys=[10]))
    second = service.run(service.preview_delete(info, keys=[11]))
    second = DeletePreview(**{**second.__dict__, "taken_at": first.taken_at})
    a = service.run(service.delete(info, first))
    b = service.run(service.delete(info, second))
    assert a.backup_path != b.backup_path
    assert json.loads(Path(a.backup_path).read_text().splitlines()[1])["id"] == 10
    assert json.loads(Path(b.backup_path).read_text().splitlines()[1])["id"] == 11


@MODE
async def test_cancelled_delete_is_audited_as_cancelled(service: Session, scratch_collection: str,
                                                        raw_client: MilvusClient, tmp_path: Path, mode: str) -> None:
    """Cancelling between batches stops the delete; the backup is complete and the audit
    record says how far it got, so the rest can be restored or finished knowingly."""
    import asyncio

    from tui.errors import Cancelled

    info = service.run(service.describe(scratch_collection))
    preview = service.run(service.preview_delete(info, expr="id <= 100"))
    audit = tmp_path / "audit-cancel.jsonl"
    op = execute_delete(info, preview, backup_dir=tmp_path / "b", audit_path=audit, batch_size=7)
    stop = {"now": False}
    task: asyncio.Future | None = None

    def on_progress(p: Progress) -> None:
        if p.what == "deleting" and p.done >= 14:
            stop["now"] = True
            if task is not None:
                task.cancel()

    if mode == "sync":
        with pytest.raises(Cancelled):
            service.conn.run(op, Context(on_progress=on_progress, is_cancelled=lambda: stop["now"]))
    else:
        task = asyncio.ensure_future(service.conn.arun(op, Context(on_progress=on_progress)))
        with pytest.raises(asyncio.CancelledError):
            await task
    record = audit_records(audit)[-1]
    assert record["status"] == "cancelled"
    assert record["previewed"] == record["backed_up"] == 100
    assert record["deleted"] == 14
    assert count(raw_client, scratch_collection) == 250 - 14
    backup = Path(record["backup"])
    assert len(backup.read_text().splitlines()) == 1 + 100 + 1  # every previewed entity is safe (and a trailer)


# -- backup formats --------------------------------------------------------------------------


def write_format_1_backup(path: Path, info: CollectionInfo, rows: list[dict[str, Any]], expr: str) -> None:
    """A backup exactly as format 1 wrote it: vectors as JSON numbers (``values.dumps``)."""
    from tui.milvus.values import dumps

    header = {"format": "milvus-tui-backup/1", "collection": info.name, "db_name": info.db_name,
              "primary_key": info.primary.name, "filter": expr, "count": len(rows),
              "created": "2026-11-01T00:00:00+0000", "server": "test"}
    path.write_text(json.dumps(header) + "\n" + "".join(dumps(r) + "\n" for r in rows), encoding="utf-8")


@MODE
async def test_restore_still_reads_format_1_backups(service: Session, scratch_collection: str,
                                                    raw_client: MilvusClient, tmp_path: Path, mode: str) -> None:
    name = scratch_collection
    info = service.run(service.describe(name))
    originals = entities(raw_client, name)
    expr = "id <= 40"
    old = tmp_path / "format1.jsonl"
    write_format_1_backup(old, info, list(entities(raw_client, name, expr).values()), expr)
    assert isinstance(json.loads(old.read_text().splitlines()[1])["vector"], list)  # numbers, as format 1 had
    preview = await cleanup(service, mode, "preview", info, expr=expr)
    report = await cleanup(service, mode, "delete", info, preview, backup=False)
    assert report.deleted == 40 and count(raw_client, name) == 210
    restored = await cleanup(service, mode, "restore", old)
    assert restored.restored == 40
    assert_same_entities(originals, entities(raw_client, name))


def test_format_2_round_trip_with_keys_and_vectors_compared_bit_for_bit(
        service: Session, raw_client: MilvusClient, tmp_path: Path) -> None:
    """Delete -> restore with float32 values JSON text would be most likely to bend: signed
    zeros, subnormals, the extremes, infinities, NaN with a payload, and a VARCHAR primary key."""
    name = unique_name("bits")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    index = MilvusClient.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    index.add_index("sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    raw_client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    f32 = np.float32
    special = np.array([-0.0, 1e-45, np.finfo(f32).tiny, np.finfo(f32).max, -np.finfo(f32).max, 0.1, 1 / 3, 7.0],
                       dtype=f32)
    nan_payload = np.frombuffer(np.uint32(0x7FC00123).tobytes(), dtype=f32)[0]
    rows = []
    for i in range(30):
        v = np.roll(special, i).copy()
        if i % 3 == 0:
            v[i % 8] = nan_payload if i % 2 else np.inf
        rows.append({"pk": f"k{i}'\"", "v": v, "sv": {i: 0.1 * (i + 1), 1000 + i: 1 / 3}, "extra": {"n": i}})
    raw_client.insert(name, rows)
    raw_client.flush(name)
    try:
        service.run(service.load(name))
        info = service.run(service.describe(name))

        def bits() -> dict[str, tuple[bytes, Any, Any]]:
            got = raw_client.query(name, filter='pk != ""', output_fields=["*"], limit=100,
                                   consistency_level="Strong", strict_float32=True)
            return {r["pk"]: (r["v"].tobytes(), r["sv"], r["extra"]) for r in got}

        before = bits()
        assert len(before) == 30
        assert before["k0'\""][0] == rows[0]["v"].tobytes()  # the server keeps every bit, NaN payloads too
        preview = service.run(service.preview_delete(info, keys=[r["pk"] for r in rows[:20]]))
        report = service.run(service.delete(info, preview))
        assert report.deleted == report.backed_up == 20
        lines = Path(report.backup_path).read_text().splitlines()
        assert json.loads(lines[0])["vectors"] == {"v": "float32-le-base64"}  # sparse stays JSON
        assert len(lines) == 1 + 20 + 1
        assert set(bits()) == {r["pk"] for r in rows[20:]}
        service.run(service.restore(Path(report.backup_path)))
        assert bits() == before
    finally:
        raw_client.drop_collection(name)


async def test_damaged_and_future_backups_are_refused_clearly(service: Session, docs_collection: str,
                                                              tmp_path: Path) -> None:
    header = {"format": "milvus-tui-backup/2", "collection": docs_collection, "count": 1,
              "vectors": {"vector": "float32-le-base64"}}
    bad = tmp_path / "bad.jsonl"
    for line, why in ((json.dumps({"id": 10**9, "vector": "not base64!"}), "damaged"),
                      (json.dumps({"id": 10**9, "vector": base64.b64encode(b"abc").decode()}), "float32"),
                      (json.dumps({"id": 10**9, "vector": [0.5] * 256}), "base64 text")):
        bad.write_text(json.dumps(header) + "\n" + line + "\n")
        with pytest.raises(InvalidInput, match=why):
            await service.arun(service.restore(bad))
    bad.write_text(json.dumps({**header, "format": "milvus-tui-backup/9"}) + "\n")
    with pytest.raises(InvalidInput, match="milvus-tui-backup/9 backup, a format this version cannot read"):
        service.run(service.restore(bad))
    bad.write_text(json.dumps({**header, "vectors": ["vector"]}) + "\n")
    with pytest.raises(InvalidInput, match="damaged"):
        service.run(service.restore(bad))
    assert service.run(service.count(docs_collection)) == 600  # nothing was written


def test_vector_packing_for_every_dense_vector_type() -> None:
    """What pymilvus's query returns for each vector type, packed and unpacked to what its
    insert takes. Milvus Lite has only float and sparse vectors, so the byte vector types are
    checked here (binary also against the real server, tests/realserver)."""
    from tui.milvus.catalog import FieldInfo
    from tui.milvus.values import BYTES_BASE64, FLOAT32_BASE64, pack_line, unpack_row, vector_packing

    info = CollectionInfo("c", "default", (
        FieldInfo("id", "INT64", is_primary=True), FieldInfo("f", "FLOAT_VECTOR", dim=3),
        FieldInfo("b", "BINARY_VECTOR", dim=16), FieldInfo("h", "FLOAT16_VECTOR", dim=2),
        FieldInfo("bf", "BFLOAT16_VECTOR", dim=2), FieldInfo("i8", "INT8_VECTOR", dim=3),
        FieldInfo("s", "SPARSE_FLOAT_VECTOR"), FieldInfo("t", "VARCHAR", max_length=8)), False)
    packing = vector_packing(info)
    assert packing == {"f": FLOAT32_BASE64, "b": BYTES_BASE64, "h": BYTES_BASE64, "bf": BYTES_BASE64,
                       "i8": BYTES_BASE64}
    half = np.array([1.5, -2.0], dtype=np.float16)
    row = {"id": 1, "f": np.array([0.1, -0.0, 3e38], dtype=np.float32), "b": [b"\x00\xff"],
           "h": [half.tobytes()], "bf": [b"\x80\x3f\x00\x40"], "i8": np.array([-128, 0, 127], dtype=np.int8),
           "s": {3: 0.25}, "t": "x"}
    line = pack_line(row, packing)
    back = unpack_row(json.loads(line), packing)
    assert back["f"].dtype == np.float32 and back["f"].tobytes() == row["f"].tobytes()
    assert back["b"] == b"\x00\xff" and back["h"] == half.tobytes() and back["bf"] == b"\x80\x3f\x00\x40"
    assert back["i8"] == b"\x80\x00\x7f"
    assert back["s"] == {"3": 0.25} and back["t"] == "x"  # sparse and scalars: plain JSON, as in format 1
    # A float vector that arrives as Python floats (pymilvus without strict_float32) packs the same.
    assert pack_line({**row, "f": [float(x) for x in row["f"]]}, packing) == line
    # Nullable vectors stay null.
    assert unpack_row(json.loads(pack_line({**row, "f": None, "b": None}, packing)), packing)["f"] is None


def test_format_1_byte_vectors_restore_as_bytes() -> None:
    """Format 1 wrote byte vectors as pymilvus returned them, ``["<base64>"]``; they come back
    as the bytes pymilvus's insert takes for every byte vector type."""
    from tui.milvus.catalog import FieldInfo
    from tui.milvus.values import decode_row, dumps

    info = CollectionInfo("c", "default", (
        FieldInfo("id", "INT64", is_primary=True), FieldInfo("b", "BINARY_VECTOR", dim=16),
        FieldInfo("bf", "BFLOAT16_VECTOR", dim=2), FieldInfo("s", "SPARSE_FLOAT_VECTOR"),
        FieldInfo("f", "FLOAT_VECTOR", dim=2)), False)
    line = dumps({"id": 1, "b": [b"\x00\xff"], "bf": [b"\x80\x3f\x00\x40"], "s": {7: 0.5}, "f": [0.5, 0.25]})
    assert json.loads(line)["b"] == [base64.b64encode(b"\x00\xff").decode()]
    back = decode_row(json.loads(line), info)
    assert back == {"id": 1, "b": b"\x00\xff", "bf": b"\x80\x3f\x00\x40", "s": {7: 0.5}, "f": [0.5, 0.25]}


def test_a_late_audit_failure_does_not_hide_a_finished_delete(service: Session, scratch_collection: str,
                                                             tmp_path: Path) -> None:
    """The audit intent is written before anything is deleted; when the closing record cannot be
    written (disk full, an immutable file), the delete that happened is still reported, with its
    backup, and a warning, not an error that makes the user think nothing was deleted."""
    info = service.run(service.describe(scratch_collection))
    audit = tmp_path / "audit-late.jsonl"
    preview = service.run(service.preview_delete(info, expr="id <= 30"))

    def progress(p: Progress) -> None:
        if p.what == "deleting" and audit.is_file():
            assert [json.loads(line)["status"] for line in audit.read_text().splitlines()] == ["started"]
            audit.unlink()
            audit.mkdir()  # the closing append now fails (IsADirectoryError), as a full disk would

    op = execute_delete(info, preview, backup_dir=tmp_path / "b", audit_path=audit, batch_size=10)
    report = service.conn.run(op, Context(on_progress=progress))
    assert report.deleted == 30 and report.backup_path and Path(report.backup_path).exists()
    assert report.warnings and "could not be written" in report.warnings[0] and str(audit) in report.warnings[0]
    assert service.run(service.count(scratch_collection)) == 220


def test_an_unwritable_audit_log_refuses_the_delete_before_anything_is_deleted(
        service: Session, scratch_collection: str, tmp_path: Path) -> None:
    info = service.run(service.describe(scratch_collection))
    audit = tmp_path / "audit-dir"
    audit.mkdir()  # not a file: the intent cannot be written
    preview = service.run(service.preview_delete(info, expr="id <= 30"))
    with pytest.raises(MilvusTuiError, match="audit-dir"):
        service.conn.run(execute_delete(info, preview, backup_dir=tmp_path / "b", audit_path=audit))
    assert service.run(service.count(scratch_collection)) == 250


def test_a_full_disk_names_the_file() -> None:
    """ENOSPC from a write names no file by itself; the backup and audit writers name theirs
    (/dev/full answers every write with ENOSPC)."""
    from tui.milvus.cleanup import _write_rows, append_audit
    from tui.milvus.ops import file_error

    with pytest.raises(OSError) as caught:
        append_audit(Path("/dev/full"), {"action": "delete"})
    assert caught.value.filename == "/dev/full"
    assert "/dev/full" in str(file_error(caught.value)) and "No space left" in str(file_error(caught.value))
    with open("/dev/full", "w", encoding="utf-8", buffering=1) as handle, pytest.raises(OSError) as caught:
        _write_rows(handle, [{"id": 1, "text": "x" * 10_000}], {})
    assert caught.value.filename == "/dev/full"


@MODE
async def test_a_restore_stopped_halfway_says_how_many_are_back_and_a_rerun_completes_it(
        service: Session, scratch_collection: str, mode: str, tmp_path: Path) -> None:
    from tui.errors import RestoreIncomplete

    info = service.run(service.describe(scratch_collection))
    before = {r["id"]: r for r in service.run(service.filter(info, "id >= 0", limit=1000)).rows}
    preview = service.run(service.preview_delete(info, expr="id > 0"))
    report = service.run(service.delete(info, preview))
    assert service.run(service.count(scratch_collection)) == 0
    progress: list[int] = []
    ctx = Context(on_progress=lambda p: progress.append(p.done), is_cancelled=lambda: len(progress) >= 2)
    with pytest.raises(RestoreIncomplete) as stopped:
        if mode == "sync":
            service.run(service.restore(Path(report.backup_path), batch_size=100), ctx)
        else:
            await service.arun(service.restore(Path(report.backup_path), batch_size=100), ctx)
    assert stopped.value.restored == 200 and stopped.value.total == 250
    assert "200 of 250" in str(stopped.value) and "again is safe" in str(stopped.value)
    assert service.run(service.count(scratch_collection)) == 200
    record = audit_records(tmp_path / "audit.jsonl")[-1]
    assert record["action"] == "restore" and record["status"] == "stopped" and record["restored"] == 200
    again = service.run(service.restore(Path(report.backup_path)))
    assert again.restored == 250
    after = {r["id"]: r for r in service.run(service.filter(info, "id >= 0", limit=1000)).rows}
    assert after.keys() == before.keys()
    for key, row in before.items():
        for field, value in row.items():
            if field != "vector":
                assert after[key][field] == value, (key, field)
