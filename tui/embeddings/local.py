"""The offline provider: a bundled model2vec static model (no torch, no network).

The model in ``model/`` is all-MiniLM-L6-v2 distilled to 256 dims (see
``scripts/build_model.py``). It loads in ~0.4 s, so loading is deferred to first use and
done once under a lock; async callers get it via ``asyncio.to_thread`` so neither the
load nor a large batch blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .base import LOCAL, EmbeddingError, EmbeddingSettings, ProviderEmbeddings

if TYPE_CHECKING:
    from model2vec import StaticModel

MODEL_DIR = Path(__file__).parent / "model"
DEFAULT_LOCAL_MODEL = "minilm-l6-v2-m2v-256"
_SLICE = 256  # texts per encode call; see embed_documents


def _encodable(text: str) -> str:
    """``text`` with lone surrogates replaced: undecodable bytes in argv or a file arrive as
    surrogate escapes, and the tokenizer raises a bare TypeError on them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class LocalEmbeddings(ProviderEmbeddings):
    """Embeddings from a model2vec static model directory (the bundled one by default)."""

    provider = LOCAL

    def __init__(self, model: str | None = None, dimensions: int | None = None) -> None:
        if model in (None, "", DEFAULT_LOCAL_MODEL):
            self.path, self.model = MODEL_DIR, DEFAULT_LOCAL_MODEL
        else:
            # Any other name must be a local model2vec directory: a bare name would make
            # model2vec try the Hugging Face hub, which is exactly what we must not do.
            self.path = Path(model).expanduser()
            self.model = self.path.name
            if not (self.path / "config.json").is_file():
                raise EmbeddingError(
                    f"Local embedding model {model!r} is not a model2vec directory "
                    f"(no config.json); leave the model unset to use the bundled one."
                )
        native = self._native_dimension()
        if dimensions and native and dimensions > native:
            raise EmbeddingError(
                f"The local model has {native} dims; cannot give {dimensions}-dim vectors."
            )
        self._dimensions = dimensions
        self._static: StaticModel | None = None
        self._lock = threading.Lock()

    def settings(self) -> EmbeddingSettings:
        model = None if self.path == MODEL_DIR else str(self.path)
        return EmbeddingSettings(provider=LOCAL, model=model, dimensions=self._dimensions)

    def _load(self) -> StaticModel:
        if self._static is None:
            with self._lock:
                if self._static is None:  # another thread may have loaded it meanwhile
                    from model2vec import StaticModel  # 0.1 s import; only when needed

                    try:
                        # Weights are stored as float16 to halve the size; compute in float32
                        # so normalised vectors come out with full precision.
                        self._static = StaticModel.from_pretrained(
                            str(self.path),
                            quantize_to="float32",
                            dimensionality=self._dimensions,
                        )
                    except Exception as exc:
                        raise EmbeddingError(
                            f"Cannot load the offline embedding model from {self.path}: {exc}"
                        ) from exc
        return self._static

    def _native_dimension(self) -> int | None:
        try:
            return int(json.loads((self.path / "config.json").read_text())["hidden_dim"])
        except (OSError, ValueError, KeyError):
            return None

    def warm_up(self) -> None:
        self._load()

    def known_dimension(self) -> int | None:
        if self._static is not None:
            return int(self._static.dim)
        # Reading config.json is instant, so the UI can show the size before the load.
        native = self._native_dimension()
        return min(self._dimensions, native) if self._dimensions and native else native

    def dimension(self) -> int:
        return self.known_dimension() or int(self._load().dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        texts = [_encodable(t) for t in texts]
        out: list[list[float]] = []
        # Work in slices: ndarray.tolist() holds the GIL for its whole run (~180 ms for 20k
        # vectors), which would stall the UI's event loop; small slices let it breathe.
        for start in range(0, len(texts), _SLICE):
            # No multiprocessing: forking workers from inside a TUI is never wanted, and
            # the static model embeds tens of thousands of sentences per second anyway.
            vectors = model.encode(texts[start : start + _SLICE], use_multiprocessing=False)
            out.extend(np.asarray(vectors, dtype=np.float32).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)
