"""The vector map: the projection on known data, the Session's map intents on a real Lite server
(every vector type the map takes, and the ones it refuses), and the map screen driven with Pilot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient

from tests.apphelpers import (
    SIZE, focus_table, make_app, submit, wait_embeddings, wait_first_page, wait_result, wait_until,
)
from tests.zoo import ZooCollection
from tui.errors import AmbiguousField, InvalidInput
from tui.milvus import MilvusConnection
from tui.milvus.projection import project, rasterize, step
from tui.milvus.vectormap import decode_vector, pick_map_field, sample_keys
from tui.screens.entity import EntityScreen
from tui.screens.main import MainScreen
from tui.screens.vector_map import PALETTE, MapScreen
from tui.session import Session
from tui.widgets.vector_map import QUERY_MARK, VectorMapCanvas

MODE = pytest.mark.parametrize("mode", ["sync", "async"])


async def run(session: Session, mode: str, operation: Any, ctx: Any = None) -> Any:
    return session.run(operation, ctx) if mode == "sync" else await session.arun(operation, ctx)


# -- the projection on known data -------------------------------------------------------------


def _two_clusters(n: int = 200, dim: int = 256, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    a = rng.standard_normal((n, dim)) * 0.3 + 4 * direction
    b = rng.standard_normal((n, dim)) * 0.3 - 4 * direction
    return a, b, direction


def test_pca_keeps_two_well_separated_clusters_apart_and_places_the_query_by_them() -> None:
    a, b, direction = _two_clusters()
    query = 4 * direction  # the centre of cluster a
    p = project(np.vstack([a, b]), query, method="pca")
    assert p.method == "PCA" and p.xy.shape == (400, 2)
    xa, xb = p.xy[:200, 0], p.xy[200:, 0]
    # The first axis is the clusters' direction: every point of one lies on one side of every
    # point of the other.
    assert xa.max() < xb.min() or xb.max() < xa.min()
    gap = min(abs(xa.min() - xb.max()), abs(xb.min() - xa.max()))
    assert gap > 5 * max(xa.std(), xb.std())
    # The gap carries 16 units of variance against 256 x 0.09 of noise: about 41% of the whole.
    assert p.explained is not None and 0.38 < p.explained < 0.5
    ca, cb = p.xy[:200].mean(axis=0), p.xy[200:].mean(axis=0)
    assert np.linalg.norm(p.query_xy - ca) < 0.1 * np.linalg.norm(p.query_xy - cb)
    # Repeatable: the SVD's arbitrary signs are fixed.
    again = project(np.vstack([a, b]), query, method="pca")
    assert np.array_equal(p.xy, again.xy)


def test_pca_on_cosine_vectors_compares_angles_and_handles_one_point() -> None:
    # Same direction, different lengths: one point after scaling to unit length.
    v = np.array([[1.0, 0, 0], [3.0, 0, 0], [0, 2.0, 0]])
    p = project(v, normalize=True)
    assert np.allclose(p.xy[0], p.xy[1]) and not np.allclose(p.xy[0], p.xy[2])
    one = project(np.array([[1.0, 2.0]]), np.array([1.0, 2.0]))
    assert one.xy.shape == (1, 2) and np.allclose(one.query_xy, 0)
    with pytest.raises(ValueError, match="dimensions"):
        project(v, np.zeros(4))


def test_rasterize_places_points_on_braille_dots_with_the_majority_colour() -> None:
    xy = np.array([[0.0, 0.0], [10.0, 5.0], [10.0, 5.0], [9.9, 5.0]])
    r = rasterize(xy, [2, 0, 1, 1], width=6, height=3)
    # Bottom-left and top-right corners (y up on screen), the same scale on both axes.
    assert tuple(r.cells[0]) == (2, 0)
    assert tuple(r.cells[1]) == (0, 5) == tuple(r.cells[2])
    assert r.group[2, 0] == 2
    assert r.group[0, 5] == 1  # two points of group 1, one of group 0 in that cell
    assert r.bits[2, 0] and r.char(2, 0) != " " and 0x2800 < ord(r.char(2, 0)) <= 0x28FF
    assert r.group[1, 2] == -1 and r.bits[1, 2] == 0
    assert sorted(r.points_in(0, 5).tolist()) == [1, 2, 3]


def test_arrow_steps_go_to_the_nearest_point_in_that_direction() -> None:
    dots = np.array([[10, 10], [20, 10], [11, 2], [30, 11], [0, 30], [12, 40]])
    assert step(dots, 0, "right") == 1
    assert step(dots, 1, "right") == 3
    assert step(dots, 3, "right") == 3  # nothing further right
    assert step(dots, 0, "up") == 2
    assert step(dots, 0, "down") == 5  # within 45 degrees beats the nearer one off to the side
    assert step(dots, 0, "left") == 4  # nothing in the cone: the nearest on that side


def test_a_sample_spreads_over_the_keys() -> None:
    keys = list(range(1000))
    picked = sample_keys(keys, 10)
    assert picked == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert sample_keys(keys[:5], 10) == keys[:5]


def test_byte_vectors_decode_to_numbers_and_sparse_is_refused() -> None:
    assert decode_vector([bytes([0b10100000])], "BINARY_VECTOR") == [1, 0, 1, 0, 0, 0, 0, 0]
    half = np.array([1.5, -2.0], dtype="<f2").tobytes()
    assert decode_vector([half], "FLOAT16_VECTOR") == [1.5, -2.0]
    # bfloat16 is a float32's upper half; int8 as numbers. pymilvus hands each as bytes in a list.
    bf = (np.array([0.5, -3.0], dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
    assert decode_vector([bf], "BFLOAT16_VECTOR") == [0.5, -3.0]
    assert decode_vector([np.array([-5, 7], dtype=np.int8).tobytes()], "INT8_VECTOR") == [-5.0, 7.0]
    assert decode_vector(None, "FLOAT_VECTOR") is None
    with pytest.raises(InvalidInput, match="Sparse vectors cannot be mapped"):
        decode_vector({3: 0.5}, "SPARSE_FLOAT_VECTOR")


# -- the Session's map intents on Lite --------------------------------------------------------


@pytest.fixture
def zoo(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> Iterator[tuple[Session, dict[str, ZooCollection]]]:
    uri, made = lite_zoo
    conn = MilvusConnection(uri)
    conn.open()
    yield Session(conn), made
    conn.close()


def _truth(uri: str, name: str, pk: str, fields: list[str]) -> dict[Any, dict[str, Any]]:
    client = MilvusClient(uri=uri)
    try:
        return {r[pk]: r for r in client.query(name, filter="", output_fields=[pk, *fields], limit=1000,
                                               consistency_level="Strong")}
    finally:
        client.close()


@MODE
async def test_a_filter_sample_maps_each_entity_with_its_own_vector_and_colour(
        service: Session, docs_collection: str, milvus_uri: str, mode: str) -> None:
    expr = 'category == "class" or category == "function"'
    progress: list[Any] = []
    m = await run(service, mode, service.vector_map(docs_collection, expr=expr, limit=100, colour_field="category",
                                                    title_field="name", method="pca"),
                  service.context(on_progress=progress.append))
    # What the map screen shows while it works: the reads, then "projecting N points".
    assert [p.what for p in progress] == ["reading keys", "reading vectors", "projecting 100 points"]
    assert (progress[1].done, progress[1].total) == (100, 100)
    truth = _truth(milvus_uri, docs_collection, "id", ["category", "name", "vector"])
    matching = sorted(k for k, r in truth.items() if r["category"] in ("class", "function"))
    assert len(matching) > 100
    assert m.size == 100 and m.total == len(matching)
    assert m.keys == sample_keys(matching, 100)  # spread over the keys, in key order
    for key, colour, title in zip(m.keys, m.colours, m.titles):
        assert colour == truth[key]["category"] and title == truth[key]["name"]
    # The projection is the PCA of exactly those vectors (COSINE: at unit length).
    direct = project(np.array([truth[k]["vector"] for k in m.keys]), normalize=True)
    assert np.allclose(np.abs(m.projection.xy), np.abs(direct.xy), atol=1e-4)
    assert m.query_label is None and m.projection.query_xy is None
    assert m.source == f"100 of {len(matching)} entities matching {expr}, spread over their primary keys"


async def test_a_search_map_marks_the_query_and_more_like_this_its_source(service: Session,
                                                                         docs_collection: str) -> None:
    hits = service.run(service.search(docs_collection, "read a file line by line", k=30))
    assert hits.anns_field == "vector" and len(hits.query_vector) == 256
    m = service.run(service.vector_map(docs_collection, hits.rows, scores=hits.scores, query_vector=hits.query_vector,
                                       query_field=hits.anns_field, colour_field="category", method="pca"))
    assert m.keys == [r["id"] for r in hits.rows] and m.scores == hits.scores
    assert m.query_label == "query" and m.projection.query_xy is not None
    # The query went through the hits' own projection (the query vector the search embedded).
    direct = project(np.array([r["vector"] for r in hits.rows]), hits.query_vector, normalize=True)
    assert np.allclose(np.abs(m.projection.query_xy), np.abs(direct.query_xy), atol=1e-4)
    assert np.allclose(np.abs(m.projection.xy), np.abs(direct.xy), atol=1e-4)

    source = hits.rows[0]["id"]
    like = service.run(service.more_like_this(docs_collection, source, k=20))
    assert like.query_keys == (source,)
    m2 = service.run(service.vector_map(docs_collection, like.rows, query_keys=like.query_keys, method="pca"))
    assert m2.query_label == f"source entity id = {source}"
    # Rows without their vectors (output fields left them out) are read by key.
    slim = [{"id": r["id"]} for r in hits.rows[:5]]
    m3 = service.run(service.vector_map(docs_collection, slim, colour_field="category", method="pca"))
    assert m3.keys == [r["id"] for r in hits.rows[:5]]
    assert m3.colours == [r["category"] for r in hits.rows[:5]]


async def test_sparse_and_several_fields_are_refused_or_asked(zoo: Any) -> None:
    session, made = zoo
    bm25 = session.run(session.describe(made["zoo_bm25"].name))
    sparse = session.run(session.describe(made["zoo_sparse"].name))
    two = session.run(session.describe(made["zoo_two_dense"].name))
    # The sparse collection's dense field is chosen, also after a search of the sparse one.
    assert pick_map_field(sparse).name == "vec" == pick_map_field(sparse, "sparse").name
    assert pick_map_field(bm25).name == "vec"
    only_sparse = replace(sparse, fields=[f for f in sparse.fields if f.dtype != "FLOAT_VECTOR"])
    with pytest.raises(InvalidInput, match="no dense or binary vector field to map .sparse holds? sparse"):
        pick_map_field(only_sparse)
    with pytest.raises(InvalidInput, match="Field 'sparse' holds sparse vectors, whose dimensions are a vocabulary"):
        pick_map_field(only_sparse, "sparse")
    with pytest.raises(AmbiguousField) as asked:
        pick_map_field(two)
    assert set(asked.value.candidates) == {"vec", "vec2"}
    assert pick_map_field(two, "vec2").name == "vec2"
    m = session.run(session.vector_map(two, vector_field="vec2", method="pca"))
    assert m.field == "vec2" and m.size == made["zoo_two_dense"].entities


# -- the map screen ----------------------------------------------------------------------------


def _canvas_colours(canvas: VectorMapCanvas) -> set[str]:
    seen = set()
    for y in range(canvas.content_size.height):
        for seg in canvas.render_line(y):
            if seg.style is not None and seg.style.color is not None and seg.text.strip():
                seen.add(seg.style.color.name.lower())
    return seen


async def test_map_of_search_hits_colours_by_field_and_opens_the_entity_under_the_cursor(
        milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        await submit(pilot, app, "search", "read a file line by line")
        hits = await wait_result(pilot, app, lambda r: r.kind == "search", what="search hits")
        await focus_table(pilot, app)
        await pilot.press("v")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="the map")
        m = screen.map
        assert m.keys == [r["id"] for r in hits.rows] and m.colour_field == "category"
        assert m.query_label == "query"
        # Drawn in the legend's colours, one per category present; the query marked.
        legend = {label: colour for label, colour, _ in screen.legend}
        assert set(legend) == {r["category"] for r in hits.rows}
        assert _canvas_colours(screen.canvas) <= {c.lower() for c in PALETTE} | {"bright_white"}
        assert {legend[r["category"]].lower() for r in hits.rows} <= _canvas_colours(screen.canvas) | {"bright_white"}
        assert any(QUERY_MARK in seg.text for y in range(screen.canvas.content_size.height)
                   for seg in screen.canvas.render_line(y))
        # Move: n goes to the second hit; an arrow to the nearest point that way.
        await pilot.press("n")
        assert screen.canvas.cursor == 1
        start = screen.canvas.cursor
        dots = screen.canvas.raster.dots
        for key in ("right", "left", "up", "down"):
            await pilot.press(key)
            assert screen.canvas.cursor == step(dots, start, key)
            start = screen.canvas.cursor
        chosen = m.keys[screen.canvas.cursor]
        assert str(chosen) in str(screen.query_one("#map-point").render())
        await pilot.press("enter")
        entity = await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen) and app.screen,
                                  what="the entity view")
        assert entity.row["id"] == chosen
        assert entity.row["text"] == next(r["text"] for r in hits.rows if r["id"] == chosen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the map")
        # m on an entity opened from the map: the explorer finds entities like it.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen), what="the entity view again")
        await pilot.press("m")
        like = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="entities like it")
        assert isinstance(app.screen, MainScreen)
        assert like.query_keys == (chosen,) and chosen not in [r["id"] for r in like.rows] and like.rows
        assert not app.main.running


async def test_map_of_a_filter_sample_recolours_and_shows_hostile_text_safely(
        milvus_uri: str, scratch_collection: str, raw_client: Any) -> None:
    hostile_name = "\x1b]0;pwned\x07[/INST] [bold]x\x1b[2J\u202e"
    hostile_module = "[red]mod\x9b31m"
    expr = 'category == "function" or category == "class"'
    victim = min(r["id"] for r in raw_client.query(scratch_collection, filter=expr, output_fields=["id"], limit=1000))
    row = raw_client.query(scratch_collection, filter=f"id == {victim}", output_fields=["*"])[0]
    raw_client.upsert(scratch_collection, [{**row, "name": hostile_name, "module": hostile_module}])
    raw_client.flush(scratch_collection)
    truth = {r["id"]: r for r in raw_client.query(scratch_collection, filter=expr, output_fields=["id", "module"],
                                                  limit=1000, consistency_level="Strong")}
    assert truth[victim]["module"] == hostile_module
    app = make_app(milvus_uri, scratch_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await submit(pilot, app, "filter", expr)
        page = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == expr, what="the filter")
        await focus_table(pilot, app)
        await pilot.press("v")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="the map")
        m = screen.map
        assert sorted(m.keys) == sorted(truth) and m.source.startswith(f"all {len(truth)} entities")
        assert m.query_label is None
        assert set(m.colours) == {"function", "class"}
        # Colour by module instead: read for the same points, not projected again.
        xy = m.projection.xy
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the field choice")
        app.screen.dismiss("module")
        await wait_until(pilot, lambda: screen.map.colour_field == "module" and not app.main.running,
                         what="the new colours")
        assert screen.map.projection.xy is xy
        assert screen.map.colours == [truth[k]["module"] for k in screen.map.keys]
        # The hostile entity under the cursor, in the legend and in the point line: escaped.
        screen.canvas.cursor = screen.map.keys.index(victim)
        await pilot.pause()
        point = str(screen.query_one("#map-point").render())
        legend = str(screen.query_one("#map-legend").render())
        for text in (point, legend):
            assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text and "\u202e" not in text
        assert "\\x1b]0;pwned\\x07[/INST] [bold]x" in point
        assert "\\x9b31m" in point
        # s: the page on screen alone, instead of the filter's sample.
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.map.source.endswith("rows of page 1"), what="the page's map")
        assert screen.map.keys == [r["id"] for r in page.rows]
        assert screen.map.colours == [truth[r["id"]]["module"] for r in page.rows]
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the explorer")
