"""The seed's network, simulated on loopback: a remote embedding API and (optionally) a remote
Milvus, for the timing panel and ``milvus-tui bench``.

The seed tutorial's contrast (23.7x add, 14.6x search, 47.9x delete) comes from waiting on a
network: every operation waits ~100 ms or more for OpenAI and a Milvus server, and async
overlaps those waits. Here the bundled model answers in microseconds and Milvus Lite is on
loopback, so there is little to overlap. ``SimulatedRemote`` puts the waits back, for real:

- **embedding API**: an OpenAI-compatible ``POST /v1/embeddings`` server
  (``tui/embeddings/server.py``) serving the bundled local model after a fixed delay per
  request. The bench talks to it through the ordinary OpenAI provider, so sync and async
  clients wait on real sockets, with real HTTP, connection pools and JSON.
- **Milvus round trip** (optional): a TCP delay line in front of the Milvus server. Bytes in
  each direction are forwarded half the chosen round trip after they arrive, in order and
  pipelined (a chunk never waits for the one before it to be delayed), which is what a
  network link does; gRPC's HTTP/2 streams inside it are untouched.

Each runs in a child process of its own, not in a thread of the app: the delay is the only
thing it adds, its CPU (HTTP, JSON, the model, the forwarding) does not compete with the UI's
event loop for the GIL, and the two do not delay each other's answers. A child stops when
``stop()`` runs, at interpreter exit, and when the parent dies without either (its stdin is
a pipe only the parent holds: EOF ends it), so no thread, process or port outlives a run.

Child entry points: ``python -m tui.timing.simulated embedding --ms 100`` and ``... milvus
--ms 25 --target 127.0.0.1:PORT``; each prints ``{"port": N}`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

#: The choices the panel and ``milvus-tui bench`` offer (0 = off), in ms.
EMBEDDING_CHOICES = (0, 50, 100, 250)
MILVUS_CHOICES = (0, 10, 25, 50, 100, 250)  # 250: the seed's server answered a delete in ~290 ms
MAX_MS = 5000
SIMULATED_MODEL = "simulated-remote-embedding"
SIMULATED_KEY = "simulated"  # the local server ignores it; the openai client wants one


def parse_ms(value: str | int | None) -> int:
    """``"off"``, ``"100"``, ``"100ms"`` or an int -> milliseconds (0 = off); ValueError otherwise."""
    if value is None:
        return 0
    if isinstance(value, int):
        ms = value
    else:
        text = value.strip().lower().removesuffix("ms").strip()
        if text in ("off", "none", "no", ""):
            return 0
        if not text.isdigit():
            raise ValueError(f"A simulated latency is 'off' or a whole number of milliseconds, not {value!r}.")
        ms = int(text)
    if not 0 <= ms <= MAX_MS:
        raise ValueError(f"A simulated latency must be between 0 and {MAX_MS} ms (got {ms}).")
    return ms


def describe(embedding_ms: int, milvus_ms: int) -> str:
    """The label every result of a simulated run carries ("" for a real run)."""
    parts = []
    if embedding_ms:
        parts.append(f"remote embedding API {embedding_ms} ms per request")
    if milvus_ms:
        parts.append(f"remote Milvus {milvus_ms} ms per round trip")
    return "SIMULATED on loopback: " + ", ".join(parts) if parts else ""


class _Child:
    """One child process serving one simulated endpoint; it prints its port when ready."""

    def __init__(self, args: list[str], startup_timeout: float) -> None:
        env = dict(os.environ, MILVUS_URI="")  # pymilvus is never imported there, but be sure
        # stderr to a file, not a pipe: a pipe nobody reads would block the child once full.
        self.errors = tempfile.TemporaryFile()
        # Its own process group: ctrl+c in the terminal goes to the app, which stops it.
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-P", "-m", "tui.timing.simulated", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, env=env, process_group=0)
        self.pid = self.process.pid
        self.startup_timeout = startup_timeout

    def ready(self) -> int:
        """Block until the child serves; return its port."""
        process = self.process
        assert process is not None and process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.1)
            if ready:
                line = process.stdout.readline()
                if line:
                    return int(json.loads(line)["port"])
            if process.poll() is not None:
                self.errors.seek(0)
                err = self.errors.read().decode(errors="replace")
                raise RuntimeError(f"The simulated remote endpoint exited during startup: {err.strip()[-500:]}")
        raise RuntimeError(f"The simulated remote endpoint did not start within {self.startup_timeout:.0f} s.")

    def stop(self, timeout: float) -> None:
        """Closing its lifeline (stdin) is enough; a kill if it does not go."""
        process, self.process = self.process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout, self.errors):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class SimulatedRemote:
    """The child processes serving the simulated endpoints (one each, so neither's CPU delays
    the other's answers); a context manager."""

    def __init__(self, embedding_ms: int = 0, milvus_ms: int = 0, *, milvus_uri: str | None = None,
                 dim: int = 256, startup_timeout: float = 60.0) -> None:
        self.embedding_ms = parse_ms(embedding_ms)
        self.milvus_ms = parse_ms(milvus_ms)
        self.dim = dim
        self.startup_timeout = startup_timeout
        self.target: tuple[str, int] | None = None
        if self.milvus_ms:
            self.target = _proxy_target(milvus_uri)
        self.children: list[_Child] = []
        self.embedding_port: int | None = None
        self.milvus_port: int | None = None

    @property
    def label(self) -> str:
        return describe(self.embedding_ms, self.milvus_ms)

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    @property
    def base_url(self) -> str | None:
        """The embeddings endpoint (``http://127.0.0.1:PORT/v1``), when simulated."""
        return f"http://127.0.0.1:{self.embedding_port}/v1" if self.embedding_port else None

    def milvus_connection(self, connection_args: dict[str, Any]) -> dict[str, Any]:
        """``connection_args`` with the URI pointed at the delay line (same token, database)."""
        if not self.milvus_port:
            return connection_args
        parts = urlsplit(str(connection_args["uri"]))
        return {**connection_args, "uri": urlunsplit((parts.scheme, f"127.0.0.1:{self.milvus_port}", "", "", ""))}

    def embeddings(self) -> Any:
        """The ordinary OpenAI-compatible provider, pointed at the simulated endpoint."""
        from ..embeddings import EmbeddingSettings, make_embeddings

        assert self.base_url is not None
        return make_embeddings(EmbeddingSettings(provider="openai", base_url=self.base_url, api_key=SIMULATED_KEY,
                                                 model=SIMULATED_MODEL, max_retries=0, check_ctx_length=False))

    def start(self) -> Self:
        """Start the children and block until they serve (the embedding one loads the model first)."""
        atexit.register(self.stop)
        try:
            embedding = milvus = None
            if self.embedding_ms:
                embedding = _Child(["embedding", "--ms", str(self.embedding_ms), "--dim", str(self.dim)],
                                   self.startup_timeout)
                self.children.append(embedding)
            if self.target is not None:
                milvus = _Child(["milvus", "--ms", str(self.milvus_ms), "--target",
                                 f"{self.target[0]}:{self.target[1]}"], self.startup_timeout)
                self.children.append(milvus)
            # Both started before either is waited for: they boot side by side.
            self.embedding_port = embedding.ready() if embedding else None
            self.milvus_port = milvus.ready() if milvus else None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop every child; safe to call again."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        for child in self.children:
            child.stop(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _proxy_target(uri: str | None) -> tuple[str, int]:
    """Where the delay line forwards to: a plain-TCP Milvus endpoint (http://host:port)."""
    parts = urlsplit(uri or "")
    if parts.scheme != "http" or not parts.hostname:
        # TLS would check the server's name against 127.0.0.1, and a local .db file has no
        # socket at all; both would make the simulation fail for reasons of its own.
        raise ValueError("Simulated Milvus latency needs a server reached over plain http:// "
                         "(the embedded Milvus Lite child is one); this connection is not.")
    return parts.hostname, parts.port or 19530


# -- the child ------------------------------------------------------------------------------


async def _delay_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump_in() -> None:
        try:
            while data := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + delay, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((loop.time() + delay, b""))

    feeder = asyncio.ensure_future(pump_in())
    try:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        feeder.cancel()
        with contextlib.suppress(Exception):
            writer.close()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _serve_proxy(target: tuple[str, int], round_trip: float, ready: asyncio.Future[int]) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        _nodelay(client_w)
        _nodelay(server_w)
        half = round_trip / 2  # one way each: a request and its answer together wait one round trip
        await asyncio.gather(_delay_line(client_r, server_w, half), _delay_line(server_r, client_w, half))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _start_proxy(target: tuple[str, int], round_trip: float) -> int:
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = loop.create_future()
    threading.Thread(target=lambda: loop.run_until_complete(_serve_proxy(target, round_trip, ready)),
                     daemon=True, name="milvus-delay-line").start()
    deadline = time.monotonic() + 10
    while not ready.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return ready.result()


def _wait_for_eof() -> None:
    """The lifeline: the parent holds the other end of stdin; EOF means it stopped us or died."""
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(1 << 12):
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One simulated remote endpoint (a child of the timing engine)")
    sub = parser.add_subparsers(dest="what", required=True)
    embedding = sub.add_parser("embedding", help="OpenAI-compatible embeddings from the local model, delayed")
    embedding.add_argument("--ms", type=int, required=True)
    embedding.add_argument("--dim", type=int, default=256)
    milvus = sub.add_parser("milvus", help="a TCP delay line in front of a Milvus server")
    milvus.add_argument("--ms", type=int, required=True, help="round trip")
    milvus.add_argument("--target", required=True, help="host:port")
    args = parser.parse_args(argv)
    if args.what == "embedding":
        from ..embeddings.server import EmbeddingServer

        server = EmbeddingServer(args.dim, args.ms / 1000, model=SIMULATED_MODEL, semantic=True)
        server.embed(["warm up"], args.dim)  # load the model now, not inside the first timed request
        server.start()
        print(json.dumps({"port": server.port}), flush=True)
        _wait_for_eof()
        server.stop()
    else:
        host, _, port = args.target.rpartition(":")
        print(json.dumps({"port": _start_proxy((host, int(port)), args.ms / 1000)}), flush=True)
        _wait_for_eof()
    os._exit(0)  # daemon threads (the delay line's loop) and their sockets go with the process


if __name__ == "__main__":
    main()
