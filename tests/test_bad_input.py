"""Malformed and hostile input, everywhere a user can type, through every layer.

The corpus (``tests/badinput_corpus.py``) is run through the data layer's sync and async
drivers, a subset through the ``milvus-tui`` CLI (in-process with click's runner, and a few
as real subprocesses), and a handful through the app with Pilot. For every input:

* the data layer raises a ``MilvusTuiError`` subclass with a non-empty human message, never a
  raw pymilvus/grpc/TypeError (or it works, for hostile-but-legal input);
* the CLI exits non-zero with an ``Error:`` line and no traceback;
* a failed delete preview deletes nothing (the collection's count is unchanged);
* expressions built from selected primary keys are safe for *any* key value: many generated
  VARCHAR keys full of quotes, brackets, backslashes, newlines, NULs and escape sequences are
  inserted, a chosen subset is deleted by key, and exactly that subset is gone.

Everything runs against the session's real Milvus Lite server, on collections this module
creates (one of them without a dynamic field, so unknown names are certainly typos).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pymilvus import DataType, MilvusClient

from tests.apphelpers import (
    SIZE,
    make_app,
    query_bar,
    query_error,
    query_input,
    result,
    submit,
    table,
    wait_embeddings,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.badinput_corpus import CLI_CASES, CORPUS, EITHER, FILES, KEY_ALPHABET, NASTY_KEYS, OK, Case
from tests.conftest import unique_name
from tui.cli import main as cli_main
from tui.milvus import MilvusConnection, Pager
from tui.session import Session
from tui.milvus.catalog import CollectionInfo, FieldInfo
from tui.errors import MilvusTuiError

ROOT = Path(__file__).resolve().parent.parent
DIM = 256  # the bundled local model's size


def test_corpus_is_big_and_covers_every_surface() -> None:
    from tests.badinput_corpus import SURFACES

    assert len(CORPUS) >= 60
    assert len({c.id for c in CORPUS}) == len(CORPUS), "case ids must be unique"
    assert {c.surface for c in CORPUS} == set(SURFACES)
    errors = [c for c in CORPUS if c.expect not in (OK, EITHER)]
    assert len(errors) >= 60, "at least 60 inputs must be refused with a message"


# -- collections ---------------------------------------------------------------------------


@dataclass
class Bad:
    conn: MilvusConnection
    svc: Session
    names: dict[str, str]
    infos: dict[str, CollectionInfo]

    def count(self, key: str = "strict") -> int:
        return self.svc.run(self.svc.count(self.names[key]))


def _create(client: MilvusClient, name: str, fields: list[tuple[str, Any, dict[str, Any]]],
            indexes: list[tuple[str, str, str]], rows: list[dict[str, Any]]) -> None:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for field_name, dtype, kwargs in fields:
        schema.add_field(field_name, dtype, **kwargs)
    index_params = MilvusClient.prepare_index_params()
    for field_name, index_type, metric in indexes:
        index_params.add_index(field_name, index_type=index_type, metric_type=metric)
    client.create_collection(name, schema=schema, index_params=index_params)
    if rows:
        client.insert(name, rows)
        client.flush(name)


def _unit(rng: random.Random, dim: int) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(dim)]


@pytest.fixture(scope="module")
def bad(lite_server, embeddings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bad]:  # noqa: ANN001
    from tui.demo import stdlib_documents

    rng = random.Random(6)
    conn = MilvusConnection(lite_server.uri)
    conn.open()
    client = conn.client
    names = {key: unique_name(f"bad_{key}") for key in ("strict", "twovec", "sparse", "vkeys")}
    titles = [d.text[:190] for d in stdlib_documents(40)]
    vectors = embeddings.embed_documents(titles)
    _create(client, names["strict"], [
        ("pk", DataType.INT64, {"is_primary": True}),
        ("title", DataType.VARCHAR, {"max_length": 200}),
        ("n_args", DataType.INT64, {}),
        ("category", DataType.VARCHAR, {"max_length": 32}),
        ("tags", DataType.ARRAY, {"element_type": DataType.VARCHAR, "max_capacity": 8, "max_length": 32}),
        ("meta", DataType.JSON, {}),
        ("vec", DataType.FLOAT_VECTOR, {"dim": DIM}),
    ], [("vec", "AUTOINDEX", "COSINE")], [
        {"pk": i, "title": titles[i - 1], "n_args": i % 5, "category": ("function", "class")[i % 2],
         "tags": ["a", "b"][: i % 3], "meta": {"k": i, "s": f"v{i}"}, "vec": vectors[i - 1]}
        for i in range(1, 41)
    ])
    _create(client, names["twovec"], [
        ("pk", DataType.INT64, {"is_primary": True}),
        ("a", DataType.FLOAT_VECTOR, {"dim": DIM}),
        ("b", DataType.FLOAT_VECTOR, {"dim": 8}),
    ], [("a", "AUTOINDEX", "COSINE"), ("b", "AUTOINDEX", "L2")],
        [{"pk": i, "a": _unit(rng, DIM), "b": _unit(rng, 8)} for i in range(1, 11)])
    _create(client, names["sparse"], [
        ("pk", DataType.INT64, {"is_primary": True}),
        ("sp", DataType.SPARSE_FLOAT_VECTOR, {}),
    ], [("sp", "SPARSE_INVERTED_INDEX", "IP")], [{"pk": i, "sp": {i: 0.5, i + 3: 0.25}} for i in range(1, 11)])
    _create(client, names["vkeys"], [
        ("pk", DataType.VARCHAR, {"is_primary": True, "max_length": 512}),
        ("vec", DataType.FLOAT_VECTOR, {"dim": 8}),
    ], [("vec", "AUTOINDEX", "L2")], [{"pk": k, "vec": _unit(rng, 8)} for k in NASTY_KEYS])
    svc = Session(conn, embeddings, backup_dir=tmp_path_factory.mktemp("bad") / "backups",
                  audit_path=tmp_path_factory.mktemp("bad") / "audit.jsonl")
    files = tmp_path_factory.mktemp("badfiles")
    for file_name, content in FILES.items():
        (files / file_name).write_bytes(content)
    FILE_DIR[:] = [files]
    INGEST_TARGET[:] = [unique_name("bad_ingest_never")]
    names["ingest"] = INGEST_TARGET[0]
    infos = {key: svc.run(svc.describe(name)) for key, name in names.items() if key != "ingest"}
    # Milvus Lite refuses a collection without a vector field ("schema has no vector field"),
    # so this is how a server that allows one would describe it.
    infos["novec"] = CollectionInfo("novec", "default", (FieldInfo("pk", "INT64", is_primary=True),
                                                         FieldInfo("title", "VARCHAR", max_length=64)), False)
    try:
        yield Bad(conn, svc, names, infos)
    finally:
        for name in names.values():
            try:
                client.drop_collection(name)
            except Exception:  # noqa: BLE001
                pass
        conn.close()


def test_lite_refuses_a_collection_without_vector_field(bad: Bad) -> None:
    """Why ``novec`` is hand-built: Lite (like Milvus 2.x) will not create one."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    with pytest.raises(Exception, match="no vector field"):
        bad.conn.client.create_collection(unique_name("novec"), schema=schema)


