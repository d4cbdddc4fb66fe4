"""What the schema view adds for the opened collection, on collections made with pymilvus (the
zoo, on the Lite child): aliases, each partition's entity count (checked against a query per
partition) and each index's build progress; in the Session, the CLI and the app's tree."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from pymilvus import MilvusClient

from tests.apphelpers import SIZE, make_app, wait_first_page, wait_until
from tests.test_journeys import COMMAND, ROOT
from tui.milvus import MilvusConnection
from tui.session import Session
from tui.widgets.collections import CollectionsPane


def per_partition(uri: str, name: str, pk: str) -> dict[str, int]:
    client = MilvusClient(uri=uri)
    try:
        return {p: len(client.query(name, filter="", output_fields=[pk], limit=1000, partition_names=[p],
                                    consistency_level="Strong"))
                for p in client.list_partitions(name)}
    finally:
        client.close()


async def test_details_name_aliases_partition_counts_and_index_progress(lite_zoo: Any) -> None:
    uri, made = lite_zoo
    conn = MilvusConnection(uri)
    conn.open()
    try:
        session = Session(conn)
        parts = made["zoo_partitions"]
        info = session.run(session.describe(parts.name))
        details = session.run(session.details(info))
        assert details.partition_rows == per_partition(uri, parts.name, parts.pk)
        assert set(details.partition_rows) == {"_default", "p_a", "p_b"} and details.aliases == ()
        assert all(i.progress().startswith("built ") and i.indexed_rows == i.total_rows for i in info.indexes)
        tenants = made["zoo_partition_key"]  # its partitions are the server's buckets: not counted
        assert session.run(session.details(session.run(session.describe(tenants.name)))).partition_rows == {}
        aliased = made["zoo_aliased"]
        details = await session.arun(session.details(session.run(session.describe(aliased.name))))
        assert details.aliases == ("zoo_alias",) or details.aliases == (aliased.alias,)
    finally:
        conn.close()


def test_cli_collections_lists_aliases_and_partition_counts(lite_zoo: Any) -> None:
    uri, made = lite_zoo
    out = subprocess.run([*COMMAND, "--uri", uri, "collections", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    listed = {c["name"]: c for c in json.loads(out)["collections"]}
    parts, aliased = made["zoo_partitions"], made["zoo_aliased"]
    assert listed[parts.name]["partition_rows"] == per_partition(uri, parts.name, parts.pk)
    assert listed[aliased.name]["aliases"] == [aliased.alias]
    assert listed[parts.name]["indexes"][0]["indexed_rows"] == sum(listed[parts.name]["partition_rows"].values())


async def test_app_tree_shows_partition_counts_aliases_and_index_progress(lite_zoo: Any, home: Any) -> None:
    uri, made = lite_zoo
    aliased = made["zoo_aliased"]
    app = make_app(uri, aliased.name)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        pane = app.main.query_one(CollectionsPane)
        await wait_until(pilot, lambda: aliased.name in pane.details, what="the collection's details")
        node = next(n for n in pane._collection_nodes() if n.data == aliased.name)
        branches = {str(child.label).split(" (")[0]: child for child in node.children}
        assert [str(leaf.label) for leaf in branches["aliases"].children] == [aliased.alias]
        count = per_partition(uri, aliased.name, aliased.pk)["_default"]
        assert [str(leaf.label) for leaf in branches["partitions"].children] == [f"_default  {count:,}"]
        assert all(" built " in str(leaf.label) for leaf in branches["indexes"].children)
