"""The seed's network, simulated on loopback (``tui/timing/simulated.py``): the endpoint, the
engine, the panel and ``milvus-tui bench``, against the session's real Lite server.

Latencies are asserted loosely (at least the setting; far below a second more), never as
exact figures: the machine is shared. Every test checks that the child process serving the
simulated endpoints and its ports are gone once the run is over.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient
from textual.message import Message
from textual.widgets import DataTable, Select, Static

from tests.apphelpers import SIZE, make_app, wait_until
from tests.test_cli import cli
from tests.test_timing_panel import choose, messages, open_timing, ready, rows, title
from tui.embeddings import EmbeddingSettings, make_embeddings
from tui.screens.timing import BenchFinished, BenchResult
from tui.timing import BenchConfig, run_bench, to_markdown
from tui.timing.simulated import SimulatedRemote, describe, parse_ms

LABEL_50 = "SIMULATED on loopback: remote embedding API 50 ms per request"


def post_embeddings(base_url: str, texts: list[str]) -> tuple[float, list[list[float]]]:
    body = json.dumps({"input": texts, "model": "any", "encoding_format": "float"}).encode()
    request = urllib.request.Request(f"{base_url}/embeddings", data=body,
                                     headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - t0, [d["embedding"] for d in payload["data"]]


def refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def gone(pid: int) -> bool:
    """The child exited and was reaped (a zombie would still be listed in /proc)."""
    return not Path(f"/proc/{pid}").exists()


def simulated_children() -> list[int]:
    """This process's children that serve simulated endpoints."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"tui.timing.simulated" in cmdline:
            found.append(int(entry.name))
    return found


def test_latency_choices_parse_and_label() -> None:
    assert [parse_ms(v) for v in ("off", "50", "100ms", " 250 ", 0, None)] == [0, 50, 100, 250, 0, 0]
    for bad in ("fast", "-5", "1.5", "99999"):
        with pytest.raises(ValueError, match="simulated latency"):
            parse_ms(bad)
    assert describe(0, 0) == ""
    assert describe(50, 0) == LABEL_50
    assert describe(100, 25) == ("SIMULATED on loopback: remote embedding API 100 ms per request, "
                                 "remote Milvus 25 ms per round trip")
    with pytest.raises(ValueError, match="plain http://"):
        SimulatedRemote(0, 25, milvus_uri="https://in03.example.zillizcloud.com")
    with pytest.raises(ValueError, match="between 0 and"):
        BenchConfig(simulated_embedding_ms=-1).validate()


def test_endpoint_really_delays_and_stops(milvus_uri: str) -> None:
    remote = SimulatedRemote(50, 25, milvus_uri=milvus_uri).start()
    pids, emb_port, milvus_port = remote.pids, remote.embedding_port, remote.milvus_port
    assert len(pids) == 2 and emb_port and milvus_port
    try:
        assert remote.base_url == f"http://127.0.0.1:{emb_port}/v1"
        elapsed, vectors = post_embeddings(remote.base_url, ["cat sits on mat", "a kitten on a rug", "tax law"])
        assert 0.045 <= elapsed < 2.0, elapsed
        # The bundled model behind it: related sentences are closer than an unrelated one.
        v = np.asarray(vectors)
        assert v.shape == (3, 256)
        assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2

        # Through the app's own provider, as the bench uses it.
        provider = remote.embeddings()
        t0 = time.perf_counter()
        assert len(provider.embed_query("hello")) == 256
        assert time.perf_counter() - t0 >= 0.045

        # The Milvus delay line: the same server, one round trip later.
        direct = MilvusClient(uri=milvus_uri)
        delayed = MilvusClient(uri=remote.milvus_connection({"uri": milvus_uri})["uri"])
        try:
            assert sorted(delayed.list_collections()) == sorted(direct.list_collections())
            t0 = time.perf_counter()
            delayed.list_collections()
            assert 0.022 <= time.perf_counter() - t0 < 2.0
        finally:
            delayed.close()
            direct.close()
    finally:
        remote.stop()
    assert all(gone(pid) for pid in pids) and refused(emb_port) and refused(milvus_port)
    remote.stop()  # twice is harmless


