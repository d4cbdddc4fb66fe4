"""The real-server suite: the core flows against a real Go Milvus (standalone 2.3.5 from PyPI).

Not part of the default ``pytest`` run (it needs ``pip install -e ".[realserver]"`` and starts
a ~250 MB server). It is collected when asked for:

    make test-realserver                       # installs the extra, runs this directory
    .venv/bin/python -m pytest tests/realserver     # naming the directory (or a file in it)
    MILVUS_TUI_REALSERVER=1 .venv/bin/python -m pytest   # with the whole suite

Every test here carries the ``realserver`` marker, so ``-m "not realserver"`` also leaves it out.

One server per session (``scripts/milvus_server.py``): data in a temp dir, every port chosen
free (the embedded etcd gets its own config, so 2379/2380/9091 stay untouched and a Milvus
already running on this machine does not get in the way), ready when /healthz says OK and the
proxy answers a gRPC call (timeout: MILVUS_TUI_REALSERVER_TIMEOUT, default 120 s), stopped at
the end with a check that no server process is left. MILVUS_TUI_REALSERVER_PORT pins the
proxy port (refused clearly if it is busy).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.milvus import MilvusConnection
from tui.session import Session

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ENABLE_VAR = "MILVUS_TUI_REALSERVER"

#: The browse collection: more rows than Milvus's offset+limit window of 16384.
BIG_ROWS = 20_000
BIG_DIM = 8
#: The read-only documents collection (stdlib docstrings, the demo's schema).
DOCS_ROWS = 600


# -- collection gating ----------------------------------------------------------------------


def _enabled(config: pytest.Config) -> bool:
    if os.environ.get(ENABLE_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    markexpr = config.getoption("markexpr", "") or ""
    return "realserver" in markexpr and "not realserver" not in markexpr


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.parent == HERE and collection_path.name.startswith("test_") and not _enabled(config):
        return True
    return None


# -- the server -----------------------------------------------------------------------------


def _helper() -> Any:
    """``scripts/milvus_server.py`` as a module (scripts/ is not a package)."""
    name = "milvus_tui_realserver_helper"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "milvus_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def real_milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    helper = _helper()
    port = int(os.environ["MILVUS_TUI_REALSERVER_PORT"]) if os.environ.get("MILVUS_TUI_REALSERVER_PORT") else None
    timeout = float(os.environ.get("MILVUS_TUI_REALSERVER_TIMEOUT", "120"))
    # The data is thrown away: do not wait the ~10-15 s a loaded server takes to stop by itself.
    # A fresh data directory, so segment allocations may expire sooner than Milvus's 2000 ms: every
    # flush (restores, edits, ingests and the bench flush) then takes ~1 s instead of ~3 s.
    # A faster time tick: the suite's many Strong reads wait ~0.07 s for it instead of ~0.2 s.
    server = helper.RealMilvus(tmp_path_factory.mktemp("realmilvus"), port=port, startup_timeout=timeout,
                               stop_grace=2, assignment_expiration_ms=500, time_tick_ms=50)
    started = time.monotonic()
    try:
        server.start()
    except helper.MilvusServerError as exc:
        pytest.fail(f"Could not start the real Milvus server: {exc}", pytrace=False)
    server.startup_seconds = time.monotonic() - started
    try:
        yield server
    finally:
        outlived = server.stop()
        assert not outlived, f"Milvus processes outlived their supervisor (killed now): {outlived}"
        assert not server.leftover_pids()


@pytest.fixture(scope="session")
def real_uri(real_milvus: Any) -> str:
    return real_milvus.uri


@pytest.fixture
def rconn(real_uri: str) -> Iterator[MilvusConnection]:
    connection = MilvusConnection(real_uri)
    connection.open()
    yield connection
    connection.close()


@pytest.fixture
def rservice(rconn: MilvusConnection, embeddings: Any, tmp_path: Path) -> Session:
    return Session(rconn, embeddings, backup_dir=tmp_path / "backups", audit_path=tmp_path / "audit.jsonl")


@pytest.fixture(scope="session")
def raw(real_uri: str) -> Iterator[Any]:
    """A plain pymilvus client, for setting up data the app cannot create and for checks."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=real_uri, timeout=60)
    yield client
    client.close()


# -- data -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docs(real_uri: str, embeddings: Any) -> str:
    """600 stdlib docstrings with the demo schema (ids 1..600), ingested by the app, loaded."""
    from tui.demo import DEMO_FIELDS, stdlib_documents

    name = "rs_docs"
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, embeddings)
        if svc.run(svc.exists(name)):
            svc.run(svc.drop(name))
        report = svc.run(svc.ingest(name, list(stdlib_documents(DOCS_ROWS)), extra=DEMO_FIELDS, auto_id=False))
        assert report.inserted == DOCS_ROWS and report.created
    finally:
        conn.close()
    return name


def big_vector(i: int) -> list[float]:
    rng = random.Random(i)
    return [rng.uniform(-1.0, 1.0) for _ in range(BIG_DIM)]


@pytest.fixture(scope="session")
def big(raw: Any) -> str:
    """20000 small rows (id 0..19999, 8-dim vectors, a tag cycling a/b/c/d), inserted in
    shuffled order in five batches: two sealed (flushed) segments of 8000 rows and a growing
    one of 4000, so every page has to merge segments in primary-key order."""
    from pymilvus import DataType, MilvusClient

    name = "rs_big"
    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=4)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=BIG_DIM)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    raw.create_collection(name, schema=schema, index_params=index, consistency_level="Bounded")
    ids = list(range(BIG_ROWS))
    random.Random(7).shuffle(ids)
    batches = [ids[i:i + 4000] for i in range(0, BIG_ROWS, 4000)]
    for n, batch in enumerate(batches):
        raw.insert(name, [{"id": i, "tag": "abcd"[i % 4], "vec": big_vector(i)} for i in batch])
        if n in (1, 3):  # each flush seals what came before it (and costs ~3 s on this server)
            raw.flush(name)
    return name


def make_newer_collection(raw: Any, name: str, newer_type: str) -> None:
    """A collection with a dense indexed field plus a field type Milvus 2.3 predates
    (SPARSE_FLOAT_VECTOR or BFLOAT16_VECTOR), never loaded. The server accepts the schema;
    loading it would crash the server."""
    from pymilvus import DataType, MilvusClient

    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=4)
    if newer_type == "SPARSE_FLOAT_VECTOR":
        schema.add_field("newer", DataType.SPARSE_FLOAT_VECTOR)
    else:
        schema.add_field("newer", getattr(DataType, newer_type), dim=4)
    raw.create_collection(name, schema=schema)
    index = MilvusClient.prepare_index_params()
    index.add_index("dense", index_type="FLAT", metric_type="L2")
    raw.create_index(name, index)


# -- the console script ---------------------------------------------------------------------

SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]


def cli(*args: str, uri: str, home: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``milvus-tui --uri URI ARGS...`` as a subprocess, with a private home and no keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "OPENAI_"))}
    env["MILVUS_TUI_HOME"] = str(home)
    return subprocess.run([*COMMAND, "--uri", uri, *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    # The load command's own progress line ("Loading 'x' …") may come first.
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Loading ")]
    assert lines and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(scope="session")
def go_zoo(real_uri: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The schema zoo on the Go server, made once (~40 s) for the zoo and undo-matrix tests."""
    from tests.zoo import create_zoo, drop_zoo

    made = create_zoo(real_uri, server="go", prefix="rs_")
    yield real_uri, made
    drop_zoo(real_uri, made)
