"""Typed messages that workers post back to the UI.

Each carries its result, how long it took and which mode (sync or async) ran it, so
panes can react and the status bar (and later the timing panel) can log it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


class Outcome(Message):
    """Base: a finished operation."""

    def __init__(self, what: str, result: Any, mode: str, elapsed: float) -> None:
        super().__init__()
        self.what = what
        self.result = result
        self.mode = mode
        self.elapsed = elapsed


class Connected(Outcome):
    """The connection opened; ``result`` is a ``ServerInfo``."""


class EmbeddingsReady(Outcome):
    """The embedding model is built; ``result`` is its description."""


class CatalogRefreshed(Outcome):
    """``result`` is a list of ``CollectionInfo``."""


class CollectionDescribed(Outcome):
    """``result`` is one ``CollectionInfo``."""


class ResultsReady(Outcome):
    """``result`` is a ``QueryResult`` (a page, a filter or a search)."""


class BoundariesFound(Outcome):
    """A background key scan found page boundaries of ``pager``; ``result`` is a
    ``Boundaries``. ``token`` names the fill, so one that was stopped can be told apart."""

    def __init__(self, result: Any, pager: Any, token: object, elapsed: float) -> None:
        super().__init__("page boundaries", result, "sync", elapsed)
        self.pager = pager
        self.token = token


class CollectionLoaded(Outcome):
    """``result`` is the collection name."""


class DeletePreviewed(Outcome):
    """``result`` is a ``DeletePreview``."""


class DeleteDone(Outcome):
    """``result`` is a ``DeleteReport``."""


class RestoreDone(Outcome):
    """``result`` is a ``RestoreReport``."""


class ExportDone(Outcome):
    """``result`` is an ``ExportReport``."""


class OperationFailed(Message):
    """An operation raised; ``error`` is a sentence fit to show the user."""

    def __init__(self, what: str, error: str, kind: str = "error", mode: str = "", elapsed: float = 0.0) -> None:
        super().__init__()
        self.what = what
        self.error = error
        self.kind = kind
        self.mode = mode
        self.elapsed = elapsed


@dataclass
class ProgressInfo:
    what: str
    done: int
    total: int | None
    label: str


class ProgressUpdate(Message):
    def __init__(self, info: ProgressInfo) -> None:
        super().__init__()
        self.info = info
