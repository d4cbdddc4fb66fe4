"""The catalog against the real Lite server: every operation in its sync and async form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymilvus import DataType, MilvusClient

from tests.conftest import unique_name
from tui.session import Session
from tui.milvus.catalog import EMBEDDING_PROPERTY, CollectionInfo
from tui.errors import NotFound, NotLoaded
from tui.milvus.ops import Context, Progress

MODE = pytest.mark.parametrize("mode", ["sync", "async"])


async def call(service: Session, mode: str, method: str, *args, ctx: Context | None = None, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """Run the session's ``<method>`` intent with the sync or the async driver."""
    if method == "load" and len(args) == 2:
        *args, ctx = args
    operation = getattr(service, method)(*args, **kwargs)
    return service.run(operation, ctx) if mode == "sync" else await service.arun(operation, ctx)


@pytest.fixture(scope="module")
def shaped_collection(milvus_uri: str) -> Iterator[str]:
    """A collection unlike ours: auto_id, no dynamic field, nullable, array, two indexed
    vector fields, an extra partition and a custom property; 30 rows."""
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("shaped")
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("title", DataType.VARCHAR, max_length=64, nullable=True)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("emb_small", DataType.FLOAT_VECTOR, dim=4)
    index = MilvusClient.prepare_index_params()
    index.add_index("emb", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 64})
    index.add_index("emb_small", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, properties={"team": "search"})
    client.create_partition(name, "archive")
    client.insert(name, [
        {"title": None if i % 3 == 0 else f"title {i}", "tags": ["x"], "emb": [i / 30] * 8, "emb_small": [1.0] * 4}
        for i in range(30)
    ])
    client.flush(name)
    yield name
    client.drop_collection(name)
    client.close()


@pytest.fixture
def small_collection(milvus_uri: str) -> Iterator[str]:
    """A throwaway collection of 40 rows, for release/load/drop."""
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("small")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": i, "vec": [1.0, float(i), 0.5, 0.25]} for i in range(1, 41)])
    client.flush(name)
    yield name
    if client.has_collection(name):
        client.drop_collection(name)
    client.close()


@MODE
async def test_list_databases_and_collections(service: Session, docs_collection: str,
                                              shaped_collection: str, mode: str) -> None:
    databases = await call(service, mode, "list_databases")
    assert "default" in databases
    assert databases == sorted(databases)
    names = await call(service, mode, "list_collections")
    assert docs_collection in names and shaped_collection in names
    assert names == sorted(names)


@MODE
async def test_describe_demo_collection(service: Session, docs_collection: str, embeddings,  # noqa: ANN001
                                        mode: str) -> None:
    info: CollectionInfo = await call(service, mode, "describe", docs_collection)
    assert info.name == docs_collection
    assert info.field_names == ["id", "text", "vector", "category", "module", "name", "n_lines", "n_args",
                                "modified", "meta"]
    pk = info.primary
    assert (pk.name, pk.dtype, pk.is_primary, pk.auto_id) == ("id", "INT64", True, False)
    vector = info.get_field("vector")
    assert (vector.dtype, vector.dim, vector.is_dense_vector) == ("FLOAT_VECTOR", 256, True)
    assert info.get_field("text").max_length == 65535
    assert info.get_field("category").max_length == 16
    assert info.get_field("meta").dtype == "JSON"
    assert info.get_field("n_args").dtype == "INT64"
    assert not any(f.nullable for f in info.fields)
    assert info.enable_dynamic_field is True
    assert [f.name for f in info.vector_fields] == ["vector"]
    assert info.pick_vector_field().name == "vector"
    assert info.pick_text_field().name == "text"
    # Index, partitions, load state and an exact count(*).
    assert [(i.field, i.index_type, i.metric_type) for i in info.indexes] == [("vector", "AUTOINDEX", "COSINE")]
    assert info.partitions == ("_default",)
    assert info.load_state == "Loaded" and info.loaded
    assert info.row_count == 600 and info.count_exact
    # The embedding model that built it is recorded, and matches the model in use.
    assert EMBEDDING_PROPERTY in info.properties
    tag = info.embedding
    assert tag is not None
    assert (tag.provider, tag.model, tag.dimension) == (embeddings.provider, embeddings.model, 256)


