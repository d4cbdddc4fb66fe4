"""``milvus-tui serve`` in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; ``make browser`` installs it): the installed console script serves a seeded embedded
Lite on a free loopback port, the page shows the collections pane, a search typed as keys shows
its hits, no secret reaches a command line or the page, and ctrl+c leaves no process behind.

The terminal in the page is xterm.js drawing on a canvas, so its text is read from xterm's own
buffer: an init script catches each ``Terminal`` as it is built (it assigns ``this._core``, and
a setter on ``Object.prototype`` sees that first), and ``buffer.active`` gives its lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.test_journeys import COMMAND, Shell, assert_no_lite_left
from tests.test_lite import lite_pids_for, pid_alive
from tui.commands.serve import is_loopback
from tui.milvus.lite import free_port

CHROMIUM = "/usr/bin/chromium"
#: From the machine's notes: without the background-networking flags Chromium keeps dialling
#: hosts this closed network refuses.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECRET = "tok-7f3a9c-never-shown"

CATCH_TERMINALS = """
Object.defineProperty(Object.prototype, "_core", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "_core", {value, writable: true, configurable: true, enumerable: false});
    if (value && typeof this.loadAddon === "function") {
      (window.__terminals = window.__terminals || []).push(this);
    }
  },
});
"""
SCREEN_TEXT = """() => {
  const terminal = (window.__terminals || [])[0];
  if (!terminal) return null;
  const buffer = terminal.buffer.active, lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines.join("\\n");
}"""

FONT_STATUS = """() => [...document.fonts].filter(f => f.family.replace(/"/g, "") === "Roboto Mono").map(f => f.status)"""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_for_text(page: Any, *needles: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(SCREEN_TEXT) or ""
        if all(n in text for n in needles):
            return text
        time.sleep(0.1)
    raise AssertionError(f"no {needles} on the page's terminal in {timeout} s:\n{text}")


def wait_until_screen(page: Any, test: Any, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.evaluate(SCREEN_TEXT) or ""
        if text and test(text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"the page's terminal did not change as expected in {timeout} s:\n{text}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800})
        # Loopback only (a rule of this machine, and the page must need nothing else): a request
        # to any other host is refused and recorded.
        context.elsewhere = []

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                context.elsewhere.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        try:
            yield context
        finally:
            context.close()


@pytest.mark.timeout(120)
def test_serve_in_headless_chromium(tmp_path: Path, browser: Any) -> None:
    shell = Shell(tmp_path)
    shell.env["MILVUS_TOKEN"] = SECRET  # Lite takes no token, but it must travel like a real one
    shell.ok("ingest", str(shell.write_notes("notes.jsonl", 40)), "-c", "notes")
    port = free_port()
    server = subprocess.Popen([*COMMAND, "serve", "--port", str(port), "--json"], cwd=shell.cwd, env=shell.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline() or "{}")  # printed once it listens
        assert ready.get("url") == f"http://127.0.0.1:{port}", (ready, server.poll())
        lite = lite_pids_for(shell.data_dir.resolve())
        assert len(lite) == 1, "serve starts the one Lite every tab shares"
        html = urllib.request.urlopen(ready["url"], timeout=10).read().decode()
        assert f"ws://127.0.0.1:{port}/ws" in html and SECRET not in html

        page = browser.new_page()
        page.add_init_script(CATCH_TERMINALS)
        page.goto(ready["url"])
        screen = wait_for_text(page, "Collections", "notes", "40 entities", "minilm")  # model loaded too
        assert any("notes" in line and "40" in line and "loaded" in line for line in screen.splitlines())

        apps = children_of(server.pid)
        tabs = [pid for pid in apps if pid not in lite]
        assert len(tabs) == 1, apps
        argv = Path(f"/proc/{tabs[0]}/cmdline").read_bytes().split(b"\0")
        assert b"-m" in argv and b"tui.web_tab" in argv
        for pid in (server.pid, *apps):
            assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{tabs[0]}/environ").read_bytes().split(b"\0")
        assert f"MILVUS_TOKEN={SECRET}".encode() in environ  # the setting reached the app, privately

        page.focus(".xterm-helper-textarea")
        wait_until_screen(page, lambda text: "f Filter" in text.splitlines()[-1])  # the results have the focus
        page.keyboard.press("/")
        # Textual moves the focus a moment after "/" (Widget.focus is deferred): keys typed before
        # that go to the results table's bindings. The footer shows the query input's keys once
        # it has the focus.
        wait_until_screen(page, lambda text: "f Filter" not in text.splitlines()[-1])
        page.keyboard.type("where does the moon go")
        page.keyboard.press("Enter")
        screen = wait_for_text(page, "search: 10 hits", "score")
        hits = [line for line in screen.splitlines() if "(note " in line]
        assert len(hits) == 10 and all("the moon orbits the earth" in line for line in hits[:10]), screen
        assert SECRET not in screen
        assert browser.elsewhere == []  # textual-serve's page asked Google for its font; ours does not
        assert page.evaluate(FONT_STATUS) == ["loaded"]  # the bundled font, from this server
        page.screenshot(path=str(tmp_path / "serve.png"))  # kept for a look when this fails

        server.send_signal(signal.SIGINT)  # ctrl+c
        _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr
        assert "no login" in stderr and "Stopped" in stderr and "Traceback" not in stderr
        assert "asking 1 browser session(s) to quit" in stderr and "did not quit" not in stderr  # quit, not killed
        assert SECRET not in stderr
        page.wait_for_function("document.body.classList.contains('-closed')", timeout=10_000)  # "Session ended"
        for pid in apps:
            assert not pid_alive(pid), f"process {pid} outlived the server"
        assert_no_lite_left(shell)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_killed_server_takes_its_tabs_and_lite_along(tmp_path: Path, browser: Any) -> None:
    """SIGKILL leaves no quit message and no cleanup: the tab's app and the Lite child must
    notice on their own (parent-death signal, lifeline)."""
    shell = Shell(tmp_path)
    port = free_port()
    server = subprocess.Popen([*COMMAND, "serve", "--port", str(port), "--json"], cwd=shell.cwd, env=shell.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline() or "{}")
        assert ready.get("port") == port, (ready, server.poll())
        page = browser.new_page()
        page.add_init_script(CATCH_TERMINALS)
        page.goto(ready["url"])
        wait_for_text(page, "No collections in this database")
        apps = children_of(server.pid)
        lite = lite_pids_for(shell.data_dir.resolve())
        assert len(lite) == 1 and len(apps) == 2, (apps, lite)
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 15
    while any(pid_alive(pid) for pid in (*apps, *lite)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in apps if pid_alive(pid)] == []
    assert_no_lite_left(shell)


def test_serve_refuses_a_remote_host_without_allow_remote(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    result = shell.run("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr and "--allow-remote" in result.stderr
    assert not shell.data_dir.exists() and lite_pids_for(shell.data_dir.resolve()) == []  # nothing started


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True),
                                                ("::1", True), ("[::1]", True), ("0.0.0.0", False),
                                                ("192.168.1.5", False), ("::", False), ("example.org", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_help_names_the_risk() -> None:
    result = subprocess.run([*COMMAND, "serve", "--help"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0 and "no login" in result.stdout and "--allow-remote" in result.stdout
