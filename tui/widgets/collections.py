"""The collections pane: database → collection → fields, indexes and partitions.

For the embedded Lite default the pane first shows what the data directory holds
(``show_on_disk``), dim and marked "starting…", on the very first frame; the server's
catalog (``show_catalog``) then replaces it with counts and load state.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..milvus import CollectionInfo
from ..milvus.catalog import CollectionDetails

DB_PREFIX = "\x00db:"  # node data for a database node (cannot clash with a collection name)

BADGES = {
    "Loaded": ("● loaded", "green"),
    "Loading": ("◐ loading", "yellow"),
    "NotLoad": ("○ released", "red"),
    "PartiallyLoaded": ("◑ partly loaded", "yellow"),
}


def collection_label(info: CollectionInfo) -> Text:
    label = Text(info.name, style="bold")
    if info.row_count is not None:
        label.append(f"  {info.row_count:,}", style="cyan")
        if not info.count_exact:
            label.append("~", style="dim")
    badge, style = BADGES.get(info.load_state, (info.load_state, "dim"))
    if info.load_state == "PartiallyLoaded" and info.loaded_partitions is not None:
        badge += f" ({len(info.loaded_partitions)}/{len(info.partitions)} partitions)"
    label.append(f"  {badge}", style=style)
    return label


class CollectionsPane(Tree[str]):
    """Selecting a collection node posts ``CollectionsPane.Selected``."""

    BORDER_TITLE = "Collections"
    DEFAULT_CSS = """
    CollectionsPane {
        border: round $primary 50%;
        border-title-color: $primary;
        &:focus {
            border: round $primary;
        }
    }
    """

    class Selected(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class DatabaseSelected(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, **kwargs: object) -> None:
        super().__init__("databases", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self.infos: dict[str, CollectionInfo] = {}
        #: Aliases and partition counts, read for the collections the user opened.
        self.details: dict[str, CollectionDetails] = {}
        #: True while the nodes come from the data directory, not from the server.
        self.unconfirmed = False

    def show_on_disk(self, db_name: str, databases: tuple[str, ...], names: tuple[str, ...],
                     selected: str | None, note: str = "starting…") -> None:
        """Names read from the data directory, before the server answers: no counts, no
        load state, nothing to expand; selecting one posts ``Selected`` all the same."""
        self.clear()
        self.infos = {}
        self.unconfirmed = True
        db = self.root.add(Text.assemble(("⛁ ", "dim"), (db_name, "bold")), data=None, expand=True)
        for other in databases:
            if other != db_name:
                self.root.add_leaf(Text.assemble(("⛁ ", "dim"), (other, "dim")), data=None)
        for name in names:
            node = db.add_leaf(self._unconfirmed_label(name, note), data=name)
            if name == selected:
                self.call_after_refresh(self._select_node, node)
        self.border_subtitle = "from disk · unconfirmed"

    def mark_unconfirmed(self, note: str) -> None:
        """The server did not answer: say so on each name still read from disk."""
        if not self.unconfirmed:
            return
        for node in self._collection_nodes():
            node.set_label(self._unconfirmed_label(str(node.data), note))

    @staticmethod
    def _unconfirmed_label(name: str, note: str) -> Text:
        return Text.assemble((name, "dim"), (f"  {note}", "dim italic"))

    def show_catalog(self, db_name: str, databases: list[str], infos: list[CollectionInfo],
                     selected: str | None) -> None:
        self.clear()
        self.infos = {i.name: i for i in infos}
        self.unconfirmed = False
        self.border_subtitle = ""
        db = self.root.add(Text.assemble(("⛁ ", "dim"), (db_name, "bold")), data=None, expand=True)
        for other in databases:
            if other != db_name:
                self.root.add_leaf(Text.assemble(("⛁ ", "dim"), (other, "dim"), ("  enter to open", "dim italic")),
                                   data=DB_PREFIX + other)
        if not infos:
            db.add_leaf(Text("(no collections)", style="dim italic"))
        for info in infos:
            node = db.add(collection_label(info), data=info.name, expand=False)
            self._add_details(node, info)
            if info.name == selected:
                self.call_after_refresh(self._select_node, node)

    def _select_node(self, node: TreeNode[str]) -> None:
        self.move_cursor(node)

    def _add_details(self, node: TreeNode[str], info: CollectionInfo) -> None:
        fields = node.add(Text(f"fields ({len(info.fields)})", style="dim"), data=info.name)
        for f in info.fields:
            fields.add_leaf(Text.assemble((f.name, "bold" if f.is_primary else ""), ("  " + f.summary(), "dim")),
                            data=info.name)
        if info.enable_dynamic_field:
            fields.add_leaf(Text.assemble(("$meta", "italic"), ("  dynamic field", "dim")), data=info.name)
        indexes = node.add(Text(f"indexes ({len(info.indexes)})", style="dim"), data=info.name)
        for index in info.indexes:
            params = " ".join(f"{k}={v}" for k, v in index.params.items())
            progress = index.progress()
            indexes.add_leaf(Text.assemble((index.field, "bold"),
                                           (f"  {index.index_type} {index.metric_type or ''} {params}", "dim"),
                                           (f"  {progress}" if progress else "",
                                            "dim" if progress.startswith("built") else "yellow")),
                             data=info.name)
        if info.functions:
            functions = node.add(Text(f"functions ({len(info.functions)})", style="dim"), data=info.name)
            for fn in info.functions:
                params = " ".join(f"{k}={v}" for k, v in fn.params.items())
                functions.add_leaf(Text.assemble(
                    (fn.name, "bold"), (f"  {fn.type}: {', '.join(fn.input_fields)} -> {', '.join(fn.output_fields)} "
                                        f"{params}".rstrip(), "dim")), data=info.name)
        if info.properties:
            props = node.add(Text(f"properties ({len(info.properties)})", style="dim"), data=info.name)
            for key, value in info.properties.items():
                props.add_leaf(Text.assemble((key, "bold"), (f"  {value}", "dim")), data=info.name)
        parts = node.add(Text(f"partitions ({len(info.partitions)})", style="dim"), data=info.name)
        details = self.details.get(info.name)
        for p in info.partitions:
            label = Text(p)
            if details is not None and p in details.partition_rows:
                label.append(f"  {details.partition_rows[p]:,}{'' if details.counts_exact else '~'}", style="cyan")
            parts.add_leaf(label, data=info.name)
        if details is not None and details.aliases:
            aliases = node.add(Text(f"aliases ({len(details.aliases)})", style="dim"), data=info.name)
            for alias in details.aliases:
                aliases.add_leaf(alias, data=info.name)

    def show_details(self, details: CollectionDetails) -> None:
        """Aliases and partition counts of the opened collection, under its node."""
        self.details[details.collection] = details
        info = self.infos.get(details.collection)
        if info is not None:
            self.update_collection(info)

    def update_collection(self, info: CollectionInfo) -> None:
        """A new description of one collection: its label and its details (partitions, indexes
        and their build progress, aliases) are redrawn, keeping which branches are open."""
        self.infos[info.name] = info
        for node in self._collection_nodes():
            if node.data == info.name:
                node.set_label(collection_label(info))
                expanded = {str(child.label).split(" (")[0] for child in node.children if child.is_expanded}
                node.remove_children()
                self._add_details(node, info)
                for child in node.children:
                    if str(child.label).split(" (")[0] in expanded:
                        child.expand()

    def _collection_nodes(self) -> list[TreeNode[str]]:
        return [child for db in self.root.children for child in db.children
                if child.data and not child.data.startswith(DB_PREFIX)]

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        data = event.node.data
        if data and data.startswith(DB_PREFIX):
            event.stop()
            self.post_message(self.DatabaseSelected(data.removeprefix(DB_PREFIX)))
        elif data:
            event.stop()
            self.post_message(self.Selected(data))

    @property
    def current(self) -> str | None:
        """The collection under the cursor (or owning the field/index node under it)."""
        node = self.cursor_node
        if node is None or not node.data or node.data.startswith(DB_PREFIX):
            return None
        return node.data
