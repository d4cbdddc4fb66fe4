"""Reading data against the real Lite server: filters, primary-key paging, searches.

Every behaviour is checked in its sync and async form. Expected results come from the
server itself (plain pymilvus queries) or from the data we inserted, never from the code
under test.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient

from tests.conftest import unique_name
from tui.embeddings import DimensionMismatch
from tui.milvus import Pager
from tui.milvus.ops import with_templates
from tui.session import Session
from tui.milvus import queries as q
from tui.milvus.catalog import CollectionInfo
from tui.errors import AmbiguousField, InvalidFilter, InvalidInput, NotFound, UnknownField
from tui.milvus.ops import Call, Embed

MODE = pytest.mark.parametrize("mode", ["sync", "async"])

#: VARCHAR primary keys that break naive expression building.
NASTY_KEYS = [
    'quote"d', "apo'strophe", "back\\slash", "trailing\\", "[bracket]", "(paren)", "{brace}",
    'x") or ("1"=="1', "tab\tkey", "new\nline", "é-accent", "日本", "🐍", "a", "A", "Z", "z",
    "0", "9", " space", "~tilde", "$meta", "%like%", "a,b", "a b", "a.b", "a==b",
] + [f"k{i:03d}" for i in range(30)]


async def run(service: Session, mode: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """The session's ``<method>`` intent, with the sync or the async driver."""
    intent = {"semantic_search": service.search, "search": service.search_by_vector}.get(method) or getattr(service, method)
    operation = intent(*args, **kwargs)
    return service.run(operation) if mode == "sync" else await service.arun(operation)


def server_ids(client: MilvusClient, collection: str, expr: str, pk: str = "id") -> list[Any]:
    """The truth, straight from pymilvus: every key matching ``expr``."""
    rows = client.query(collection, filter=expr, output_fields=[pk], limit=16384, consistency_level="Strong")
    return sorted(r[pk] for r in rows)


@pytest.fixture(scope="module")
def docs_info(milvus_uri: str, docs_collection: str) -> CollectionInfo:
    from tui.milvus import MilvusConnection
    from tui.session import Session

    with MilvusConnection(milvus_uri) as conn:
        session = Session(conn)
        return session.run(session.describe(docs_collection))


@pytest.fixture(scope="module")
def strict_collection(raw_client: MilvusClient) -> Iterator[str]:
    """No dynamic field: unknown names in filters are certainly typos."""
    name = unique_name("strict")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index)
    raw_client.insert(name, [{"id": i, "title": f"t{i}", "vec": [float(i), 0, 0, 1]} for i in range(1, 11)])
    raw_client.flush(name)
    yield name
    raw_client.drop_collection(name)


@pytest.fixture(scope="module")
def nasty_keys_collection(raw_client: MilvusClient) -> Iterator[str]:
    name = unique_name("nastypk")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index)
    shuffled = NASTY_KEYS[:]
    random.Random(7).shuffle(shuffled)
    raw_client.insert(name, [{"pk": k, "n": i, "vec": [float(i), 1.0]} for i, k in enumerate(shuffled)])
    raw_client.flush(name)
    yield name
    raw_client.drop_collection(name)


@pytest.fixture(scope="module")
def two_vector_collection(raw_client: MilvusClient, embeddings) -> Iterator[str]:  # noqa: ANN001
    """Two dense vector fields: 256-d from the real model, and a 384-d one."""
    texts = ["how to open and read a text file", "sorting a list of numbers", "parse command line arguments",
             "compress data with gzip", "send an HTTP request"]
    name = unique_name("twovec")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=256)
    schema.add_field("v256", DataType.FLOAT_VECTOR, dim=256)
    schema.add_field("v384", DataType.FLOAT_VECTOR, dim=384)
    index = MilvusClient.prepare_index_params()
    index.add_index("v256", index_type="AUTOINDEX", metric_type="COSINE")
    index.add_index("v384", index_type="AUTOINDEX", metric_type="L2")
    raw_client.create_collection(name, schema=schema, index_params=index)
    vectors = embeddings.embed_documents(texts)
    rng = random.Random(3)
    raw_client.insert(name, [
        {"id": i + 1, "text": t, "v256": [float(x) for x in v], "v384": [rng.random() for _ in range(384)]}
        for i, (t, v) in enumerate(zip(texts, vectors))
    ])
    raw_client.flush(name)
    yield name
    raw_client.drop_collection(name)


