"""The OpenAI-compatible provider: langchain-openai's ``OpenAIEmbeddings`` behind our errors.

Works with OpenAI and any server speaking ``/v1/embeddings`` (Azure-style proxies, Ollama,
vLLM, LM Studio, TEI). Two things matter offline:

* ``OpenAIEmbeddings`` downloads tiktoken's ``cl100k_base`` on first use when
  ``check_embedding_ctx_length`` is on, and fails with no internet. We default it on only
  for api.openai.com, where the tokenizer is right and the network is there anyway.
* langchain_openai costs ~0.5 s to import, so it is imported on first use, not here.

Async calls go through one client per event loop (its connections belong to that loop),
built once and reused by every call on the loop. When ``aiohttp`` is installed its HTTP
transport is used (the openai SDK's own ``DefaultAioHttpClient``): it costs ~30% less CPU
per request than the default httpx/anyio pool, which scans and probes every pooled
connection on each request; on a 2-core machine running 100 concurrent embedding calls
that CPU is what bounds the async speedup (docs/BENCHMARKS.md, section 4).

Every failure leaves as an ``EmbeddingError`` naming the endpoint and HTTP status, with
the API key scrubbed out, and without the original exception attached as cause or context
(its text and request objects can carry the key into logs and tracebacks).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .base import (
    OPENAI,
    RETRY_LISTENER,
    EmbeddingError,
    EmbeddingSettings,
    ProviderEmbeddings,
    display_url,
    scrub,
)

if TYPE_CHECKING:
    from langchain_openai import OpenAIEmbeddings

T = TypeVar("T")

DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the openai client refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
_RETRIED = {408, 409, 429}  # plus every 5xx: what the openai client retries by itself
_HINTS = {
    401: " Check the API key.",
    403: " Check the API key's permissions.",
    404: " Check the base URL (usually ends in /v1) and the model name.",
    429: " The endpoint is rate limiting; try again later or lower the concurrency.",
}


def is_openai_url(url: str) -> bool:
    """True for OpenAI's own API host (where tiktoken-based length checks are right)."""
    return (urlsplit(url).hostname or "").lower() == "api.openai.com"


