"""Tests for tui.embeddings: the bundled offline model and the OpenAI-compatible provider.

The OpenAI provider runs the real langchain-openai/openai clients against a real local HTTP
server (tests/embedding_server.py), so retries, encodings and errors are the genuine ones.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from tui.embeddings import (
    DEFAULT_LOCAL_MODEL,
    DimensionMismatch,
    EmbeddingError,
    EmbeddingSettings,
    LocalEmbeddings,
    OpenAICompatibleEmbeddings,
    check_dimension,
    make_embeddings,
    resolve_provider,
)
from tui.embeddings.base import display_url, scrub

try:  # run as `python -m pytest` (repo root on sys.path) or with a tests package
    from tests.embedding_server import DROP, EmbeddingServer
except ImportError:  # plain `pytest` without tests/__init__.py: tests/ itself is on sys.path
    from embedding_server import DROP, EmbeddingServer  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
CANARY = "sk-canary-0123456789abcdef"  # must never surface in messages, reprs or descriptions


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def local() -> LocalEmbeddings:
    emb = make_embeddings(EmbeddingSettings())
    assert isinstance(emb, LocalEmbeddings)
    return emb


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dim=64) as srv:
        yield srv


def openai_settings(srv: EmbeddingServer, **kw: object) -> EmbeddingSettings:
    opts: dict = {"provider": "openai", "base_url": srv.base_url, "api_key": CANARY}
    opts.update(max_retries=0, timeout=5.0)  # fast failures unless a test asks for retries
    opts.update(kw)
    return EmbeddingSettings(**opts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- settings, provider choice, dimension checks ---------------------------------------------


def test_resolve_provider() -> None:
    assert resolve_provider(EmbeddingSettings()) == "local"
    assert resolve_provider(EmbeddingSettings(api_key="k")) == "openai"
    assert resolve_provider(EmbeddingSettings(provider="openai")) == "openai"
    assert resolve_provider(EmbeddingSettings(provider="local", api_key="k")) == "local"
    assert resolve_provider(EmbeddingSettings(provider="auto")) == "local"
    with pytest.raises(EmbeddingError, match="opnai"):
        resolve_provider(EmbeddingSettings(provider="opnai"))


def test_settings_hide_key_and_validate() -> None:
    assert CANARY not in repr(EmbeddingSettings(api_key=CANARY))
    with pytest.raises(EmbeddingError):
        EmbeddingSettings(dimensions=0)
    with pytest.raises(EmbeddingError):
        EmbeddingSettings(timeout=0)


def test_check_dimension() -> None:
    check_dimension(256, 256, "vector")
    with pytest.raises(DimensionMismatch) as info:
        check_dimension(expected=384, got=256, field="vector")
    err = info.value
    assert isinstance(err, EmbeddingError)
    assert (err.expected, err.got, err.field) == (384, 256, "vector")
    assert str(err).startswith(
        "The embedding model produces 256-dim vectors but field 'vector' holds 384-dim vectors;"
    )


def test_scrub_and_display_url() -> None:
    text = f"key {CANARY} header Bearer abc.def-123 other sk-zzzzzzzzzzzz"
    out = scrub(text, [CANARY])
    assert CANARY not in out and "abc.def-123" not in out and "sk-zzzzzzzzzzzz" not in out
    assert display_url("https://u:secret@host:8080/v1/?key=x") == "https://host:8080/v1"


# -- local provider ----------------------------------------------------------------------------


def test_local_dims_and_description(local: LocalEmbeddings) -> None:
    assert isinstance(local, Embeddings)
    assert (local.provider, local.model) == ("local", DEFAULT_LOCAL_MODEL)
    assert local.dimension() == 256
    assert local.describe() == "local · minilm-l6-v2-m2v-256 (256d)"
    vecs = local.embed_documents(["one", "two", "three"])
    assert len(vecs) == 3 and all(len(v) == 256 for v in vecs)
    assert all(type(x) is float for x in vecs[0])
    assert math.isclose(float(np.linalg.norm(vecs[0])), 1.0, rel_tol=1e-5)
    assert local.embed_documents([]) == []


def test_local_is_deterministic(local: LocalEmbeddings) -> None:
    text = "Milvus stores vectors"
    fresh = LocalEmbeddings()
    assert local.embed_query(text) == fresh.embed_query(text) == local.embed_documents([text])[0]


def test_local_semantic_sanity(local: LocalEmbeddings) -> None:
    cat, kitten, tax = local.embed_documents(
        ["cat sits on mat", "a kitten on a rug", "The quarterly tax report is due on Friday"]
    )
    assert cos(cat, kitten) > cos(cat, tax) + 0.2


def test_local_plugs_into_langchain_store(local: LocalEmbeddings) -> None:
    store = InMemoryVectorStore(embedding=local)
    store.add_texts(["a kitten on a rug", "interest rates rose again", "how to bake bread"])
    assert store.similarity_search("cat sits on mat", k=1)[0].page_content == "a kitten on a rug"


def test_local_reduced_dimensions() -> None:
    emb = make_embeddings(EmbeddingSettings(provider="local", dimensions=64))
    assert emb.dimension() == 64
    vec = emb.embed_query("hello")
    assert len(vec) == 64 and math.isclose(float(np.linalg.norm(vec)), 1.0, rel_tol=1e-5)
    with pytest.raises(EmbeddingError, match="256"):
        make_embeddings(EmbeddingSettings(provider="local", dimensions=1024))


def test_local_rejects_non_directory_model(tmp_path: Path) -> None:
    # A bare name would send model2vec to the Hugging Face hub; we refuse instead.
    with pytest.raises(EmbeddingError, match="model2vec directory"):
        make_embeddings(EmbeddingSettings(provider="local", model="minishlab/potion-base-8M"))


async def test_local_async_matches_sync_and_keeps_loop_responsive() -> None:
    emb = LocalEmbeddings()  # fresh: the 0.4 s model load must also happen off the loop
    texts = [f"sentence number {i} about vectors and cats" for i in range(20000)]
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    # A full (gen-2) garbage collection walks every object in the process and holds the
    # GIL throughout: 120-180 ms here once pytest, langchain and openai are loaded, and
    # 20k result lists trigger one. That pause is process-wide, not the embedder's (the app
    # should gc.freeze() after startup), so freeze what exists and measure our own work.
    gc.collect()
    gc.freeze()
    try:
        beat = asyncio.create_task(heartbeat())
        t0 = time.perf_counter()
        vectors = await emb.aembed_documents(texts)
        elapsed = time.perf_counter() - t0
        done.set()
        await beat
    finally:
        gc.unfreeze()
    query = await emb.aembed_query(texts[7])
    assert len(vectors) == len(texts) and query == vectors[7] == emb.embed_query(texts[7])
    # The loop kept ticking the whole time: many beats, none stalled for long.
    assert len(gaps) >= elapsed / 0.005 * 0.3, (len(gaps), elapsed)
    assert max(gaps) < 0.15, max(gaps)  # ~20 ms typical, ~90 ms with the model load


def test_package_import_is_light_and_model_loads_offline() -> None:
    # A clean interpreter with sockets disabled: importing must not pull in textual,
    # langchain_openai or torch, and the bundled model must load and embed with no network.
    code = """