# -- filter queries ------------------------------------------------------------------------


@MODE
async def test_filter_with_limit_fields_and_consistency(service: Session, docs_info: CollectionInfo,
                                                        raw_client: MilvusClient, mode: str) -> None:
    expr = 'category == "method" and n_args >= 2'
    truth = server_ids(raw_client, docs_info.name, expr)
    assert len(truth) > 5
    result = await run(service, mode, "filter", docs_info, expr, limit=5, output_fields=["name", "n_args"],
                       consistency_level="strong")
    assert result.mode == mode and result.kind == "filter" and result.expr == expr
    assert len(result.rows) == 5
    assert result.columns == ["id", "name", "n_args"]  # the primary key is always included
    for row in result.rows:
        assert set(row) == {"id", "name", "n_args"}
        assert row["n_args"] >= 2
        assert row["id"] in truth
    everything = await run(service, mode, "filter", docs_info, expr, limit=1000)
    assert sorted(r["id"] for r in everything.rows) == truth
    assert {r["category"] for r in everything.rows} == {"method"}
    assert "vector" in everything.columns and "meta" in everything.columns


@MODE
async def test_filter_on_json_and_dynamic_keys(service: Session, docs_info: CollectionInfo,
                                               raw_client: MilvusClient, mode: str) -> None:
    expr = 'meta["package"] == "bdb"'
    result = await run(service, mode, "filter", docs_info, expr, limit=1000)
    assert sorted(r["id"] for r in result.rows) == server_ids(raw_client, docs_info.name, expr)
    assert result.rows and all(r["module"] == "bdb" for r in result.rows)
    # An unknown name on a collection *with* a dynamic field is a dynamic key: no error, no rows.
    assert (await run(service, mode, "filter", docs_info, "no_such_key > 1", limit=10)).rows == []


