"""Catalog against a real Milvus 2.3.5: connect, list, describe, count, release and load."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realserver.conftest import DOCS_ROWS
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.catalog import milvus_version
from tui.errors import NotLoaded
from tui.milvus.ops import Context, Progress

pytestmark = pytest.mark.realserver


def test_server_starts_quickly_on_free_ports(real_milvus: Any) -> None:
    assert real_milvus.running
    assert real_milvus.startup_seconds < 60
    # etcd got its own free ports: a Milvus on the default ports would not collide with us.
    assert real_milvus.etcd_ports is not None and 2379 not in real_milvus.etcd_ports


def test_open_reports_a_milvus_server(rconn: MilvusConnection) -> None:
    info = rconn.open()
    assert info.kind == "Milvus server"
    assert info.version.startswith("v2.3.5")
    assert milvus_version(info.version) == (2, 3)
    assert milvus_version("milvus_lite-3.2.2") is None


def test_lists_databases_and_collections(rservice: Session, docs: str) -> None:
    assert "default" in rservice.run(rservice.list_databases())
    assert docs in rservice.run(rservice.list_collections())
    assert rservice.run(rservice.exists(docs))
    assert not rservice.run(rservice.exists("rs_no_such_collection"))


def test_describe_schema_indexes_and_exact_count(rservice: Session, docs: str) -> None:
    info = rservice.run(rservice.describe(docs))
    assert info.loaded and info.load_state == "Loaded"
    assert info.row_count == DOCS_ROWS and info.count_exact
    assert info.primary.name == "id" and info.primary.dtype == "INT64" and not info.primary.auto_id
    assert info.get_field("vector").dim == 256 and info.get_field("vector").is_dense_vector
    assert {"text", "category", "module", "name", "n_lines", "n_args", "modified", "meta"} <= set(info.field_names)
    assert info.enable_dynamic_field
    assert info.consistency_level == "Bounded"
    (index,) = info.indexes
    assert (index.field, index.index_type, index.metric_type) == ("vector", "AUTOINDEX", "COSINE")
    # describe_index's bookkeeping (rows, state) is not shown as index parameters.
    assert not {"total_rows", "indexed_rows", "pending_index_rows", "state"} & set(index.params)
    assert info.partitions == ("_default",)
    tag = info.embedding
    assert tag is not None and tag.provider == "local" and tag.dimension == 256


def test_count_with_a_filter(rservice: Session, docs: str) -> None:
    assert rservice.run(rservice.count(docs, "id <= 100")) == 100
    assert rservice.run(rservice.count(docs, "id > 100000")) == 0


def test_release_then_load_with_progress(rservice: Session, docs: str) -> None:
    assert rservice.run(rservice.release(docs)) == "NotLoad"
    try:
        info = rservice.run(rservice.describe(docs))
        assert info.load_state == "NotLoad" and not info.loaded
        assert info.row_count is not None and not info.count_exact  # from stats, not count(*)
        with pytest.raises(NotLoaded, match="not loaded"):
            rservice.run(rservice.filter(info, "id < 3"))
        with pytest.raises(NotLoaded):
            rservice.run(rservice.count(docs))
    finally:
        seen: list[Progress] = []
        state = rservice.run(rservice.load(docs), Context(on_progress=seen.append))
    assert state == "Loaded"
    assert seen[0].done == 0 and seen[-1].done == 100
    info = rservice.run(rservice.describe(docs))
    assert info.loaded and info.row_count == DOCS_ROWS


async def test_async_catalog(real_uri: str, docs: str) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None)
        assert docs in await svc.arun(svc.list_collections())
        assert "default" in await svc.arun(svc.list_databases())
        assert await svc.arun(svc.exists(docs))
        assert await svc.arun(svc.release(docs)) == "NotLoad"
        assert (await svc.arun(svc.describe(docs))).load_state == "NotLoad"
        assert await svc.arun(svc.load(docs)) == "Loaded"
        info = await svc.arun(svc.describe(docs))
        assert info.loaded and info.row_count == DOCS_ROWS
        assert await svc.arun(svc.count(docs, "id <= 10")) == 10
    finally:
        await conn.aclose()
        conn.close()


def test_a_collection_with_released_partitions_is_partly_loaded(rservice: Session, raw: Any) -> None:
    """Milvus Lite loads and releases whole collections only; a server can release one partition,
    and the collection as a whole still reports Loaded."""
    from pymilvus import DataType, MilvusClient

    name = "rs_partly_loaded"
    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("v", index_type="AUTOINDEX", metric_type="COSINE")
    raw.create_collection(name, schema=schema, index_params=index)
    try:
        raw.create_partition(name, "p1")
        raw.insert(name, [{"v": [0.1, 0.2]}], partition_name="p1")
        raw.insert(name, [{"v": [0.3, 0.4]}])
        raw.release_collection(name)
        raw.load_partitions(name, ["p1"])
        info = rservice.run(rservice.describe(name))
        assert info.load_state == "PartiallyLoaded" and not info.loaded
        assert info.loaded_partitions == ("p1",)
        with pytest.raises(NotLoaded):
            rservice.run(rservice.filter(info, "pk > 0"))
        rservice.run(rservice.load(name))
        assert rservice.run(rservice.describe(name)).load_state == "Loaded"
    finally:
        raw.drop_collection(name)
