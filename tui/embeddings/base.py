"""Settings, errors and the shared interface of the embedding providers.

Everything here is UI-free (no textual imports) so it can be used from scripts, tests and
benchmarks. Providers are ``langchain_core`` ``Embeddings`` so they plug straight into
``langchain_milvus.Milvus``; on top of that they carry ``provider``/``model`` names, know
their vector ``dimension()`` and ``describe()`` themselves without ever showing a secret.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from langchain_core.embeddings import Embeddings

from ..errors import InvalidInput

#: Who hears about retries of the current embedding call ("HTTP 500; retry 1/2 in 0.5 s").
#: A context variable, so concurrent operations (async tasks, worker threads) each report
#: their own; the ops driver sets it around every embedding request.
RETRY_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar("retry_listener", default=None)

LOCAL = "local"
OPENAI = "openai"
PROVIDERS = (LOCAL, OPENAI)


class EmbeddingError(Exception):
    """A user-facing embedding failure; ``str(err)`` is safe to show (no secrets).

    ``endpoint`` is the display form of the URL that failed (None for the local model) and
    ``status`` the HTTP status when the server answered with one.
    """

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status


class DimensionMismatch(EmbeddingError, InvalidInput):
    """The embedding model's vectors don't fit the collection's vector field.

    Also an ``InvalidInput``: the data layer raises it for a search or ingest the user asked
    for, so the app and the CLI (exit code 2) treat it like any other bad input.
    """

    def __init__(self, message: str, *, expected: int, got: int, field: str):
        super().__init__(message)
        self.expected = expected
        self.got = got
        self.field = field


@dataclass(frozen=True)
class EmbeddingSettings:
    """How to embed text. ``provider=None`` means auto: OpenAI when an API key is set."""

    provider: str | None = None  # "local" | "openai" | None = auto
    model: str | None = None  # provider default when None; for local, a model2vec dir path
    base_url: str | None = None  # any OpenAI-compatible endpoint (Ollama, vLLM, TEI, ...)
    api_key: str | None = field(default=None, repr=False)
    dimensions: int | None = None  # requested output size (text-embedding-3, or local PCA cut)
    check_ctx_length: bool | None = None  # None: on only for api.openai.com (needs tiktoken)
    timeout: float = 30.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.dimensions is not None and self.dimensions <= 0:
            raise EmbeddingError(f"Embedding dimensions must be positive, not {self.dimensions}.")
        if self.timeout <= 0:
            raise EmbeddingError(f"Embedding timeout must be positive, not {self.timeout}.")
        if self.max_retries < 0:
            raise EmbeddingError(f"max_retries must be >= 0, not {self.max_retries}.")


def resolve_provider(settings: EmbeddingSettings) -> str:
    """Return "openai" or "local" for these settings.

    Explicit ``provider`` wins; otherwise an API key selects OpenAI and its absence the
    offline model. A misspelt provider is an error rather than a silent fallback to local,
    which would quietly produce vectors of the wrong model.
    """
    name = (settings.provider or "").strip().lower()
    if name in ("", "auto"):
        return OPENAI if settings.api_key else LOCAL
    if name not in PROVIDERS:
        raise EmbeddingError(
            f"Unknown embedding provider {settings.provider!r}; use 'local' or 'openai'."
        )
    return name


def check_dimension(expected: int, got: int, field: str) -> None:
    """Raise DimensionMismatch unless the model's size ``got`` equals the field's ``expected``.

    ``expected`` is the dimension of the collection's vector field ``field``; ``got`` is the
    dimension the embedding model produces.
    """
    if expected == got:
        return
    raise DimensionMismatch(
        f"The embedding model produces {got}-dim vectors but field '{field}' holds "
        f"{expected}-dim vectors; choose an embedding model (or dimensions setting) that "
        f"gives {expected} dims, or search by a stored vector instead.",
        expected=expected,
        got=got,
        field=field,
    )


# Things that look like API keys or bearer tokens, masked even when we don't know the key
# (e.g. a server echoing back an OPENAI_API_KEY picked up from the environment).
_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
)


def scrub(text: str, secrets: list[str | None] | tuple[str | None, ...] = ()) -> str:
    """Remove every occurrence of ``secrets`` and key-like tokens from ``text``."""
    for secret in secrets:
        # Very short "keys" (placeholders like "x") would mangle ordinary words.
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub("sk-***", text)
    return _SECRET_PATTERNS[1].sub(r"\1***", text)


def display_url(url: str) -> str:
    """``url`` without user:password and query string (either may carry credentials)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class ProviderEmbeddings(Embeddings):
    """Common interface: a langchain ``Embeddings`` that also describes itself."""

    provider: str = ""
    model: str = ""

    def dimension(self) -> int:
        """Length of the vectors this provider returns."""
        raise NotImplementedError

    async def adimension(self) -> int:
        """``dimension()`` without blocking the event loop (it may load or probe)."""
        return await asyncio.to_thread(self.dimension)

    def known_dimension(self) -> int | None:
        """The dimension if it is known without loading a model or calling a server."""
        return None

    def warm_up(self) -> None:
        """Do the slow one-time setup now (load the model, import the client)."""

    def settings(self) -> EmbeddingSettings:
        """Settings that build this provider again (in another process: the timing panel's
        run, ``tui/timing/child.py``). They may hold the API key: never show or log them."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the status bar, e.g. ``local · minilm-l6-v2-m2v-256 (256d)``."""
        dim = self.known_dimension()
        return f"{self.provider} · {self.model}" + (f" ({dim}d)" if dim else "")

    def __repr__(self) -> str:
        # The default repr of some wrapped clients includes credentials; ours never does.
        return f"<{type(self).__name__} {self.describe()}>"
