"""Every kind of search on collections made with pymilvus (the schema zoo), on the Lite child:
full text (BM25), by primary key on dense and sparse fields, a pasted sparse vector, range,
group-by, hybrid (RRF and weights, with each hit's rank in each part), checks made before
anything is sent, sync and async; the CLI's flags; and the app's full-text search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pymilvus import DataType, Function, FunctionType, MilvusClient

from tests.apphelpers import SIZE, make_app, query_error, result, submit, wait_first_page, wait_result
from tests.conftest import unique_name
from tests.test_journeys import COMMAND, ROOT
from tests.zoo import ZooCollection
from tui.errors import AmbiguousField, InvalidInput
from tui.milvus import MilvusConnection
from tui.milvus.search import Fusion, SearchQuery, SearchShape
from tui.session import Session

MODE = pytest.mark.parametrize("mode", ["sync", "async"])


@pytest.fixture
def zoo(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> Iterator[tuple[Session, dict[str, ZooCollection]]]:
    uri, made = lite_zoo
    conn = MilvusConnection(uri)
    conn.open()
    yield Session(conn), made
    conn.close()


async def run(session: Session, mode: str, operation: Any) -> Any:
    return session.run(operation) if mode == "sync" else await session.arun(operation)


def truth(uri: str, name: str, pk: str) -> dict[Any, dict[str, Any]]:
    client = MilvusClient(uri=uri)
    try:
        return {r[pk]: r for r in client.query(name, filter="", output_fields=["*"], limit=1000,
                                               consistency_level="Strong")}
    finally:
        client.close()


@MODE
async def test_full_text_search_sends_raw_text_to_the_bm25_field(zoo: Any, lite_zoo: Any, mode: str) -> None:
    session, made = zoo
    bm25 = made["zoo_bm25"]
    hits = await run(session, mode, session.vector_search(bm25.name, SearchQuery("text", "milvus undo", k=5,
                                                                                  anns_field="sparse")))
    assert hits.rows and hits.metric == "BM25" and len(hits.scores) == len(hits.rows)
    rows = truth(lite_zoo[0], bm25.name, bm25.pk)
    # Every hit holds one of the words (BM25 scores only documents with a query term).
    assert all({"milvus", "undo"} & set(rows[r[bm25.pk]]["text"].split()) for r in hits.rows)
    assert "sparse" not in hits.columns  # a computed output is never asked for


@MODE
async def test_search_by_key_on_a_sparse_field_and_a_pasted_sparse_vector(zoo: Any, lite_zoo: Any, mode: str) -> None:
    session, made = zoo
    sparse = made["zoo_sparse"]
    rows = truth(lite_zoo[0], sparse.name, sparse.pk)
    key = sorted(rows)[0]
    hits = await run(session, mode, session.vector_search(sparse.name, SearchQuery("key", [key], anns_field="sparse",
                                                                                    k=5)))
    assert hits.rows and key not in [r[sparse.pk] for r in hits.rows]
    assert hits.scores == sorted(hits.scores, reverse=True)  # IP: larger is closer
    # The same search from the stored vector pasted as JSON finds the entity itself first.
    stored = {str(i): v for i, v in rows[key]["sparse"].items()}
    pasted = await run(session, mode, session.vector_search(sparse.name, SearchQuery("sparse", json.dumps(stored),
                                                                                      k=6)))
    assert pasted.rows[0][sparse.pk] == key
    assert [r[sparse.pk] for r in pasted.rows[1:]] == [r[sparse.pk] for r in hits.rows]


async def test_queries_that_do_not_fit_the_field_are_refused_before_sending(zoo: Any) -> None:
    session, made = zoo
    sparse, bm25, two = made["zoo_sparse"], made["zoo_bm25"], made["zoo_two_dense"]
    with pytest.raises(InvalidInput, match="holds sparse vectors"):
        session.run(session.vector_search(sparse.name, SearchQuery("vector", [0.1] * 8, anns_field="sparse")))
    with pytest.raises(InvalidInput, match="cannot search 'vec'"):
        session.run(session.vector_search(sparse.name, SearchQuery("sparse", '{"1": 1}', anns_field="vec")))
    with pytest.raises(InvalidInput, match="4 dimensions but field 'vec'"):
        session.run(session.vector_search(two.name, SearchQuery("vector", [0.5] * 4, anns_field="vec")))
    with pytest.raises(InvalidInput, match="computed by a BM25 function"):
        session.run(session.vector_search(bm25.name, SearchQuery("key", [1], anns_field="sparse")))
    with pytest.raises(AmbiguousField):
        session.run(session.vector_search(two.name, SearchQuery("key", [1])))
    with pytest.raises(InvalidInput, match="window is range_filter <= distance < radius"):
        session.run(session.vector_search(two.name, SearchQuery("key", [1], anns_field="vec"),
                                          shape=SearchShape(radius=0.5, range_filter=2.0)))


@MODE
async def test_range_search_keeps_to_the_window(zoo: Any, lite_zoo: Any, mode: str) -> None:
    session, made = zoo
    two = made["zoo_two_dense"]
    key = sorted(truth(lite_zoo[0], two.name, two.pk))[0]
    everything = await run(session, mode, session.vector_search(two.name, SearchQuery("key", [key], anns_field="vec",
                                                                                       k=50)))
    # L2: ascending distances. The window's ends fall between two hits: a distance equal to an
    # end (float32 on the server, float64 here) would test rounding, not the window.
    d = everything.scores
    low, high = (d[1] + d[2]) / 2, (d[-4] + d[-3]) / 2
    window = await run(session, mode, session.vector_search(
        two.name, SearchQuery("key", [key], anns_field="vec", k=50), shape=SearchShape(radius=high, range_filter=low)))
    assert window.scores and all(low <= s < high for s in window.scores)
    expected = [r[two.pk] for r, s in zip(everything.rows, everything.scores) if low <= s < high]
    assert [r[two.pk] for r in window.rows] == expected


@MODE
async def test_search_by_several_keys_merges_in_the_metrics_direction(zoo: Any, lite_zoo: Any, mode: str) -> None:
    session, made = zoo
    two = made["zoo_two_dense"]
    keys = sorted(truth(lite_zoo[0], two.name, two.pk))[:2]
    for field, closest in (("vec", min), ("vec2", max)):  # L2 and IP
        both = await run(session, mode, session.vector_search(
            two.name, SearchQuery("key", keys, anns_field=field, k=50)))
        alone = [await run(session, mode, session.vector_search(two.name, SearchQuery("key", [k], anns_field=field,
                                                                                       k=50))) for k in keys]
        per_key = [{r[two.pk]: s for r, s in zip(a.rows, a.scores) if r[two.pk] not in keys} for a in alone]
        expected = {k: closest(d[k] for d in per_key if k in d) for d in per_key for k in d}
        got = {r[two.pk]: s for r, s in zip(both.rows, both.scores)}
        assert got == pytest.approx(expected)  # each entity once, at its closest to either key
        assert both.scores == sorted(both.scores, reverse=closest is max)  # best first


@MODE
async def test_group_by_gives_one_hit_per_value(zoo: Any, mode: str) -> None:
    session, made = zoo
    tenants = made["zoo_partition_key"]
    hits = await run(session, mode, session.vector_search(
        tenants.name, SearchQuery("vector", [0.1] * 8, k=10), shape=SearchShape(group_by="tenant", group_size=1),
        output_fields=["tenant"]))
    values = [r["tenant"] for r in hits.rows]
    assert sorted(values) == sorted({"acme", "globex", "[initech]", "o'hare"})


@MODE
async def test_hybrid_search_fuses_and_shows_each_parts_rank(zoo: Any, lite_zoo: Any, mode: str) -> None:
    session, made = zoo
    two = made["zoo_two_dense"]
    key = sorted(truth(lite_zoo[0], two.name, two.pk))[0]
    parts = [SearchQuery("key", [key], anns_field="vec", k=6), SearchQuery("key", [key], anns_field="vec2", k=6)]
    fused = await run(session, mode, session.hybrid_search(two.name, parts, fusion=Fusion("rrf", k=60), k=5))
    alone = {}
    for part in parts:
        hits = await run(session, mode, session.vector_search(two.name, part))
        alone[part.name] = {r[two.pk]: i + 1 for i, r in enumerate(hits.rows)}
    assert fused.rows and fused.metric == "RRF" and key not in [r[two.pk] for r in fused.rows]
    for row, score in zip(fused.rows, fused.scores):
        ranks = [alone[p.name].get(row[two.pk]) for p in parts]
        assert [row[f"rank:{p.name}"] for p in parts] == ranks
        # RRF: the score is the sum of 1 / (k + rank) over the parts that found it.
        assert score == pytest.approx(sum(1 / (60 + r) for r in ranks if r), rel=1e-4)
    weighted = await run(session, mode, session.hybrid_search(two.name, parts, fusion=Fusion("weighted",
                                                                                               weights=(1.0, 0.0)),
                                                              k=3))
    assert weighted.metric == "weighted" and [r["rank:key:vec"] for r in weighted.rows] == [1, 2, 3]


def cli(*args: str) -> Any:
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env, timeout=120)
    return done


def test_cli_search_flags(lite_zoo: Any) -> None:
    uri, made = lite_zoo
    bm25, two, tenants = made["zoo_bm25"], made["zoo_two_dense"], made["zoo_partition_key"]
    done = cli("--uri", uri, "search", bm25.name, "milvus", "--anns-field", "sparse", "-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["metric"] == "BM25" and all("milvus" in r["text"] for r in out["rows"])
    done = cli("--uri", uri, "search", two.name, "--by-key", "1", "--hybrid", "vec", "--hybrid", "vec2", "-k", "4",
               "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert rows and all("rank:vec" in r and "rank:vec2" in r for r in rows)
    done = cli("--uri", uri, "search", tenants.name, "--vector", json.dumps([0.1] * 8), "--group-by", "tenant",
               "--group-size", "1", "-o", "tenant", "--json")
    assert done.returncode == 0, done.stderr
    assert len({r["tenant"] for r in json.loads(done.stdout)["rows"]}) == 4
    done = cli("--uri", uri, "search", two.name, "--vector", "[1, 2]", "--anns-field", "vec")
    assert done.returncode == 2 and "2 dimensions but field 'vec'" in done.stderr and "Traceback" not in done.stderr
    done = cli("--uri", uri, "search", two.name, "some text", "--by-key", "1")
    assert done.returncode == 2 and "exactly one query" in done.stderr


@pytest.fixture
def bm25_only(milvus_uri: str) -> Iterator[str]:
    """A collection whose only vector field is a BM25 function's output (text search only)."""
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("fulltext")
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index)
    texts = ["the moon orbits the earth", "bake bread with yeast", "[INST] stocks and bonds [/INST]",
             "a goal in football", "yeast makes bread rise"]
    client.insert(name, [{"id": i, "text": t} for i, t in enumerate(texts)])
    client.flush(name)
    client.load_collection(name)
    yield name
    client.drop_collection(name)
    client.close()


