"""A scatter plot of projected vectors on a braille canvas, with a cursor that moves between points.

Why our own canvas and not textual-plotext (checked, version 1.0.1 on plotext 5.3): its widget
rebuilds the whole plot with plotext in ``render()`` on the UI thread, ~54 ms for 2,000 points
at 110 x 34 cells here (three frames for every cursor move); it has no cursor, no way to find the
point under a cell, and colours by series, not by point; and it pins plotext < 6 (6.1 is out).
Here the points are placed on the grid once per size with numpy (``tui.milvus.projection``:
~1 ms for 2,000), each line is drawn from that grid (Textual's line API), and a cursor move
redraws two lines. Each cell has 2 x 4 braille dots and one colour: the group with most points
in the cell (up to 300 points, a ● a cell: one braille dot is hard to see). The query point
is a ✚ over the dots, the cursor a reversed cell. A cell holding a marked point (the member a
keep policy keeps) is a ◆; a background group (context, grey) yields each cell to any other
group, and its points can be left out of the cursor's reach (``pickable``).
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ..milvus.projection import Raster, rasterize, step

QUERY_MARK = "✚"
POINT_MARK = "●"
KEEP_MARK = "◆"
#: up to this many points, each occupied cell shows a whole ● instead of its braille dots.
FEW_POINTS = 300


class VectorMapCanvas(Widget, can_focus=True):
    """Points (``set_points``), coloured by group; arrows move the cursor, enter picks its point."""

    DEFAULT_CSS = """
    VectorMapCanvas {
        width: 1fr;
        height: 1fr;
        border: round $accent 50%;
        &:focus {
            border: round $accent;
        }
    }
    """

    BINDINGS = [
        Binding("left", "move('left')", "←", show=False),
        Binding("right", "move('right')", "→", show=False),
        Binding("up", "move('up')", "↑", show=False),
        Binding("down", "move('down')", "↓", show=False),
        Binding("n,tab", "cycle(1)", "Next point"),
        Binding("p,shift+tab", "cycle(-1)", "Prev point"),
        Binding("enter", "pick", "Open entity"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class CursorMoved(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Picked(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._xy: Any = None
        self._groups: Any = None
        self._query: Any = None
        self._styles: list[Style] = []
        self._raster: Raster | None = None
        self._marked: Any = None
        self._background: int | None = None
        self._pickable: int | None = None
        self._marked_cells: set[tuple[int, int]] = set()
        #: drawn lines by row, until the points, colours, size or cursor row change.
        self._lines: dict[int, Strip] = {}

    # -- data ------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return 0 if self._xy is None else len(self._xy)

    @property
    def pickable(self) -> int:
        """How many points (the first ones) the cursor visits: all but a background sample."""
        return self.count if self._pickable is None else min(self._pickable, self.count)

    @property
    def raster(self) -> Raster | None:
        """The grid for the current size (made on first use after a change)."""
        width, height = self.content_size.width, self.content_size.height
        if self._xy is None or width < 1 or height < 1:
            return None
        if self._raster is None or (self._raster.width, self._raster.height) != (width, height):
            self._raster = rasterize(self._xy, self._groups, width, height, self._query, self._background)
            self._marked_cells = set()
            if self._marked is not None:
                self._marked_cells = {(int(r), int(c)) for (r, c), m in zip(self._raster.cells, self._marked) if m}
            self._lines.clear()
        return self._raster

    def set_points(self, xy: Any, groups: Any, colours: list[str], query_xy: Any = None, *,
                   marked: Any = None, background: int | None = None, pickable: int | None = None) -> None:
        """``groups[i]`` indexes ``colours`` (Rich colour names) for point i; ``marked[i]``: point i
        is drawn with the keep mark; ``background``: the group that is context; ``pickable``:
        the cursor visits the first that many points only."""
        self._xy, self._groups, self._query = xy, groups, query_xy
        self._marked, self._background, self._pickable = marked, background, pickable
        self._styles = [Style(color=c) for c in colours]
        self._raster = None
        self._lines.clear()
        self.cursor = 0
        self.refresh()

    def recolour(self, groups: Any, colours: list[str]) -> None:
        self._groups = groups
        self._styles = [Style(color=c) for c in colours]
        self._raster = None
        self._lines.clear()
        self.refresh()

    def cell_of(self, index: int) -> tuple[int, int] | None:
        """The (row, col) the point ``index`` is drawn in."""
        raster = self.raster
        if raster is None or not 0 <= index < len(raster.cells):
            return None
        row, col = raster.cells[index]
        return int(row), int(col)

    # -- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        raster = self.raster
        width = self.content_size.width
        if raster is None or y >= raster.height:
            return Strip.blank(width, self.rich_style)
        line = self._lines.get(y)
        if line is None:
            line = self._lines[y] = self._draw_line(raster, y, width)
        return line

    def _draw_line(self, raster: Raster, y: int, width: int) -> Strip:
        base = self.rich_style
        cursor = self.cell_of(self.cursor) if self.pickable else None
        segments: list[Segment] = []
        run_text, run_style = "", None
        bits, groups = raster.bits[y], raster.group[y]
        for x in range(raster.width):
            if raster.query_cell == (y, x):
                text, style = QUERY_MARK, base + Style(bold=True, color="bright_white")
            elif bits[x]:
                # Few points: a dot a cell reads better than one braille dot in eight.
                if (y, x) in self._marked_cells:
                    text = KEEP_MARK
                else:
                    text = POINT_MARK if self.count <= FEW_POINTS else chr(0x2800 + int(bits[x]))
                g = int(groups[x])
                style = base + (self._styles[g] if 0 <= g < len(self._styles) else Style())
            else:
                text, style = " ", base
            if cursor == (y, x):
                text = text if text != " " else "·"
                style = style + Style(reverse=True, bold=True)
            if style == run_style:
                run_text += text
            else:
                if run_text:
                    segments.append(Segment(run_text, run_style))
                run_text, run_style = text, style
        if run_text:
            segments.append(Segment(run_text, run_style))
        return Strip(segments, raster.width).adjust_cell_length(width, base)

    def watch_cursor(self, old: int, new: int) -> None:
        for index in (old, new):
            cell = self.cell_of(index)
            if cell is not None:
                self._lines.pop(cell[0], None)
                self.refresh(Region(0, cell[0], self.content_size.width, 1))
        self.post_message(self.CursorMoved(new))

    def on_resize(self) -> None:
        self._raster = None
        self._lines.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()  # the theme's background is in every line

    # -- keys ------------------------------------------------------------------------------

    def action_move(self, direction: str) -> None:
        raster = self.raster
        if raster is None or not self.pickable:
            return
        self.cursor = step(raster.dots[:self.pickable], self.cursor, direction)

    def action_cycle(self, delta: int) -> None:
        if self.pickable:
            self.cursor = (self.cursor + delta) % self.pickable

    def action_pick(self) -> None:
        if self.pickable and self.cursor < self.pickable:
            self.post_message(self.Picked(self.cursor))