# -- the data layer ------------------------------------------------------------------------


def _call(svc: Session, info: CollectionInfo, case: Case) -> Any:
    v, s = case.value, case.surface
    if s == "filter":
        out = svc.run(svc.filter(info, v, limit=5))
        pager = Pager(info, expr=v, page_size=50)  # the app's browse path validates the same way
        svc.run(svc.page(pager, 0))
        return out
    if s == "search":
        return svc.run(svc.search(info, v))
    if s == "search_filter":
        return svc.run(svc.search(info, "read a file", expr=v))
    if s == "k":
        return svc.run(svc.search(info, "read a file", k=v))
    if s == "limit":
        return svc.run(svc.filter(info, "", limit=v))
    if s == "mmr":
        return svc.run(svc.search(info, "read a file", mmr=v))
    if s == "anns_field":
        return svc.run(svc.search(info, "read a file", anns_field=v))
    if s == "output_fields":
        return svc.run(svc.filter(info, "", output_fields=v))
    if s == "consistency":
        return svc.run(svc.filter(info, "", consistency_level=v))
    if s == "vector":
        return svc.run(svc.search_by_vector(info, v))
    if s == "delete_filter":
        return svc.run(svc.preview_delete(info, expr=v))
    if s == "delete_keys":
        return svc.run(svc.preview_delete(info, keys=v))
    if s == "similar":
        return svc.run(svc.more_like_this(info, v))
    if s == "collection":
        return svc.run(svc.describe(v))
    if s in ("export_path", "restore_path", "ingest_file", "batch_size"):
        return _file_call(svc, info, case, sync=True)
    raise AssertionError(f"unknown surface {s}")


