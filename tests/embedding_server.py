"""The OpenAI-compatible test server now lives in the package (``tui/embeddings/server.py``),
where the timing panel's simulated remote embedding API uses it; the tests keep importing it
from here. Standalone: ``python -m tui.embeddings.server --port 8765 --latency 0.1``."""

from tui.embeddings.server import DROP, EmbeddingServer, main

__all__ = ["DROP", "EmbeddingServer", "main"]

if __name__ == "__main__":
    main()
