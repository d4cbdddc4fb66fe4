"""A small real HTTP server speaking OpenAI's ``POST /v1/embeddings``: the timing panel's
simulated remote embedding API (``tui/timing/simulated.py``), tests and benchmarks.

It lets the real ``openai``/``langchain-openai`` clients run offline with a chosen latency
(the seeds' network-bound conditions, e.g. 100 ms per call) and injected faults::

    with EmbeddingServer(dim=64, latency=0.0) as srv:
        srv.base_url            # "http://127.0.0.1:PORT/v1"
        srv.fail_next(429, 500) # the next two requests get these statuses
        srv.requests            # recorded bodies, srv.auth_headers the Authorization seen

Vectors are deterministic: hash-seeded unit vectors by default, or (``semantic=True``) the
bundled offline model, so search results mean something in demos. Both encodings the client
may ask for are served: ``float`` lists and ``base64`` (little-endian float32), which the
openai client requests by default.

Standalone: ``python -m tui.embeddings.server --port 8765 --latency 0.1 --dim 256``
(``tests/embedding_server.py`` re-exports it for the tests).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import numpy as np

DROP = "drop"  # a fault that closes the connection without answering


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes bursts of concurrent clients see connection resets
    # and SYN-retry stalls of a second or more, which would poison timing benchmarks.
    request_queue_size = 1024
    owner: EmbeddingServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints (clients pool connections)
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every keep-alive request, which would swamp a 0 ms latency setting.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benchmarks print their own output

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            owner = self.server.owner
            self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
        else:
            self._json(404, _error(f"no route GET {self.path}", "not_found"))

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization")
        with owner._lock:
            owner.requests.append({"path": self.path, "body": _loads(raw), "time": time.time()})
            owner.auth_headers.append(auth)
            fault = owner.faults.popleft() if owner.faults else None
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
        try:
            if owner.latency > 0:
                time.sleep(owner.latency)  # one thread per connection, so sleeps overlap
            self._respond(owner, raw, auth, fault)
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def _respond(self, owner: EmbeddingServer, raw: bytes, auth: str | None, fault: Any) -> None:
        if fault == DROP:
            self.close_connection = True
            self.connection.shutdown(2)  # socket.SHUT_RDWR: client sees a dropped connection
            return
        if fault is not None:
            headers = {"retry-after-ms": str(owner.retry_after_ms)} if fault == 429 else {}
            self._json(int(fault), _error(f"injected fault {fault}", "server_error"), headers)
            return
        if owner.api_key is not None and auth != f"Bearer {owner.api_key}":
            # Echo the key back the way careless servers do, so clients' scrubbing is tested.
            shown = (auth or "").removeprefix("Bearer ")
            self._json(401, _error(f"Incorrect API key provided: {shown}", "invalid_api_key"))
            return
        if not self.path.rstrip("/").endswith("/embeddings"):
            self._json(404, _error(f"no route POST {self.path}", "not_found"))
            return
        body = _loads(raw)
        if not isinstance(body, dict) or "input" not in body:
            self._json(400, _error("body must be JSON with an 'input' field", "invalid_request"))
            return
        inputs = body["input"]
        # A single string, a list of strings, or token arrays (check_embedding_ctx_length).
        if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dim = int(body.get("dimensions") or owner.dim)
        try:
            vectors = owner.embed([i if isinstance(i, str) else json.dumps(i) for i in inputs], dim)
        except ValueError as exc:
            self._json(400, _error(str(exc), "invalid_request"))
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
                if as_base64
                else v.tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(str(i).split()) for i in inputs)
        self._json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or owner.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(out)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class EmbeddingServer:
    """An OpenAI-compatible embeddings endpoint on 127.0.0.1, served from a daemon thread."""

    def __init__(
        self,
        dim: int = 64,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-embedding",
        api_key: str | None = None,
        semantic: bool = False,
        retry_after_ms: int = 10,
    ) -> None:
        self.dim = dim
        self.latency = latency  # seconds added to every POST; may be changed while running
        self.host, self.port = host, port
        self.model = model
        self.api_key = api_key  # when set, requests must carry "Bearer <api_key>"
        self.semantic = semantic
        self.retry_after_ms = retry_after_ms  # sent with 429s so client retries stay quick
        self.faults: deque[int | str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.max_in_flight = 0  # peak concurrent requests seen: shows real client concurrency
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._local: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EmbeddingServer:
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- control ---------------------------------------------------------------------------

    def fail_next(self, *statuses: int | str) -> None:
        """Answer the next requests with these HTTP statuses (or ``DROP``), in order."""
        with self._lock:
            self.faults.extend(statuses)

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the concurrency peak."""
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.auth_headers.clear()
            self.max_in_flight = 0

    # -- vectors ---------------------------------------------------------------------------

    def embed(self, texts: list[str], dim: int) -> list[np.ndarray]:
        """Deterministic unit vectors for ``texts``."""
        if self.semantic:
            with self._lock:
                if self._local is None:
                    from .local import LocalEmbeddings

                    self._local = LocalEmbeddings()
            native = self._local.dimension()
            if dim > native:
                raise ValueError(f"semantic vectors have at most {native} dims, not {dim}")
            # PCA components are ordered by variance, so a prefix is a fair smaller model.
            out = np.asarray(self._local.embed_documents(texts), dtype=np.float32)[:, :dim]
            return list(out / np.linalg.norm(out, axis=1, keepdims=True))
        vectors = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
            vectors.append(v / np.linalg.norm(v))
        return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible /v1/embeddings test server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--semantic", action="store_true", help="use the bundled local model")
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    args = parser.parse_args()
    srv = EmbeddingServer(
        args.dim,
        args.latency,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        semantic=args.semantic,
    )
    with srv:
        print(f"serving {srv.base_url} (dim={args.dim}, latency={args.latency}s)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
