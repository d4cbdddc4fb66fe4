"""The query bar's options row: composed on first use (``o``), and its values reach the query.

The row is not in the DOM until it is first opened (a hidden row would be restyled on every
theme switch, docs/BENCHMARKS.md section 6); until then ``options()`` gives its defaults.
"""

from __future__ import annotations


import pytest
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Select

from tests.apphelpers import SIZE, focus_table, make_app, query_bar, submit, wait_embeddings, wait_first_page, \
    wait_result


# A private state dir per test (history, ui.json, backups): the `home` fixture in conftest.py.
pytestmark = pytest.mark.usefixtures("home")


async def test_options_row_is_composed_on_first_use_and_its_values_apply(milvus_uri: str,
                                                                          docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        bar = query_bar(app)
        assert not bar.query("#options-row")
        defaults = bar.options()
        assert (defaults.k, defaults.output_fields, defaults.consistency_level, defaults.partition,
                defaults.mmr) == (10, None, None, None, None)

        await focus_table(pilot, app)
        await pilot.press("o")
        row = bar.query_one("#options-row", Horizontal)
        assert row.display and bar.options_shown
        # The collection's partitions, set before the row existed, are in its select.
        partition = bar.query_one("#query-partition", Select)
        assert [value for _, value in partition._options] == ["", "_default"]
        assert bar.options() == defaults

        bar.query_one("#query-fields", Input).value = "name"
        bar.query_one("#query-mmr", Checkbox).value = True
        bar.query_one("#query-fetch-k", Input).value = "30"
        partition.value = "_default"
        options = bar.options()
        assert (options.output_fields, options.partition, options.mmr) == (["name"], "_default", (30, 0.5))

        # Hidden again, the values still apply (as before the row was lazy).
        await pilot.press("o")
        assert not row.display and not bar.options_shown
        await submit(pilot, app, "search", "read a file line by line")
        found = await wait_result(pilot, app, lambda r: r.kind == "search", what="search hits")
        assert "name" in found.columns and "text" not in found.columns
        assert len(found.rows) == 10

        await focus_table(pilot, app)
        await pilot.press("o")
        assert row.display and len(bar.query("#options-row")) == 1


async def test_bad_k_is_reported_without_the_options_row(milvus_uri: str, docs_collection: str) -> None:
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        bar = query_bar(app)
        bar.query_one("#query-k", Input).value = "ten"
        await submit(pilot, app, "search", "anything")
        await pilot.pause()
        assert "k must be a number, not 'ten'." in str(bar.query_one("#query-error").render())
        assert not bar.query("#options-row")
