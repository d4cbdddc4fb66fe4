"""milvus-tui: explore, search and clean Milvus collections from the terminal."""

from .config import hide_env_from_pymilvus

__version__ = "0.1.0"

# Before anything imports pymilvus: it would parse our MILVUS_URI (a data directory) as its own.
hide_env_from_pymilvus()