async def test_app_full_text_search_on_a_bm25_collection(milvus_uri: str, bm25_only: str, home: Any) -> None:
    app = make_app(milvus_uri, bm25_only)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "search", "bread yeast")
        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="the full-text hits")
        assert sorted(r["id"] for r in found.rows) == [1, 4] and found.metric == "BM25"
        assert result(app).scores and len(result(app).scores) == 2


def test_demo_has_full_text_and_hybrid_search(tmp_path: Any) -> None:
    """After `demo`, dense, BM25 and hybrid search all work offline, one command each."""
    from tests.test_journeys import Shell

    shell = Shell(tmp_path)
    shell.ok("demo", "--no-open", "--limit", "400")
    bm25 = shell.json("search", "python_docs", "argparse parser", "--anns-field", "text_sparse", "-k", "3")
    assert bm25["metric"] == "BM25" and any("argparse" in r["name"] for r in bm25["rows"])
    hybrid = shell.json("search", "python_docs", "parse command line arguments", "--hybrid", "vector", "--hybrid",
                        "text_sparse", "-k", "5")
    assert hybrid["metric"] == "RRF" and len(hybrid["rows"]) == 5
    assert all("rank:vector" in r and "rank:text_sparse" in r for r in hybrid["rows"])
    assert any(r["rank:vector"] and r["rank:text_sparse"] for r in hybrid["rows"])
    dense = shell.json("search", "python_docs", "parse command line arguments", "-k", "2")
    assert dense["metric"] == "COSINE" and len(dense["rows"]) == 2


