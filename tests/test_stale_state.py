"""The screen shows the state of what it is titled with: no rows of the previous collection
under a new title, partly loaded collections marked so, ``-c`` resolved or refused."""

from __future__ import annotations

from collections.abc import Iterator
import pytest
from pymilvus import DataType, MilvusClient

from tests.apphelpers import SIZE, make_app, notifications, result, table, title, wait_first_page, wait_until
from tests.conftest import unique_name
from tui.session import Session
from tui.milvus.catalog import CollectionInfo, FieldInfo
from tui.widgets.collections import CollectionsPane, collection_label

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
def released(raw_client: MilvusClient) -> Iterator[str]:
    """A small released collection."""
    name = unique_name("rel")
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("v", index_type="AUTOINDEX", metric_type="COSINE")
    raw_client.create_collection(name, schema=schema, index_params=index)
    raw_client.insert(name, [{"v": [0.1, 0.2]}])
    raw_client.release_collection(name)
    yield name
    if raw_client.has_collection(name):
        raw_client.drop_collection(name)


async def test_a_refused_load_does_not_leave_the_previous_rows(milvus_uri: str, docs_collection: str,
                                                               released: str, raw_client: MilvusClient) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        assert table(app).row_count > 0
        pane = app.main.query_one(CollectionsPane)
        await wait_until(pilot, lambda: released in pane.infos, what="the released collection in the list")
        node = next(n for n in pane._collection_nodes() if n.data == released)
        pane.move_cursor(node)
        pane.focus()
        await pilot.press("enter")  # as a user opens it
        await wait_until(pilot, lambda: app.main.info is not None and app.main.info.name == released,
                         what="the released collection to open")
        await pilot.pause()
        # Titled with the released collection: none of the docs collection's rows under it.
        assert table(app).row_count == 0 and result(app) is None
        raw_client.drop_collection(released)  # so the load is refused by the server
        await pilot.press("l")
        await wait_until(pilot, lambda: "Could not load" in title(app), timeout=30, what="the refused load")
        assert released in title(app)
        assert table(app).row_count == 0 and result(app) is None


async def test_c_with_an_alias_opens_its_collection(milvus_uri: str, docs_collection: str,
                                                    raw_client: MilvusClient) -> None:
    alias = unique_name("alias")
    raw_client.create_alias(docs_collection, alias)
    try:
        app = make_app(milvus_uri, alias)
        async with app.run_test(size=SIZE) as pilot:
            page = await wait_first_page(pilot, app)
            assert page.collection == docs_collection
            assert any(f"'{alias}' is an alias of '{docs_collection}'" in n for n in notifications(app))
    finally:
        raw_client.drop_alias(alias)


async def test_c_with_an_unknown_name_says_so_and_opens_nothing(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, "no_such_collection_here")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "No collection or alias named 'no_such_collection_here'" in title(app),
                         timeout=30, what="the refusal")
        assert any("no collection or alias named 'no_such_collection_here'" in n for n in notifications(app))
        await pilot.pause(0.5)
        assert app.main.info is None and result(app) is None
        # The list is there to pick from, and picking works.
        app.main.post_message(CollectionsPane.Selected(docs_collection))
        page = await wait_first_page(pilot, app)
        assert page.collection == docs_collection


def test_a_partly_loaded_collection_is_not_shown_as_loaded() -> None:
    fields = (FieldInfo("pk", "INT64", is_primary=True), FieldInfo("v", "FLOAT_VECTOR", dim=2))
    info = CollectionInfo("c", "default", fields, False, load_state="PartiallyLoaded",
                          partitions=("_default", "p1", "p2"), loaded_partitions=("p1",))
    assert not info.loaded
    label = str(collection_label(info))
    assert "partly loaded (1/3 partitions)" in label and "● loaded" not in label


def test_describe_asks_each_partition(service: Session, released: str, raw_client: MilvusClient) -> None:
    raw_client.create_partition(released, "p1")
    raw_client.load_collection(released)
    info = service.run(service.describe(released))
    # Milvus Lite loads whole collections only: every partition is loaded with it.
    assert info.load_state == "Loaded" and info.loaded_partitions == ("_default", "p1")
    raw_client.release_collection(released)
    assert service.run(service.describe(released)).loaded_partitions is None  # released: nothing to ask