class OpenAICompatibleEmbeddings(ProviderEmbeddings):
    """``OpenAIEmbeddings`` with lazy construction, a cached dimension and clean errors."""

    provider = OPENAI

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.model = settings.model or DEFAULT_OPENAI_MODEL
        # Resolve the endpoint the way the clients would, so messages name the real one.
        base = (
            settings.base_url
            or os.environ.get("OPENAI_BASE_URL")
            or os.environ.get("OPENAI_API_BASE")
            or OPENAI_BASE_URL
        )
        self.base_url = base.rstrip("/")
        self.endpoint = display_url(self.base_url)
        api_key = settings.api_key
        if not api_key and (settings.base_url is None or is_openai_url(self.base_url)):
            # The environment's key goes only where the environment (or OpenAI) points:
            # an explicitly chosen other server must not receive the user's OpenAI key.
            api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if is_openai_url(self.base_url):
                raise EmbeddingError(
                    "OpenAI embeddings need an API key; set one, point base_url at a "
                    "compatible server, or use the offline 'local' provider.",
                    endpoint=self.endpoint,
                )
            api_key = PLACEHOLDER_KEY
        self._api_key = api_key
        # The key the environment gave is resolved here, so another process gets the same one.
        self._settings = replace(settings, provider=OPENAI, base_url=self.base_url, api_key=api_key)
        self.check_ctx_length = (
            settings.check_ctx_length
            if settings.check_ctx_length is not None
            else is_openai_url(self.base_url)
        )
        self.timeout = settings.timeout
        self.max_retries = settings.max_retries
        self._requested_dimensions = settings.dimensions
        self._dim = settings.dimensions
        self._client: OpenAIEmbeddings | None = None
        self._lock = threading.Lock()
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OpenAIEmbeddings] = (
            weakref.WeakKeyDictionary()
        )
        # The loop keeps only weak references to tasks: without this one a garbage
        # collection could finish the closer (and so close the client) at any time.
        self._closers: set[asyncio.Task[None]] = set()

    def settings(self) -> EmbeddingSettings:
        return self._settings

    # -- setup -----------------------------------------------------------------------------

    def _get_client(self) -> OpenAIEmbeddings:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._call(self._build_client)
        return self._client

    def _build_client(self, http_async_client: Any = None) -> OpenAIEmbeddings:
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=self.model,
            base_url=self.base_url,
            api_key=self._api_key,
            dimensions=self._requested_dimensions,
            check_embedding_ctx_length=self.check_ctx_length,
            timeout=self.timeout,
            # We retry ourselves (``_call``), so each retry can be shown while it happens.
            max_retries=0,
            http_async_client=http_async_client,
        )

    def _get_async_client(self) -> OpenAIEmbeddings:
        """The running loop's client: built on first use there, shared by every later call."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            http = _async_http_client()
            client = self._call(self._build_client, http)
            self._async_clients[loop] = client
            if http is not None:
                # Closed when the loop shuts down: asyncio.run (and so Textual) cancels the
                # tasks left, so aiohttp never reports an unclosed session at exit.
                keeper = loop.create_task(self._close_at_shutdown(loop, http), name="embedding-http-client")
                keeper._log_destroy_pending = False  # a loop closed without cancelling: see below
                self._closers.add(keeper)
                keeper.add_done_callback(self._closers.discard)
        return client

    async def _close_at_shutdown(self, loop: asyncio.AbstractEventLoop, http: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await http.aclose()
            raise
        finally:
            self._async_clients.pop(loop, None)
            # A loop closed with this task still pending (some test runners) lands here
            # without a chance to await: close the sockets now, synchronously.
            _close_now(http)

    async def aclose(self) -> None:
        """Close the running loop's async HTTP client now rather than when the loop ends: a
        provider made for one timing run (the simulated endpoint) must not leave its open
        connections and closer task behind in the app for the rest of the session."""
        loop = asyncio.get_running_loop()
        mine = [task for task in self._closers if task.get_loop() is loop]
        for task in mine:
            task.cancel()
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        self._async_clients.pop(loop, None)

    def warm_up(self) -> None:
        self._get_client()

    # -- errors ----------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an EmbeddingError
                delay = self._retry_delay(exc, attempt)
                err = None if delay is not None else self._translate(exc)
            if err is not None:
                # Raised outside the handler so neither __cause__ nor __context__ keeps the
                # original exception: its request/response objects can carry the key into logs.
                raise err
            time.sleep(delay)  # type: ignore[arg-type]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acall(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return await fn(*args)
            except Exception as exc:  # noqa: BLE001 - CancelledError is a BaseException: passes
                delay = self._retry_delay(exc, attempt)
                err = None if delay is not None else self._translate(exc)
            if err is not None:
                raise err
            await asyncio.sleep(delay)  # type: ignore[arg-type]
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying ``exc``, or None when it is final.

        What the openai client itself retries (connection errors, timeouts, 408/409/429 and
        5xx), with its exponential back-off (0.5 s doubling, at most 8 s) or the server's
        retry-after; each retry is announced to ``RETRY_LISTENER``.
        """
        if attempt >= self.max_retries:
            return None
        try:
            import openai
        except ImportError:
            return None
        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.APIStatusError):
            if not (status in _RETRIED or (status or 0) >= 500):
                return None
        elif not isinstance(exc, openai.APIConnectionError):  # APITimeoutError is one too
            return None
        delay = min(8.0, 0.5 * 2**attempt)
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        try:
            if "retry-after-ms" in headers:
                delay = float(headers["retry-after-ms"]) / 1000
            elif "retry-after" in headers:
                delay = float(headers["retry-after"])
        except (TypeError, ValueError):
            pass
        delay = max(0.0, min(delay, 60.0))
        what = f"HTTP {status}" if status else ("timed out" if _timed_out(exc) else "connection failed")
        listener = RETRY_LISTENER.get()
        if listener is not None:
            listener(f"embedding endpoint {what}; retry {attempt + 1}/{self.max_retries} in {delay:.1f} s")
        return delay

    def _translate(self, exc: Exception) -> EmbeddingError:
        if isinstance(exc, EmbeddingError):
            return exc
        try:
            import openai  # already imported by langchain_openai whenever we get here
        except ImportError:  # so the failure is the missing package itself
            return EmbeddingError(f"Cannot use OpenAI embeddings: {exc}", endpoint=self.endpoint)

        where, status = self.endpoint, None
        if isinstance(exc, openai.APIConnectionError) and _timed_out(exc):
            message = (
                f"Embedding endpoint {where} timed out after {self.timeout:g} s"
                f"{self._retry_note()}."
            )
        elif isinstance(exc, openai.APIConnectionError):
            cause = _connection_cause(exc) or exc.message
            message = f"Cannot reach embedding endpoint {where}{self._retry_note()}: {cause}"
        elif isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            retried = self._retry_note() if status in _RETRIED or status >= 500 else ""
            message = (
                f"Embedding endpoint {where} returned HTTP {status} {phrase}{retried}: "
                f"{_server_message(exc)}.{_HINTS.get(status, '')}"
            )
        else:
            message = f"Embedding request to {where} failed: {type(exc).__name__}: {exc}"
            if self.check_ctx_length:
                # The usual culprit offline: tiktoken fetching its tokenizer file.
                message += (
                    " (check_ctx_length is on, which needs tiktoken's tokenizer download; "
                    "turn it off for offline or non-OpenAI endpoints)"
                )
        return EmbeddingError(scrub(message, [self._api_key]), endpoint=where, status=status)

    def _retry_note(self) -> str:
        return f" (after {self.max_retries} retries)" if self.max_retries else ""

    # -- embeddings ------------------------------------------------------------------------

    def _remember_dim(self, vectors: list[list[float]]) -> list[list[float]]:
        if self._dim is None and vectors:
            self._dim = len(vectors[0])
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._call(self._get_client().embed_documents, list(texts))
        return self._remember_dim(vectors)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = await self._acall(self._get_async_client().aembed_documents, list(texts))
        return self._remember_dim(vectors)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]

    # -- description -----------------------------------------------------------------------

    def known_dimension(self) -> int | None:
        return self._dim

    def dimension(self) -> int:
        # Only models like text-embedding-3 take `dimensions`; for the rest, ask once.
        if self._dim is None:
            self.embed_query("dimension probe")
        assert self._dim is not None
        return self._dim

    async def adimension(self) -> int:
        if self._dim is None:
            await self.aembed_query("dimension probe")
        assert self._dim is not None
        return self._dim

    def describe(self) -> str:
        return f"{super().describe()} @ {self.endpoint}"