def test_ingest_full_text_makes_a_bm25_collection(tmp_path: Any) -> None:
    from tests.test_journeys import Shell

    shell = Shell(tmp_path)
    (tmp_path / "notes.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in
                                                  ["bake bread with yeast", "the moon orbits the earth",
                                                   "<s>[INST] sourdough [/INST]"]))
    shell.ok("ingest", "notes.jsonl", "-c", "notes", "--full-text")
    found = shell.json("search", "notes", "yeast bread", "--anns-field", "text_sparse")
    assert [r["text"] for r in found["rows"]] == ["bake bread with yeast"]


@pytest.fixture
def full_text_notes(milvus_uri: str, embeddings: Any) -> Iterator[str]:
    """Made by our ingest with --full-text: a dense field and a BM25 function on the text."""
    from tui.milvus.ingest import Document

    name = unique_name("notes_ft")
    texts = ["the moon orbits the earth", "bake bread with yeast", "stocks and bonds", "a goal in football",
             "yeast makes bread rise", "[bold]markup[/] and \x1b]0;title\x07"]
    with MilvusConnection(milvus_uri) as conn:
        session = Session(conn, embeddings)
        session.run(session.ingest(name, [Document(t) for t in texts], full_text=True))
        conn.client.flush(name)
    yield name
    client = MilvusClient(uri=milvus_uri)
    client.drop_collection(name)
    client.close()