import socket, sys
def _no_network(*a, **k):
    raise OSError("network disabled in this test")
socket.socket.connect = _no_network
socket.create_connection = _no_network
import tui.embeddings as te
heavy = [m for m in ("textual", "langchain_openai", "torch") if m in sys.modules]
assert not heavy, heavy
from model2vec import StaticModel
model = StaticModel.from_pretrained(str(te.MODEL_DIR))
assert model.encode(["hello"]).shape == (1, 256)
assert len(te.make_embeddings(te.EmbeddingSettings()).embed_query("hi")) == 256
assert "torch" not in sys.modules
print("ok")
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# -- the test server itself ----------------------------------------------------------------------


def test_server_speaks_float_and_base64(server: EmbeddingServer) -> None:
    def post(fmt: str) -> dict:
        body = json.dumps({"input": ["a", "b"], "model": "m", "encoding_format": fmt}).encode()
        req = urllib.request.Request(
            server.base_url + "/embeddings", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)

    as_float, as_b64 = post("float"), post("base64")
    decoded = np.frombuffer(base64.b64decode(as_b64["data"][1]["embedding"]), dtype="<f4")
    assert as_float["object"] == "list" and as_float["usage"]["total_tokens"] == 2
    assert np.allclose(decoded, as_float["data"][1]["embedding"])
    assert [d["index"] for d in as_float["data"]] == [0, 1]


# -- OpenAI-compatible provider against the real client -------------------------------------------


