"""Duplicates and the quality scan on a real Milvus Lite child: planted near-duplicates, exact
duplicates and bad rows in collections with VARCHAR keys holding quotes and brackets, auto_id keys,
dynamic fields and JSON/ARRAY fields; keys compared exactly. Deleting the others goes through the
normal backed-up delete, and undo brings every entity back as it was. The app flows run by Pilot."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient
from textual.widgets import Button, DataTable, Input

from tui.milvus import duplicates as dups
from tui.milvus import quality
from tui.session import Session

from .apphelpers import SIZE, make_app, wait_first_page, wait_result, wait_until
from .conftest import unique_name
from .test_cli import cli, ok_json
from .zoo import AWKWARD_KEYS, HOSTILE

DIM = 8


def _unit(rng: random.Random) -> list[float]:
    v = [rng.uniform(-1, 1) for _ in range(DIM)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _near(v: list[float], eps: float) -> list[float]:
    w = [x + eps for x in v]
    n = math.sqrt(sum(x * x for x in w))
    return [x / n for x in w]


KEYS = [*AWKWARD_KEYS, *(f"k{i:03d}" for i in range(40))]
#: planted near-duplicate groups (by index into KEYS): the first member is the original.
NEAR_GROUPS = [(0, 3, 9), (12, 20), (2, 47)]
ZERO_AT, NAN_AT, EMPTY_AT, BLANK_AT, LONG_VEC_AT = 30, 31, 32, 33, 34
SAME_TEXT = (5, 40)  # the text of KEYS[5] again at KEYS[40]


def _rows() -> list[dict[str, Any]]:
    rng = random.Random(14)
    rows = []
    for i, key in enumerate(KEYS):
        row: dict[str, Any] = {"pk": key, "text": f"{HOSTILE[i % len(HOSTILE)]} text {i}", "vec": _unit(rng),
                               "meta": {"n": i} if i % 4 else {"n": str(i)}, "tags": [i, i + 1], "stamp": i}
        if i % 2:
            row["extra"] = i  # a dynamic key half the entities carry
        rows.append(row)
    for group in NEAR_GROUPS:
        for j, member in enumerate(group[1:], 1):
            rows[member]["vec"] = _near(rows[group[0]]["vec"], 0.002 * j)
    rows[ZERO_AT]["vec"] = [0.0] * DIM
    rows[NAN_AT]["vec"] = [math.nan] + [0.5] * (DIM - 1)
    rows[EMPTY_AT]["text"] = ""
    rows[BLANK_AT]["text"] = " \t "
    rows[LONG_VEC_AT]["vec"] = [x * 3 for x in rows[LONG_VEC_AT]["vec"]]
    rows[SAME_TEXT[1]]["text"] = rows[SAME_TEXT[0]]["text"]
    return rows


def _create(client: MilvusClient, name: str, *, auto_id: bool = False) -> None:
    schema = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=True)
    if auto_id:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    else:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("text", DataType.VARCHAR, max_length=128)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    schema.add_field("stamp", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


@pytest.fixture(scope="module")
def planted(milvus_uri: str) -> Iterator[str]:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("dupes")
    _create(client, name)
    client.insert(name, _rows())
    client.flush(name)
    yield name
    client.drop_collection(name)
    client.close()


def _snapshot(client: MilvusClient, name: str) -> dict[Any, str]:
    rows = client.query(name, filter="", output_fields=["*"], limit=16384, consistency_level="Strong")
    out = {}
    for r in rows:
        r = dict(r)
        r["vec"] = [round(float(x), 6) if math.isfinite(x) else str(x) for x in r["vec"]]
        out[r["pk"]] = json.dumps(r, sort_keys=True, default=str)
    return out


def _groups(report: dups.DuplicateReport) -> list[tuple[Any, ...]]:
    return sorted(g.keys for g in report.groups)


def _expected_near() -> list[tuple[Any, ...]]:
    return sorted(tuple(sorted((KEYS[i] for i in g), key=str)) for g in NEAR_GROUPS)


def test_near_duplicates_in_the_metrics_terms(service: Session, planted: str) -> None:
    report = service.run(service.find_duplicates(planted, threshold=0.999))
    assert _groups(report) == _expected_near()
    assert report.comparison == "COSINE similarity >= 0.999" and report.metric == "COSINE"
    # Every member's similarity to its group's first is inside the threshold and matches numpy.
    for group in report.groups:
        assert group.distances[0] is None
        assert all(d is not None and 0.999 <= d <= 1.0001 for d in group.distances[1:])
        assert group.matrix and all(abs(group.matrix[i][i] - 1.0) < 1e-5 for i in range(len(group.keys)))
        assert [v["text"] for v in group.values] == [r["text"] for k in group.keys for r in _rows() if r["pk"] == k]
    assert any("NaN" in w for w in report.warnings)  # the NaN entity was left out, and said so
    # A tighter threshold splits the 3-group's farthest member off (0.002 vs 0.004 of drift).
    tight = service.run(service.find_duplicates(planted, threshold=0.99999))
    assert all(len(g.keys) <= len(NEAR_GROUPS[0]) for g in tight.groups)
    # Within a filter: only the members inside it are compared.
    inside = service.run(service.find_duplicates(planted, threshold=0.999, expr="stamp < 15"))
    assert _groups(inside) == sorted([tuple(sorted((KEYS[0], KEYS[3], KEYS[9]), key=str))])


def test_exact_duplicates_of_a_field_and_of_a_vector(service: Session, planted: str) -> None:
    same_text = service.run(service.find_duplicates(planted, exact_field="text"))
    assert _groups(same_text) == [tuple(sorted((KEYS[SAME_TEXT[0]], KEYS[SAME_TEXT[1]]), key=str))]
    same_vec = service.run(service.find_duplicates(planted, exact_field="vec"))
    assert _groups(same_vec) == []  # no two vectors are bit-identical
    # Lite replaces an entity inserted again under its key (measured): no duplicate keys exist.
    keys = service.run(service.find_duplicates(planted, primary_keys=True))
    assert keys.groups == () and keys.scanned == len(KEYS)


def test_keep_policies() -> None:
    group = dups.DuplicateGroup(dups.NEAR, ("a", "b", "c"), (None, 0.99, 0.98), (),
                                ({"t": "xx", "s": 3}, {"t": "xxxx", "s": 9}, {"t": "x", "s": None}))
    assert dups.KeepPolicy.parse("first").keep(group) == {"a"}
    assert dups.KeepPolicy.parse("newest:s").keep(group) == {"b"}
    assert dups.KeepPolicy.parse("longest:t").keep(group) == {"b"}
    assert dups.KeepPolicy("hand").keep(group, {"c"}) == {"c"}
    with pytest.raises(Exception, match="needs a field"):
        dups.KeepPolicy.parse("newest")


def test_quality_scan_links_each_finding_to_its_rows(service: Session, planted: str) -> None:
    report = service.run(service.scan_quality(planted, duplicates=True))
    found = {(f.check, f.field): f for f in report.findings}
    assert found[(quality.ZERO, "vec")].keys == [KEYS[ZERO_AT]]
    assert found[(quality.NON_FINITE, "vec")].keys == [KEYS[NAN_AT]]
    assert sorted(found[(quality.EMPTY_TEXT, "text")].keys) == sorted([KEYS[EMPTY_AT], KEYS[BLANK_AT]])
    not_unit = found[(quality.NOT_UNIT, "vec")]
    assert not_unit.keys == [KEYS[LONG_VEC_AT]] and not not_unit.matters  # COSINE: said not to matter
    # The dynamic key: present in every odd entity, missing (and linked) in every even one.
    assert report.dynamic_keys == {"extra": len(KEYS) // 2}
    assert sorted(found[(quality.MISSING_KEY, "extra")].keys, key=str) == sorted(KEYS[0::2], key=str)
    # A JSON key whose type varies: the minority (strings, every 4th) is linked.
    varies = [f for f in report.findings if f.check == quality.JSON_TYPE and f.field == "meta.n"]
    assert len(varies) == 1 and sorted(varies[0].keys, key=str) == sorted(KEYS[0::4], key=str)
    assert found[(quality.DUP_TEXT, "text")].keys == [max(KEYS[SAME_TEXT[0]], KEYS[SAME_TEXT[1]], key=str)]
    assert report.scanned == len(KEYS) and not report.nulls


@pytest.fixture
def writable(milvus_uri: str) -> Iterator[tuple[str, MilvusClient]]:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("dupesw")
    _create(client, name)
    client.insert(name, _rows())
    client.flush(name)
    yield name, client
    client.drop_collection(name)
    client.close()


def test_cli_duplicates_keeps_one_per_group_and_restore_undoes(writable: tuple[str, MilvusClient], milvus_uri: str,
                                                              tmp_path: Path) -> None:
    name, client = writable
    before = _snapshot(client, name)
    preview = ok_json(cli("duplicates", name, "--threshold", "0.999", "--keep", "newest:stamp", "--json",
                          home=tmp_path, uri=milvus_uri))
    assert sorted(tuple(g["keys"]) for g in preview["groups"]) == _expected_near()
    # newest:stamp keeps the member with the largest stamp: the last index of each planted group.
    doomed = sorted((KEYS[i] for g in NEAR_GROUPS for i in g if i != max(g)), key=str)
    assert sorted(preview["to_delete"], key=str) == doomed and not preview["applied"]
    assert _snapshot(client, name) == before  # a preview changes nothing
    done = ok_json(cli("duplicates", name, "--threshold", "0.999", "--keep", "newest:stamp", "--yes", "--json",
                       home=tmp_path, uri=milvus_uri))
    assert done["applied"] and done["deleted"] == len(doomed)
    after = _snapshot(client, name)
    assert sorted(set(before) - set(after), key=str) == doomed and all(after[k] == before[k] for k in after)
    restored = ok_json(cli("restore", done["backup"], "--json", home=tmp_path, uri=milvus_uri))
    assert restored["restored"] == len(doomed)
    assert _snapshot(client, name) == before  # entity by entity, vectors and JSON included


def test_cli_scan_json(planted: str, milvus_uri: str, tmp_path: Path) -> None:
    out = ok_json(cli("scan", planted, "--json", home=tmp_path, uri=milvus_uri))
    zero = [f for f in out["findings"] if f["check"] == "zero_vector"]
    assert zero and zero[0]["keys"] == [KEYS[ZERO_AT]] and out["scanned"] == len(KEYS)
    bad = cli("duplicates", planted, "--threshold", "2", home=tmp_path, uri=milvus_uri)
    assert bad.returncode == 2 and "between -1 and 1" in bad.stderr


def test_auto_id_near_duplicates_and_delete(service: Session, milvus_uri: str) -> None:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("dupesauto")
    try:
        _create(client, name, auto_id=True)
        rows = _rows()
        for r in rows:
            r.pop("pk")
        ids = list(client.insert(name, rows)["ids"])
        client.flush(name)
        report = service.run(service.find_duplicates(name, threshold=0.999))
        assert _groups(report) == sorted(tuple(sorted(ids[i] for i in g)) for g in NEAR_GROUPS)
        others = dups.others(report, dups.KeepPolicy("first"))
        preview = service.run(service.preview_delete(name, keys=others))
        service.run(service.delete(name, preview))
        left = {r["pk"] for r in client.query(name, filter="", output_fields=["pk"], limit=1000)}
        assert left == set(ids) - set(others)
        service.run(service.undo())
        left = {r["pk"] for r in client.query(name, filter="", output_fields=["pk"], limit=1000)}
        assert left == set(ids)  # Lite keeps auto_id keys on undo (upsert)
    finally:
        client.drop_collection(name)
        client.close()


@pytest.mark.usefixtures("home")
async def test_app_finds_groups_deletes_the_others_and_undo_brings_them_back(
        writable: tuple[str, MilvusClient], milvus_uri: str) -> None:
    from tui.screens.delete import ConfirmDeleteScreen
    from tui.screens.duplicates import DuplicatesScreen
    from tui.screens.quality import QualityScreen

    name, client = writable
    before = _snapshot(client, name)
    app = make_app(milvus_uri, name)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await pilot.press("K")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, DuplicatesScreen) and app.screen,
                                  what="the duplicate finder")
        how = screen.query_one("#dup-how", Input)
        assert how.value == "0.95"  # a COSINE field: a similarity to start from
        how.value = "0.999"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.report is not None, what="the groups")
        assert _groups(screen.report) == _expected_near()
        table = screen.query_one(DataTable)
        assert table.row_count == sum(len(g) for g in NEAR_GROUPS)
        # The keep policy "newest:stamp" needs each member's stamp: the finder runs again with it.
        keep = screen.query_one("#dup-keep", Input)
        keep.focus()
        keep.value = "newest:stamp"
        await pilot.press("enter")
        newest = {tuple(sorted((KEYS[i] for i in g), key=str)): KEYS[max(g)] for g in NEAR_GROUPS}
        await wait_until(pilot, lambda: screen.report is not None and screen.report.groups[0].values
                         and "stamp" in screen.report.groups[0].values[0], what="the groups with their stamps")
        assert {g.keys: next(iter(screen.kept[i])) for i, g in enumerate(screen.report.groups)} == newest
        keep.focus()
        keep.value = "first"
        await pilot.press("enter")
        assert all(screen.kept[i] == {g.keys[0]} for i, g in enumerate(screen.report.groups))
        # By hand: in the first group keep its second member instead of its first.
        first = screen.report.groups[0]
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("space")  # the first member: dropped
        table.move_cursor(row=1)
        await pilot.press("space")  # the second: kept
        assert screen.kept[0] == {first.keys[1]}
        doomed = set(screen.others())
        assert first.keys[0] in doomed and first.keys[1] not in doomed
        await pilot.press("d")
        confirm = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen) and app.screen,
                                   what="the delete confirmation")
        assert confirm.preview.count == len(doomed) and set(confirm.preview.keys) == doomed
        confirm.query_one("#delete-confirm", Button).press()
        await wait_until(pilot, lambda: app.main.session.last_delete is not None and not app.main.running,
                         what="the delete")
        after = _snapshot(client, name)
        assert set(before) - set(after) == doomed
        await pilot.press("u")
        await wait_until(pilot, lambda: app.main.session.last_delete is None and not app.main.running,
                         what="the undo")
        assert _snapshot(client, name) == before
        # The quality scan: its zero-vector finding opens those entities in the results table.
        await pilot.press("Q")
        scan = await wait_until(pilot, lambda: isinstance(app.screen, QualityScreen) and app.screen,
                                what="the quality screen")
        await wait_until(pilot, lambda: scan.report is not None, what="the scan")
        row = next(i for i, f in enumerate(scan.report.findings) if f.check == quality.ZERO)
        scan.query_one(DataTable).move_cursor(row=row)
        await pilot.press("b")
        shown = await wait_result(pilot, app, lambda r: r.kind == "filter", what="the zero-vector entities")
        assert [r["pk"] for r in shown.rows] == [KEYS[ZERO_AT]]


def test_a_delete_whose_backup_comes_back_short_deletes_nothing(service: Session,
                                                                writable: tuple[str, MilvusClient]) -> None:
    """The guard the Go duplicate-key measurements called for: an entity that vanished between
    the preview and the backup makes the backup short, and then nothing is deleted at all."""
    from tui.errors import OperationFailed

    name, client = writable
    preview = service.run(service.preview_delete(name, keys=[KEYS[1], KEYS[2], KEYS[3]]))
    client.delete(name, filter=f'pk == "{KEYS[10]}"')  # unrelated: still deletable below
    client.delete(name, ids=[KEYS[2]])
    before = _snapshot(client, name)
    with pytest.raises(OperationFailed, match="holds 2 of the 3 previewed entities, so nothing was deleted"):
        service.run(service.delete(name, preview))
    assert _snapshot(client, name) == before


def test_lite_replaces_an_entity_inserted_again_under_its_key(service: Session,
                                                              writable: tuple[str, MilvusClient]) -> None:
    """Measured, and why the duplicate-key finder finds nothing on Lite: the second insert replaces."""
    name, client = writable
    again = {**_rows()[1], "text": "inserted again"}
    client.insert(name, [again])
    rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    assert rows[0]["count(*)"] == len(KEYS)
    assert service.run(service.find_duplicates(name, primary_keys=True)).groups == ()
    got = client.get(name, ids=[KEYS[1]], output_fields=["text"])
    assert [r["text"] for r in got] == ["inserted again"]


@pytest.fixture(scope="module")
def three_metrics(milvus_uri: str) -> Iterator[str]:
    """The same 16-d vectors under COSINE, L2 and IP: random ones, planted pairs and triples,
    and a crowd of 12 near-copies (more than the 5 neighbours the test asks for)."""
    rng = random.Random(15)
    dim = 16

    def unit() -> list[float]:
        v = [rng.gauss(0, 1) for _ in range(dim)]
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    def near(v: list[float], eps: float) -> list[float]:  # unit length too: IP then reads as COSINE
        w = [x + rng.uniform(-eps, eps) for x in v]
        n = math.sqrt(sum(x * x for x in w))
        return [x / n for x in w]

    vectors = [unit() for _ in range(260)]
    for a, b in ((0, 100), (1, 101), (2, 102), (102, 103)):
        vectors[b] = near(vectors[a], 0.003)
    for i in range(200, 212):
        vectors[i] = near(vectors[150], 0.002)
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("dupes3")
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("bucket", DataType.INT64)
    for field in ("cos", "l2", "ip"):
        schema.add_field(field, DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    for field, metric in (("cos", "COSINE"), ("l2", "L2"), ("ip", "IP")):
        index.add_index(field, index_type="FLAT", metric_type=metric)
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    client.insert(name, [{"pk": i, "bucket": i % 3, "cos": v, "l2": v, "ip": v} for i, v in enumerate(vectors)])
    client.flush(name)
    yield name
    client.drop_collection(name)
    client.close()


@pytest.mark.parametrize(("field", "threshold"), [("cos", 0.9995), ("l2", 0.0004), ("ip", 0.9995)])
def test_lite_compares_here_and_finds_what_its_range_searches_find(service: Session, three_metrics: str,
                                                                   field: str, threshold: float) -> None:
    """On Lite the vectors are compared in numpy (its search is brute force in Python): the same
    groups, the same pair figures, the same crowd warning as Lite's own range searches."""
    for expr in ("", "bucket != 1"):
        runs = {local: service.run(service.find_duplicates(three_metrics, threshold=threshold, anns_field=field,
                                                           expr=expr, neighbours=5, local=local))
                for local in (True, False)}
        here, there = runs[True], runs[False]
        assert _groups(here) == _groups(there) and here.groups, (field, expr)
        # The planted pairs, the chain 2~102~103 and the crowd; in the filter, their members in it.
        planted = [(0, 100), (1, 101), (2, 102, 103), (150, *range(200, 212))]
        expected = [g for g in (tuple(k for k in group if not expr or k % 3 != 1) for group in planted) if len(g) > 1]
        assert _groups(here) == sorted(expected), (field, expr)
        for a, b in zip(sorted(here.groups, key=lambda g: g.keys), sorted(there.groups, key=lambda g: g.keys)):
            assert a.distances[0] is None and b.distances[0] is None
            assert a.distances[1:] == pytest.approx(b.distances[1:], abs=2e-5)
        assert here.warnings == there.warnings and any("more than 5 neighbours" in w for w in here.warnings)
        assert here.scanned == there.scanned
