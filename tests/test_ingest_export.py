"""Ingest (JSONL, CSV, text) and export (JSONL, CSV) against the real server and model."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from tui.session import Session
from tui.milvus.catalog import EMBEDDING_PROPERTY
from tui.errors import InvalidInput, NotFound
from tui.milvus.export import export as export_op
from tui.milvus.ingest import Document, read_documents
from tui.milvus.ops import Context, Progress

MODE = pytest.mark.parametrize("mode", ["sync", "async"])


async def ingest(service: Session, mode: str, collection: str, docs: Any, ctx: Context | None = None,
                 **kw: Any) -> Any:
    operation = service.ingest(collection, docs, **kw)
    return service.run(operation, ctx) if mode == "sync" else await service.arun(operation, ctx)


async def export(service: Session, mode: str, info: Any, path: Path, ctx: Context | None = None, **kw: Any) -> Any:
    operation = service.export(info, path, **kw)
    return service.run(operation, ctx) if mode == "sync" else await service.arun(operation, ctx)


def all_rows(client: MilvusClient, collection: str, expr: str = "") -> list[dict[str, Any]]:
    rows = client.query(collection, filter=expr, output_fields=["*"], limit=16384, consistency_level="Strong")
    return sorted((dict(r) for r in rows), key=lambda r: r["id"])


def count(client: MilvusClient, collection: str, expr: str = "") -> int:
    return int(client.query(collection, filter=expr, output_fields=["count(*)"],
                            consistency_level="Strong")[0]["count(*)"])


JSONL_RECORDS = [
    {"text": "Open a file and read it line by line.", "metadata": {"source": "io.md", "page": 1}, "lang": "en"},
    {"text": "Sort a list in place with list.sort().", "metadata": {"source": "list.md", "page": 2}, "lang": "en"},
    {"content": "Zip two iterables together.", "metadata": {"source": "zip.md", "page": 3}, "lang": "en",
     "tags": ["builtins", "iter"]},
    {"text": "Décoder des octets en texte.", "lang": "fr", "score": 0.5},
]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + "\n", encoding="utf-8")
    return path


# -- reading files -------------------------------------------------------------------------


def test_read_jsonl_merges_metadata_and_extra_keys(tmp_path: Path) -> None:
    docs = list(read_documents(write_jsonl(tmp_path / "d.jsonl", JSONL_RECORDS)))
    assert [d.text for d in docs] == [
        "Open a file and read it line by line.", "Sort a list in place with list.sort().",
        "Zip two iterables together.", "Décoder des octets en texte.",
    ]
    assert docs[0].metadata == {"source": "io.md", "page": 1, "lang": "en"}
    assert docs[2].metadata == {"source": "zip.md", "page": 3, "lang": "en", "tags": ["builtins", "iter"]}
    assert docs[3].metadata == {"lang": "fr", "score": 0.5}
    custom = list(read_documents(write_jsonl(tmp_path / "c.jsonl", [{"body_text": "x", "id": 7}]),
                                 text_key="body_text"))
    assert custom == [Document("x", {}, 7)]


def test_read_csv_types_numbers_but_keeps_look_alikes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,count,score,author,zip,note\n"
                    "first,3,1.5,Nan,02134,\n"
                    "second,-2,1e3,Inf,10001,1_000\n", encoding="utf-8")
    first, second = read_documents(path)
    assert first.text == "first"
    assert first.metadata == {"count": 3, "score": 1.5, "author": "Nan", "zip": "02134", "note": ""}
    assert second.metadata == {"count": -2, "score": 1000.0, "author": "Inf", "zip": 10001, "note": "1_000"}
    assert isinstance(first.metadata["count"], int) and isinstance(first.metadata["score"], float)


def test_read_text_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph,\nstill first.\n\n\n  Second one.  \n\nThird.\n", encoding="utf-8")
    docs = list(read_documents(path))
    assert [d.text for d in docs] == ["First paragraph,\nstill first.", "Second one.", "Third."]
    assert [d.metadata for d in docs] == [{"source": "notes.txt", "chunk": i} for i in range(3)]


@pytest.mark.parametrize("content, fragment", [
    ('{"text": "ok"}\n{"text": "fine"}\n{"text": broken}\n', "bad.jsonl:3 is not valid JSON"),
    ('{"text": "ok"}\n\n["a list"]\n', "bad.jsonl:3 is not a JSON object"),
    ('{"text": "ok"}\n{"title": "no text"}\n', "bad.jsonl:2 has no text field"),
])
def test_bad_jsonl_names_the_line(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput) as err:
        list(read_documents(path))
    assert fragment in str(err.value)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        list(read_documents(tmp_path / "nope.jsonl"))


# -- ingesting -----------------------------------------------------------------------------


@MODE
async def test_ingest_jsonl_creates_collection_and_records_model(
        service: Session, raw_client: MilvusClient, embeddings, new_name: str, tmp_path: Path,  # noqa: ANN001
        mode: str) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl", JSONL_RECORDS)
    events: list[Progress] = []
    report = await ingest(service, mode, new_name, read_documents(path), ctx=Context(on_progress=events.append))
    assert (report.collection, report.inserted, report.created, report.skipped_keys) == (new_name, 4, True, ())
    assert events[-1].what == "flushing" and events[-1].done == 4
    info = service.run(service.describe(new_name))
    assert info.embedding is not None
    assert (info.embedding.provider, info.embedding.model, info.embedding.dimension) == (
        embeddings.provider, embeddings.model, 256)
    assert json.loads(info.properties[EMBEDDING_PROPERTY])["dimension"] == 256
    assert info.primary.auto_id and info.enable_dynamic_field
    assert info.get_field("vector").dim == 256
    assert info.row_count == 4 and info.loaded
    rows = all_rows(raw_client, new_name)
    assert [r["text"] for r in rows] == [d.text for d in read_documents(path)]
    assert rows[0]["source"] == "io.md" and rows[0]["page"] == 1 and rows[0]["lang"] == "en"
    assert rows[2]["tags"] == ["builtins", "iter"]
    assert rows[3]["score"] == 0.5 and "source" not in rows[3]
    # The stored vectors are the model's own embeddings of each text.
    expected = np.asarray(embeddings.embed_documents([rows[1]["text"]])[0], dtype=np.float32)
    assert np.allclose(np.asarray(rows[1]["vector"], dtype=np.float32), expected, atol=1e-6)
    # And the new collection is searchable straight away.
    hit = service.run(service.search(info, "reading lines from a file", k=1))
    assert hit.rows[0]["text"] == "Open a file and read it line by line."


@MODE
async def test_ingest_csv_and_text_then_into_existing(service: Session, raw_client: MilvusClient,
                                                      new_name: str, tmp_path: Path, mode: str) -> None:
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("text,stars,price,author\nalpha beta,5,9.99,Nan\ngamma delta,2,0.5,Ann\n", encoding="utf-8")
    first = await ingest(service, mode, new_name, read_documents(csv_path))
    assert first.created and first.inserted == 2
    txt_path = tmp_path / "story.txt"
    txt_path.write_text("One paragraph.\n\nTwo paragraphs.\n\nThree paragraphs.\n", encoding="utf-8")
    second = await ingest(service, mode, new_name, read_documents(txt_path), batch_size=2)
    assert (second.created, second.inserted) == (False, 3)
    assert count(raw_client, new_name) == 5
    rows = all_rows(raw_client, new_name)
    assert rows[0]["stars"] == 5 and rows[0]["price"] == 9.99 and rows[0]["author"] == "Nan"
    # Numbers were stored as numbers, so numeric filters work on them.
    assert [r["text"] for r in all_rows(raw_client, new_name, "stars > 3")] == ["alpha beta"]
    assert [r["chunk"] for r in rows[2:]] == [0, 1, 2]
    assert {r["source"] for r in rows[2:]} == {"story.txt"}


@MODE
async def test_ingest_into_collection_without_dynamic_field_reports_skipped_keys(
        service: Session, raw_client: MilvusClient, new_name: str, tmp_path: Path, mode: str) -> None:
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("body", DataType.VARCHAR, max_length=1000)
    schema.add_field("lang", DataType.VARCHAR, max_length=8)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=256)
    index = MilvusClient.prepare_index_params()
    index.add_index("emb", index_type="AUTOINDEX", metric_type="COSINE")
    raw_client.create_collection(new_name, schema=schema, index_params=index)
    report = await ingest(service, mode, new_name, read_documents(write_jsonl(tmp_path / "d.jsonl", JSONL_RECORDS)))
    assert report.created is False and report.inserted == 4
    assert report.skipped_keys == ("page", "score", "source", "tags")
    rows = raw_client.query(new_name, filter="", output_fields=["body", "lang"], limit=10, consistency_level="Strong")
    assert sorted(r["lang"] for r in rows) == ["en", "en", "en", "fr"]
    assert "Zip two iterables together." in {r["body"] for r in rows}


@MODE
async def test_bad_line_inserts_nothing_and_creates_nothing(service: Session, raw_client: MilvusClient,
                                                            new_name: str, tmp_path: Path, mode: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": "oops",}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="bad.jsonl:3"):
        await ingest(service, mode, new_name, read_documents(path))
    assert not raw_client.has_collection(new_name)


async def test_ingest_needs_ids_when_collection_has_no_auto_id(service: Session, scratch_collection: str,
                                                               raw_client: MilvusClient) -> None:
    with pytest.raises(InvalidInput, match="needs an explicit 'id'"):
        service.run(service.ingest(scratch_collection, [Document("no id here")]))
    report = await service.arun(service.ingest(scratch_collection, [Document("with id", {"category": "module", "module": "m",
                                          "name": "m", "n_lines": 1, "n_args": 0, "modified": "x", "meta": {}}, 777)]))
    assert report.inserted == 1 and not report.created
    assert [r["text"] for r in raw_client.query(scratch_collection, filter="id == 777", output_fields=["text"],
                                                consistency_level="Strong")] == ["with id"]


# -- exporting -----------------------------------------------------------------------------


@MODE
async def test_export_jsonl_of_a_filter(service: Session, docs_collection: str, raw_client: MilvusClient,
                                        tmp_path: Path, mode: str) -> None:
    info = service.run(service.describe(docs_collection))
    expr = 'category == "class" or n_args > 3'
    expected = all_rows(raw_client, docs_collection, expr)
    assert len(expected) == service.run(service.count(docs_collection, expr)) > 0
    out = tmp_path / "out.jsonl"
    report = await export(service, mode, info, out, expr=expr)
    assert report.rows == len(expected) and report.path == str(out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(expected)
    got = sorted((json.loads(line) for line in lines), key=lambda r: r["id"])
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for mine, truth in zip(got, expected):
        assert mine["text"] == truth["text"] and mine["meta"] == truth["meta"] and mine["name"] == truth["name"]
        assert np.array_equal(np.float32(mine["vector"]), np.float32(truth["vector"]))


@MODE
async def test_export_csv_of_a_filter_with_fields(service: Session, docs_collection: str,
                                                  raw_client: MilvusClient, tmp_path: Path, mode: str) -> None:
    info = service.run(service.describe(docs_collection))
    expr = 'module like "asyncio%" and n_lines >= 5'
    expected = all_rows(raw_client, docs_collection, expr)
    assert len(expected) == service.run(service.count(docs_collection, expr)) > 0
    out = tmp_path / "out.csv"
    report = await export(service, mode, info, out, expr=expr, output_fields=["name", "n_lines", "meta"])
    assert report.rows == len(expected)
    with open(out, newline="", encoding="utf-8") as handle:
        reader = list(csv.reader(handle))
    assert reader[0] == ["id", "name", "n_lines", "meta", "$extra"]
    body = reader[1:]
    assert len(body) == len(expected)
    by_id = {int(r[0]): r for r in body}
    for truth in expected:
        row = by_id[truth["id"]]
        assert row[1] == truth["name"]
        assert int(row[2]) == truth["n_lines"]
        assert json.loads(row[3]) == truth["meta"]
        assert row[4] == ""


async def test_export_csv_puts_dynamic_keys_in_extra(service: Session, new_name: str, tmp_path: Path) -> None:
    service.run(service.ingest(new_name, read_documents(write_jsonl(tmp_path / "d.jsonl", JSONL_RECORDS))))
    info = service.run(service.describe(new_name))
    out = tmp_path / "dyn.csv"
    report = service.run(service.export(info, out))
    assert report.rows == 4
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "text", "vector", "$extra"]
    extras = [json.loads(r["$extra"]) for r in rows]
    assert extras[0] == {"source": "io.md", "page": 1, "lang": "en"}
    assert extras[3] == {"lang": "fr", "score": 0.5}
    assert len(json.loads(rows[0]["vector"])) == 256


@MODE
async def test_export_whole_collection_streams_all_rows(service: Session, docs_collection: str,
                                                        tmp_path: Path, mode: str) -> None:
    info = service.run(service.describe(docs_collection))
    out = tmp_path / "all.jsonl"
    events: list[Progress] = []
    op = export_op(info, out, batch_size=64, output_fields=["name"], total=600)
    if mode == "sync":
        report = service.conn.run(op, Context(on_progress=events.append))
    else:
        report = await service.conn.arun(op, Context(on_progress=events.append))
    assert report.rows == 600
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == list(range(1, 601))  # every row once, in key order, in 64-row batches
    assert [e.done for e in events] == [min(64 * i, 600) for i in range(1, 11)]
    # Through the service with the default batch size too.
    whole = await export(service, mode, info, tmp_path / "all2.jsonl")
    assert whole.rows == 600


async def test_export_rejects_unknown_formats(service: Session, docs_collection: str, tmp_path: Path) -> None:
    info = service.run(service.describe(docs_collection))
    with pytest.raises(InvalidInput, match="Cannot export to 'xlsx'; use one of: jsonl, csv, parquet"):
        service.run(service.export(info, tmp_path / "x.xlsx"))
    assert not (tmp_path / "x.xlsx").exists()
    report = await service.arun(service.export(info, tmp_path / "x.data", fmt="json", expr="id <= 3"))
    assert report.rows == 3 and len((tmp_path / "x.data").read_text().splitlines()) == 3
