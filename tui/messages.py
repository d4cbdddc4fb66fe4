"""Typed messages that workers post back to the UI.

Each carries what ran (an ``OpKind``), its result, how long it took and which mode (sync or
async) ran it, and the token and group of its run, all set in the constructor, so panes can
react, stale runs can be told apart, and the status bar and the timing panel can log it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from textual.message import Message

from .session import ExecMode, OpKind

if TYPE_CHECKING:
    from .milvus import CollectionInfo, DeletePreview, DeleteReport, ExportReport, QueryResult, RestoreReport
    from .milvus.backups import BackupList
    from .milvus.catalog import CollectionDetails
    from .milvus.connection import ServerInfo
    from .milvus.drops import DropPreview, DropReport
    from .milvus.edit import EditPreview, EditReport
    from .milvus.queries import Boundaries, Pager
    from .milvus.vectormap import VectorMap
    from .session import CatalogSnapshot


class Outcome(Message):
    """Base: a finished operation. Subclasses name the type of ``result``."""

    result: Any

    def __init__(self, kind: OpKind, result: Any, mode: ExecMode, elapsed: float, *, token: object | None = None,
                 group: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.result = result
        self.mode = mode
        self.elapsed = elapsed
        #: the run that posted it (``OpRunner.is_fresh``); None: not from a replaceable run.
        self.token = token
        self.group = group


class Connected(Outcome):
    result: ServerInfo


class EmbeddingsReady(Outcome):
    """``result`` is the model and its description."""

    result: tuple[Any, str]


class CatalogRefreshed(Outcome):
    result: CatalogSnapshot


class CollectionDescribed(Outcome):
    result: CollectionInfo


class DetailsReady(Outcome):
    result: CollectionDetails


class CollectionLoaded(Outcome):
    result: CollectionInfo


class ResultsReady(Outcome):
    """A page, a filter or a search."""

    result: QueryResult


class BoundariesFound(Outcome):
    """A background key scan found page boundaries of ``pager``. ``token`` names the fill, so
    one that was stopped can be told apart."""

    result: Boundaries

    def __init__(self, result: Boundaries, pager: Pager, token: object, elapsed: float) -> None:
        super().__init__(OpKind.PAGE, result, ExecMode.SYNC, elapsed, token=token, group="fill")
        self.pager = pager


class DeletePreviewed(Outcome):
    result: DeletePreview


class DeleteDone(Outcome):
    result: DeleteReport


class RestoreDone(Outcome):
    result: RestoreReport


class ExportDone(Outcome):
    result: ExportReport


class MapReady(Outcome):
    """The vector map's points, projected."""

    result: VectorMap


class MapColoured(Outcome):
    """Another colour field's values for the map's points, in their order."""

    result: list[Any]


# -- drops and the backups screen (tui/screens/drop.py, tui/screens/backups.py) ----------


class DropPreviewed(Outcome):
    result: DropPreview


class DropDone(Outcome):
    result: DropReport


class BackupsListed(Outcome):
    result: BackupList


class BackupRead(Outcome):
    """``result`` is the backup's header and its first entities."""

    result: tuple[dict[str, Any], list[dict[str, Any]]]


class BackupDeleted(Outcome):
    """``result`` is the number of bytes freed."""

    result: int
# Edits (issue 14).
class EditPreviewed(Outcome):
    result: EditPreview


class EditDone(Outcome):
    result: EditReport


class EntityFetched(Outcome):
    """One entity read whole by its primary key (the entity edit form starts from it; the vector
    map opens it in the detail view)."""

    result: list[dict[str, Any]]


class FailureKind(StrEnum):
    ERROR = "error"
    #: replaced by a newer run, cancelled with esc, or stopped on the user's word.
    CANCELLED = "cancelled"


class OperationFailed(Message):
    """An operation raised; ``error`` is a sentence fit to show the user."""

    def __init__(self, kind: OpKind, error: str, failure: FailureKind = FailureKind.ERROR,
                 mode: ExecMode | None = None, elapsed: float = 0.0, *, token: object | None = None,
                 group: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.error = error
        self.failure = failure
        self.mode = mode
        self.elapsed = elapsed
        self.token = token
        self.group = group


@dataclass(frozen=True)
class ProgressInfo:
    kind: OpKind
    done: int
    total: int | None
    label: str


class ProgressUpdate(Message):
    def __init__(self, info: ProgressInfo) -> None:
        super().__init__()
        self.info = info


# -- duplicates and the quality scan (issue 14) ---------------------------------------------


class DuplicatesFound(Outcome):
    result: Any  # tui.milvus.duplicates.DuplicateReport


class KeysFixed(Outcome):
    result: Any  # tui.milvus.duplicates.KeysFixed


class QualityScanned(Outcome):
    result: Any  # tui.milvus.quality.QualityReport
