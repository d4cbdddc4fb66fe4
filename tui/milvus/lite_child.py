"""The Milvus Lite child's entry point: ``python -P .../tui/milvus/lite_child.py server ...``.

``LiteServer.spawn`` (``lite.py``) runs this file as a script, which prepares the process
and then becomes ``milvus-lite server`` via runpy (one process, the server's arguments):

- a watcher thread blocks in ``read()`` on stdin, a pipe only the app holds open; EOF means
  every copy of the write end is closed, i.e. the app is gone, whichever thread started the
  child and however it ended (SIGKILL included);
- a second thread watches the parent's pid, for when the lifeline's write end leaked into
  another process;
- on Linux, ``PR_SET_PDEATHSIG``, only when the parent asks (``lite.py`` says why);
- SIGINT lets Milvus Lite shut down cleanly (it closes the database on KeyboardInterrupt).

Boot speed: the server needs only pymilvus's generated protobuf modules
(``pymilvus.grpc_gen``), but importing them runs ``pymilvus/__init__``, which loads the whole
client, pandas and requests: ~0.9 s of the child's ~1.6 s boot here. So the package is
registered without running its ``__init__``; the first access to any other top-level name
runs it then. For the same reason this file imports only the standard library and is run
by its path, not as ``tui.milvus.lite_child`` (which would import ``tui`` and ``tui.milvus``
first; ``python -m tui.milvus.lite_child`` works too, ~0.1 s slower).
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import signal
import sys
import threading
import time
import types


def _lazy_pymilvus() -> None:
    spec = importlib.util.find_spec("pymilvus")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    loader = spec.loader

    class _Lazy(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if name.startswith("__"):
                raise AttributeError(name)
            self.__class__ = types.ModuleType
            loader.exec_module(self)
            return getattr(self, name)

    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Lazy
    sys.modules["pymilvus"] = module


_shutting_down = False


def _interrupt_once(signum: int, frame: object) -> None:
    """SIGINT starts Lite's clean shutdown once. When the parent dies, the lifeline, the parent
    watcher and PR_SET_PDEATHSIG may all send one; a second KeyboardInterrupt raised inside the
    first one's handling broke the shutdown ("release unlocked lock") before the database closed."""
    global _shutting_down
    if _shutting_down:
        return
    _shutting_down = True
    raise KeyboardInterrupt


def _stop_now() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)  # Lite drains in-flight requests for up to 5 s, then closes the database
    os._exit(1)


def _lifeline() -> None:
    try:
        while os.read(0, 64):
            pass
    except OSError:
        pass
    _stop_now()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    _stop_now()


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGINT the moment the parent dies (it fires on the exit of the
    # thread that spawned us, so the parent asks for it only from its main thread).
    if os.environ.pop("MILVUS_TUI_PDEATHSIG", "") != "1" or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tolerate_client_keepalive() -> None:
    # pymilvus pings every 10 s even when idle; a grpc server's defaults allow one ping per
    # 5 min, then answer GOAWAY "too_many_pings", failing whatever call is in flight. An
    # app left open all day is idle most of the time, so accept the client's pings.
    import grpc

    build = grpc.server

    def server(*args: object, options: object = None, **kwargs: object) -> object:
        options = list(options or []) + [  # type: ignore[call-overload]
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
        return build(*args, options=options, **kwargs)  # type: ignore[arg-type]

    grpc.server = server


def main() -> None:
    _lazy_pymilvus()
    # A shell script's background job starts with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: our SIGINT (stop, lifeline) would do nothing.
    signal.signal(signal.SIGINT, _interrupt_once)
    parent = int(os.environ.pop("MILVUS_TUI_PARENT_PID", "0") or 0)
    _die_with_parent()
    if parent and os.getppid() != parent:  # the parent died before we got here
        os._exit(1)
    _tolerate_client_keepalive()
    threading.Thread(target=_lifeline, name="milvus-tui-lifeline", daemon=True).start()
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), name="milvus-tui-parent-watch",
                         daemon=True).start()
    sys.argv = ["milvus_lite", *sys.argv[1:]]
    runpy.run_module("milvus_lite", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
