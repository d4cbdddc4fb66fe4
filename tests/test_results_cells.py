"""Result cells show data as data: never parsed as Rich markup, whatever a value holds."""

from __future__ import annotations

import pytest
from rich.console import Console

from tui.widgets.results import CELL_WIDTH, cell


@pytest.mark.parametrize("value", ["list[str] of items", "a [/] b", "[bold]not bold[/bold]", ":smile:", "[", "]"])
def test_markup_like_values_render_verbatim(value: str) -> None:
    text = cell(value)
    assert text.plain == value
    console = Console(width=200, record=True, color_system=None)
    console.print(text)  # a value holding "[/]" used to raise MarkupError here
    assert console.export_text().rstrip("\n") == value


def test_long_values_are_cut_and_newlines_shown() -> None:
    text = cell("x" * (CELL_WIDTH + 10)).plain
    assert len(text) == CELL_WIDTH and text.endswith("…")
    assert cell("a\nb").plain == "a ⏎ b"


def test_vectors_and_nulls_are_summarised() -> None:
    assert cell(None).plain == "∅"
    assert "(4d)" in cell([0.1, 0.2, 0.3, 0.4], is_vector=True).plain


def test_a_sparse_vector_shows_its_heaviest_entries() -> None:
    from tui.milvus.values import summarize_vector

    text = summarize_vector({3: 0.1, 17: 0.9, 5: -0.95, 100: 0.2, 2: 0.05})
    assert text == "{5: -0.95, 17: 0.9, 100: 0.2, 3: 0.1, …} (5 nonzero)"
    assert summarize_vector({"7": "0.5"}) == "{7: 0.5} (1 nonzero)"  # keys and values as JSON gives them