def test_openai_sync_embeds_via_base_url(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    assert isinstance(emb, OpenAICompatibleEmbeddings) and isinstance(emb, Embeddings)
    assert (emb.provider, emb.model) == ("openai", "text-embedding-3-small")
    vecs = emb.embed_documents(["alpha", "beta"])
    assert len(vecs) == 2 and all(len(v) == 64 for v in vecs)
    assert all(type(x) is float for x in vecs[0])
    assert emb.embed_query("alpha") == vecs[0]  # deterministic server, exact round trip
    assert [r["path"] for r in server.requests] == ["/v1/embeddings"] * 2
    assert server.requests[0]["body"]["input"] == ["alpha", "beta"]  # raw strings, no tokens
    assert server.requests[0]["body"]["model"] == "text-embedding-3-small"
    assert server.auth_headers[0] == f"Bearer {CANARY}"


async def test_openai_async_runs_concurrently(server: EmbeddingServer) -> None:
    server.latency = 0.1
    emb = make_embeddings(openai_settings(server))
    assert await emb.aembed_documents(["alpha"]) == emb.embed_documents(["alpha"])
    t0 = time.perf_counter()
    results = await asyncio.gather(*(emb.aembed_query(f"q{i}") for i in range(20)))
    elapsed = time.perf_counter() - t0
    assert all(len(r) == 64 for r in results)
    assert elapsed < 1.0, elapsed  # 20 x 100 ms sequentially would be 2 s
    assert server.max_in_flight > 1


def test_openai_dimension_probe_is_cached(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    assert emb.describe() == f"openai · text-embedding-3-small @ {server.base_url}"
    assert emb.dimension() == 64 and len(server.requests) == 1
    assert emb.dimension() == 64 and len(server.requests) == 1
    assert "(64d)" in emb.describe()


async def test_openai_async_dimension_probe(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    assert await emb.adimension() == 64
    assert await emb.adimension() == 64 and len(server.requests) == 1


def test_openai_requested_dimensions(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server, dimensions=16))
    assert emb.dimension() == 16 and server.requests == []  # known without a probe
    assert len(emb.embed_query("x")) == 16
    assert server.requests[0]["body"]["dimensions"] == 16


def test_ctx_length_check_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(var, raising=False)

    def ctx(**kw: object) -> bool:
        emb = make_embeddings(EmbeddingSettings(provider="openai", api_key=CANARY, **kw))
        return emb.check_ctx_length

    assert ctx() is True
    assert ctx(base_url="https://api.openai.com/v1") is True
    assert ctx(base_url="http://localhost:11434/v1") is False
    assert ctx(base_url="http://localhost:11434/v1", check_ctx_length=True) is True
    assert ctx(check_ctx_length=False) is False


def test_openai_compatible_endpoint_never_touches_tiktoken(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiktoken

    def offline(*a: object, **k: object) -> None:
        raise ConnectionError("tiktoken tried to download its tokenizer")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    monkeypatch.setattr(tiktoken, "encoding_for_model", offline)
    emb = make_embeddings(openai_settings(server))
    assert len(emb.embed_query("works offline")) == 64


def test_missing_key_for_openai_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(EmbeddingError, match="API key"):
        make_embeddings(EmbeddingSettings(provider="openai"))


def test_keyless_local_endpoint_gets_placeholder(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user's OpenAI key from the environment must not go to an explicitly chosen server.
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    emb = make_embeddings(openai_settings(server, api_key=None))
    assert len(emb.embed_query("x")) == 64
    assert server.auth_headers == ["Bearer not-needed"]


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_http_fault_becomes_embedding_error(server: EmbeddingServer, status: int) -> None:
    emb = make_embeddings(openai_settings(server))
    server.fail_next(status)
    with pytest.raises(EmbeddingError) as info:
        emb.embed_query("x")
    err = info.value
    assert err.status == status and f"HTTP {status}" in str(err)
    assert server.base_url in str(err) and err.endpoint == server.base_url
    assert err.__cause__ is None and err.__context__ is None


async def test_async_fault_becomes_embedding_error(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    server.fail_next(500)
    with pytest.raises(EmbeddingError, match="HTTP 500"):
        await emb.aembed_documents(["x"])


def test_connection_refused_names_endpoint() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    emb = make_embeddings(EmbeddingSettings(provider="openai", base_url=url, max_retries=0))
    with pytest.raises(EmbeddingError, match="Cannot reach embedding endpoint") as info:
        emb.embed_query("x")
    assert url in str(info.value) and info.value.status is None


def test_dropped_connection(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    server.fail_next(DROP)
    with pytest.raises(EmbeddingError, match="Cannot reach"):
        emb.embed_query("x")


def test_timeout_is_reported(server: EmbeddingServer) -> None:
    server.latency = 1.0
    emb = make_embeddings(openai_settings(server, timeout=0.2))
    t0 = time.perf_counter()
    with pytest.raises(EmbeddingError, match="timed out after 0.2 s"):
        emb.embed_query("x")
    assert time.perf_counter() - t0 < 0.9


async def test_api_key_never_leaks(server: EmbeddingServer) -> None:
    # The server rejects the key and, like careless servers do, echoes it in the error body.
    server.api_key = "the-right-key"
    emb = make_embeddings(openai_settings(server))
    with pytest.raises(EmbeddingError) as sync_info:
        emb.embed_query("x")
    with pytest.raises(EmbeddingError) as async_info:
        await emb.aembed_query("x")
    assert server.auth_headers[0] == f"Bearer {CANARY}"  # it really was sent and echoed...
    assert sync_info.value.status == 401 and "Incorrect API key" in str(sync_info.value)
    texts = [str(sync_info.value), repr(sync_info.value), str(async_info.value)]
    texts += [emb.describe(), repr(emb), repr(openai_settings(server))]
    for text in texts:
        assert CANARY not in text, text  # ...but is shown nowhere


def test_429_then_success_is_retried(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server, max_retries=2))
    server.fail_next(429, 500)
    assert len(emb.embed_query("eventually")) == 64
    assert len(server.requests) == 3


def test_retries_exhausted(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server, max_retries=1))
    server.fail_next(429, 429, 429)
    with pytest.raises(EmbeddingError, match=r"HTTP 429 .*after 1 retries") as info:
        emb.embed_query("x")
    assert info.value.status == 429 and len(server.requests) == 2


# -- the async client: one per event loop, its errors read like the sync ones ---------------


async def test_async_client_is_built_once_per_loop(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    assert isinstance(emb, OpenAICompatibleEmbeddings)
    await asyncio.gather(*(emb.aembed_query(f"q{i}") for i in range(10)))
    client = emb._get_async_client()
    gc.collect()  # the client's closer task must survive a collection (the loop holds tasks weakly)
    await asyncio.gather(*(emb.aembed_query(f"r{i}") for i in range(10)))
    assert emb._get_async_client() is client and len(emb._async_clients) == 1
    assert len(server.requests) == 20


def test_async_http_client_is_closed_when_its_loop_ends(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))

    async def use() -> object:
        await emb.aembed_query("x")
        return emb._get_async_client().async_client._client._client  # AsyncEmbeddings -> AsyncOpenAI -> http

    http = asyncio.run(use())  # asyncio.run cancels the tasks left, as Textual's exit does
    session = getattr(getattr(http, "_transport", None), "client", None)  # aiohttp's, when installed
    assert http.is_closed if session is None else session.closed
    assert len(emb._async_clients) == 0
    assert asyncio.run(emb.aembed_query("again on a new loop")) is not None


async def test_async_connection_refused_names_endpoint() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    emb = make_embeddings(EmbeddingSettings(provider="openai", base_url=url, max_retries=0))
    with pytest.raises(EmbeddingError, match="Cannot reach embedding endpoint") as info:
        await emb.aembed_query("x")
    assert url in str(info.value) and "timed out" not in str(info.value)


async def test_async_dropped_connection(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server))
    server.fail_next(DROP)
    with pytest.raises(EmbeddingError, match="Cannot reach"):
        await emb.aembed_query("x")


async def test_async_timeout_is_reported(server: EmbeddingServer) -> None:
    server.latency = 1.0
    emb = make_embeddings(openai_settings(server, timeout=0.2))
    t0 = time.perf_counter()
    with pytest.raises(EmbeddingError, match="timed out after 0.2 s"):
        await emb.aembed_query("x")
    assert time.perf_counter() - t0 < 0.9


async def test_async_retries_then_succeeds(server: EmbeddingServer) -> None:
    emb = make_embeddings(openai_settings(server, max_retries=2))
    server.fail_next(DROP, 503)
    assert len(await emb.aembed_query("eventually")) == 64
    assert len(server.requests) == 3


async def test_async_without_aiohttp_uses_the_sdk_default(server: EmbeddingServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # What an install without aiohttp gets: the openai SDK's own httpx client, same errors.
    from tui.embeddings import openai_provider

    monkeypatch.setattr(openai_provider, "_async_http_client", lambda: None)
    emb = make_embeddings(openai_settings(server))
    assert len(await emb.aembed_query("x")) == 64
    http = emb._get_async_client().async_client._client._client
    assert "Aiohttp" not in type(getattr(http, "_transport", None)).__name__
    assert len(emb._closers) == 0  # the SDK's client closes itself; nothing to hold
    server.fail_next(DROP)
    with pytest.raises(EmbeddingError, match="Cannot reach"):
        await emb.aembed_query("y")