@MODE
async def test_invalid_filter_carries_the_server_message(service: Session, docs_info: CollectionInfo,
                                                         mode: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        await run(service, mode, "filter", docs_info, "n_args >>> 3")
    message = str(info.value)
    assert "rejected the filter" in message
    assert "unexpected token '>'" in message and "column 9" in message
    with pytest.raises(InvalidFilter, match="incompatible types"):
        await run(service, mode, "filter", docs_info, "n_args > 'abc'")
    assert info.value.exit_code == 2


@pytest.mark.parametrize("expr, fragment", [
    ('category == "method', "Unbalanced quote"),
    ("(n_args > 1", "never closed"),
    ("n_args > 1)", "Unexpected ')'"),
    ('meta["package"] == "os"]', "Unexpected ']'"),
])
def test_unbalanced_filters_are_rejected_before_the_server(docs_info: CollectionInfo, expr: str,
                                                          fragment: str) -> None:
    # The operation must raise on its first step, before yielding any request to a driver.
    for op in (q.filter_query(docs_info, expr), q.search(docs_info, [0.0] * 256, expr=expr)):
        with pytest.raises(InvalidFilter, match=re.escape(fragment)):
            next(op)
    with pytest.raises(InvalidFilter, match=re.escape(fragment)):
        Pager(docs_info, expr=expr)


@MODE
async def test_unknown_field_without_dynamic_field(service: Session, strict_collection: str,
                                                   mode: str) -> None:
    info = service.run(service.describe(strict_collection))
    assert not info.enable_dynamic_field
    with pytest.raises(UnknownField) as err:
        await run(service, mode, "filter", info, "Title == \"t1\"")
    assert "Unknown field 'Title'" in str(err.value) and "Did you mean 'title'?" in str(err.value)
    with pytest.raises(UnknownField):
        next(q.filter_query(info, "colour > 1"))  # raised before any request
    with pytest.raises(InvalidInput, match="Unknown output field 'colour'"):
        await run(service, mode, "filter", info, "id > 0", output_fields=["colour"])
    ok = await run(service, mode, "filter", info, 'title == "t3"')
    assert [r["id"] for r in ok.rows] == [3]


@MODE
@pytest.mark.parametrize("limit", [0, -1, 20000, 16385])
async def test_bad_limits_are_rejected(service: Session, docs_info: CollectionInfo, mode: str,
                                       limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        await run(service, mode, "filter", docs_info, "", limit=limit)
    with pytest.raises(InvalidInput, match="k"):
        await run(service, mode, "semantic_search", docs_info, "hello", k=limit)
    with pytest.raises(InvalidInput, match="page size"):
        Pager(docs_info, page_size=limit)


async def test_limit_must_be_an_int_and_consistency_known(service: Session, docs_info: CollectionInfo) -> None:
    with pytest.raises(InvalidInput, match="whole number"):
        service.run(service.filter(docs_info, "", limit="10"))
    with pytest.raises(InvalidInput, match="whole number"):
        service.run(service.filter(docs_info, "", limit=True))
    with pytest.raises(InvalidInput, match="Unknown consistency level 'Sometimes'"):
        await service.arun(service.filter(docs_info, "", consistency_level="Sometimes"))
    assert len(service.run(service.filter(docs_info, "", limit=16384)).rows) == 600


# -- paging --------------------------------------------------------------------------------


@MODE
async def test_pager_walks_every_row_once(service: Session, docs_info: CollectionInfo, mode: str) -> None:
    pager = Pager(docs_info, page_size=64, output_fields=["name"])
    first = await run(service, mode, "page", pager, 0)
    assert (first.total, first.pages, first.page) == (600, 10, 0)
    seen: list[int] = [r["id"] for r in first.rows]
    for page in range(1, first.pages):
        result = await run(service, mode, "page", pager, page)
        assert result.page == page and result.kind == "page" and result.mode == mode
        ids = [r["id"] for r in result.rows]
        assert ids == sorted(ids)
        seen.extend(ids)
    assert len(seen) == len(set(seen)) == 600
    assert seen == list(range(1, 601))
    # Past the end clamps to the last page instead of returning nothing.
    beyond = await run(service, mode, "page", pager, 99)
    assert beyond.page == 9 and [r["id"] for r in beyond.rows] == list(range(577, 601))
    # Going back works and returns exactly the same rows as before.
    back = await run(service, mode, "page", pager, 3)
    assert [r["id"] for r in back.rows] == list(range(193, 257))
    assert back.columns == ["id", "name"]


@MODE
async def test_pager_jumps_to_last_and_back(service: Session, docs_info: CollectionInfo, mode: str) -> None:
    pager = Pager(docs_info, page_size=50)
    last = await run(service, mode, "page", pager, -1)
    assert (last.page, last.pages, last.total) == (11, 12, 600)
    assert [r["id"] for r in last.rows] == list(range(551, 601))
    prev = await run(service, mode, "page", pager, last.page - 1)
    assert [r["id"] for r in prev.rows] == list(range(501, 551))
    middle = await run(service, mode, "page", pager, 5)
    assert [r["id"] for r in middle.rows] == list(range(251, 301))
    assert pager.exhausted and len(pager.boundaries) == 12


@MODE
async def test_pager_with_a_filter(service: Session, docs_info: CollectionInfo, raw_client: MilvusClient,
                                   mode: str) -> None:
    expr = 'category in ["class", "function"] and n_lines > 2'
    truth = server_ids(raw_client, docs_info.name, expr)
    assert 20 < len(truth) < 600
    pager = Pager(docs_info, expr=expr, page_size=7)
    first = await run(service, mode, "page", pager, 0)
    assert first.total == len(truth)
    collected = [r["id"] for r in first.rows]
    for page in range(1, first.pages):
        result = await run(service, mode, "page", pager, page)
        assert len(result.rows) == (7 if page < first.pages - 1 else len(truth) - 7 * (first.pages - 1))
        collected.extend(r["id"] for r in result.rows)
    assert collected == truth
    last = await run(service, mode, "page", Pager(docs_info, expr=expr, page_size=7), -1)
    assert [r["id"] for r in last.rows] == truth[7 * (first.pages - 1):]


@MODE
async def test_pager_on_varchar_keys_with_quotes_and_brackets(service: Session, nasty_keys_collection: str,
                                                              mode: str) -> None:
    info = service.run(service.describe(nasty_keys_collection))
    assert info.primary.dtype == "VARCHAR"
    expected = sorted(NASTY_KEYS)
    pager = Pager(info, page_size=5)
    last = await run(service, mode, "page", pager, -1)  # boundaries from a key scan
    assert [r["pk"] for r in last.rows] == expected[5 * (last.pages - 1):]
    walked: list[str] = []
    fresh = Pager(info, page_size=5)
    for page in range(last.pages):
        walked.extend(r["pk"] for r in (await run(service, mode, "page", fresh, page)).rows)
    assert walked == expected
    # A filter on top of the cursor keeps working with these keys.
    filtered = Pager(info, expr="n < 20", page_size=3)
    got: list[str] = []
    first = await run(service, mode, "page", filtered, 0)
    got.extend(r["pk"] for r in first.rows)
    for page in range(1, first.pages):
        got.extend(r["pk"] for r in (await run(service, mode, "page", filtered, page)).rows)
    assert sorted(got) == got and len(got) == 20


def test_boundaries_from_keys_marks_the_end_and_drops_an_empty_last_page() -> None:
    # A full window: no end known. A short one: the page count, counted from the cursor's page.
    assert q.boundaries_from_keys(0, list(range(1, 11)), 3, 10) == q.Boundaries(0, (3, 6, 9))
    assert q.boundaries_from_keys(2, [7, 8, 9, 10, 11], 3, 9) == q.Boundaries(2, (9,), pages=4)
    # Keys that end exactly on a page edge: the last boundary would open an empty page.
    assert q.boundaries_from_keys(0, [1, 2, 3, 4, 5, 6], 3, 9) == q.Boundaries(0, (3, 6), pages=2)
    assert q.boundaries_from_keys(4, [], 3, 9).pages == 4
    assert q.boundaries_from_keys(0, [], 3, 9).pages == 1  # an empty collection still has page 1


async def fill(service: Session, mode: str, filler: q.BoundaryFill, pager: Pager) -> int:
    """Drive a fill to its end, merging as the app does; returns how many requests it made."""
    while not filler.done:
        op = filler.step()
        found = service.conn.run(op) if mode == "sync" else await service.conn.arun(op)
        pager.merge(found)
    return filler.requests


@MODE
async def test_filled_pager_serves_every_page_like_a_full_ordered_scan(
        service: Session, docs_info: CollectionInfo, raw_client: MilvusClient, mode: str) -> None:
    truth = server_ids(raw_client, docs_info.name, "")
    pager = Pager(docs_info, page_size=50, output_fields=["id"])
    await run(service, mode, "page", pager, 0)
    filler = q.BoundaryFill(pager, window=120)  # 2 pages a request, so it takes several
    assert filler.per_request == 100 and not filler.done
    assert await fill(service, mode, filler, pager) == 5  # boundaries 2..11, the last request 50 keys
    assert pager.exhausted and pager.boundaries == [None, *truth[49:550:50]]
    order = list(range(12))
    random.Random(5).shuffle(order)
    for page in [11, *order]:
        rows = (await run(service, mode, "page", pager, page)).rows
        assert [r["id"] for r in rows] == truth[page * 50:(page + 1) * 50]
    assert pager.key_scans == 0  # every jump used the filled boundaries
    last = await run(service, mode, "page", pager, -1)
    assert [r["id"] for r in last.rows] == truth[550:] and pager.key_scans == 0


@MODE
async def test_fill_without_a_count_finds_the_end(service: Session, docs_info: CollectionInfo,
                                                  raw_client: MilvusClient, mode: str) -> None:
    # 600 rows in pages of 50 end exactly on a page edge: the empty scan after the last full
    # window is what says so, and no boundary may open an empty 13th page.
    truth = server_ids(raw_client, docs_info.name, "")
    pager = Pager(docs_info, page_size=50)
    assert pager.total is None
    requests = await fill(service, mode, q.BoundaryFill(pager, window=100), pager)
    assert requests == 7 and pager.exhausted
    assert pager.boundaries == [None, *truth[49:550:50]]
    # A filter and VARCHAR keys: the same rows as walking the pager page by page.
    expr = 'category in ["class", "function"] and n_lines > 2'
    expected = server_ids(raw_client, docs_info.name, expr)
    filtered = Pager(docs_info, expr=expr, page_size=7)
    await fill(service, mode, q.BoundaryFill(filtered, window=30), filtered)
    assert filtered.boundaries == [None, *expected[6:len(expected) - 1:7]][:math.ceil(len(expected) / 7)]
    first = await run(service, mode, "page", filtered, 0)
    got = [r["id"] for r in first.rows]
    for page in range(1, first.pages):
        got.extend(r["id"] for r in (await run(service, mode, "page", filtered, page)).rows)
    assert got == expected and filtered.key_scans == 0


@MODE
async def test_fill_on_varchar_keys(service: Session, nasty_keys_collection: str, mode: str) -> None:
    info = service.run(service.describe(nasty_keys_collection))
    expected = sorted(NASTY_KEYS)
    pager = Pager(info, page_size=5)
    first = await run(service, mode, "page", pager, 0)
    await fill(service, mode, q.BoundaryFill(pager, window=10), pager)
    walked: list[str] = []
    for page in reversed(range(first.pages)):
        walked[:0] = [r["pk"] for r in (await run(service, mode, "page", pager, page)).rows]
    assert walked == expected and pager.key_scans == 0


@MODE
async def test_fill_stops_at_its_cap_and_a_jump_beyond_scans(service: Session, docs_info: CollectionInfo,
                                                             raw_client: MilvusClient, mode: str) -> None:
    truth = server_ids(raw_client, docs_info.name, "")
    pager = Pager(docs_info, page_size=50)
    await run(service, mode, "page", pager, 0)
    await fill(service, mode, q.BoundaryFill(pager, max_pages=5), pager)
    assert len(pager.boundaries) == 5 and not pager.exhausted
    assert q.BoundaryFill(pager, max_pages=5).done  # a restart adds nothing past the cap
    last = await run(service, mode, "page", pager, -1)
    assert [r["id"] for r in last.rows] == truth[550:] and pager.key_scans == 1
    assert pager.boundaries == [None, *truth[49:550:50]]


def test_a_fill_merged_in_the_middle_of_a_jump(service: Session, docs_info: CollectionInfo,
                                               raw_client: MilvusClient) -> None:
    """The async driver suspends ``goto`` at each request; the UI may merge a fill's results
    then. The jump must still place its keys at the right pages and fetch the right rows."""
    truth = server_ids(raw_client, docs_info.name, "")
    client = service.conn.client
    pager = Pager(docs_info, page_size=50)
    service.run(service.page(pager, 0))
    op = pager.goto(9)
    request = op.send(None)
    sent = with_templates(request.kwargs, False)
    assert "id > 50" in sent["filter"] and request.kwargs["output_fields"] == ["id"]  # a key scan
    filler = q.BoundaryFill(pager, window=150)
    pager.merge(service.conn.run(filler.step()))  # the fill gets there first: 3 more pages
    assert len(pager.boundaries) == 5
    try:
        while True:
            request = op.send(getattr(client, request.method)(**with_templates(request.kwargs, False)))
    except StopIteration as stop:
        page = stop.value
    assert page.page == 9 and [r["id"] for r in page.rows] == truth[450:500]
    assert pager.boundaries == [None, *truth[49:500:50]]
    while not filler.done:  # the rest of the fill agrees with what the jump found
        pager.merge(service.conn.run(filler.step()))
    assert pager.exhausted and pager.boundaries == [None, *truth[49:550:50]]


@MODE
async def test_get_by_hostile_keys(service: Session, nasty_keys_collection: str, mode: str) -> None:
    info = service.run(service.describe(nasty_keys_collection))
    keys = ['quote"d', "back\\slash", 'x") or ("1"=="1', "new\nline", "not-there"]
    rows = await run(service, mode, "get", info, keys)
    assert sorted(r["pk"] for r in rows) == sorted(keys[:-1])


# -- search --------------------------------------------------------------------------------


@MODE
async def test_semantic_search_is_scored_and_sensible(service: Session, docs_info: CollectionInfo,
                                                      mode: str) -> None:
    result = await run(service, mode, "semantic_search", docs_info, "read a file line by line", k=10,
                       output_fields=["name", "category"])
    assert result.kind == "search" and result.mode == mode and result.metric == "COSINE"
    assert len(result.rows) == len(result.scores) == 10
    assert result.scores == sorted(result.scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in result.scores)
    names = [r["name"] for r in result.rows]
    assert any("readline" in n or "fileinput" in n or "linecache" in n for n in names), names
    assert result.columns == ["id", "name", "category"]
    assert not result.warnings  # built with the same model
    # The filter restricts the hits.
    only_classes = await run(service, mode, "semantic_search", docs_info, "read a file line by line", k=5,
                             expr='category == "class"', output_fields=["category"])
    assert len(only_classes.rows) == 5 and {r["category"] for r in only_classes.rows} == {"class"}


@MODE
async def test_search_by_vector_checks_dimensions(service: Session, docs_info: CollectionInfo,
                                                  embeddings, mode: str) -> None:  # noqa: ANN001
    vector = embeddings.embed_query("exceptions raised by asyncio")
    result = await run(service, mode, "search", docs_info, vector, k=3)
    assert len(result.rows) == 3 and result.scores[0] >= result.scores[-1]
    with pytest.raises(InvalidInput, match="has 3 dimensions but field 'vector' holds 256"):
        await run(service, mode, "search", docs_info, [0.1, 0.2, 0.3], k=3)
    with pytest.raises(InvalidInput, match="Type some text"):
        await run(service, mode, "semantic_search", docs_info, "   ")


def test_dimension_mismatch_is_raised_before_searching(service: Session, two_vector_collection: str,
                                                       embeddings) -> None:  # noqa: ANN001
    info = service.run(service.describe(two_vector_collection))
    op = q.semantic_search(info, "hello", anns_field="v384")
    request = next(op)
    assert isinstance(request, Embed) and request.query
    with pytest.raises(DimensionMismatch) as err:
        op.send([embeddings.embed_query("hello")])  # the next step raises instead of searching
    assert "256" in str(err.value) and "384" in str(err.value) and "v384" in str(err.value)


@MODE
async def test_dimension_mismatch_through_the_service(service: Session, two_vector_collection: str,
                                                      mode: str) -> None:
    info = service.run(service.describe(two_vector_collection))
    with pytest.raises(DimensionMismatch, match="384"):
        await run(service, mode, "semantic_search", info, "hello", anns_field="v384")


@MODE
async def test_two_vector_fields_need_a_choice(service: Session, two_vector_collection: str,
                                               mode: str) -> None:
    info = service.run(service.describe(two_vector_collection))
    with pytest.raises(AmbiguousField) as err:
        await run(service, mode, "semantic_search", info, "read a text file")
    assert err.value.candidates == ["v256", "v384"]
    assert "v256" in str(err.value) and "v384" in str(err.value)
    result = await run(service, mode, "semantic_search", info, "read a text file", anns_field="v256", k=2)
    assert result.rows[0]["text"] == "how to open and read a text file"
    assert result.metric == "COSINE"
    with pytest.raises(InvalidInput, match="not a vector field"):
        await run(service, mode, "semantic_search", info, "x", anns_field="text")


@MODE
async def test_more_like_this_excludes_the_entity(service: Session, docs_info: CollectionInfo,
                                                  raw_client: MilvusClient, mode: str) -> None:
    key = server_ids(raw_client, docs_info.name, 'name == "_pyio.IOBase.readline"')[0]
    result = await run(service, mode, "more_like_this", docs_info, key, k=10, output_fields=["name"])
    assert result.kind == "more_like_this"
    ids = [r["id"] for r in result.rows]
    assert len(ids) == len(set(ids)) == 10
    assert key not in ids
    assert result.scores == sorted(result.scores, reverse=True)
    assert any("readline" in r["name"] for r in result.rows)  # its sibling readlines, at least
    assert result.expr == ""  # the user's filter, not our exclusion clause
    filtered = await run(service, mode, "more_like_this", docs_info, key, k=4, expr='category == "method"',
                         output_fields=["category"])
    assert len(filtered.rows) == 4 and key not in [r["id"] for r in filtered.rows]
    assert {r["category"] for r in filtered.rows} == {"method"}
    with pytest.raises(NotFound):
        await run(service, mode, "more_like_this", docs_info, 10**9)


@MODE
async def test_mmr_returns_k_diverse_results(service: Session, docs_info: CollectionInfo, mode: str) -> None:
    plain = await run(service, mode, "semantic_search", docs_info, "read a file line by line", k=30,
                      output_fields=["name"])
    mmr = await run(service, mode, "semantic_search", docs_info, "read a file line by line", k=8,
                    output_fields=["name"], mmr=(30, 0.3))
    assert len(mmr.rows) == len(mmr.scores) == 8
    mmr_ids = [r["id"] for r in mmr.rows]
    assert len(set(mmr_ids)) == 8
    pool = {r["id"]: s for r, s in zip(plain.rows, plain.scores)}
    assert set(mmr_ids) <= set(pool)  # chosen from the fetched candidates ...
    assert mmr_ids != [r["id"] for r in plain.rows[:8]]  # ... but not just the top 8
    assert mmr.scores == [pool[i] for i in mmr_ids]  # each keeps its own score
    with pytest.raises(InvalidInput, match="lambda"):
        await run(service, mode, "semantic_search", docs_info, "x", mmr=(30, 1.5))


def test_search_op_issues_one_search_call(docs_info: CollectionInfo) -> None:
    """The sans-IO form: exactly one ``search`` request, shaped as pymilvus expects."""
    op = q.search(docs_info, [0.5] * 256, k=4, expr="n_args > 1", output_fields=["name"],
                  consistency_level="bounded")
    request = next(op)
    assert isinstance(request, Call) and request.method == "search"
    assert request.kwargs["limit"] == 4 and request.kwargs["anns_field"] == "vector"
    assert request.kwargs["filter"] == "n_args > 1" and request.kwargs["consistency_level"] == "Bounded"
    assert request.kwargs["output_fields"] == ["id", "name"]


def test_search_warns_when_the_collection_was_built_by_another_model(service: Session,
                                                                     docs_info: CollectionInfo,
                                                                     embeddings) -> None:  # noqa: ANN001
    from tui.milvus.catalog import EmbeddingTag
    from tui.milvus.ops import Context

    ctx = Context(embeddings=embeddings)
    same = service.conn.run(q.semantic_search(docs_info, "sockets", k=2,
                                              using=EmbeddingTag(embeddings.provider, embeddings.model, 0)), ctx)
    assert same.warnings == ()
    other = service.conn.run(q.semantic_search(docs_info, "sockets", k=2,
                                               using=EmbeddingTag("openai", "text-embedding-3-small", 0)), ctx)
    assert len(other.rows) == 2
    (warning,) = other.warnings
    assert embeddings.model in warning and "text-embedding-3-small" in warning


def test_server_errors_are_filter_errors_only_when_there_is_a_filter() -> None:
    """search/filter_query pass the user's expression, "" when there is none; a refusal
    then must not be reported as "the server rejected the filter expression"."""
    from pymilvus.exceptions import MilvusException

    from tui.errors import OperationFailed
    from tui.milvus.errors import translate

    refusal = MilvusException(code=1100, message="invalid parameter: topk out of range")
    with_filter = translate(refusal, collection="c", expr="n_args > 1")
    assert isinstance(with_filter, InvalidFilter) and "topk out of range" in str(with_filter)
    for no_filter in ("", None):
        error = translate(refusal, collection="c", expr=no_filter)
        assert isinstance(error, OperationFailed) and not isinstance(error, InvalidFilter)
        assert "filter" not in str(error) and "topk out of range" in str(error)