def _file_call(svc: Session, info: CollectionInfo, case: Case, *, sync: bool) -> Any:
    """The file surfaces (sync, or the matching async coroutine)."""
    from tui.milvus.ingest import read_documents

    s = case.surface
    path = _path(case.value) if s != "batch_size" else _path("@good.jsonl")
    target = INGEST_TARGET[0]
    if s == "export_path":
        return svc.run(svc.export(info, path)) if sync else svc.arun(svc.export(info, path))
    if s == "restore_path":
        return svc.run(svc.restore(path)) if sync else svc.arun(svc.restore(path))
    batch = case.value if s == "batch_size" else 256
    docs = read_documents(path)
    return (svc.run(svc.ingest(target, docs, batch_size=batch)) if sync
            else svc.arun(svc.ingest(target, docs, batch_size=batch)))


#: the files of ``FILES`` live here; ``INGEST_TARGET`` is a collection that must never appear.
FILE_DIR: list[Path] = []
INGEST_TARGET: list[str] = []


def _path(value: str) -> Path:
    if value.startswith("@"):
        return FILE_DIR[0] / value[1:]
    return Path(value)


async def _acall(svc: Session, info: CollectionInfo, case: Case) -> Any:
    v, s = case.value, case.surface
    if s == "filter":
        out = await svc.arun(svc.filter(info, v, limit=5))
        await svc.arun(svc.page(Pager(info, expr=v, page_size=50), 0))
        return out
    if s == "search":
        return await svc.arun(svc.search(info, v))
    if s == "search_filter":
        return await svc.arun(svc.search(info, "read a file", expr=v))
    if s == "k":
        return await svc.arun(svc.search(info, "read a file", k=v))
    if s == "limit":
        return await svc.arun(svc.filter(info, "", limit=v))
    if s == "mmr":
        return await svc.arun(svc.search(info, "read a file", mmr=v))
    if s == "anns_field":
        return await svc.arun(svc.search(info, "read a file", anns_field=v))
    if s == "output_fields":
        return await svc.arun(svc.filter(info, "", output_fields=v))
    if s == "consistency":
        return await svc.arun(svc.filter(info, "", consistency_level=v))
    if s == "vector":
        return await svc.arun(svc.search_by_vector(info, v))
    if s == "delete_filter":
        return await svc.arun(svc.preview_delete(info, expr=v))
    if s == "delete_keys":
        return await svc.arun(svc.preview_delete(info, keys=v))
    if s == "similar":
        return await svc.arun(svc.more_like_this(info, v))
    if s == "collection":
        return await svc.arun(svc.describe(v))
    if s in ("export_path", "restore_path", "ingest_file", "batch_size"):
        return await _file_call(svc, info, case, sync=False)
    raise AssertionError(f"unknown surface {s}")


def _judge(case: Case, outcome: Any) -> str | None:
    """None when ``outcome`` (a result or the exception raised) is what the case demands."""
    if isinstance(outcome, BaseException):
        if not isinstance(outcome, MilvusTuiError):
            return f"raw {type(outcome).__module__}.{type(outcome).__name__}: {outcome!r}"[:400]
        message = str(outcome)
        if not message.strip():
            return f"{type(outcome).__name__} with an empty message"
        for noise in ("Traceback", "MilvusException", "_InactiveRpcError", "object at 0x"):
            if noise in message:
                return f"message is not for humans ({noise}): {message[:200]!r}"
        if case.expect == OK:
            return f"legal input refused: {type(outcome).__name__}: {message[:200]}"
        if case.expect != EITHER and not isinstance(outcome, case.expect):  # type: ignore[arg-type]
            return f"expected {case.expect.__name__}, got {type(outcome).__name__}: {message[:200]}"  # type: ignore[union-attr]
        return None
    if case.expect not in (OK, EITHER):
        return f"accepted, but {case.expect.__name__} was expected"  # type: ignore[union-attr]
    return None


