"""Shared fixtures: one real Milvus Lite child server per test session, real embeddings.

The server is started with the app's own ``LiteServer`` (a ``milvus-lite server`` child on
a free loopback port). Tests connect to it by URL, so each test can own a fresh
``MilvusConnection`` (the async client binds to the test's own event loop).
``MILVUS_TUI_HOME`` points config, history, backups and the audit log at a temp dir.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.milvus import MilvusConnection
from tui.session import Session
from tui.milvus.lite import LiteServer

_names = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def tui_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("MILVUS_TUI_HOME")
    os.environ["MILVUS_TUI_HOME"] = str(home)
    # Tests must never pick up a developer's real keys or servers.
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MILVUS_URI", "MILVUS_TOKEN", "MILVUS_DB_NAME",
                "MILVUS_TUI_EMBEDDING_MODEL", "MILVUS_TUI_EMBEDDING_PROVIDER"):
        os.environ.pop(var, None)
    yield home
    if old is None:
        os.environ.pop("MILVUS_TUI_HOME", None)
    else:
        os.environ["MILVUS_TUI_HOME"] = old


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir for one test (history, ui.json, backups, audit log), so app tests
    never see each other's state. Test modules opt in with ``usefixtures("home")``."""
    path = tmp_path / "home"
    monkeypatch.setenv("MILVUS_TUI_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def lite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    server = LiteServer(tmp_path_factory.mktemp("lite") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lite_zoo(lite_server: LiteServer) -> Iterator[tuple[str, dict]]:
    """The schema zoo (tests/zoo.py) on the session's Lite child, made once for the zoo and
    undo-matrix tests; every test that changes it puts it back exactly (that is what they test)."""
    from tests.zoo import create_zoo, drop_zoo

    made = create_zoo(lite_server.uri, server="lite", prefix=f"z{os.getpid()}_")
    yield lite_server.uri, made
    drop_zoo(lite_server.uri, made)


@pytest.fixture(scope="session")
def milvus_uri(lite_server: LiteServer) -> str:
    return lite_server.uri


@pytest.fixture(scope="session")
def raw_client(milvus_uri: str) -> Iterator[Any]:
    """A plain pymilvus client on the session's Lite child, for setting up and checking data
    without the project's own code."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_uri)
    yield client
    client.close()


@pytest.fixture
def new_name(raw_client: Any) -> Iterator[str]:
    """A collection name that does not exist yet; dropped afterwards if a test made it."""
    name = unique_name("new")
    yield name
    if raw_client.has_collection(name):
        raw_client.drop_collection(name)


@pytest.fixture(scope="session")
def embeddings():  # noqa: ANN201
    from tui.embeddings import EmbeddingSettings, make_embeddings

    model = make_embeddings(EmbeddingSettings(provider="local"))
    model.embed_query("warm up")
    return model


@pytest.fixture
def conn(milvus_uri: str) -> Iterator[MilvusConnection]:
    connection = MilvusConnection(milvus_uri)
    connection.open()
    yield connection
    connection.close()


@pytest.fixture
def service(conn: MilvusConnection, embeddings, tmp_path: Path) -> Session:  # noqa: ANN001
    return Session(conn, embeddings, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


@pytest.fixture(scope="session")
def docs_collection(lite_server: LiteServer, embeddings) -> str:  # noqa: ANN001
    """A read-only collection of 600 stdlib docstrings with the demo schema, loaded."""
    from tui.demo import DEMO_FIELDS, stdlib_documents

    name = unique_name("docs")
    connection = MilvusConnection(lite_server.uri)
    connection.open()
    try:
        svc = Session(connection, embeddings)
        svc.run(svc.ingest(name, list(stdlib_documents(600)), extra=DEMO_FIELDS, auto_id=False))
    finally:
        connection.close()
    return name


@functools.lru_cache(maxsize=1)
def scratch_documents() -> tuple:
    from tui.demo import stdlib_documents

    return tuple(stdlib_documents(250))  # parsing the stdlib takes ~0.6 s; do it once


@pytest.fixture
def scratch_collection(service: Session) -> Iterator[str]:
    """A writable collection of 250 documents (ids 1..250), dropped afterwards."""
    from tui.demo import DEMO_FIELDS

    name = unique_name("scratch")
    service.run(service.ingest(name, list(scratch_documents()), extra=DEMO_FIELDS, auto_id=False))
    yield name
    try:
        service.run(service.drop(name))
    except Exception:
        pass
