"""Integration tests against a real Milvus server (see conftest.py for how to run them)."""