def _async_http_client() -> Any:
    """The openai SDK's aiohttp-based client when aiohttp is installed, else None (the SDK's
    default httpx client). Same timeouts, limits and redirects as the default."""
    try:
        import aiohttp  # noqa: F401
        from openai import DefaultAioHttpClient
    except ImportError:
        return None
    return DefaultAioHttpClient()


def _close_now(http: Any) -> None:
    session = getattr(getattr(http, "_transport", None), "client", None)
    connector = getattr(session, "connector", None)
    if connector is not None and not connector.closed:
        try:
            connector._close()  # the synchronous part of aiohttp's close(); safe on a closed loop
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


def _aiohttp_cause(exc: BaseException) -> BaseException | None:
    """The aiohttp exception under an openai error, if the aiohttp transport raised it."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 8:
        if type(cause).__module__.startswith("aiohttp"):
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


def _timed_out(exc: Exception) -> bool:
    """A timeout, not a refused or dropped connection. The SDK's aiohttp transport maps every
    aiohttp connection error to a connect *timeout*; its cause tells them apart."""
    import openai

    if not isinstance(exc, openai.APITimeoutError):
        return False
    cause = _aiohttp_cause(exc)
    return cause is None or isinstance(cause, asyncio.TimeoutError) or "Timeout" in type(cause).__name__


def _connection_cause(exc: Exception) -> str:
    cause = _aiohttp_cause(exc) or exc.__cause__
    return str(cause or "")


def _server_message(exc: Any) -> str:
    """The server's own error text (OpenAI puts it in body.error.message), kept short."""
    body = exc.body
    text: Any = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        text = text or body.get("detail") or body.get("message")
    elif body:
        text = body
    text = " ".join(str(text or exc.message or "no details").split()).rstrip(".")
    return text if len(text) <= 300 else text[:297] + "..."
