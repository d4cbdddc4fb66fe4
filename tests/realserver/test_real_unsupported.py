"""What Milvus 2.3.5 lacks shows as "Not supported by this server", never as a crash or a hang.

Measured quirks of the 2.3.5 server with pymilvus 3.0.2:
- it *accepts* a schema with SPARSE_FLOAT_VECTOR or BFLOAT16_VECTOR fields (types it does
  not know), and then crashes (the whole server process) when asked to load it;
- an index on a sparse field: code 1100 "create index on 104 field is not supported";
- inserting sparse data: "%!s(<nil>) is not supported now";
- hybrid search: gRPC UNIMPLEMENTED "unknown method HybridSearch".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.realserver.conftest import assert_clean_error, cli, make_newer_collection
from tui.session import Session
from tui.errors import NotLoaded, NotSupported
from tui.milvus.ops import Call

pytestmark = pytest.mark.realserver


@pytest.fixture(params=["SPARSE_FLOAT_VECTOR", "BFLOAT16_VECTOR"])
def newer_collection(request: pytest.FixtureRequest, raw: Any) -> Any:
    """A collection with a field type the server predates, a dense index, never loaded."""
    name = f"rs_newer_{request.param.lower()}"
    make_newer_collection(raw, name, request.param)  # accepted: the quirk
    yield name, request.param
    raw.drop_collection(name)


def test_load_is_refused_before_it_can_crash_the_server(rservice: Session, newer_collection: Any,
                                                        raw: Any) -> None:
    name, dtype = newer_collection
    info = rservice.run(rservice.describe(name))  # describing is fine, and shows the type
    assert info.get_field("newer").dtype == dtype and not info.loaded
    with pytest.raises(NotSupported) as caught:
        rservice.run(rservice.load(name))
    message = str(caught.value)
    assert message.startswith("Not supported by this server") and dtype in message and "2.4" in message
    # The server is still up, and the collection was never loaded.
    assert raw.get_load_state(name)["state"].name == "NotLoad"
    assert name in rservice.run(rservice.list_collections())
    # Reading it says "load it", the ordinary state, never a crash.
    with pytest.raises(NotLoaded):
        rservice.run(rservice.filter(info, "id > 0"))


async def test_async_load_is_refused_too(real_uri: str, newer_collection: Any) -> None:
    from tui.milvus import MilvusConnection

    name, _ = newer_collection
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None)
        with pytest.raises(NotSupported, match="Not supported by this server"):
            await svc.arun(svc.load(name))
    finally:
        await conn.aclose()
        conn.close()


def test_cli_load_exits_6_with_a_clear_message(real_uri: str, newer_collection: Any, tmp_path: Path,
                                               raw: Any) -> None:
    name, _ = newer_collection
    result = cli("load", name, uri=real_uri, home=tmp_path)
    assert_clean_error(result, 6, "Not supported by this server")
    assert raw.list_collections()  # still answering
    result = cli("query", name, "id > 0", "--load", uri=real_uri, home=tmp_path)
    assert_clean_error(result, 6, "Not supported by this server")


def test_sparse_index_insert_and_hybrid_search_are_not_supported(rservice: Session, raw: Any) -> None:
    from pymilvus import DataType, MilvusClient

    name = "rs_sparse_only"
    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    raw.create_collection(name, schema=schema)
    try:
        info = rservice.run(rservice.describe(name))
        with pytest.raises(Exception, match="no dense vector field"):
            info.pick_vector_field()
        index = MilvusClient.prepare_index_params()
        index.add_index("sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")

        def create_index() -> Any:
            yield Call("create_index", {"collection_name": name, "index_params": index}, collection=name)

        with pytest.raises(NotSupported, match="Not supported by this server"):
            rservice.conn.run(create_index())

        def insert() -> Any:
            yield Call("insert", {"collection_name": name, "data": [{"id": 1, "sv": {3: 0.5}}]}, collection=name)

        with pytest.raises(NotSupported, match="Not supported by this server"):
            rservice.conn.run(insert())
        with pytest.raises(NotSupported):
            rservice.run(rservice.load(name))
    finally:
        raw.drop_collection(name)


def test_hybrid_search_is_not_supported(rservice: Session, docs: str) -> None:
    from pymilvus import AnnSearchRequest, RRFRanker

    request = AnnSearchRequest(data=[[0.1] * 256], anns_field="vector", param={}, limit=3)

    def hybrid() -> Any:
        yield Call("hybrid_search", {"collection_name": docs, "reqs": [request], "ranker": RRFRanker(),
                                     "limit": 3}, collection=docs)

    with pytest.raises(NotSupported, match="Not supported by this server"):
        rservice.conn.run(hybrid())
    assert rservice.run(rservice.count(docs)) > 0  # and the server is fine


def test_search_modes_on_2_3_5_work_or_say_not_supported_before_sending(rservice: Session, docs: str,
                                                                        tmp_path: Path, real_uri: str) -> None:
    """Grouping (2.3.5 would ignore it and return ungrouped hits) and hybrid search are refused
    before anything is sent; by-key and range search work; --full-text ingest is refused."""
    from tui.milvus.search import SearchQuery, SearchShape

    with pytest.raises(NotSupported, match=r"Not supported by this server \(version v2\.3\.5.*2\.4"):
        rservice.run(rservice.vector_search(docs, SearchQuery("key", [1], k=5),
                                            shape=SearchShape(group_by="category", group_size=1)))
    with pytest.raises(NotSupported, match=r"version v2\.3\.5.*hybrid"):
        rservice.run(rservice.hybrid_search(docs, [SearchQuery("key", [1], k=5), SearchQuery("key", [2], k=5)]))
    near = rservice.run(rservice.vector_search(docs, SearchQuery("key", [1], k=20)))
    assert near.rows and 1 not in [r["id"] for r in near.rows]
    low, high = near.scores[1], near.scores[-2]  # COSINE: larger is closer, descending
    window = rservice.run(rservice.vector_search(docs, SearchQuery("key", [1], k=20),
                                                 shape=SearchShape(radius=(high + near.scores[-1]) / 2,
                                                                   range_filter=(low + near.scores[0]) / 2)))
    assert window.scores and all(high <= s <= low for s in window.scores)
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"text": "a note"}\n')
    result = cli("ingest", str(notes), "-c", "rs_fulltext", "--full-text", uri=real_uri, home=tmp_path)
    assert_clean_error(result, 6, "full-text search (a BM25 function) needs Milvus 2.5")
    assert "rs_fulltext" not in rservice.run(rservice.list_collections())


def test_k_above_the_window_and_schema_details_on_2_3_5(rservice: Session, big: str) -> None:
    """Score windows (range searches) page past 16,384 hits on the Go server too; its partition
    counts come from count(*) per partition (loaded) and its index build progress is shown."""
    from tests.realserver.conftest import BIG_ROWS, big_vector
    from tui.milvus.search import SearchQuery

    info = rservice.run(rservice.load(big, describe=True))
    hits = rservice.run(rservice.vector_search(info, SearchQuery("vector", big_vector(0), k=17_000)))
    keys = [r["id"] for r in hits.rows]
    assert len(keys) == len(set(keys)) == 17_000 and keys[0] == 0
    assert hits.scores == sorted(hits.scores)  # L2: nearest first, no window's edge repeated or lost
    details = rservice.run(rservice.details(info))
    assert details.partition_rows == {"_default": BIG_ROWS} and details.counts_exact
    assert all(i.total_rows is not None for i in info.indexes)