@MODE
async def test_describe_other_shapes(service: Session, shaped_collection: str, mode: str) -> None:
    info = await call(service, mode, "describe", shaped_collection)
    pk = info.primary
    assert (pk.name, pk.auto_id) == ("pk", True)
    assert info.enable_dynamic_field is False
    title = info.get_field("title")
    assert (title.dtype, title.nullable, title.max_length) == ("VARCHAR", True, 64)
    tags = info.get_field("tags")
    assert (tags.dtype, tags.element_type) == ("ARRAY", "VARCHAR")
    assert {f.name: f.dim for f in info.vector_fields} == {"emb": 8, "emb_small": 4}
    assert {i.field: (i.index_type, i.metric_type) for i in info.indexes} == {
        "emb": ("HNSW", "IP"), "emb_small": ("FLAT", "L2"),
    }
    assert set(info.partitions) == {"_default", "archive"}
    assert info.properties.get("team") == "search"
    assert info.embedding is None  # not created by us
    assert info.row_count == 30 and info.count_exact
    # The summary a user sees names what matters.
    assert title.summary() == "VARCHAR max_length=64 nullable"
    assert pk.summary() == "INT64 primary key, auto_id"


@MODE
async def test_count_with_filter_is_exact(service: Session, docs_collection: str, mode: str) -> None:
    total = await call(service, mode, "count", docs_collection)
    assert total == 600
    functions = await call(service, mode, "count", docs_collection, 'category == "function"')
    rows = service.conn.client.query(docs_collection, filter='category == "function"', output_fields=["id"],
                                     limit=16384, consistency_level="Strong")
    assert functions == len(rows) > 0
    assert await call(service, mode, "count", docs_collection, "id > 590") == 10
    assert await call(service, mode, "count", docs_collection, "id < 0") == 0


@MODE
async def test_describe_and_count_missing_collection(service: Session, mode: str) -> None:
    name = unique_name("missing")
    with pytest.raises(NotFound) as info:
        await call(service, mode, "describe", name)
    assert name in str(info.value)
    assert await call(service, mode, "exists", name) is False


@MODE
async def test_release_then_load_with_progress(service: Session, small_collection: str, mode: str) -> None:
    name = small_collection
    assert (await call(service, mode, "describe", name)).load_state == "Loaded"
    loaded_info = await call(service, mode, "describe", name)

    assert await call(service, mode, "release", name) == "NotLoad"
    released = await call(service, mode, "describe", name)
    assert released.load_state == "NotLoad" and not released.loaded
    # Released: no count(*) is possible, so the count is the server's estimate, marked so.
    assert released.count_exact is False
    assert released.row_count == 40

    # A query is refused client-side with fresh info, and server-side with stale info.
    with pytest.raises(NotLoaded) as refused:
        if mode == "sync":
            service.run(service.filter(released, "id > 0"))
        else:
            await service.arun(service.filter(released, "id > 0"))
    assert name in str(refused.value) and "Load it first" in str(refused.value)
    with pytest.raises(NotLoaded):
        if mode == "sync":
            service.run(service.filter(loaded_info, "id > 0"))
        else:
            await service.arun(service.filter(loaded_info, "id > 0"))
    with pytest.raises(NotLoaded):
        # (Lite answers an unfiltered count(*) from metadata even when released; a real
        # server refuses both, so the filtered form is the honest check.)
        await call(service, mode, "count", name, "id > 3")

    events: list[Progress] = []
    state = await call(service, mode, "load", name, Context(on_progress=events.append))
    assert state == "Loaded"
    assert events, "load reported no progress"
    assert events[0].done == 0 and events[-1] == Progress(100, 100, f"{name} loaded")
    assert all(e.total in (100, None) and 0 <= e.done <= 100 for e in events)
    after = await call(service, mode, "describe", name)
    assert after.load_state == "Loaded" and after.row_count == 40 and after.count_exact


@MODE
async def test_load_of_missing_collection_is_not_found(service: Session, mode: str) -> None:
    with pytest.raises(NotFound):
        await call(service, mode, "load", unique_name("missing"))


async def test_exists_and_drop(service: Session, small_collection: str) -> None:
    assert service.run(service.exists(small_collection)) is True
    assert await service.arun(service.exists(small_collection)) is True
    service.run(service.drop(small_collection))
    assert service.run(service.exists(small_collection)) is False
    assert small_collection not in await service.arun(service.list_collections())


@MODE
async def test_describe_all(service: Session, docs_collection: str, shaped_collection: str, mode: str) -> None:
    infos = await call(service, mode, "describe_all")
    by_name = {i.name: i for i in infos}
    assert by_name[docs_collection].row_count == 600
    assert by_name[shaped_collection].row_count == 30
    assert [i.name for i in infos] == sorted(by_name)
