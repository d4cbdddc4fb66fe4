"""Hybrid search setup: which searches to fuse, each with its own k, filter and index parameters,
and how to fuse them (RRF with its k, or weights).

A part searches one vector field, either with the query text (embedded for a dense field, raw
for a BM25 output) or with the stored vector of the row under the cursor ("more like this").
The plan is kept per collection by the main screen and used by every search in hybrid mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select

from ..errors import MilvusTuiError
from ..milvus import CollectionInfo
from ..milvus.catalog import FieldInfo
from ..milvus.search import Fusion, parse_params, text_fields
from ..printable import printable_text
from .dialog import Dialog

TEXT, ROW = "text", "key"


@dataclass(frozen=True)
class HybridPart:
    field: str
    source: str  # TEXT: the query text; ROW: the stored vector of the row under the cursor
    k: int
    expr: str = ""
    params: tuple[str, ...] = ()
    weight: float | None = None


@dataclass(frozen=True)
class HybridPlan:
    parts: tuple[HybridPart, ...]
    fusion: Fusion

    @property
    def needs_row(self) -> bool:
        return any(p.source == ROW for p in self.parts)

    @property
    def needs_text(self) -> bool:
        return any(p.source == TEXT for p in self.parts)


def default_plan(info: CollectionInfo, k: int = 20) -> HybridPlan:
    """Text on every field it can search (dense embedding, BM25), fused with RRF (k=60)."""
    return HybridPlan(tuple(HybridPart(name, TEXT, k) for name in text_fields(info)), Fusion())


def hybrid_label(plan: HybridPlan) -> str:
    """How the field choice names a plan: "hybrid (weighted): vec, vec2 (row)"."""
    how = "RRF" if plan.fusion.method == "rrf" else "weighted"
    parts = ", ".join(p.field + (" (row)" if p.source == ROW else "") for p in plan.parts)
    return f"hybrid ({how}): {parts}"


def _sources(info: CollectionInfo, f: FieldInfo) -> list[tuple[str, str]]:
    searchable = text_fields(info)
    out = [("query text", TEXT)] if f.name in searchable else []
    if f.name not in info.function_outputs:  # a BM25 output cannot be read back
        out.append(("row under cursor", ROW))
    return out


class HybridScreen(Dialog["HybridPlan | None"]):
    """Edit the hybrid plan; dismisses with the new plan, or None (esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    HybridScreen {
        #hybrid-box { width: 110; }
        #hybrid-parts { height: auto; max-height: 20; }
        .hybrid-row { height: auto; }
        .hybrid-row Checkbox { width: 30; }
        .hybrid-row Select { width: 24; }
        .hybrid-row Input { width: 1fr; }
        .hybrid-row .part-k, .hybrid-row .part-weight { width: 10; }
        #hybrid-fusion-row { height: auto; margin-top: 1; }
        #hybrid-fusion { width: 30; }
        #hybrid-rrf-k { width: 14; }
        #hybrid-error { color: $error; }
    }
    """

    def __init__(self, info: CollectionInfo, plan: HybridPlan) -> None:
        super().__init__()
        self.info = info
        self.plan = plan
        self.fields = [f for f in info.vector_fields if _sources(info, f)]

    def compose(self) -> ComposeResult:
        chosen = {p.field: p for p in self.plan.parts}
        with Vertical(id="hybrid-box", classes="dialog-box") as box:
            box.border_title = f"Hybrid search on {self.info.name}"
            yield Label("Each part: search it, with what, its k, filter, index parameters (ef=64 nprobe=16) "
                        "and weight (weighted fusion only).")
            with VerticalScroll(id="hybrid-parts"):
                for i, f in enumerate(self.fields):
                    part = chosen.get(f.name)
                    sources = _sources(self.info, f)
                    with Horizontal(classes="hybrid-row", id=f"part-{i}"):
                        yield Checkbox(printable_text(f"{f.name} ({f.dtype.lower()})"), part is not None,
                                       classes="part-on")
                        yield Select(sources, value=part.source if part else sources[0][1], allow_blank=False,
                                     classes="part-source")
                        yield Input(str(part.k if part else 20), placeholder="k", classes="part-k")
                        yield Input(part.expr if part else "", placeholder="filter (optional)", classes="part-expr")
                        yield Input(" ".join(part.params) if part else "", placeholder="params",
                                    classes="part-params")
                        yield Input("" if part is None or part.weight is None else str(part.weight),
                                    placeholder="weight", classes="part-weight")
            with Horizontal(id="hybrid-fusion-row"):
                yield Select([("fuse with RRF", "rrf"), ("fuse with weights", "weighted")],
                             value=self.plan.fusion.method, allow_blank=False, id="hybrid-fusion")
                yield Input(str(self.plan.fusion.k), placeholder="RRF k", id="hybrid-rrf-k")
            yield Label("", id="hybrid-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="hybrid-cancel")
                yield Button("Use this plan", variant="primary", id="hybrid-go")

    def on_mount(self) -> None:
        self.query(".part-on").first(Checkbox).focus()

    def _plan(self) -> HybridPlan:
        weighted = self.query_one("#hybrid-fusion", Select).value == "weighted"
        parts = []
        for i, f in enumerate(self.fields):
            row = self.query_one(f"#part-{i}", Horizontal)
            if not row.query_one(".part-on", Checkbox).value:
                continue
            text_k = row.query_one(".part-k", Input).value.strip()
            try:
                k = int(text_k)
            except ValueError:
                raise MilvusTuiError(f"k of {f.name} must be a whole number, not {text_k!r}.") from None
            if not 1 <= k <= 16384:
                raise MilvusTuiError(f"k of {f.name} must be between 1 and 16384.")
            params = tuple(row.query_one(".part-params", Input).value.replace(",", " ").split())
            parse_params(params)  # refused here, not after the search was sent
            weight = None
            if weighted:
                text_w = row.query_one(".part-weight", Input).value.strip()
                try:
                    weight = float(text_w)
                except ValueError:
                    raise MilvusTuiError(f"Give {f.name} a weight between 0 and 1.") from None
            source = str(row.query_one(".part-source", Select).value)
            parts.append(HybridPart(f.name, source, k, row.query_one(".part-expr", Input).value.strip(), params,
                                    weight))
        if len(parts) < 2:
            raise MilvusTuiError("Tick two or more parts: a hybrid search fuses several searches.")
        if weighted:
            fusion = Fusion("weighted", weights=tuple(p.weight or 0.0 for p in parts))
        else:
            text_k = self.query_one("#hybrid-rrf-k", Input).value.strip()
            try:
                fusion = Fusion("rrf", k=int(text_k))
            except ValueError:
                raise MilvusTuiError(f"RRF's k must be a whole number, not {text_k!r}.") from None
        fusion.ranker(len(parts))  # checks the weights and RRF's k
        return HybridPlan(tuple(parts), fusion)

    @on(Button.Pressed, "#hybrid-go")
    @on(Input.Submitted)
    def _go(self) -> None:
        try:
            plan = self._plan()
        except MilvusTuiError as exc:
            self.query_one("#hybrid-error", Label).update(printable_text(str(exc)))
            return
        self.dismiss(plan)

    @on(Button.Pressed, "#hybrid-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
