"""The vector map of findings: duplicate groups and quality findings drawn on the map, on a real
Milvus Lite child (the planted collection of tests/test_duplicates.py: VARCHAR keys holding quotes
and brackets, near-duplicate groups, a zero and a NaN vector, hostile texts). The Session's
"these keys with these labels" map, then both screens driven by Pilot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient

from textual.widgets import DataTable, Input

from tui.milvus import quality
from tui.milvus.projection import project
from tui.milvus.projection import rasterize
from tui.milvus.vectormap import cap_labelled, whole_groups
from tui.screens.duplicates import DuplicatesScreen
from tui.screens.entity import EntityScreen
from tui.screens.main import MainScreen
from tui.screens.quality import QualityScreen, finding_label
from tui.screens.vector_map import BACKGROUND, PALETTE, MapScreen
from tui.session import Session
from tui.widgets.vector_map import KEEP_MARK, VectorMapCanvas

from .apphelpers import SIZE, make_app, wait_first_page, wait_result, wait_until
from .conftest import unique_name
from .test_duplicates import KEYS, NAN_AT, NEAR_GROUPS, ZERO_AT, _create, _rows


#: one more entity, carrying a dynamic key no other has: a quality finding ("missing key") named
#: by hostile text, which the map's legend and point line must show escaped.
HOSTILE_PK = 'pk "[x]" \\'
HOSTILE_KEY = "\x1b]0;pwned\x07[/INST][red]k\x9b31m"


def _all_rows() -> list[dict[str, Any]]:
    return [*_rows(), {"pk": HOSTILE_PK, "text": "\x1b[2J[INST] hi", "vec": [1.0] + [0.0] * 7, "meta": {"n": 1},
                       "tags": [1], "stamp": 99, HOSTILE_KEY: 1}]


ALL_KEYS = [r["pk"] for r in _all_rows()]


@pytest.fixture(scope="module")
def planted(milvus_uri: str) -> Iterator[str]:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("mapfind")
    _create(client, name)
    client.insert(name, _all_rows())
    client.flush(name)
    yield name
    client.drop_collection(name)
    client.close()


def _vectors() -> dict[Any, list[float]]:
    return {r["pk"]: r["vec"] for r in _rows()}


def test_cap_keeps_every_label_and_samples_the_big_ones() -> None:
    keys = list(range(100))
    labels = ["big"] * 90 + ["small"] * 7 + ["tiny"] * 3
    k, lab = cap_labelled(keys, labels, 30)
    assert len(k) <= 30 and lab.count("small") == 7 and lab.count("tiny") == 3 and lab.count("big") == 20
    assert k == sorted(k) and all(labels[key] == label for key, label in zip(k, lab))
    assert cap_labelled(keys, labels, 100) == (keys, labels)


def test_whole_groups_fit_the_budget_with_the_users_group_always_in() -> None:
    assert whole_groups([3, 2, 4, 2], 7) == [0, 1, 3]  # the 4 does not fit after 3 + 2; the last 2 does
    assert whole_groups([3, 2, 4, 2], 7, first=2) == [0, 2]  # the user's group first: 4, then 3
    assert whole_groups([9000, 2], 2000) == [0]  # one group bigger than the budget still shows


def test_a_background_group_yields_each_cell_to_a_labelled_point() -> None:
    xy = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [10.0, 10.0], [10.0, 10.0]])
    # Cell of the origin: two grey (group 2) points and one of group 1; the far cell: grey only.
    r = rasterize(xy, [2, 2, 1, 2, 2], 4, 2, background=2)
    near, far = tuple(r.cells[0]), tuple(r.cells[3])
    assert r.group[near] == 1 and r.group[far] == 2
    assert rasterize(xy, [2, 2, 1, 2, 2], 4, 2).group[near] == 2  # without it: the majority


def test_map_of_labelled_keys_reads_those_entities_and_leaves_out_the_unplaceable(service: Session,
                                                                                   planted: str) -> None:
    groups = [[KEYS[i] for i in g] for g in NEAR_GROUPS]
    keys = [k for g in groups for k in g] + [KEYS[ZERO_AT], KEYS[NAN_AT], "no such key \"]"]
    labels = [f"group {gi + 1}" for gi, g in enumerate(groups) for _ in g] + ["zero", "nan", "gone"]
    kept = {g[0] for g in groups}
    m = service.run(service.vector_map(planted, keys=keys, labels=labels, marked=kept, label_name="duplicate group",
                                       title_field="text", method="pca"))
    drawable = [k for g in groups for k in g]
    assert m.keys == drawable and m.background == 0
    assert m.colours == labels[:len(drawable)] and m.colour_field == "duplicate group"
    assert m.marks == [k in kept for k in drawable]
    truth = _vectors()
    assert m.titles == [next(r["text"] for r in _rows() if r["pk"] == k) for k in drawable]
    direct = project(np.array([truth[k] for k in drawable]), normalize=True)
    assert np.allclose(np.abs(m.projection.xy), np.abs(direct.xy), atol=1e-4)
    # COSINE: the zero vector has no direction, NaN cannot be projected, the made-up key is gone.
    assert set(m.left_out) == {(KEYS[ZERO_AT], "zero"), (KEYS[NAN_AT], "NaN or infinity"),
                               ("no such key \"]", "gone")}
    assert any(w.startswith("1 entity with a vec vector holding NaN or infinity is not drawn") for w in m.warnings)
    assert any("zero vec vector" in w for w in m.warnings) and any("deleted since" in w for w in m.warnings)


def test_a_finding_over_a_background_sample(service: Session, planted: str) -> None:
    report = service.run(service.scan_quality(planted))
    nan = next(f for f in report.findings if f.check == quality.NON_FINITE)
    empty = next(f for f in report.findings if f.check == quality.EMPTY_TEXT)
    keys = [*nan.keys, *empty.keys]
    m = service.run(service.vector_map(planted, keys=keys, labels=["nan"] * nan.count + ["empty"] * empty.count,
                                       background=30, method="pca"))
    assert m.keys[:m.labelled] == list(empty.keys) and m.colours[:m.labelled] == ["empty"] * empty.count
    behind = m.keys[m.labelled:]
    assert m.background == len(behind) > 0 and m.colours[m.labelled:] == [None] * len(behind)
    # The background: other entities, none with an unplaceable vector, none of the labelled ones.
    assert not set(behind) & set(keys) and KEYS[ZERO_AT] not in behind and KEYS[NAN_AT] not in behind
    assert set(behind) <= set(ALL_KEYS)
    assert m.left_out == ((KEYS[NAN_AT], "NaN or infinity"),)
    # Only NaN: nothing to draw but the background, and the message says why.
    m2 = service.run(service.vector_map(planted, keys=list(nan.keys), labels=["nan"], background=10, method="pca"))
    assert m2.labelled == 0 and m2.background == 10 and "NaN" in " ".join(m2.warnings)
    with pytest.raises(Exception, match="NaN or infinity is not drawn"):
        service.run(service.vector_map(planted, keys=list(nan.keys), labels=["nan"], method="pca"))


def test_the_ordinary_sample_of_a_collection_with_a_nan_vector_still_maps(service: Session, planted: str) -> None:
    m = service.run(service.vector_map(planted, method="pca"))
    assert np.isfinite(m.projection.xy).all() and KEYS[NAN_AT] not in m.keys and KEYS[ZERO_AT] not in m.keys
    assert m.size == len(ALL_KEYS) - 2


# -- the screens, by Pilot ---------------------------------------------------------------------


def _drawn(canvas: VectorMapCanvas) -> list[tuple[str, str]]:
    """(text, colour) of every drawn segment."""
    out = []
    for y in range(canvas.content_size.height):
        for seg in canvas.render_line(y):
            if seg.text.strip() and seg.style is not None and seg.style.color is not None:
                out.append((seg.text, seg.style.color.name.lower()))
    return out


def _safe(text: str) -> bool:
    return not any(c in text for c in ("\x1b", "\x07", "\x00", "\x85", "\x9b"))


async def _open_entity(pilot: Any, app: Any, screen: MapScreen) -> EntityScreen:
    await pilot.press("enter")
    return await wait_until(pilot, lambda: isinstance(app.screen, EntityScreen) and app.screen,
                            what="the entity view")


@pytest.mark.usefixtures("home")
async def test_duplicate_groups_on_the_map_and_back(milvus_uri: str, planted: str) -> None:
    app = make_app(milvus_uri, planted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("K")
        finder = await wait_until(pilot, lambda: isinstance(app.screen, DuplicatesScreen) and app.screen,
                                  what="the duplicate finder")
        finder.query_one(DataTable).focus()
        await pilot.press("v")  # nothing found yet: said, no map
        assert "find duplicates first" in str(finder.query_one("#dup-status").render())
        finder.query_one("#dup-how", Input).focus()
        finder.query_one("#dup-how", Input).value = "0.999"
        await pilot.press("enter")
        await wait_until(pilot, lambda: finder.report is not None, what="the groups")
        report = finder.report
        assert sorted(g.keys for g in report.groups) == sorted(
            tuple(sorted((KEYS[i] for i in g), key=str)) for g in NEAR_GROUPS)
        table = finder.query_one(DataTable)
        table.focus()
        table.move_cursor(row=len(report.groups[0].keys) + 1)  # the second member of the second group
        await pilot.pause()
        start = report.groups[1].keys[1]
        kept_before = {i: set(k) for i, k in finder.kept.items()}
        await pilot.press("v")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="the map of the groups")
        m = screen.map
        # Every member of every group, in group order, coloured by its group; the kept ones marked.
        assert m.keys == [k for g in report.groups for k in g.keys] and m.background == 0
        labels = [f"group {gi + 1} ({g.size})" for gi, g in enumerate(report.groups) for _ in g.keys]
        assert m.colours == labels and m.colour_field == "duplicate group"
        assert m.marks == [k in finder.kept[gi] for gi, g in enumerate(report.groups) for k in g.keys]
        assert m.field == "vec" and not m.left_out
        assert screen.legend == [(f"group {gi + 1} ({g.size})", PALETTE[gi], len(g.keys))
                                 for gi, g in enumerate(report.groups)]
        # Drawn in the groups' colours; a near-duplicate group shares a cell, which shows the ◆ kept mark.
        drawn = _drawn(screen.canvas)
        assert {c for _, c in drawn} == {PALETTE[gi] for gi in range(len(report.groups))}
        assert sum(text.count(KEEP_MARK) for text, _ in drawn) == len(report.groups)
        legend = str(screen.query_one("#map-legend").render())
        assert "kept (first)" in legend and "would be deleted" in legend
        footer = {b.key for _, b, _, _ in screen.active_bindings.values()}
        assert "s" not in footer and "c" in footer  # no sample to switch to here
        # The cursor starts on the member selected in the finder; its line names it safely.
        assert m.keys[screen.canvas.cursor] == start
        point = str(screen.query_one("#map-point").render())
        assert repr(start) in point and "would be deleted" in point and _safe(point)
        # n to the next member (an awkward key among them), enter opens exactly that entity.
        await pilot.press("n")
        chosen = m.keys[screen.canvas.cursor]
        assert screen.canvas.cursor == m.keys.index(start) + 1
        entity = await _open_entity(pilot, app, screen)
        assert entity.row["pk"] == chosen
        assert entity.row["text"] == next(r["text"] for r in _rows() if r["pk"] == chosen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the map")
        # c: colour by a field instead (read for the same points), then by group again.
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the colour choice")
        assert app.screen.query_one("OptionList").get_option_at_index(0).prompt == "duplicate group"
        app.screen.dismiss("stamp")
        await wait_until(pilot, lambda: screen.map.colour_field == "stamp" and not app.main.running,
                         what="the stamps")
        stamps = {r["pk"]: r["stamp"] for r in _rows()}
        assert screen.map.colours == [stamps[k] for k in m.keys] and screen.map.projection is m.projection
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the colour choice")
        app.screen.dismiss("duplicate group")
        await wait_until(pilot, lambda: screen.map.colour_field == "duplicate group", what="the groups again")
        assert screen.map.colours == labels and screen.legend[0][1] == PALETTE[0]
        entity = await _open_entity(pilot, app, screen)
        assert entity.row["pk"] == chosen
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the map")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is finder, what="back on the finder")
        # As it was: the same groups, the same kept members, the same row.
        assert finder.report is report and finder.kept == kept_before
        assert table.row_count == sum(len(g.keys) for g in report.groups) and table.cursor_row == len(
            report.groups[0].keys) + 1
        # m on an entity opened from the finder's map: the explorer finds entities like it.
        await pilot.press("v")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="the map again")
        chosen = screen.map.keys[screen.canvas.cursor]
        await _open_entity(pilot, app, screen)
        await pilot.press("m")
        like = await wait_result(pilot, app, lambda r: r.kind == "more_like_this", what="entities like it")
        assert isinstance(app.screen, MainScreen) and like.query_keys == (chosen,) and like.rows
        assert chosen not in [r["pk"] for r in like.rows]
        await wait_until(pilot, lambda: not app.main.running, what="the explorer idle")


@pytest.mark.usefixtures("home")
async def test_quality_findings_on_the_map_over_the_collection(milvus_uri: str, planted: str) -> None:
    app = make_app(milvus_uri, planted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("Q")
        scan = await wait_until(pilot, lambda: isinstance(app.screen, QualityScreen) and app.screen,
                                what="the quality screen")
        await wait_until(pilot, lambda: scan.report is not None, what="the scan")
        findings = scan.report.findings
        table = scan.query_one(DataTable)
        # The NaN finding: nothing of it can be drawn. Said so, by key, over the grey collection.
        table.move_cursor(row=next(i for i, f in enumerate(findings) if f.check == quality.NON_FINITE))
        await pilot.press("v")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="the NaN finding's map")
        m = screen.map
        assert m.labelled == 0 and m.left_out == ((KEYS[NAN_AT], "NaN or infinity"),)
        # The rest of the collection behind it: every entity but the NaN and the zero-vector ones.
        assert sorted(m.keys, key=str) == sorted((k for k in ALL_KEYS if k not in (KEYS[NAN_AT], KEYS[ZERO_AT])),
                                                 key=str)
        status = str(screen.query_one("#map-status").render())
        assert "1 entity with a vec vector holding NaN or infinity is not drawn" in status
        legend = str(screen.query_one("#map-legend").render())
        assert "NaN/inf vector · vec 0 of 1 drawn" in legend
        assert {c for _, c in _drawn(screen.canvas)} == {BACKGROUND}
        await pilot.press("enter")  # no finding's point to open: nothing happens
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is scan, what="back on the scan")
        # Every finding: a colour each, an entity in several findings coloured by the first.
        await pilot.press("V")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MapScreen) and app.screen.map is not None
                                  and app.screen, what="every finding's map")
        m = screen.map
        first: dict[Any, str] = {}
        for f in findings:
            for k in f.keys:
                first.setdefault(k, finding_label(f))
        unplaceable = {KEYS[NAN_AT]: "NaN or infinity", KEYS[ZERO_AT]: "zero"}
        assert dict(zip(m.keys[:m.labelled], m.colours[:m.labelled])) == {
            k: label for k, label in first.items() if k not in unplaceable}
        assert m.labelled == len(first) - 2 and dict(m.left_out) == unplaceable
        assert m.keys[m.labelled:] == [] or not set(m.keys[m.labelled:]) & set(first)
        status = str(screen.query_one("#map-status").render())
        assert "NaN or infinity is not drawn" in status and "zero vec vector" in status
        legend_colours = {label: colour for label, colour, _ in screen.legend}
        assert set(legend_colours) == set(first.values()) - {finding_label(f) for f in findings
                                                               if f.check in (quality.NON_FINITE, quality.ZERO)}
        drawn = {c for _, c in _drawn(screen.canvas)}
        assert drawn <= set(legend_colours.values()) | {BACKGROUND} and drawn - {BACKGROUND}
        # Hostile texts under the cursor and in the legend show safely; enter opens that very entity.
        legend = str(screen.query_one("#map-legend").render())
        assert _safe(legend) and "missing key · \\x1b]0;pwned\\x07[/INST][red]k" in legend
        seen, hostile_labels = set(), 0
        for _ in range(m.labelled):
            point = str(screen.query_one("#map-point").render())
            assert _safe(point)
            seen.add(m.keys[screen.canvas.cursor])
            if m.keys[screen.canvas.cursor] == HOSTILE_PK:
                assert "\\x1b[2J[INST] hi" in point
            hostile_labels += "finding = missing key · \\x1b]0;pwned\\x07[/INST][red]k\\x9b31m" in point
            await pilot.press("n")
        assert seen == set(m.keys[:m.labelled]) and HOSTILE_PK in seen
        assert hostile_labels == m.colours[:m.labelled].count(f"missing key · {HOSTILE_KEY}") > 0
        chosen = m.keys[screen.canvas.cursor]
        assert chosen in first
        entity = await _open_entity(pilot, app, screen)
        assert entity.row["pk"] == chosen
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the map")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is scan and scan.report is not None, what="back on the scan")
        assert scan.report.findings == findings