async def test_app_search_field_choice_and_hybrid(milvus_uri: str, full_text_notes: str, home: Any) -> None:
    from textual.widgets import Select

    from tui.widgets.query_bar import HYBRID

    app = make_app(milvus_uri, full_text_notes)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("o")
        anns = app.main.query_one("#query-anns", Select)
        labels = [str(label) for label, _ in anns._options]
        assert any("text_sparse (BM25 full text)" in label for label in labels)
        assert any(label.startswith("hybrid (RRF) of vector, text_sparse") for label in labels)
        anns.value = "text_sparse"
        await submit(pilot, app, "search", "yeast")
        bm25 = await wait_result(pilot, app, lambda r: r.kind == "search" and r.metric == "BM25", what="BM25 hits")
        assert sorted(r["text"] for r in bm25.rows) == ["bake bread with yeast", "yeast makes bread rise"]
        anns.value = HYBRID
        await submit(pilot, app, "search", "bread yeast")
        fused = await wait_result(pilot, app, lambda r: r.metric == "RRF", what="hybrid hits")
        assert "rank:vector" in fused.columns and "rank:text_sparse" in fused.columns
        assert {r["text"] for r in fused.rows[:2]} == {"bake bread with yeast", "yeast makes bread rise"}


async def test_app_search_by_pasted_keys(milvus_uri: str, full_text_notes: str, home: Any) -> None:
    from textual.widgets import Select

    app = make_app(milvus_uri, full_text_notes)
    async with app.run_test(size=SIZE) as pilot:
        page = await wait_first_page(pilot, app)
        keys = [r["id"] for r in page.rows[:2]]
        await pilot.press("o")
        app.main.query_one("#query-anns", Select).value = "vector"
        await submit(pilot, app, "key", ", ".join(str(k) for k in keys))
        found = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="the hits")
        assert found.rows and not {r["id"] for r in found.rows} & set(keys)
        await submit(pilot, app, "key", "[1.5]")
        assert "whole numbers or strings" in query_error(app)


async def test_app_range_window_and_group_by(lite_zoo: Any, home: Any) -> None:
    from textual.widgets import Input, Select

    uri, made = lite_zoo
    tenants = made["zoo_partition_key"]
    app = make_app(uri, tenants.name)
    async with app.run_test(size=SIZE) as pilot:
        page = await wait_first_page(pilot, app)
        key = page.rows[0][tenants.pk]
        await pilot.press("o")
        await submit(pilot, app, "key", str(key))
        plain = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="the hits")
        d = plain.scores  # L2: ascending
        app.main.query_one("#query-group-by", Select).value = "tenant"
        await submit(pilot, app, "key", str(key))
        grouped = await wait_result(pilot, app, lambda r: r is not plain and r.kind == "more_like_this",
                                    what="grouped hits")
        seen = [r["tenant"] for r in grouped.rows]
        assert seen and len(seen) == len(set(seen)) and set(seen) <= {"acme", "globex", "[initech]", "o'hare"}
        app.main.query_one("#query-group-by", Select).value = ""
        low, high = (d[0] + d[1]) / 2, (d[-3] + d[-2]) / 2
        app.main.query_one("#query-radius", Input).value = repr(high)
        app.main.query_one("#query-range-filter", Input).value = repr(low)
        await submit(pilot, app, "key", str(key))
        window = await wait_result(pilot, app, lambda r: r not in (plain, grouped) and r.kind == "more_like_this",
                                   what="the range hits")
        assert window.scores and all(low <= s < high for s in window.scores)
        assert [r[tenants.pk] for r in window.rows] == [r[tenants.pk] for r, s in zip(plain.rows, d) if low <= s < high]


