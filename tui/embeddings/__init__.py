"""Text embeddings for semantic search: an offline bundled model or any OpenAI-compatible API.

UI-free (imports nothing from textual). ``make_embeddings(settings)`` returns a
``langchain_core`` ``Embeddings`` that plugs into ``langchain_milvus.Milvus`` and also has
``provider``, ``model``, ``dimension()``, ``adimension()``, ``describe()`` and ``warm_up()``.
Both providers set up lazily, so building one is instant; failures raise ``EmbeddingError``
whose message is safe to show (endpoint and status, never the API key).
"""

from __future__ import annotations

from .base import (
    LOCAL,
    OPENAI,
    RETRY_LISTENER,
    DimensionMismatch,
    EmbeddingError,
    EmbeddingSettings,
    ProviderEmbeddings,
    check_dimension,
    resolve_provider,
)
from .local import DEFAULT_LOCAL_MODEL, MODEL_DIR, LocalEmbeddings
from .openai_provider import DEFAULT_OPENAI_MODEL, OpenAICompatibleEmbeddings, is_openai_url

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "LOCAL",
    "MODEL_DIR",
    "OPENAI",
    "RETRY_LISTENER",
    "DimensionMismatch",
    "EmbeddingError",
    "EmbeddingSettings",
    "LocalEmbeddings",
    "OpenAICompatibleEmbeddings",
    "ProviderEmbeddings",
    "check_dimension",
    "is_openai_url",
    "make_embeddings",
    "resolve_provider",
]


def make_embeddings(settings: EmbeddingSettings) -> ProviderEmbeddings:
    """Build the provider these settings ask for (cheap: nothing loads until first use)."""
    if resolve_provider(settings) == OPENAI:
        return OpenAICompatibleEmbeddings(settings)
    return LocalEmbeddings(settings.model, settings.dimensions)