def _info_for(bad: Bad, case: Case) -> CollectionInfo:
    return bad.infos[case.collection]


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_data_layer_sync(bad: Bad, case: Case) -> None:
    before = bad.count() if case.surface.startswith("delete") else None
    try:
        outcome: Any = _call(bad.svc, _info_for(bad, case), case)
    except Exception as exc:  # noqa: BLE001 - judged below
        outcome = exc
    problem = _judge(case, outcome)
    assert problem is None, f"{case.id} ({case.surface}, {case.value!r:.80}): {problem}"
    if before is not None:
        assert bad.count() == before, "a delete preview changed the collection"
    if case.surface == "delete_keys" and case.expect == OK:
        assert outcome.count == 0  # string keys on an INT64 key match nothing
    if case.surface in ("ingest_file", "batch_size"):
        assert not bad.svc.run(bad.svc.exists(INGEST_TARGET[0])), "a refused ingest created its collection"


async def test_data_layer_async_whole_corpus(bad: Bad, embeddings) -> None:  # noqa: ANN001
    """The same corpus through the async driver (one client bound to this test's loop)."""
    conn = MilvusConnection(bad.conn.uri)
    await asyncio.to_thread(conn.open)
    svc = Session(conn, embeddings, backup_dir=bad.svc.backup_dir, audit_path=bad.svc.audit_path)
    problems = []
    try:
        before = bad.count()
        for case in CORPUS:
            try:
                outcome: Any = await _acall(svc, _info_for(bad, case), case)
            except Exception as exc:  # noqa: BLE001
                outcome = exc
            if (problem := _judge(case, outcome)) is not None:
                problems.append(f"{case.id}: {problem}")
        assert bad.count() == before
    finally:
        await conn.aclose()
        conn.close()
    assert not problems, "\n".join(problems)


# -- the CLI ---------------------------------------------------------------------------


def _argv(bad: Bad, tail: list[str]) -> list[str]:
    names = {f"{{{key}}}": name for key, name in bad.names.items()}
    return ["--uri", bad.conn.uri, *[str(_path(a)) if a.startswith("@") else names.get(a, a) for a in tail]]


@pytest.mark.parametrize("case_id,tail,code", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_in_process(bad: Bad, case_id: str, tail: list[str], code: int) -> None:
    before = bad.count()
    runner = CliRunner()
    res = runner.invoke(cli_main, _argv(bad, tail), catch_exceptions=True)
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr, res.exception)
    # Only sys.exit: anything else is an uncaught exception that would print a traceback.
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    err_lines = [line for line in res.stderr.splitlines() if line.strip()]
    error_lines = [line for line in err_lines if line.startswith("Error:")]
    assert len(error_lines) == 1, res.stderr
    assert len(error_lines[0]) > len("Error: ") + 5
    assert "Traceback" not in res.output
    # Hostile characters are shown escaped, never sent to the terminal.
    assert "\x00" not in res.stderr and "\x1b" not in res.stderr
    assert bad.count() == before, "a failed delete changed the collection"
    assert not bad.svc.run(bad.svc.exists(INGEST_TARGET[0]))