def test_cli_hybrid_parts_take_their_own_k_and_filter(lite_zoo: Any) -> None:
    uri, made = lite_zoo
    two = made["zoo_two_dense"]
    rows = truth(uri, two.name, two.pk)
    key = sorted(rows)[0]
    done = cli("--uri", uri, "search", two.name, "--by-key", str(key), "--hybrid", "vec;k=3",
               "--hybrid", f"vec2;k=8;filter={two.pk} > {key + 4}", "-k", "12", "--json")
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["rows"]
    assert sum(1 for r in hits if r["rank:vec"]) == 3
    assert all(r[two.pk] > key + 4 for r in hits if r["rank:vec2"]) and sum(1 for r in hits if r["rank:vec2"]) <= 8
    done = cli("--uri", uri, "search", two.name, "--by-key", str(key), "--hybrid", "vec;k=x", "--hybrid", "vec2")
    assert done.returncode == 2 and "k must be a whole number" in done.stderr


@pytest.fixture(scope="module")
def twenty_thousand(milvus_uri: str) -> Iterator[tuple[str, Any, Any]]:
    """20,000 entities, more than one search's window of 16,384: a COSINE and an L2 field."""
    import numpy as np

    rng = np.random.default_rng(7)
    cos, l2 = rng.normal(size=(20_000, 4)).astype(np.float32), rng.normal(size=(20_000, 3)).astype(np.float32)
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("beyond")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("cos", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("l2", DataType.FLOAT_VECTOR, dim=3)
    index = MilvusClient.prepare_index_params()
    index.add_index("cos", index_type="FLAT", metric_type="COSINE")
    index.add_index("l2", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    for start in range(0, 20_000, 5000):
        client.insert(name, [{"pk": i, "cos": cos[i].tolist(), "l2": l2[i].tolist()} for i in range(start, start + 5000)])
    client.load_collection(name)
    yield name, cos, l2
    client.drop_collection(name)
    client.close()


@MODE
async def test_k_above_the_window_pages_through_score_windows(milvus_uri: str, twenty_thousand: Any,
                                                             mode: str) -> None:
    import numpy as np

    name, cos, l2 = twenty_thousand
    conn = MilvusConnection(milvus_uri)
    conn.open()
    try:
        session = Session(conn)
        query = cos[0].tolist()
        hits = await run(session, mode, session.vector_search(name, SearchQuery("vector", query, anns_field="cos",
                                                                                k=19_000)))
        sims = (cos @ cos[0]) / (np.linalg.norm(cos, axis=1) * np.linalg.norm(cos[0]))
        expected = np.argsort(-sims, kind="stable")[:19_000]
        keys = [r["pk"] for r in hits.rows]
        assert len(keys) == len(set(keys)) == 19_000  # no entity twice, none lost at a window's edge
        assert set(keys) == set(expected.tolist())
        assert hits.scores == sorted(hits.scores, reverse=True)
        assert np.allclose(hits.scores, sims[keys], atol=1e-5)
        # L2, the window the other way round, by key: every other entity, nearest first.
        near = await run(session, mode, session.vector_search(name, SearchQuery("key", [5], anns_field="l2",
                                                                                k=20_000)))
        keys = [r["pk"] for r in near.rows]
        assert len(keys) == 19_999 and set(keys) == set(range(20_000)) - {5}
        assert near.scores == sorted(near.scores)
        dist = ((l2 - l2[5]) ** 2).sum(axis=1)  # Milvus's L2 is the squared distance
        assert np.allclose(near.scores, dist[keys], rtol=1e-4, atol=1e-5)
    finally:
        conn.close()


async def test_a_range_window_with_a_small_k_finds_the_windows_best(milvus_uri: str, twenty_thousand: Any) -> None:
    """Milvus Lite takes each segment's top k before the window: asked plainly for k=100 in a
    window below the top 16,384, it found none."""
    import numpy as np

    name, cos, _ = twenty_thousand
    conn = MilvusConnection(milvus_uri)
    conn.open()
    try:
        session = Session(conn)
        hits = session.run(session.vector_search(name, SearchQuery("vector", cos[0].tolist(), anns_field="cos", k=100),
                                                 shape=SearchShape(radius=0.0, range_filter=0.5)))
        sims = (cos @ cos[0]) / (np.linalg.norm(cos, axis=1) * np.linalg.norm(cos[0]))
        inside = np.flatnonzero((sims > 0.0) & (sims <= 0.5))
        best = inside[np.argsort(-sims[inside], kind="stable")][:100]
        assert [r["pk"] for r in hits.rows] == best.tolist()
    finally:
        conn.close()


def test_cli_search_k_above_the_window(milvus_uri: str, twenty_thousand: Any) -> None:
    name, _, _ = twenty_thousand
    done = cli("--uri", milvus_uri, "search", name, "--by-key", "3", "--anns-field", "cos", "-k", "17000",
               "-o", "pk", "--json")
    assert done.returncode == 0, done.stderr
    keys = [r["pk"] for r in json.loads(done.stdout)["rows"]]
    assert len(keys) == len(set(keys)) == 17_000 and 3 not in keys


async def test_app_hybrid_plan_with_its_own_parts_k_filter_and_weights(milvus_uri: str, full_text_notes: str,
                                                                        home: Any) -> None:
    """H: the dense part starts from the row under the cursor (k=4), the BM25 part from the text
    (k=2, its own filter); fused with weights. The app's hits are the Session's for the same plan."""
    from textual.widgets import Button, Checkbox, Input, Label, Select

    from tests.apphelpers import focus_table, wait_until
    from tui.screens.hybrid import HybridScreen

    app = make_app(milvus_uri, full_text_notes)
    async with app.run_test(size=SIZE) as pilot:
        page = await wait_first_page(pilot, app)
        await focus_table(pilot, app)
        key = page.rows[0]["id"]
        await pilot.press("H")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, HybridScreen) and app.screen,
                                  what="the hybrid setup")
        dense, bm25 = screen.query_one("#part-0"), screen.query_one("#part-1")

        async def go() -> None:
            screen.query_one("#hybrid-go", Button).press()
            await pilot.pause()

        dense.query_one(".part-source", Select).value = "key"
        dense.query_one(".part-k", Input).value = "4"
        bm25.query_one(".part-k", Input).value = "2"
        bm25.query_one(".part-expr", Input).value = 'text like "%bread%"'
        screen.query_one("#hybrid-fusion", Select).value = "weighted"
        dense.query_one(".part-weight", Input).value = "0.3"
        bm25.query_one(".part-weight", Input).value = "x"
        await go()
        assert "weight" in str(screen.query_one("#hybrid-error", Label).render())  # refused, dialog stays
        bm25.query_one(".part-weight", Input).value = "0.7"
        bm25.query_one(".part-on", Checkbox).value = False
        await pilot.pause()
        await go()
        await pilot.pause()
        assert "two or more" in str(screen.query_one("#hybrid-error", Label).render())
        bm25.query_one(".part-on", Checkbox).value = True
        await pilot.pause()
        await go()
        await wait_until(pilot, lambda: app.screen is app.main, what="the plan to be taken")
        assert app.main.query_one("#query-anns", Select).value == "*hybrid*"
        await submit(pilot, app, "search", "yeast")
        fused = await wait_result(pilot, app, lambda r: r.metric == "weighted", what="the weighted hybrid hits")
    conn = MilvusConnection(milvus_uri)
    conn.open()
    try:
        session = Session(conn)
        expected = session.run(session.hybrid_search(full_text_notes, [
            SearchQuery("key", [key], anns_field="vector", k=4, label="vector"),
            SearchQuery("text", "yeast", anns_field="text_sparse", k=2, expr='text like "%bread%"', label="text_sparse"),
        ], fusion=Fusion("weighted", weights=(0.3, 0.7)), k=10))
    finally:
        conn.close()
    assert [r["id"] for r in fused.rows] == [r["id"] for r in expected.rows] and key not in [r["id"] for r in fused.rows]
    assert fused.scores == pytest.approx(expected.scores)
    ranks = [r["rank:text_sparse"] for r in fused.rows]
    assert {r for r in ranks if r is not None} <= {1, 2} and any(r is not None for r in ranks)
