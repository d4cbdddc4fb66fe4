"""Helpers for driving ``MilvusTuiApp`` with Pilot against the session's real Lite server.

Workers run for real, so tests poll for the state they expect (``wait_until``) instead
of sleeping a fixed time. Assertions read widget state: ``ResultsPane.result`` holds the
``QueryResult`` on screen, the DataTable its rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label

from tui.app import MilvusTuiApp
from tui.config import Settings
from tui.milvus import QueryResult
from tui.screens.main import MainScreen
from tui.widgets.query_bar import QueryBar
from tui.widgets.results import ResultsPane
from tui.widgets.status import StatusBar

SIZE = (120, 40)


def make_app(uri: str, collection: str, **settings: Any) -> MilvusTuiApp:
    return recording(MilvusTuiApp(Settings(uri=uri, collection=collection, **settings)))


def recording(app: MilvusTuiApp) -> MilvusTuiApp:
    """The app, keeping every notification it shows (a toast expires: on a loaded machine it can
    be gone before a test looks, and a test asserting on it then fails for the wrong reason)."""
    shown: list[str] = []
    notify = app.notify

    def notify_and_keep(message: str, *, title: str = "", **kw: Any) -> None:
        shown.append(f"{title or ''}: {message}")
        notify(message, title=title, **kw)

    app.notify = notify_and_keep  # type: ignore[method-assign]
    app.shown_notifications = shown  # type: ignore[attr-defined]
    return app


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 20.0,
                     what: str = "condition") -> Any:
    """Let the app run until ``predicate()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; {app_state(pilot.app)}")
        await pilot.pause(0.05)


def app_state(app: Any) -> str:
    """What the app is doing, for a failure message: a timeout alone says nothing about why."""
    try:
        running = dict(app.main.running)
    except Exception:  # noqa: BLE001 - the app may not have a main screen yet
        running = {}
    notes = [str(n.message)[:160] for n in list(app._notifications)[-4:]]
    return f"screen={type(app.screen).__name__}, running={running}, last notifications={notes}"


def main(app: MilvusTuiApp) -> MainScreen:
    return app.main


def results(app: MilvusTuiApp) -> ResultsPane:
    return app.main.query_one(ResultsPane)


def result(app: MilvusTuiApp) -> QueryResult | None:
    return results(app).result


def table(app: MilvusTuiApp) -> DataTable[Any]:
    return results(app).table


def title(app: MilvusTuiApp) -> str:
    return str(app.main.query_one("#results-title", Label).render())


def query_input(app: MilvusTuiApp) -> Input:
    return app.main.query_one("#query-input", Input)


def query_error(app: MilvusTuiApp) -> str:
    return str(app.main.query_one("#query-error", Label).render())


def status(app: MilvusTuiApp) -> StatusBar:
    return app.main.query_one(StatusBar)


def query_bar(app: MilvusTuiApp) -> QueryBar:
    return app.main.query_one(QueryBar)


def idle(app: MilvusTuiApp) -> bool:
    """No Milvus operation is in flight and nothing shows as loading."""
    return not app.main.running and not results(app).has_class("loading")


async def wait_result(pilot: Pilot[Any], app: MilvusTuiApp, predicate: Callable[[QueryResult], Any],
                      timeout: float = 20.0, what: str = "results") -> QueryResult:
    """Wait until the app is idle and the result on screen satisfies ``predicate``."""
    def ready() -> QueryResult | None:
        r = result(app)
        return r if r is not None and idle(app) and predicate(r) else None

    return await wait_until(pilot, ready, timeout, what)


async def wait_first_page(pilot: Pilot[Any], app: MilvusTuiApp, timeout: float = 30.0) -> QueryResult:
    return await wait_result(pilot, app, lambda r: r.kind == "page" and r.page == 0 and r.rows, timeout,
                             "the first page")


async def wait_embeddings(pilot: Pilot[Any], app: MilvusTuiApp, timeout: float = 30.0) -> None:
    await wait_until(pilot, lambda: app.main.session.embeddings is not None, timeout, "the embedding model")


async def focus_table(pilot: Pilot[Any], app: MilvusTuiApp) -> None:
    """Key bindings like n/p/d must not land in the query input as text."""
    table(app).focus()
    await pilot.pause()


async def submit(pilot: Pilot[Any], app: MilvusTuiApp, mode: str, text: str) -> None:
    """Switch the query bar to ``mode``, type ``text`` into the input and press enter."""
    query_bar(app).set_mode(mode)
    await pilot.pause()
    query_input(app).value = text
    query_input(app).cursor_position = len(text)
    await pilot.press("enter")


def notifications(app: MilvusTuiApp) -> list[str]:
    """Texts of the toasts shown so far (titles included), expired ones too where recorded."""
    current = [f"{n.title or ''}: {n.message}" for n in app._notifications]
    return list(dict.fromkeys([*getattr(app, "shown_notifications", []), *current]))