async def test_engine_runs_against_the_endpoint_and_labels_results(milvus_uri: str) -> None:
    # The session's embeddings are never called: the simulated endpoint replaces them.
    unused = make_embeddings(EmbeddingSettings(provider="openai", base_url="http://127.0.0.1:9/v1",
                                               api_key="x", max_retries=0))
    config = BenchConfig(ops=("search",), ns=(4,), modes=("async", "sync"), concurrency=4, corpus=20,
                         simulated_embedding_ms=50)
    run = await run_bench(config, {"uri": milvus_uri}, unused)
    assert run.simulated == LABEL_50
    assert "simulated-remote-embedding" in run.embeddings and "127.0.0.1" in run.embeddings
    assert [(r.mode, r.ok, r.errors, r.simulated) for r in run.results] == [
        ("async", 4, 0, LABEL_50), ("sync", 4, 0, LABEL_50)]
    sync = run.results[1]
    assert sync.p50_ms >= 45  # every search waited on the endpoint
    assert run.dropped
    assert len(run.remote_pids) == 1 and all(gone(pid) for pid in run.remote_pids)
    assert run.remote_ports and all(refused(p) for p in run.remote_ports.values())
    assert simulated_children() == []
    table = to_markdown(run.results)
    assert "conditions" in table and table.count(LABEL_50) == 2


async def test_panel_choice_reaches_the_engine_and_the_results(milvus_uri: str, docs_collection: str,
                                                                home: Path) -> None:
    seen: list[Message] = []
    app = make_app(milvus_uri, docs_collection)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ready(pilot, app)
        screen = await open_timing(pilot, app)
        help_text = str(screen.query_one("#bench-help", Static).render())
        for words in ("async", "sync (thread)", "batched", "delete", "slow to answer"):
            assert words in help_text
        chooser = screen.query_one("#bench-simulated", Select)
        assert chooser.value == 0  # off unless chosen: real runs stay real
        assert {v for _, v in chooser._options} >= {0, 50, 100, 250}
        choose(screen, n=10, modes=("async", "sync"), concurrency=8)
        chooser.value = 50
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.running or "Done" in title(screen), what="the run to start")
        await wait_until(pilot, lambda: not screen.running, timeout=90, what="the run to finish")
        assert "Done" in title(screen) and LABEL_50 in title(screen)

        results = [m.result for m in messages(seen, BenchResult)]
        assert [(r.mode, r.ok, r.simulated) for r in results] == [("async", 10, LABEL_50), ("sync", 10, LABEL_50)]
        assert results[1].p50_ms >= 45
        assert messages(seen, BenchFinished)[0].dropped
        assert LABEL_50 in str(screen.query_one("#bench-chart", Static).render())
        history = rows(screen.query_one("#bench-history", DataTable))
        assert [row[-1] for row in history] == ["SIMULATED: remote embedding API 50 ms per request"] * 2
        assert [row[2] for row in history] == ["async ≤8 SIM", "sync (thread) SIM"]
        await wait_until(pilot, lambda: not simulated_children(), timeout=10, what="the endpoint to stop")

        # Back to off: the next run is real and says so.
        chooser.value = 0
        choose(screen, n=10, modes=("sync",))
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.running or len(rows(screen.query_one("#bench-history", DataTable))) > 2,
                         what="the second run to start")
        await wait_until(pilot, lambda: not screen.running, timeout=90, what="the second run")
        history = rows(screen.query_one("#bench-history", DataTable))
        assert history[-1][-1] == "real" and history[-1][2] == "sync (thread)" and "SIMULATED" not in title(screen)
    assert simulated_children() == []


def test_cli_bench_simulated_json(milvus_uri: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = cli("bench", "--simulated-latency", "50", "--json", "--n", "3", "--ops", "search,delete",
                 "--modes", "async,sync", "--corpus", "20", home=home, uri=milvus_uri)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    sim = out["simulated"]
    assert sim["label"] == LABEL_50 and sim["embedding_ms"] == 50 and sim["milvus_ms"] == 0
    assert "simulated-remote-embedding" in out["embeddings"]
    assert [(r["op"], r["mode"], r["ok"], r["errors"], r["simulated"]) for r in out["results"]] == [
        ("search", "async", 3, 0, LABEL_50), ("search", "sync", 3, 0, LABEL_50),
        ("delete", "async", 3, 0, LABEL_50), ("delete", "sync", 3, 0, LABEL_50)]
    assert out["scratch_dropped"]
    # The server went with the command: its process and port.
    assert len(sim["pids"]) == 1 and all(gone(pid) for pid in sim["pids"])
    assert refused(sim["ports"]["embedding"])

    # A bad choice is refused in the user's words, before anything starts.
    bad = cli("bench", "--simulated-latency", "75", "--json", home=home, uri=milvus_uri)
    assert bad.returncode == 2 and "75" in bad.stderr and "Traceback" not in bad.stderr
