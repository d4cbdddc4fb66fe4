"""One browser tab's app under ``milvus-tui serve``: ``python -m tui.web_tab [app options]``.

The app itself (``milvus-tui [options]``), but it also stops when the server that started it
dies, even by SIGKILL, when no quit message can come: an app left behind would hold its
connection and memory forever (seen with a killed server). On Linux the kernel sends SIGTERM,
which Textual's web driver turns into a clean exit. ``tui/web.py`` starts it from the server's
main thread (the signal fires when the spawning thread exits, ``tui/milvus/lite.py`` says more)
and names its pid in ``MILVUS_TUI_SERVE_PID``, so a server already gone is noticed too.
"""

from __future__ import annotations

import os
import signal
import sys


def die_with_server() -> None:
    server = int(os.environ.pop("MILVUS_TUI_SERVE_PID", "0") or 0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if server and os.getppid() != server:  # the server died before the signal was set up
        os._exit(1)
    _exit_soon_after(os.getppid())


def _exit_soon_after(parent: int, grace: float = 5.0) -> None:
    """The SIGTERM above asks for a clean exit; an app busy in a call to a server that died with
    ours may never get to it (seen: a tab still alive 15 s after its server was killed). So a
    watcher ends the process ``grace`` seconds after the server is gone, whatever it is doing."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


if __name__ == "__main__":
    die_with_server()
    from tui.cli import main

    main(prog_name="milvus-tui")
