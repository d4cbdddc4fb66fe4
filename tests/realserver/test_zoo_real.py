"""The schema zoo on the Go Milvus 2.3.5 server: every collection shape 2.3.5 can hold is
created, reads back exactly what was inserted, and reads the same twice.

What 2.3.5 cannot hold is skipped by ``create_zoo`` with a reason: refused in its own words,
or never tried (``zoo.UNSAFE``) because trying crashes the server or loses data silently.
"""

from __future__ import annotations


import pytest

from tests import zoo
from tests.zoo import ZooCollection, client_for, diff, expected_snapshot, same_content, snapshot

pytestmark = pytest.mark.realserver

#: Never tried on 2.3.5 (see zoo.UNSAFE for why).
GO_UNSAFE = set(zoo.UNSAFE["go"])
#: Tried, and refused by 2.3.5 in its own words.
GO_REFUSES = {
    "zoo_two_dense": "multiple vector fields is not supported",
    "zoo_defaults": "is not equal to passed num_rows",
    "zoo_sparse": "is not supported now",
    "zoo_int8": "is not supported now",
}
GO_HOLDS = {spec.name for spec in zoo.ZOO} - GO_UNSAFE - set(GO_REFUSES)


def test_go_creates_every_shape_it_supports(go_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    _, made = go_zoo
    created = {name for name, c in made.items() if c.created}
    assert created == GO_HOLDS, {name: made[name].skipped for name in made}
    for name, words in GO_REFUSES.items():
        assert words in (made[name].skipped or ""), made[name].skipped
    for name in GO_UNSAFE:
        assert (made[name].skipped or "").startswith("not supported by this server (Milvus 2.3.5")
    # held, but several writes together crash 2.3.5: undo tests must know before they write
    assert {name for name, c in made.items() if c.hazard} == {"zoo_float16"}


@pytest.mark.parametrize("spec", sorted(GO_HOLDS))
def test_go_zoo_reads_back_exactly(go_zoo: tuple[str, dict[str, ZooCollection]], spec: str) -> None:
    uri, made = go_zoo
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
    if len(c.partitions) > 1:
        assert {e[zoo.PARTITION_KEY] for e in first.values()} == set(c.partitions)


def test_go_alias_and_second_database(go_zoo: tuple[str, dict[str, ZooCollection]]) -> None:
    uri, made = go_zoo
    aliased, other = made["zoo_aliased"], made["zoo_db1"]
    client = client_for(uri)
    try:
        assert aliased.alias and snapshot(client, aliased.alias) == snapshot(client, aliased.name)
        assert not client.has_collection(other.name)
        assert len(snapshot(client, other.name, db_name="db1")) == other.entities
    finally:
        client.close()
