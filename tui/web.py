"""textual-serve's web server, with what ``milvus-tui serve`` needs changed (see
``tui/commands/serve.py`` for why):

- each browser tab's app process is started from an argument list, not a shell command, with
  the settings in its environment (textual-serve passes only its own ``os.environ``);
- the server keeps every running app, so that stopping it quits them all, waits for them
  and kills one that hangs;
- it prints no logo and no command line; the caller says when it is ready;
- its page asks nothing of another host: textual-serve's page loads its font from Google's
  font service (the user's address sent to a third party, and nothing offline), so the page
  is served with an ``@font-face`` for the same font that textual-serve bundles instead.

Imports aiohttp and textual-serve, which cost ~0.2 s: only ``serve`` imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

log = logging.getLogger("textual-serve")


class TabApp(AppService):
    """One browser tab's app process."""

    def __init__(self, argv: list[str], env: dict[str, str], **kwargs: object) -> None:
        super().__init__(shlex.join(argv), **kwargs)  # type: ignore[arg-type]
        self.argv = argv
        self.extra_env = env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment.update(self.extra_env)
        environment["MILVUS_TUI_SERVE_PID"] = str(os.getpid())  # tui/web_tab.py: stop when we die
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        # textual-serve runs a shell command; an argument list needs no quoting and no shell.
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height))
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        return self._process


#: textual-serve's font link (templates/app_index.html), and what replaces it.
GOOGLE_FONT = """<link
      rel="stylesheet"
      href="https://fonts.googleapis.com/css?family=Roboto%20Mono"
    />"""
BUNDLED_FONT = """<style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
        font-weight: 100 700;
      }
    </style>"""


class AppServer(Server):
    def __init__(self, argv: list[str], env: dict[str, str], *, host: str, port: int, public_url: str) -> None:
        super().__init__(shlex.join(argv[:1]), host=host, port=port, title="milvus-tui", public_url=public_url)
        self.argv = argv
        self.env = env
        self.tabs: dict[TabApp, web.WebSocketResponse] = {}

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        page = (self.templates_path / "app_index.html").read_text(encoding="utf-8")
        # A later textual-serve may change the link: the page then stays as it ships.
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": page.replace(GOOGLE_FONT, BUNDLED_FONT)}))
        return app

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints its logo and the command here; ``serve`` prints the address."""

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """As textual-serve's, with our ``TabApp`` (kept in ``self.tabs`` until it ends)."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        tab: TabApp | None = None
        try:
            await websocket.prepare(request)
            tab = TabApp(self.argv, self.env, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                         close=websocket.close, download_manager=self.download_manager, debug=self.debug)
            self.tabs[tab] = websocket
            await tab.start(width, height)
            try:
                await self._process_messages(websocket, tab)
            finally:
                await tab.stop()
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # noqa: BLE001 - one tab's failure must not stop the server
            log.exception(error)
        finally:
            if tab is not None:
                await tab.stop()
                if tab.process is None or tab.process.returncode is not None:
                    self.tabs.pop(tab, None)
        return websocket

    async def stop_tabs(self, grace: float) -> None:
        """Ask every tab's app to quit, wait up to ``grace`` seconds, kill what is left."""
        tabs = list(self.tabs.items())
        if tabs:
            print(f"Stopping: asking {len(tabs)} browser session(s) to quit …", file=sys.stderr, flush=True)
        for tab, _ in tabs:
            with contextlib.suppress(Exception):
                await tab.send_meta({"type": "quit"})
        processes = [tab.process for tab, _ in tabs if tab.process is not None]
        if processes:
            _, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in processes], timeout=grace)
            if pending:
                log.warning("%d app process(es) did not quit in %.0f s: killing them", len(pending), grace)
                for process in processes:
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                await asyncio.wait(pending, timeout=5)
        for tab, websocket in tabs:
            with contextlib.suppress(Exception):
                await websocket.close()
            self.tabs.pop(tab, None)


def run_server(argv: list[str], env: dict[str, str], *, host: str, port: int, public_url: str,
               on_ready: Callable[[], None], quit_grace: float) -> str | None:
    """Serve until SIGINT or SIGTERM; None when stopped, else what went wrong."""
    if not log.handlers:  # an app that fails to start is logged here
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("textual-serve: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return asyncio.run(_serve(argv, env, host=host, port=port, public_url=public_url, on_ready=on_ready,
                              quit_grace=quit_grace))


async def _serve(argv: list[str], env: dict[str, str], *, host: str, port: int, public_url: str,
                 on_ready: Callable[[], None], quit_grace: float) -> str | None:
    server = AppServer(argv, env, host=host, port=port, public_url=public_url)
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None, shutdown_timeout=3)
    await runner.setup()
    try:
        await web.TCPSite(runner, host.strip("[]"), port).start()
    except OSError as exc:
        await runner.cleanup()
        advice = "Pick another with --port." if exc.errno == errno.EADDRINUSE else "Check --host."
        return f"Cannot listen on {host} port {port}: {exc.strerror or exc}. {advice}"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        on_ready()
        await stop.wait()
    finally:
        # A second ctrl+c during the stop must not cut it short: the apps are being waited for.
        for sig in signals:
            loop.add_signal_handler(sig, lambda: None)
        try:
            await server.stop_tabs(quit_grace)
            await runner.cleanup()
            await server.stop_tabs(quit_grace)  # a tab that opened during the stop
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
    return None