def test_cli_subprocess_errors_are_one_clean_line(bad: Bad, tmp_path: Path) -> None:
    """A few cases end to end through the real console script (exit code, stderr, no traceback)."""
    script = Path(sys.executable).parent / "milvus-tui"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tui"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "OPENAI_"))}
    env["MILVUS_TUI_HOME"] = str(tmp_path)
    before = bad.count()
    for tail, code in [
        (["query", bad.names["strict"], 'n_args == "x"'], 2),
        (["delete", bad.names["strict"], "--filter", "nope == 1", "--yes"], 2),
        (["search", bad.names["sparse"], "read a file"], 2),
    ]:
        proc = subprocess.run([*command, "--uri", bad.conn.uri, *tail], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, (tail, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert lines and lines[0].startswith("Error: ") and len(lines[0]) > 20, proc.stderr
        assert sum(line.startswith("Error:") for line in lines) == 1
    assert bad.count() == before


def test_cli_delete_by_nasty_string_ids_is_exact(bad: Bad) -> None:
    """``delete --ids`` with a JSON list of keys full of quotes/brackets/newlines deletes exactly them."""
    info = bad.svc.run(bad.svc.describe(bad.names["vkeys"]))
    all_keys = set(_all_keys(bad.svc, info))
    chosen = ['a"b', "[x]", "new\nline", "end\\", "' or 1==1 or '", 'x" or pk != "', "", "\x1b[2J"]
    assert set(chosen) <= all_keys
    res = CliRunner().invoke(cli_main, ["--uri", bad.conn.uri, "delete", bad.names["vkeys"], "--ids",
                                        json.dumps(chosen), "--yes", "--json"])
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    out = json.loads(res.stdout)
    assert out["matched"] == len(chosen) and out["deleted"] == len(chosen)
    assert set(_all_keys(bad.svc, info)) == all_keys - set(chosen)
    # Undo through the CLI too: the same keys come back.
    res = CliRunner().invoke(cli_main, ["--uri", bad.conn.uri, "restore", out["backup"], "--json"])
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert set(_all_keys(bad.svc, info)) == all_keys


# -- keys of any value ---------------------------------------------------------------------


def _all_keys(svc: Session, info: CollectionInfo) -> list[Any]:
    rows = svc.conn.client.query(info.name, filter="", output_fields=[info.primary.name], limit=16384,
                                 consistency_level="Strong")
    return [r[info.primary.name] for r in rows]


def _random_keys(rng: random.Random, n: int) -> list[str]:
    keys: set[str] = set(NASTY_KEYS)
    while len(keys) < n:
        length = rng.randint(0, 10)
        keys.add("".join(rng.choice(KEY_ALPHABET) for _ in range(length))[:200])
    return sorted(keys)


@pytest.fixture
def keyed(bad: Bad) -> Iterator[tuple[CollectionInfo, list[str], dict[str, list[float]]]]:
    rng = random.Random(20261122)
    name = unique_name("bad_keys")
    keys = _random_keys(rng, 400)
    vectors = {k: _unit(rng, 8) for k in keys}
    _create(bad.conn.client, name, [
        ("pk", DataType.VARCHAR, {"is_primary": True, "max_length": 1024}),
        ("vec", DataType.FLOAT_VECTOR, {"dim": 8}),
    ], [("vec", "AUTOINDEX", "L2")], [{"pk": k, "vec": vectors[k]} for k in keys])
    try:
        yield bad.svc.run(bad.svc.describe(name)), keys, vectors
    finally:
        bad.conn.client.drop_collection(name)


async def test_selection_ops_are_exact_for_any_key(bad: Bad, keyed) -> None:  # noqa: ANN001
    """Generated keys: preview/get/more-like-this/delete by selected keys touch exactly those keys."""
    info, keys, _ = keyed
    svc = bad.svc
    rng = random.Random(7)
    assert sorted(_all_keys(svc, info)) == keys, "Lite must hold every generated key verbatim"

    # Reading any one key by the expression we build returns exactly that entity.
    for key in keys:
        rows = svc.run(svc.get(info, [key]))
        assert [r["pk"] for r in rows] == [key], repr(key)

    # More like this from a row with any key: it runs, and leaves the row itself out.
    for key in rng.sample(keys, 40):
        found = svc.run(svc.more_like_this(info, key, k=5))
        assert found.rows and key not in {r["pk"] for r in found.rows}, repr(key)

    # Delete a chosen subset by key (sync driver, small batches), plus keys that do not exist.
    first = rng.sample(keys, 120)
    ghosts = [k + "\x00ghost" for k in first[:10]] + ['" or pk != "']
    preview = svc.run(svc.preview_delete(info, keys=first + ghosts))
    assert set(preview.keys) == set(first) and len(preview.keys) == len(first)
    report = svc.conn.run(_delete_op(svc, info, preview, batch_size=17))
    assert report.deleted == len(first)
    remaining = set(_all_keys(svc, info))
    assert remaining == set(keys) - set(first)

    # And another subset through the async driver.
    conn = MilvusConnection(bad.conn.uri)
    await asyncio.to_thread(conn.open)
    try:
        asvc = Session(conn, None, backup_dir=svc.backup_dir, audit_path=svc.audit_path)
        second = rng.sample(sorted(remaining), 80)
        apreview = await asvc.arun(asvc.preview_delete(info, keys=second))
        assert set(apreview.keys) == set(second)
        areport = await conn.arun(_delete_op(asvc, info, apreview, batch_size=13))
        assert areport.deleted == len(second)
    finally:
        await conn.aclose()
        conn.close()
    assert set(_all_keys(svc, info)) == set(keys) - set(first) - set(second)

    # The backups hold exactly the deleted keys, and restoring them brings every key back.
    backed = [json.loads(line)["pk"] for p in (report.backup_path, areport.backup_path)
              for line in Path(p).read_text(encoding="utf-8").splitlines()[1:-1]]
    assert sorted(backed) == sorted(first + second)
    svc.run(svc.restore(Path(report.backup_path)))
    svc.run(svc.restore(Path(areport.backup_path)))
    assert sorted(_all_keys(svc, info)) == keys


def _delete_op(svc: Session, info: CollectionInfo, preview: Any, batch_size: int) -> Any:
    from tui.milvus.cleanup import execute_delete

    return execute_delete(info, preview, backup_dir=svc.backup_dir, audit_path=svc.audit_path,
                          batch_size=batch_size)


# -- the app ---------------------------------------------------------------------------


@pytest.fixture
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


async def _expect_query_error(pilot: Any, app: Any, what: str) -> str:
    text = await wait_until(pilot, lambda: query_error(app).strip(), 20, f"an error for {what!r}")
    await wait_until(pilot, lambda: not app.main.running, 20, "the app to go idle")
    return text


BAD_FILTERS = ["nope == 1", "(n_args > 2", 'n_args == "x"', "category > 3", 'title == "a\x00b"',
               "\x1b[2J", "pk > 0 \u200f", "n_args ==", "x" * 20_000 + " =="]


async def test_app_shows_errors_for_bad_input_and_stays_usable(bad: Bad, app_home: Path) -> None:
    app = make_app(bad.conn.uri, bad.names["strict"])
    before = bad.count()
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        for text in BAD_FILTERS:
            query_bar(app).show_error("")
            await submit(pilot, app, "filter", text)
            message = await _expect_query_error(pilot, app, text)
            assert len(message) > 10, (text, message)
        await wait_embeddings(pilot, app)
        for text in ["", "   \t"]:
            query_bar(app).show_error("")
            await submit(pilot, app, "search", text)
            assert "text" in (await _expect_query_error(pilot, app, text)).lower()
        # k that is not a number, and k out of range.
        for k in ("abc", "0", "-5", "99999999"):
            query_bar(app).show_error("")
            app.main.query_one("#query-k").value = k
            await submit(pilot, app, "search", "read a file")
            message = await _expect_query_error(pilot, app, f"k={k}")
            assert "k" in message, message
        app.main.query_one("#query-k").value = "5"
        # Hostile but legal searches work.
        for text in ["\x1b[31m\u202e\U0001f389", "word " * 2000]:
            await submit(pilot, app, "search", text)
            await wait_result(pilot, app, lambda r: r.kind == "search" and len(r.rows) == 5, 30, "a search")
        # Still usable: a valid filter afterwards works, and the error line is cleared.
        await submit(pilot, app, "filter", "n_args > 2")
        got = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == "n_args > 2", 30,
                                "the valid filter")
        assert got.rows and all(r["n_args"] > 2 for r in got.rows)
        assert query_error(app).strip() == ""
        # A delete asked for right after a rejected filter deletes nothing without a confirmation.
        await submit(pilot, app, "filter", "(pk > 0")
        await _expect_query_error(pilot, app, "(pk > 0")
        table(app).focus()
        await pilot.press("D")
        await pilot.pause(0.5)
        await wait_until(pilot, lambda: not app.main.running, 20, "the preview")
        from tui.screens.delete import ConfirmDeleteScreen

        if isinstance(app.screen, ConfirmDeleteScreen):
            # Only the last *valid* filter may be offered, and it still needs a yes.
            assert "(pk > 0" not in str(app.screen.preview.expr)
            await pilot.press("escape")
            await pilot.pause(0.3)
        query_input(app).value = ""
    assert bad.count() == before, "nothing may be deleted"


async def test_app_search_on_sparse_only_collection_says_why(bad: Bad, app_home: Path) -> None:
    app = make_app(bad.conn.uri, bad.names["sparse"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        await wait_embeddings(pilot, app)
        await submit(pilot, app, "search", "read a file")
        message = await _expect_query_error(pilot, app, "search on sparse")
        assert "no dense vector field" in message
        # The collection still browses.
        await submit(pilot, app, "filter", "pk > 5")
        got = await wait_result(pilot, app, lambda r: r.kind == "page" and r.expr == "pk > 5", 30, "filter")
        assert sorted(r["pk"] for r in got.rows) == [6, 7, 8, 9, 10]
        assert result(app) is got
