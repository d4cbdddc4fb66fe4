"""milvus-tui: explore, search and clean Milvus collections from the terminal."""

__version__ = "0.1.0"
