"""Parquet export and ingest: every zoo collection goes out and comes back identical.

The zoo (tests/zoo.py, made with pymilvus directly) is exported to Parquet through the Session,
ingested into a new collection, and both are compared entity by entity with the zoo's own
``snapshot``/``diff``: keys, every field, vectors bit-exact, sparse maps, JSON, ARRAY, nulls,
dynamic keys and partitions. Milvus Lite refuses binary, float16, bfloat16 and int8 vectors, so
those round-trip through the file alone, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymilvus import MilvusClient

from tests.apphelpers import SIZE, focus_table, make_app, notifications, wait_first_page, wait_until
from tests.conftest import unique_name
from tests.test_cli import cli, ok_json
from tests.zoo import HOSTILE, SECOND_DB, ZooCollection, client_for, diff, snapshot
from tui.errors import InvalidInput
from tui.milvus import MilvusConnection
from tui.milvus.export import export as export_op
from tui.milvus.parquet import META_KEY, ParquetRowWriter, open_source, rows_from_batch
from tui.session import Session

#: What a schema comparison leaves out: ids the server assigns.
_NOISE = ("field_id", "collection_id", "collection_name", "aliases", "created_timestamp", "update_timestamp",
          "id", "input_field_ids", "output_field_ids", "schema_version")


def schema_of(client: MilvusClient, name: str) -> Any:
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in _NOISE}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return str(value) if not isinstance(value, (int, float, str, bool, type(None))) else value

    return clean(client.describe_collection(name))


def drop(client: MilvusClient, name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)


def zoo_members(lite_zoo: tuple[str, dict[str, ZooCollection]], db: str = "default") -> list[ZooCollection]:
    return [m for m in lite_zoo[1].values() if m.created and m.db_name == db]


# -- the whole zoo, out and back -------------------------------------------------------------


async def test_every_zoo_collection_comes_back_identical(lite_zoo: tuple[str, dict[str, ZooCollection]],
                                                         service: Session, raw_client: MilvusClient,
                                                         tmp_path: Path) -> None:
    members = zoo_members(lite_zoo)
    assert {m.spec.name for m in members} >= {
        "zoo_auto_id", "zoo_varchar_pk", "zoo_dynamic", "zoo_json_array", "zoo_nullable", "zoo_defaults",
        "zoo_two_dense", "zoo_sparse", "zoo_bm25", "zoo_partitions", "zoo_partition_key", "zoo_timestamptz"}
    for i, made in enumerate(members):
        path = tmp_path / f"{made.spec.name}.parquet"
        new = unique_name("pq")
        try:
            # Half through the async client, half through the sync one: the same generator.
            if i % 2:
                exported = await service.arun(service.export(made.name, path, batch_size=7))
                report = await service.arun(service.ingest_parquet(new, path, batch_size=5))
            else:
                exported = service.run(service.export(made.name, path, batch_size=7))
                report = service.run(service.ingest_parquet(new, path, batch_size=5))
            assert exported.rows == report.inserted == made.entities, made.spec.name
            assert report.created and report.keys is not None
            assert report.keys.user_keys == "primary key", (made.spec.name, report.keys)
            before, after = snapshot(raw_client, made.name), snapshot(raw_client, new)
            assert len(before) == made.entities
            assert diff(before, after) == [], made.spec.name
            # Function outputs too: the server recomputed BM25's sparse vectors from the same text.
            assert diff(snapshot(raw_client, made.name, function_outputs=True),
                        snapshot(raw_client, new, function_outputs=True)) == [], made.spec.name
            # And the schema itself: types, dims, lengths, nullable, defaults, functions, partitions.
            assert schema_of(raw_client, new) == schema_of(raw_client, made.name), made.spec.name
            assert sorted(raw_client.list_partitions(new)) == sorted(raw_client.list_partitions(made.name))
            assert raw_client.describe_collection(new)["auto_id"] == made.auto_id
        finally:
            drop(raw_client, new)


async def test_second_database_collection_round_trips_with_its_partition(
        lite_zoo: tuple[str, dict[str, ZooCollection]], embeddings, tmp_path: Path) -> None:  # noqa: ANN001
    uri, _ = lite_zoo
    (made,) = zoo_members(lite_zoo, SECOND_DB)
    conn = MilvusConnection(uri, db_name=SECOND_DB)
    conn.open()
    client = client_for(uri, SECOND_DB)
    new = unique_name("pq_db1")
    try:
        session = Session(conn, embeddings)
        path = tmp_path / "db1.parquet"
        session.run(session.export(made.name, path))
        meta = json.loads(pq.read_schema(path).metadata[META_KEY])
        assert (meta["database"], meta["collection"], meta["schema"]["partitions"]) == (
            SECOND_DB, made.name, ["_default", "p_db1"])
        await session.arun(session.ingest_parquet(new, path))
        before = snapshot(client, made.name, db_name=SECOND_DB)
        assert len(before) == made.entities
        assert diff(before, snapshot(client, new, db_name=SECOND_DB)) == []
    finally:
        drop(client, new)
        client.close()
        conn.close()


def test_the_file_is_what_other_tools_expect(lite_zoo: tuple[str, dict[str, ZooCollection]], service: Session,
                                             raw_client: MilvusClient, tmp_path: Path) -> None:
    zoo = lite_zoo[1]
    sparse = zoo["zoo_sparse"]
    path = tmp_path / "sparse.parquet"
    service.run(service.export(sparse.name, path, batch_size=6))
    handle = pq.ParquetFile(path)
    assert handle.metadata.num_row_groups == 4  # 20 entities, one row group per batch of 6
    schema = handle.schema_arrow
    assert schema.field("vec").type == pa.list_(pa.float32(), 8)
    assert schema.field("sparse").type == pa.map_(pa.int64(), pa.float32())
    assert schema.field("vec").metadata[b"milvus_type"] == b"FLOAT_VECTOR"
    table = handle.read()
    truth = {r["pk"]: r for r in raw_client.query(sparse.name, filter="", output_fields=["*"], limit=100)}
    for row in table.to_pylist():
        assert np.float32(row["vec"]).tobytes() == np.float32(truth[row["pk"]]["vec"]).tobytes()
        assert dict(row["sparse"]) == {int(k): float(np.float32(v)) for k, v in truth[row["pk"]]["sparse"].items()}
    # JSON as JSON text, ARRAY as lists, hostile strings exactly as stored.
    js = zoo["zoo_json_array"]
    service.run(service.export(js.name, tmp_path / "js.parquet"))
    rows = pq.read_table(tmp_path / "js.parquet").to_pylist()
    truth = {r["pk"]: r for r in raw_client.query(js.name, filter="", output_fields=["*"], limit=100)}
    for row in rows:
        assert json.loads(row["meta"]) == truth[row["pk"]]["meta"]
        assert row["tags"] == truth[row["pk"]]["tags"] and row["nums"] == truth[row["pk"]]["nums"]
    hostile = zoo["zoo_varchar_pk"]
    service.run(service.export(hostile.name, tmp_path / "hostile.parquet"))
    texts = pq.read_table(tmp_path / "hostile.parquet").column("text").to_pylist()
    assert set(HOSTILE) <= set(texts)
    # Nullable fields are Parquet nulls; the dynamic field is a JSON object per row.
    nullable = zoo["zoo_nullable"]
    service.run(service.export(nullable.name, tmp_path / "n.parquet"))
    table = pq.read_table(tmp_path / "n.parquet")
    assert table.column("maybe_int").null_count == 7 and table.column("maybe_json").null_count == 10
    dynamic = zoo["zoo_dynamic"]
    service.run(service.export(dynamic.name, tmp_path / "d.parquet", expr="pk <= 4"))
    metas = [json.loads(m) for m in pq.read_table(tmp_path / "d.parquet").column("$meta").to_pylist()]
    assert metas[0]["nested"] == {"a": [1, 2, {"b": None}], "s": HOSTILE[0]} and metas[1] == {}
    # A filter's result comes back as that subset, and says which filter made it.
    assert json.loads(pq.read_schema(tmp_path / "d.parquet").metadata[META_KEY])["filter"] == "pk <= 4"


def test_indexes_come_back(service: Session, raw_client: MilvusClient, new_name: str, tmp_path: Path) -> None:
    from pymilvus import DataType

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("w", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    index = MilvusClient.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 64})
    index.add_index("w", index_type="AUTOINDEX", metric_type="L2")
    index.add_index("tag", index_type="INVERTED")  # a scalar index: no metric
    source = unique_name("pq_ix")
    raw_client.create_collection(source, schema=schema, index_params=index)
    try:
        raw_client.insert(source, [{"pk": i, "v": [i, 1.0, 0.5, 0.25], "w": [0.0, i, 1.0, 2.0], "tag": f"t{i % 3}"}
                                   for i in range(10)])
        path = tmp_path / "ix.parquet"
        service.run(service.export(source, path))
        service.run(service.ingest_parquet(new_name, path))

        def indexes(name: str) -> list[tuple[Any, ...]]:
            out = []
            for index_name in sorted(raw_client.list_indexes(name)):
                d = raw_client.describe_index(name, index_name)
                out.append((d["field_name"], d["index_type"], d.get("metric_type"), d.get("M"), d.get("efConstruction")))
            return out

        assert indexes(new_name) == indexes(source)
        assert indexes(new_name)[1][:3] == ("v", "HNSW", "IP")
        assert diff(snapshot(raw_client, source), snapshot(raw_client, new_name)) == []
    finally:
        drop(raw_client, source)


# -- byte vectors: Lite cannot hold them, the file must --------------------------------------


def test_byte_vectors_round_trip_bit_exact_through_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    record = {"fields": [
        {"name": "pk", "type": "INT64", "params": {}, "is_primary": True},
        {"name": "bin", "type": "BINARY_VECTOR", "params": {"dim": 32}},
        {"name": "f16", "type": "FLOAT16_VECTOR", "params": {"dim": 4}},
        {"name": "bf16", "type": "BFLOAT16_VECTOR", "params": {"dim": 4}},
        {"name": "i8", "type": "INT8_VECTOR", "params": {"dim": 4}},
        {"name": "f32", "type": "FLOAT_VECTOR", "params": {"dim": 4}, "nullable": True},
        {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR", "params": {}},
    ], "functions": [], "auto_id": False, "enable_dynamic_field": False}
    special = np.array([-0.0, 6.1e-8, 65504, np.inf], dtype=np.float16)  # signed zero, subnormal, max
    rows = []
    for i in range(30):
        f16 = special if i == 0 else rng.standard_normal(4).astype(np.float16)
        bf16 = (rng.standard_normal(4).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
        rows.append({
            "pk": i,
            "bin": [rng.integers(0, 256, 4, dtype=np.uint8).tobytes()],  # as pymilvus's query returns them
            "f16": [f16.tobytes()], "bf16": [bf16],
            "i8": [rng.integers(-128, 128, 4, dtype=np.int8).tobytes()],
            "f32": None if i % 4 == 0 else rng.standard_normal(4).astype(np.float32),
            "sparse": {int(k): float(np.float32(v)) for k, v in zip(rng.integers(0, 2**32 - 1, 3), rng.random(3))},
        })
    path = tmp_path / "bytes.parquet"
    with open(path, "wb") as handle:
        writer = ParquetRowWriter(handle, record, [f["name"] for f in record["fields"]], partitions=False,
                                  meta={"format": "milvus-tui-parquet/1", "schema": record})
        writer.write(rows[:17])
        writer.write(rows[17:])
        writer.close()
    schema = pq.read_schema(path)
    assert schema.field("bin").type == pa.binary(4) and schema.field("f16").type == pa.binary(8)
    assert schema.field("i8").type == pa.list_(pa.int8(), 4)
    source = open_source(path)
    back: list[dict[str, Any]] = []
    for batch in source.batches(batch_size=8):
        back.extend(rows_from_batch(batch, source.record)[0])
    assert len(back) == len(rows)
    for sent, got in zip(rows, back):
        for name in ("bin", "f16", "bf16"):
            assert got[name] == sent[name][0], name  # bytes, as insert takes them
        assert got["i8"].dtype == np.int8 and got["i8"].tobytes() == sent["i8"][0]
        if sent["f32"] is None:
            assert got["f32"] is None
        else:
            assert np.asarray(got["f32"], dtype=np.float32).tobytes() == sent["f32"].tobytes()
        assert got["sparse"] == sent["sparse"]


# -- into existing collections, and files other tools wrote ------------------------------------


async def test_ingest_again_replaces_and_into_an_existing_collection(
        lite_zoo: tuple[str, dict[str, ZooCollection]], service: Session, raw_client: MilvusClient,
        tmp_path: Path) -> None:
    made = lite_zoo[1]["zoo_partitions"]
    path = tmp_path / "parts.parquet"
    service.run(service.export(made.name, path))
    new = unique_name("pq_existing")
    try:
        raw_client.create_collection(new, schema=made.spec.schema(), index_params=_flat_index())
        assert raw_client.list_partitions(new) == ["_default"]
        report = await service.arun(service.ingest_parquet(new, path))
        assert not report.created and report.inserted == made.entities
        assert sorted(raw_client.list_partitions(new)) == ["_default", "p_a", "p_b"]  # made on the way
        assert diff(snapshot(raw_client, made.name), snapshot(raw_client, new)) == []
        again = service.run(service.ingest_parquet(new, path))  # upserted by key: no duplicates
        assert again.inserted == made.entities
        assert diff(snapshot(raw_client, made.name), snapshot(raw_client, new)) == []
    finally:
        drop(raw_client, new)
    # --skip continues after the first N rows of the file (here mid-batch: 10 of batches of 4).
    resumed = unique_name("pq_skip")
    try:
        report = service.run(service.ingest_parquet(resumed, path, skip=10, batch_size=4))
        assert (report.inserted, report.skipped_documents) == (made.entities - 10, 10)
        wanted = pq.read_table(path).column("pk").to_pylist()[10:]
        assert sorted(snapshot(raw_client, resumed)) == sorted(wanted)
    finally:
        drop(raw_client, resumed)


def _short_text_schema() -> Any:
    from pymilvus import DataType

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=8)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    return schema


def _flat_index() -> Any:
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    return index


def test_another_tools_file_with_a_vector_column(service: Session, raw_client: MilvusClient, new_name: str,
                                                 tmp_path: Path) -> None:
    import datetime as dt

    vectors = [[float(np.float32(x)) for x in np.random.default_rng(i).standard_normal(6)] for i in range(12)]
    table = pa.table({
        "id": pa.array(range(100, 112), pa.int32()),
        "title": [f"doc {i} {HOSTILE[i % len(HOSTILE)]}" for i in range(12)],
        "embedding": pa.array(vectors, pa.list_(pa.float64())),  # a plain list<double>, as pandas writes it
        "tags": [["a", "b"][: i % 3] for i in range(12)],
        "score": [None if i % 5 == 0 else i / 3 for i in range(12)],
        "created": [dt.datetime(2025, 1, 1 + i) for i in range(12)],
        "extra": [{"k": i, "s": "x"} for i in range(12)],
    })
    path = tmp_path / "other.parquet"
    pq.write_table(table, path)
    report = service.run(service.ingest_parquet(new_name, path))
    assert report.created and report.inserted == 12 and report.keys.user_keys == "primary key"
    fields = {f["name"]: f for f in raw_client.describe_collection(new_name)["fields"]}
    assert fields["id"].get("is_primary") and fields["embedding"]["params"]["dim"] == 6
    assert fields["score"].get("nullable") and not fields["title"].get("nullable")
    rows = {r["id"]: r for r in raw_client.query(new_name, filter="", output_fields=["*"], limit=100,
                                                 consistency_level="Strong")}
    assert sorted(rows) == list(range(100, 112))
    for i in range(12):
        row = rows[100 + i]
        assert row["title"] == table.column("title")[i].as_py()
        assert np.float32(row["embedding"]).tobytes() == np.float32(vectors[i]).tobytes()
        assert row["tags"] == ["a", "b"][: i % 3] and row["extra"] == {"k": i, "s": "x"}
        assert row["score"] == (None if i % 5 == 0 else i / 3)
        assert row["created"].startswith(f"2025-01-{1 + i:02d}")


def test_unusable_columns_are_named_and_nothing_is_created(service: Session, raw_client: MilvusClient,
                                                           new_name: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": [1, 2], "vec": [[0.1, 0.2], [0.3, 0.4]], "blob": [b"\x00\x01", b"\x02"],
                             "grid": [[[1]], [[2]]]}), path)
    with pytest.raises(InvalidInput, match=r"column 'blob' \(binary\), 'grid' \(a list of list<"):
        service.run(service.ingest_parquet(new_name, path))
    ragged = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"id": [1, 2], "vec": [[0.1, 0.2], [0.3]]}), ragged)
    with pytest.raises(InvalidInput, match="column 'vec' holds vectors of different lengths"):
        service.run(service.ingest_parquet(new_name, ragged))
    # Into an existing collection: a text longer than the field takes is refused before any write.
    raw_client.create_collection(new_name, schema=_short_text_schema(), index_params=_flat_index())
    long = tmp_path / "long.parquet"
    pq.write_table(pa.table({"pk": [1, 2, 3], "text": ["ok", "fine", "x" * 9],
                             "vec": pa.array([[0.5] * 2] * 3, pa.list_(pa.float32(), 2))}), long)
    with pytest.raises(InvalidInput, match=r"row 3\): column 'text' is 9 characters long; the field's max_length is 8"):
        service.run(service.ingest_parquet(new_name, long))
    assert raw_client.query(new_name, filter="", output_fields=["count(*)"], consistency_level="Strong")[0][
        "count(*)"] == 0
    raw_client.drop_collection(new_name)
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text('{"text": "hi"}\n')
    with pytest.raises(InvalidInput, match="is not a Parquet file"):
        service.run(service.ingest_parquet(new_name, not_parquet))
    assert not raw_client.has_collection(new_name)


def test_a_text_only_parquet_is_embedded_like_jsonl(service: Session, raw_client: MilvusClient, new_name: str,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["read a file", "sort a list", HOSTILE[0]],
                             "lang": ["en", "en", None]}), path)
    report = service.run(service.ingest_parquet(new_name, path))
    assert report.created and report.inserted == 3 and report.keys.dtype == "VARCHAR"
    rows = {r["id"]: r for r in raw_client.query(new_name, filter="", output_fields=["*"], limit=10,
                                                 consistency_level="Strong")}
    assert rows["c"]["text"] == HOSTILE[0] and rows["a"]["lang"] == "en" and "lang" not in rows["c"]
    assert len(rows["a"]["vector"]) == 256  # embedded by the model


def test_rows_on_screen_and_streaming_batches(docs_collection: str, service: Session, tmp_path: Path) -> None:
    info = service.run(service.describe(docs_collection))
    result = service.run(service.filter(info, "id <= 20 and n_args >= 0"))
    rows, columns = result.rows, result.columns
    assert rows
    path = tmp_path / "page.parquet"
    report = service.run(service.write_rows(info, path, rows, columns, "parquet"))
    assert report.rows == len(rows) == pq.read_metadata(path).num_rows
    assert pq.read_table(path).column("id").to_pylist() == [r["id"] for r in rows]
    # The whole collection in 64-row batches: one row group each, every entity once, in key order.
    op = export_op(info, tmp_path / "all.parquet", batch_size=64, output_fields=["name"], total=600)
    assert service.conn.run(op).rows == 600
    handle = pq.ParquetFile(tmp_path / "all.parquet")
    assert handle.metadata.num_row_groups == 10
    assert handle.schema_arrow.names == ["id", "name"]
    assert handle.read().column("id").to_pylist() == list(range(1, 601))


# -- the CLI and the app -------------------------------------------------------------------------


def test_cli_round_trip(lite_zoo: tuple[str, dict[str, ZooCollection]], raw_client: MilvusClient,
                        tmp_path: Path) -> None:
    uri, zoo = lite_zoo
    made = zoo["zoo_dynamic"]
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "dyn.parquet"
    exported = ok_json(cli("export", made.name, str(out), "--json", home=home, uri=uri))
    assert exported["rows"] == made.entities
    new = unique_name("pq_cli")
    try:
        report = ok_json(cli("ingest", str(out), "-c", new, "--json", home=home, uri=uri))
        assert (report["inserted"], report["created"], report["keys"]["user_keys"]) == (
            made.entities, True, "primary key")
        assert diff(snapshot(raw_client, made.name), snapshot(raw_client, new)) == []
    finally:
        drop(raw_client, new)


async def test_app_exports_parquet(milvus_uri: str, docs_collection: str, tmp_path: Path) -> None:
    target = tmp_path / "app.parquet"
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: app.screen.query("#fmt-parquet"), what="the export dialog")
        await pilot.click("#fmt-parquet")
        path_input = app.screen.query_one("#export-path")
        assert path_input.value.endswith(".parquet")
        path_input.value = str(target)
        await pilot.click("#export-go")
        await wait_until(pilot, lambda: any("Exported" in n for n in notifications(app)), what="the export")
    assert pq.read_metadata(target).num_rows == 600
    assert json.loads(pq.read_schema(target).metadata[META_KEY])["collection"] == docs_collection
