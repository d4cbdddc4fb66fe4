"""The timing bench's scratch collection never stays in the user's list: dropped on quit,
and what a killed run left is dropped by the next run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymilvus import DataType, MilvusClient
from textual.message import Message

from tests.apphelpers import SIZE, make_app, wait_until
from tests.embedding_server import EmbeddingServer
from tests.test_timing_panel import choose, open_timing
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.milvus import Document, MilvusConnection
from tui.session import Session
from tui.milvus.lite import LiteServer
from tui.screens.timing import BenchProgress
from tui.timing.engine import SCRATCH_PREFIX, ScratchLedger, drop_stale_scratch

pytestmark = pytest.mark.usefixtures("home")


def _collections_in(data: Path) -> set[str]:
    with LiteServer(data) as server:
        client = MilvusClient(uri=server.uri)
        try:
            return set(client.list_collections())
        finally:
            client.close()


@pytest.mark.parametrize("phase", ["filling", "measuring"])
async def test_quit_during_a_run_drops_the_scratch_collection(tmp_path: Path, embeddings, home: Path,  # noqa: ANN001
                                                              phase: str) -> None:
    # The embedded default: the app owns the Lite child and stops it when it exits, which
    # is what used to come before the scratch collection's drop.
    data = tmp_path / "data"
    with LiteServer(data) as server:
        conn = MilvusConnection(server.uri)
        conn.open()
        try:
            session = Session(conn, embeddings)
            session.run(session.ingest("notes", [Document(f"note number {i}") for i in range(5)]))
        finally:
            conn.close()
    seen: list[Message] = []
    with EmbeddingServer(dim=256, latency=0.3) as srv:
        app = make_app(str(data), "notes")
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            # The collection is released (Lite releases all on start), so no first page comes.
            await wait_until(pilot, lambda: app.main.connected and app.main.session.embeddings is not None,
                             timeout=60, what="the connection and the embedding model")
            app.main.session.embeddings = (make_embeddings(EmbeddingSettings(
                provider="openai", base_url=srv.base_url, api_key="test", dimensions=256, max_retries=0)))
            screen = await open_timing(pilot, app)
            choose(screen, n=100, modes=("async",), concurrency=8)
            await pilot.pause()
            await pilot.press("ctrl+g")
            if phase == "measuring":
                await wait_until(pilot, lambda: any(isinstance(m, BenchProgress) and m.done > 0 for m in seen),
                                 timeout=60, what="progress")
            else:  # filling the scratch collection: its embedding call is on the way
                await wait_until(pilot, lambda: srv.requests, timeout=60, what="the fill's embedding call")
            await pilot.press("q")
    assert not [n for n in _collections_in(data) if n.startswith(SCRATCH_PREFIX)]
    assert json.loads((home / "state" / "bench_scratch.json").read_text()) == {}


def _make_scratch(client: MilvusClient, name: str) -> None:
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection(name, schema=schema)


def test_next_run_drops_what_a_killed_run_left(milvus_uri: str, tmp_path: Path) -> None:
    client = MilvusClient(uri=milvus_uri)
    now = int(time.time())
    orphan, live, foreign = (f"{SCRATCH_PREFIX}{now}_{tag}" for tag in ("0rphan00", "l1ve0000", "f0re1gn0"))
    try:
        for name in (orphan, live, foreign):
            _make_scratch(client, name)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        ledger = ScratchLedger(tmp_path / "bench_scratch.json")
        ledger.path.write_text(json.dumps({orphan: int(dead.stdout), live: 1}))  # pid 1 is alive
        dropped = drop_stale_scratch(client, ledger=ledger)
        assert dropped == [orphan]
        names = set(client.list_collections())
        assert orphan not in names and live in names and foreign in names  # a young foreign one stays
        assert json.loads(ledger.path.read_text()) == {live: 1}
    finally:
        for name in (orphan, live, foreign):
            if client.has_collection(name):
                client.drop_collection(name)
        client.close()
