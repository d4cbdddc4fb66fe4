"""Ingest keeps the user's keys, checks the whole file first, and says what a failure committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient

from tests.conftest import unique_name
from tests.test_cli import cli, ok_json
from tui.session import Session
from tui.errors import InvalidInput
from tui.milvus.ingest import DocumentFile, IngestInterrupted, read_documents
from tui.milvus.ops import Context, Progress


def jsonl(path: Path, records: list[dict[str, Any]]) -> DocumentFile:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return DocumentFile(path)


def rows(client: MilvusClient, name: str) -> list[dict[str, Any]]:
    return list(client.query(name, filter="", output_fields=["*"], limit=1000, consistency_level="Strong"))


def primary(client: MilvusClient, name: str) -> dict[str, Any]:
    return next(f for f in client.describe_collection(name)["fields"] if f.get("is_primary"))


# -- item 6: the user's keys ---------------------------------------------------------------


async def test_string_keys_become_a_varchar_primary_key_and_a_rerun_replaces(
        service: Session, raw_client: MilvusClient, new_name: str, tmp_path: Path) -> None:
    source = jsonl(tmp_path / "d.jsonl", [{"id": "doc-A1", "text": "alpha"}, {"id": "doc-B2", "text": "beta"},
                                          {"id": "doc-C3", "text": "gamma", "lang": "en"}])
    report = service.run(service.ingest(new_name, source, batch_size=2))
    assert report.keys is not None and report.keys.user_keys == "primary key"
    assert (report.keys.primary, report.keys.dtype, report.keys.auto_id) == ("id", "VARCHAR", False)
    pk = primary(raw_client, new_name)
    assert pk["name"] == "id" and pk["type"] == DataType.VARCHAR and not pk.get("auto_id")
    assert int(pk["params"]["max_length"]) >= len("doc-A1")
    assert sorted(r["id"] for r in rows(raw_client, new_name)) == ["doc-A1", "doc-B2", "doc-C3"]
    # Same file again: upserted by key, so no duplicates.
    again = await service.arun(service.ingest(new_name, source))
    assert again.inserted == 3 and not again.created
    assert len(rows(raw_client, new_name)) == 3


async def test_int_keys_become_an_int64_primary_key(service: Session, raw_client: MilvusClient,
                                                    new_name: str, tmp_path: Path) -> None:
    source = jsonl(tmp_path / "d.jsonl", [{"pk": 10, "text": "ten"}, {"pk": 20, "text": "twenty"}])
    report = service.run(service.ingest(new_name, source))
    assert report.keys is not None and (report.keys.primary, report.keys.dtype) == ("pk", "INT64")
    assert primary(raw_client, new_name)["type"] == DataType.INT64
    assert sorted(r["pk"] for r in rows(raw_client, new_name)) == [10, 20]


@pytest.mark.parametrize("records, reason", [
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "appears at"),
    ([{"id": "a", "text": "x"}, {"text": "y"}], "1 of 2 documents have no key"),
    ([{"id": "a", "text": "x"}, {"id": 2, "text": "y"}], "mixed"),
])
async def test_unusable_keys_are_kept_as_a_field(service: Session, raw_client: MilvusClient, new_name: str,
                                                 tmp_path: Path, records: list[dict[str, Any]], reason: str) -> None:
    report = service.run(service.ingest(new_name, jsonl(tmp_path / "d.jsonl", records)))
    keys = report.keys
    assert keys is not None and keys.user_keys == "field" and keys.kept_as == "id" and keys.auto_id
    assert reason in keys.reason and keys.primary == "pk"
    stored = sorted((r.get("id") for r in rows(raw_client, new_name)), key=str)
    assert stored == sorted((r.get("id") for r in records), key=str)


async def test_existing_auto_id_collection_says_where_keys_went(service: Session, raw_client: MilvusClient,
                                                              new_name: str, tmp_path: Path) -> None:
    service.run(service.ingest(new_name, jsonl(tmp_path / "a.jsonl", [{"text": "no keys"}])))
    assert primary(raw_client, new_name)["name"] == "id"
    dropped = service.run(service.ingest(new_name, jsonl(tmp_path / "b.jsonl", [{"id": "k1", "text": "x"}])))
    assert dropped.keys is not None and dropped.keys.user_keys == "dropped" and "auto_id" in dropped.keys.reason
    kept = service.run(service.ingest(new_name, jsonl(tmp_path / "c.jsonl", [{"_id": "m1", "text": "y"}])))
    assert kept.keys is not None and kept.keys.user_keys == "field" and kept.keys.kept_as == "_id"
    assert {r.get("_id") for r in rows(raw_client, new_name)} == {None, "m1"}


def test_cli_ingest_reports_the_keys(milvus_uri: str, raw_client: MilvusClient, tmp_path: Path) -> None:
    name = unique_name("clikeys")
    home = tmp_path / "home"
    home.mkdir()
    source = tmp_path / "d.jsonl"
    source.write_text('{"id": "doc-A1", "text": "a"}\n{"id": "doc-B2", "text": "b"}\n', encoding="utf-8")
    try:
        data = ok_json(cli("ingest", str(source), "-c", name, "--json", uri=milvus_uri, home=home))
        assert data["keys"]["user_keys"] == "primary key" and data["keys"]["primary_key"] == "id"
        assert data["keys"]["type"] == "VARCHAR"
        table = cli("ingest", str(source), "-c", name, uri=milvus_uri, home=home)
        assert table.returncode == 0, table.stderr
        assert "primary key 'id' (VARCHAR)" in table.stdout
        assert sorted(r["id"] for r in rows(raw_client, name)) == ["doc-A1", "doc-B2"]
    finally:
        if raw_client.has_collection(name):
            raw_client.drop_collection(name)


# -- item 7: check everything first; say what a mid-way failure committed ------------------


async def test_bad_line_after_several_batches_inserts_nothing(service: Session, raw_client: MilvusClient,
                                                              new_name: str, tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"text": "line {i}"}}\n' for i in range(1, 10)) + '{"text": broken}\n')
    with pytest.raises(InvalidInput, match="d.jsonl:10"):
        service.run(service.ingest(new_name, DocumentFile(path), batch_size=2))
    assert not raw_client.has_collection(new_name)


async def test_too_long_text_or_field_inserts_nothing(service: Session, raw_client: MilvusClient,
                                                      new_name: str, tmp_path: Path) -> None:
    records = [{"text": f"doc {i}"} for i in range(6)] + [{"text": "x" * 70_000}]
    with pytest.raises(InvalidInput, match=r"d.jsonl:7: field 'text' is 70000 characters long; its max_length is 65535"):
        await service.arun(service.ingest(new_name, jsonl(tmp_path / "d.jsonl", records), batch_size=2))
    assert not raw_client.has_collection(new_name)
    # An existing collection's own limits and types are checked too.
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("text", DataType.VARCHAR, max_length=1000)
    schema.add_field("lang", DataType.VARCHAR, max_length=4)
    schema.add_field("stars", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=256)
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    raw_client.create_collection(new_name, schema=schema, index_params=index)
    good = [{"text": f"t{i}", "lang": "en", "stars": i} for i in range(4)]
    with pytest.raises(InvalidInput, match="e.jsonl:5: field 'lang' is 7 characters long; its max_length is 4"):
        service.run(service.ingest(new_name, jsonl(tmp_path / "e.jsonl", [*good, {"text": "t", "lang": "english",
                                                                             "stars": 1}]), batch_size=2))
    with pytest.raises(InvalidInput, match="f.jsonl:5: field 'stars' is a str, but the field is INT64"):
        service.run(service.ingest(new_name, jsonl(tmp_path / "f.jsonl", [*good, {"text": "t", "lang": "en",
                                                                             "stars": "5"}]), batch_size=2))
    with pytest.raises(InvalidInput, match="g.jsonl:5: field 'stars' is missing"):
        service.run(service.ingest(new_name, jsonl(tmp_path / "g.jsonl", [*good, {"text": "t", "lang": "en"}]),
                              batch_size=2))
    assert rows(raw_client, new_name) == []


def _drop_after_first_batch(client: MilvusClient, name: str) -> Context:
    def on_progress(p: Progress) -> None:
        if p.what == "inserting" and p.done == 2:
            client.drop_collection(name)  # the server now refuses the next batch
    return Context(on_progress=on_progress)


async def test_server_failure_mid_way_says_what_was_committed(service: Session, raw_client: MilvusClient,
                                                              new_name: str, tmp_path: Path) -> None:
    plain = jsonl(tmp_path / "d.jsonl", [{"text": f"doc {i}"} for i in range(5)])
    service.run(service.ingest(new_name, plain))  # the collection exists: the failure is the server's
    with pytest.raises(IngestInterrupted) as err:
        service.run(service.ingest(new_name, plain, batch_size=2), _drop_after_first_batch(raw_client, new_name))
    message = str(err.value)
    assert err.value.committed == 2
    assert "2 documents were committed" in message and "d.jsonl:3" in message
    assert "ingest --skip 2" in message
    keyed = jsonl(tmp_path / "k.jsonl", [{"id": i, "text": f"doc {i}"} for i in range(5)])
    with pytest.raises(IngestInterrupted) as err:
        service.run(service.ingest(new_name, keyed, batch_size=2), _drop_after_first_batch(raw_client, new_name))
    assert "2 documents were committed" in str(err.value) and "command again is safe" in str(err.value)


async def test_skip_continues_an_interrupted_ingest(service: Session, raw_client: MilvusClient,
                                                    new_name: str, tmp_path: Path) -> None:
    source = jsonl(tmp_path / "d.jsonl", [{"text": f"doc {i}"} for i in range(5)])
    report = service.run(service.ingest(new_name, source, skip=3))
    assert (report.inserted, report.skipped_documents) == (2, 3)
    assert sorted(r["text"] for r in rows(raw_client, new_name)) == ["doc 3", "doc 4"]
    with pytest.raises(InvalidInput, match="Cannot skip 9"):
        service.run(service.ingest(new_name, source, skip=9))


@pytest.mark.parametrize("content, fragment", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary file, not text (a NUL byte at byte 7)"),
    (b"caf\xe9 au lait\n", "not UTF-8 text"),
    (bytes(range(1, 9)) * 20 + b"\nsome text", "control characters"),
])
def test_binary_file_is_refused(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="notes.txt") as err:
        list(read_documents(path))
    assert fragment in str(err.value)


def test_text_with_a_few_escape_codes_is_still_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Colours: \x1b[31mred\x1b[0m and a bell \x07.\n\nSecond paragraph.\n", encoding="utf-8")
    assert [d.text[:8] for d in read_documents(path)] == ["Colours:", "Second p"]
