"""The schema zoo on Milvus Lite: every collection shape Lite can hold is created, reads back
exactly what was inserted, and reads the same twice (so snapshot/diff are fit to judge undo)."""

from __future__ import annotations

import copy

import pytest

from tests import zoo
from tests.zoo import ZooCollection, client_for, diff, expected_snapshot, same_content, snapshot

LITE_REFUSES = zoo.LITE_REFUSES
LITE_HOLDS = {spec.name for spec in zoo.ZOO} - LITE_REFUSES


def test_lite_creates_every_shape_it_supports(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    _, made = lite_zoo
    created = {name for name, c in made.items() if c.created}
    assert created == LITE_HOLDS, {name: made[name].skipped for name in LITE_HOLDS - created}
    for name in LITE_REFUSES:
        assert "does not support" in (made[name].skipped or ""), made[name].skipped


@pytest.mark.parametrize("spec", sorted(LITE_HOLDS))
def test_lite_zoo_reads_back_exactly(lite_zoo: tuple[str, dict[str, ZooCollection]], spec: str) -> None:
    uri, made = lite_zoo
    c = made[spec]
    client = client_for(uri)  # on the default database, also for zoo_db1: snapshot switches
    try:
        first = snapshot(client, c.name, db_name=c.db_name)
        second = snapshot(client, c.name, db_name=c.db_name)
    finally:
        client.close()
    assert len(first) == c.entities > 0
    assert diff(first, second) == []
    want = expected_snapshot(c)
    problems = same_content(want, first, c.pk) if c.auto_id else diff(want, first)
    assert problems == []
    if len(c.partitions) > 1:  # entities really are spread over every partition
        assert {e[zoo.PARTITION_KEY] for e in first.values()} == set(c.partitions)


def test_lite_alias_and_second_database(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    uri, made = lite_zoo
    aliased, other = made["zoo_aliased"], made["zoo_db1"]
    client = client_for(uri)
    try:
        assert aliased.alias and snapshot(client, aliased.alias) == snapshot(client, aliased.name)
        assert not client.has_collection(other.name)  # it lives in db1 only
        assert len(snapshot(client, other.name, db_name="db1")) == other.entities
        assert client.describe_collection(aliased.name)["collection_name"] == aliased.name  # still on default
    finally:
        client.close()


def test_lite_bm25_output_is_left_out_unless_asked(lite_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    uri, made = lite_zoo
    c = made["zoo_bm25"]
    assert c.function_outputs == ("sparse",)
    client = client_for(uri)
    try:
        plain = snapshot(client, c.name)
        full = snapshot(client, c.name, function_outputs=True)
    finally:
        client.close()
    assert all("sparse" not in e for e in plain.values())
    assert all(e["sparse"] for e in full.values())  # Lite 3.2.2 returns the function's output


def test_diff_names_every_kind_of_difference() -> None:
    before = {1: {"$partition": "p_a", "pk": 1, "text": "x", "vec": b"\x00"},
              2: {"$partition": "_default", "pk": 2, "text": "y", "vec": b"\x01"}}
    after = copy.deepcopy(before)
    assert diff(before, after) == []
    after[1]["$partition"] = "_default"
    after[2]["vec"] = b"\x02"
    after[3] = {"$partition": "_default", "pk": 3, "text": "z", "vec": b"\x03"}
    del after[1]["text"]
    problems = diff(before, after)
    assert problems == ["1: partition differs: 'p_a' -> '_default'", "1: text missing after",
                        "2: field vec differs: b'\\x01' -> b'\\x02'", "extra: 3"]
    assert diff(before, {2: before[2]}) == ["missing: 1"]
    # a restore that had to give new keys: compared through the key map, pk field aside
    rekeyed = {10: {**before[1], "pk": 10}, 20: {**before[2], "pk": 20}}
    assert diff(before, rekeyed, key_map={1: 10, 2: 20}) == []
    assert diff(before, rekeyed, key_map={1: 20, 2: 10}) != []
