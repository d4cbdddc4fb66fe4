"""The vector map: the results (a page, a search's hits) or a sample of the filter, projected
onto a plane, coloured by a field, with the query marked; enter opens the entity under the cursor.

A finder (the duplicate finder, the quality scan) opens it with ``labelled``: those entities by
key, coloured by their label (group, finding), the keep policy's choice marked ◆, optionally
over a grey sample of the collection; entities whose vector cannot be drawn are named.

The reads and the projection are one Session operation (``Session.vector_map``) run by the
explorer's ``OpRunner`` in the map's own worker group, so esc here stops only the map's work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Label, Static

from .. import messages as msg
from ..errors import AmbiguousField, MilvusTuiError
from ..milvus import CollectionInfo, QueryResult
from ..milvus import vectormap as map_ops
from ..milvus.vectormap import LabelledKeys, VectorMap, left_out_warnings
from ..printable import printable, printable_text
from ..runner import Group, OpRunner
from ..widgets.status import KeyFooter
from ..widgets.vector_map import KEEP_MARK, POINT_MARK, QUERY_MARK, VectorMapCanvas
from .choice import ChoiceScreen

#: Colours for the most common values (Tableau 10, distinct on dark and light themes); the
#: rest share OTHER.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#86bcb6"]
OTHER = "#8a8a8a"
#: the context sample behind a finder's entities: darker than OTHER, so "other values" stay apart.
BACKGROUND = "#585858"
NO_COLOUR = "(one colour)"
NULL = "∅ (null)"


def colour_groups(values: list[Any]) -> tuple[list[int], list[tuple[str, str, int]]]:
    """Each value's colour index, and the legend: (label, colour, count), most common first;
    values past the palette share "other"."""
    labels = [NULL if v is None else str(v) for v in values]
    counts = Counter(labels).most_common()
    legend: list[tuple[str, str, int]] = []
    index: dict[str, int] = {}
    for i, (label, count) in enumerate(counts[:len(PALETTE)]):
        index[label] = i
        legend.append((label, PALETTE[i], count))
    rest = sum(count for _, count in counts[len(PALETTE):])
    if rest:
        legend.append((f"other ({len(counts) - len(PALETTE)} values)", OTHER, rest))
    other = len(PALETTE)
    return [index.get(label, other) for label in labels], legend


def label_groups(labels: list[Any]) -> tuple[list[int], list[tuple[str, str, int]]]:
    """Each label's colour index and the legend, in the labels' own order (group 1, group 2, …),
    the palette cycling: every label keeps its own legend line, none becomes "other"."""
    index: dict[str, int] = {}
    legend: list[tuple[str, str, int]] = []
    out = []
    for value in labels:
        label = NULL if value is None else str(value)
        if label not in index:
            index[label] = len(legend)
            legend.append((label, PALETTE[len(legend) % len(PALETTE)], 0))
        i = index[label]
        legend[i] = (legend[i][0], legend[i][1], legend[i][2] + 1)
        out.append(i)
    return out, legend


@dataclass(frozen=True)
class PointAction:
    """What the map returns when the entity view of one of its points asked for more: "similar"
    (entities like it, by its vector in ``field``) or "edit"."""

    action: str
    key: Any
    field: str | None


class MapScreen(Screen["PointAction | None"]):
    """``result``: the rows on screen (a page or a search); ``sample``: start with a sample of
    the filter ``expr`` instead. ``choices`` remembers the user's fields per collection."""

    DEFAULT_CSS = """
    MapScreen {
        #map-title { width: 1fr; padding: 0 1; }
        #map-body { height: 1fr; }
        #map-side { width: 30; border: round $accent 50%; padding: 0 1; }
        #map-point { width: 1fr; padding: 0 1; height: 2; }
        #map-status { width: 1fr; padding: 0 1; color: $warning; }
    }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("c", "choose_colour", "Colour by"),
        Binding("f", "choose_field", "Vector field"),
        Binding("s", "toggle_source", "Sample/results"),
    ]

    def __init__(self, runner: OpRunner, info: CollectionInfo, *, result: QueryResult | None = None,
                 expr: str = "", partition: str | None = None, sample: bool = False,
                 choices: dict[str, Any] | None = None, limit: int = map_ops.DEFAULT_SAMPLE,
                 method: str = "auto", labelled: LabelledKeys | None = None) -> None:
        super().__init__()
        self.runner = runner
        self.info = info
        self.labelled = labelled
        self.result = result if result is not None and result.rows and labelled is None else None
        self.expr = expr
        self.partition = partition
        self.sample = (sample or self.result is None) and labelled is None
        # A finder's map keeps its choices to itself (its colour is not a field of the collection).
        self.choices = choices if choices is not None and labelled is None else {}
        self.limit = limit
        self.method = method
        self.map: VectorMap | None = None
        self.legend: list[tuple[str, str, int]] = []
        self.vector_field: str | None = self.choices.get("field")
        self.colour_field: str | None = self.choices.get("colour", map_ops.default_colour_field(info))
        if labelled is not None:
            self.vector_field = labelled.vector_field
            self.colour_field = labelled.label_name
        self.title_field = map_ops.default_title_field(info, None if labelled else self.colour_field)

    def compose(self) -> ComposeResult:
        yield Label("", id="map-title")
        with Horizontal(id="map-body"):
            yield VectorMapCanvas(id="map-canvas")
            with VerticalScroll(id="map-side"):
                yield Static(id="map-legend")
        yield Label("", id="map-point")
        yield Label("", id="map-status")
        yield KeyFooter()

    @property
    def canvas(self) -> VectorMapCanvas:
        return self.query_one(VectorMapCanvas)

    def on_mount(self) -> None:
        self.query_one("#map-side").border_title = "Legend"
        self.canvas.border_title = f"Vector map · {self.info.name}"
        self.canvas.focus()
        self.load()

    # -- running -------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#map-status", Label).update(printable_text(text))

    def load(self) -> None:
        """Read and project the points (again): the sample or the results, on the chosen field."""
        info = self.info
        preferred = self.vector_field or (self.result.anns_field if self.result is not None and not self.sample
                                          else None)
        try:
            field = map_ops.pick_map_field(info, preferred).name
        except AmbiguousField as exc:
            self._ask_field(str(exc), exc.candidates)
            return
        except MilvusTuiError as exc:
            self._status(str(exc))
            return
        session, colour, title = self.runner.session, self.colour_field, self.title_field
        kw: dict[str, Any] = dict(vector_field=field, colour_field=colour, title_field=title, method=self.method)
        labelled = self.labelled
        if labelled is not None:
            parts = [self.partition] if self.partition else None
            self._status(f"reading {len(labelled.keys):,} entities"
                         + (f" and up to {labelled.background:,} around them" if labelled.background else "") + "…")
            expr = self.expr

            def make() -> Any:
                return session.vector_map(
                    info, keys=list(labelled.keys), labels=list(labelled.labels), marked=labelled.marked,
                    label_name=labelled.label_name, background=labelled.background, expr=expr,
                    partition_names=parts, vector_field=field, title_field=title, source=labelled.source,
                    method=self.method)
        elif self.sample:
            parts = [self.partition] if self.partition else None
            self._status(f"reading up to {self.limit:,} entities" + (f" matching {self.expr}" if self.expr else "")
                         + "…")
            expr, limit = self.expr, self.limit

            def make() -> Any:
                return session.vector_map(info, expr=expr, limit=limit, partition_names=parts, **kw)
        else:
            r = self.result
            assert r is not None
            what = {"page": f"page {(r.page or 0) + 1}", "search": "search hits",
                    "more_like_this": "more-like-this hits"}.get(r.kind, "rows")
            source = f"{len(r.rows):,} rows of {what}" if r.kind == "page" else f"{len(r.rows):,} {what}"
            self._status(f"mapping {source}…")

            def make() -> Any:
                return session.vector_map(info, r.rows, source=source, scores=r.scores, query_vector=r.query_vector,
                                          query_field=r.anns_field, query_keys=r.query_keys, **kw)

        self.runner.run(make, msg.MapReady, group=Group.MAP, node=self)

    @on(msg.ProgressUpdate)
    def _progress(self, event: msg.ProgressUpdate) -> None:
        event.stop()
        p = event.info
        total = f"/{p.total:,}" if p.total else ""
        self._status(p.label + (f" {p.done:,}{total}" if p.done or p.total else "") + "…")

    @on(msg.MapReady)
    def _ready(self, event: msg.MapReady) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        self.show(event.result)

    @on(msg.MapColoured)
    def _coloured(self, event: msg.MapColoured) -> None:
        event.stop()
        if not self.runner.is_fresh(event) or self.map is None:
            return
        self.runner.record(event)
        from dataclasses import replace

        self.show(replace(self.map, colour_field=self.colour_field, colours=event.result), keep_cursor=True)

    @on(msg.EntityFetched)
    def _entity(self, event: msg.EntityFetched) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        self._status("")
        if not event.result:
            self._status("That entity is gone (deleted since the map was made).")
            return
        from .entity import EntityScreen

        row = event.result[0]
        m = self.map
        score = None
        if m is not None and m.scores is not None and row.get(m.pk) in m.keys:
            score = m.scores[m.keys.index(row.get(m.pk))]
        key = row.get(self.info.primary.name)
        field = m.field if m is not None else None

        def closed(action: str | None) -> None:
            if action in ("similar", "edit"):  # m / e in the entity view: done in the explorer
                self._close(PointAction(action, key, field))

        self.app.push_screen(EntityScreen(self.info.name, row, {f.name: f.dtype for f in self.info.vector_fields},
                                          score), closed)

    @on(msg.OperationFailed)
    def _failed(self, event: msg.OperationFailed) -> None:
        event.stop()
        if not self.runner.is_fresh(event):
            return
        self.runner.record(event)
        if event.failure is not msg.FailureKind.CANCELLED:
            self._status(event.error)

    # -- showing -------------------------------------------------------------------------

    def _by_label(self, m: VectorMap) -> bool:
        return self.labelled is not None and m.colour_field == self.labelled.label_name

    def show(self, m: VectorMap, keep_cursor: bool = False) -> None:
        self.map = m
        cursor = self.canvas.cursor if keep_cursor else 0
        front = m.colours[:m.labelled]
        if self._by_label(m):
            groups, self.legend = label_groups(front)
        else:
            groups, self.legend = colour_groups(front) if m.colour_field else ([0] * m.labelled, [])
        colours = [c for _, c, _ in self.legend] + [OTHER] if m.colour_field else [PALETTE[0]]
        background = None
        if m.background:  # the context sample: one grey group after the others
            background = len(colours)
            colours.append(BACKGROUND)
            groups = groups + [background] * m.background
        if keep_cursor:
            self.canvas.recolour(groups, colours)
        else:
            self.canvas.set_points(m.projection.xy, groups, colours, m.projection.query_xy, marked=m.marks,
                                   background=background, pickable=m.labelled)
            start = self.labelled.start if self.labelled is not None else None
            if start is not None and start in m.keys[:m.labelled]:
                cursor = m.keys.index(start)
        self.canvas.cursor = min(cursor, max(0, m.labelled - 1))
        title = Text.assemble(
            ("Map of ", "bold"), (printable(m.source), "bold"),
            f" · {m.field} ({m.dtype.lower().replace('_vector', '')}) · {m.projection.description}",
            (f" · {m.elapsed * 1000:,.0f} ms", "dim"))
        # What was not drawn goes on the status line, where it is read; other warnings in the title.
        left_out = left_out_warnings(list(m.left_out), m.field)
        for warning in m.warnings:
            if warning not in left_out:
                title.append(f"  ⚠ {printable(warning)}", style="yellow")
        self.query_one("#map-title", Label).update(title)
        self._status(" ".join(left_out))
        self._show_legend()

    def _show_legend(self) -> None:
        m = self.map
        text = Text()
        text.append(f"colour: {m.colour_field if m and m.colour_field else 'none'}\n", style="bold")
        labelled = self.labelled
        if m is not None and m.colour_field:
            # Per label: its entities, and those of them already coloured by an earlier label.
            asked: Counter[str] = Counter()
            listed: Counter[str] = Counter()
            if self._by_label(m) and labelled is not None:
                asked.update(str(v) for v in dict(zip(reversed(labelled.keys), reversed(labelled.labels))).values())
                listed.update(str(v) for v in labelled.labels)
            width = 40 if labelled is not None else 18
            counts = {label: (colour, count) for label, colour, count in self.legend}
            for label in [*counts, *(label for label in listed if label not in counts)]:
                colour, count = counts.get(label, ("", 0))
                text.append("■ " if colour else "□ ", style=colour or "dim")
                text.append_text(printable_text(label[:width]))
                whole = asked.get(label, count)
                note = f" {count:,}" + (f" of {whole:,} drawn" if whole != count else "")
                if listed.get(label, 0) > whole:
                    note += f" (+{listed[label] - whole:,} coloured as an earlier finding)"
                text.append(note + "\n", style="dim")
        if m is not None and m.background:
            text.append("■ ", style=BACKGROUND)
            text.append(f"{m.background:,} other entities, for context (the cursor skips them)\n", style="dim")
        if m is not None and m.marks is not None and labelled is not None:
            kept, other = labelled.mark_names
            text.append(f"{KEEP_MARK} ", style="bold")
            text.append_text(printable_text(kept or "marked"))
            text.append(f"\n{POINT_MARK} ", style="bold")
            text.append_text(printable_text(other or "not marked"))
            text.append("\n")
        if m is not None and m.query_label:
            text.append(f"{QUERY_MARK} ", style="bold")
            text.append_text(printable_text(m.query_label))
            text.append("\n")
        text.append("\n← → ↑ ↓ nearest point\nn / p next / previous\nenter open entity\nc colour · f field\n"
                    + ("esc back" if labelled is not None else "s sample / results · esc close"), style="dim")
        self.query_one("#map-legend", Static).update(text)

    @on(VectorMapCanvas.CursorMoved)
    def _cursor(self, event: VectorMapCanvas.CursorMoved) -> None:
        m = self.map
        if m is None or not 0 <= event.index < m.labelled:  # none drawn but the background
            self.query_one("#map-point", Label).update("")
            return
        i = event.index
        text = Text.assemble((f"{i + 1}/{m.labelled} ", "dim"), (f"{m.pk} = ", "bold"), printable_text(repr(m.keys[i])))
        if m.colour_field:
            text.append(f" · {m.colour_field} = ", style="bold")
            text.append_text(printable_text(NULL if m.colours[i] is None else str(m.colours[i])))
        if m.marks is not None and self.labelled is not None:
            kept, other = self.labelled.mark_names
            text.append(f" · {KEEP_MARK} {kept}" if m.marks[i] else f" · {POINT_MARK} {other}", style="bold")
        if m.scores is not None:
            text.append(f" · score {m.scores[i]:.4f}", style="cyan")
        if m.titles[i]:
            text.append("\n")
            text.append_text(printable_text(m.titles[i].replace("\n", " ⏎ ")[:300], keep=""))
        self.query_one("#map-point", Label).update(text)

    # -- actions -------------------------------------------------------------------------

    @on(VectorMapCanvas.Picked)
    def _picked(self, event: VectorMapCanvas.Picked) -> None:
        m = self.map
        if m is None or not 0 <= event.index < m.size:
            return
        key, session, info = m.keys[event.index], self.runner.session, self.info
        self._status("opening the entity…")
        self.runner.run(lambda: session.get(info, [key]), msg.EntityFetched, group=Group.MAP, node=self)

    def action_close(self) -> None:
        self._close(None)

    def _close(self, result: PointAction | None) -> None:
        for worker in self.workers:
            worker.cancel()
        for kind in [k for k in self.runner.running if k.value in ("map", "get")]:
            self.runner.finished(kind)
        self.dismiss(result)

    def action_choose_colour(self) -> None:
        labelled = self.labelled
        names = [*([labelled.label_name] if labelled else []), NO_COLOUR, *map_ops.colour_fields(self.info)]

        def chosen(name: str | None) -> None:
            if name is None:
                return
            self.colour_field = None if name == NO_COLOUR else name
            self.choices["colour"] = self.colour_field
            self._recolour()

        self.app.push_screen(ChoiceScreen("Colour the points by which field?", names), chosen)

    def _recolour(self) -> None:
        m = self.map
        if m is None:
            self.load()
            return
        field = self.colour_field
        if self.labelled is not None and field == self.labelled.label_name:
            from dataclasses import replace

            label_of = dict(zip(reversed(self.labelled.keys), reversed(self.labelled.labels)))
            self.show(replace(m, colour_field=field, colours=[label_of.get(k) for k in m.keys]), keep_cursor=True)
            return
        rows = self.result.rows if self.result is not None and not self.sample else None
        if field is None or (rows is not None and all(field in row for row in rows) and len(rows) == m.size):
            from dataclasses import replace

            by_key = {row.get(m.pk): row for row in rows} if rows is not None else {}
            colours = [by_key.get(k, {}).get(field) for k in m.keys] if field else [None] * m.size
            self.show(replace(m, colour_field=field, colours=colours), keep_cursor=True)
            return
        session, info, keys = self.runner.session, self.info, list(m.keys)
        self._status(f"reading {field} for {len(keys):,} points…")
        self.runner.run(lambda: session.map_colours(info, keys, field), msg.MapColoured, group=Group.MAP, node=self)

    def _ask_field(self, question: str, names: list[str]) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.vector_field = name
                self.choices["field"] = name
                self.load()
            elif self.map is None:
                self._status("No vector field chosen: press f to choose one, esc to close.")

        self.app.push_screen(ChoiceScreen(question, names), chosen)

    def action_choose_field(self) -> None:
        names = [f.name for f in map_ops.mappable_fields(self.info)]
        if len(names) < 2:
            self._status(f"'{self.info.name}' has one vector field the map can show"
                         + (f": {names[0]}." if names else " (none)."))
            return
        self._ask_field("Map which vector field?", names)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A finder's map has no sample to switch to: s is off, and out of the footer.
        return not (action == "toggle_source" and self.labelled is not None)

    def action_toggle_source(self) -> None:
        if self.result is None:
            self._status("There are no results to map on their own: this is a sample of the filter.")
            return
        self.sample = not self.sample
        self.load()
