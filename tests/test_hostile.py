"""Hostile data and input: what users' collections really hold, shown without harm.

A collection made directly with pymilvus (never our own ingest) on the session's Lite child
holds escape sequences (ANSI clear-screen, an OSC title change, an OSC 52 clipboard write),
C1 controls, NUL, a bidi override, the Llama chat format ``<s>[INST] … [/INST]`` and other
text that looks like Rich markup. It is shown through the console script (a subprocess,
table and ``--json``) and in the app through Pilot (table, entity detail, a rejected filter):
no crash, no raw control character written, the text shown as stored with its control
characters as visible escapes (``tui.printable``).

Byte vectors (binary, float16, bfloat16, int8): Milvus Lite 3.2.2 refuses to create such
fields ("… which MilvusLite does not support"), so their rows are made by pymilvus's own
decoding of the protobuf a server sends (``HybridExtraList``): bytes in a one-item list,
exactly what a query returns. They go through the same display, ``--json`` and export code.

Also: a password written into the URI never reaches the status bar, history.json, the audit
log or a backup header; and the filter check knows Milvus's keywords and literals.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from textual.app import App, ComposeResult

from tests.apphelpers import (
    SIZE,
    make_app,
    notifications,
    query_error,
    status,
    submit,
    table,
    title,
    wait_first_page,
    wait_result,
    wait_until,
)
from tests.conftest import unique_name
from tui.milvus.catalog import CollectionInfo, FieldInfo
from tui.errors import UnknownField, display_uri, scrub
from tui.milvus.expr import validate
from tui.milvus.queries import QueryResult
from tui.milvus.values import json_row, summarize_vector, vector_numbers
from tui.printable import json_text, printable

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]
DIM = 256  # the local embedding model's, so `search` works on this collection

#: id -> stored text. Each one broke the screen or the process before.
HOSTILE = {
    1: "\x1b[2J\x1b[Hcleared the screen",
    2: "\x1b]0;pwned title\x07after the title",
    3: "\x1b]52;c;ZXZpbA==\x07clipboard written",
    4: "c1 \x9b31m csi \x85 nel \x90 dcs",
    5: "nul \x00 byte",
    6: "<s>[INST] What is Milvus? [/INST]",
    7: "list[str]",
    8: "[bold]not bold[/bold] and a [/] b",
    9: "bidi \u202e reversed",
}
TAGS = ["\x1b]0;tag title\x07", "[/INST]"]
META = {"note": "\x1b[31mred\x1b[0m", "k": "[/]"}
#: Raw bytes a terminal acts on: C0 except tab/newline, DEL, C1, bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_no_raw_controls(text: str, where: str) -> None:
    found = RAW_CONTROL.search(text)
    assert found is None, f"raw {found.group()!r} in {where}: …{text[max(0, found.start() - 60):found.end() + 60]!r}…"


@pytest.fixture(scope="module")
def hostile(lite_server: Any) -> Iterator[str]:
    """A collection made with pymilvus, loaded, holding the hostile strings."""
    client = MilvusClient(uri=lite_server.uri)
    name = unique_name("hostile")
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=500)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=100)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index)
    rng = np.random.default_rng(7)
    client.insert(name, [{"id": i, "text": text, "tags": TAGS, "meta": META,
                          "vector": rng.random(DIM, dtype=np.float32).tolist()} for i, text in HOSTILE.items()])
    client.flush(name)
    client.load_collection(name)
    yield name
    client.drop_collection(name)
    client.close()


def cli(*args: str, home: Path, uri: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "OPENAI_", "FORCE_COLOR"))}
    env.update(MILVUS_TUI_HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="300", HF_HUB_OFFLINE="1")
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run([*COMMAND, "--uri", uri, *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=180)


# -- the CLI -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["query", "search"])
def test_cli_table_shows_hostile_text_escaped(command: str, hostile: str, lite_server: Any, tmp_path: Path) -> None:
    args = ["query", hostile, "id >= 0"] if command == "query" else ["search", hostile, "what is milvus", "-k", "9"]
    proc = cli(*args, home=tmp_path / "home", uri=lite_server.uri)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    assert_no_raw_controls(proc.stdout, f"stdout of {command}")
    assert_no_raw_controls(proc.stderr, f"stderr of {command}")
    for text in HOSTILE.values():
        assert printable(text) in proc.stdout, f"{printable(text)!r} is not shown as stored"
    # ARRAY and JSON cells are JSON text, with JSON's own escapes.
    assert "\\u001b]0;tag title\\u0007" in proc.stdout and '"[/INST]"' in proc.stdout
    assert "\\u001b[31mred" in proc.stdout


@pytest.mark.parametrize("command", ["query", "search"])
def test_cli_json_is_exact_and_writes_no_raw_controls(command: str, hostile: str, lite_server: Any,
                                                      tmp_path: Path) -> None:
    args = ["query", hostile, "id >= 0"] if command == "query" else ["search", hostile, "what is milvus", "-k", "9"]
    proc = cli(*args, "--json", home=tmp_path / "home", uri=lite_server.uri)
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, f"stdout of {command} --json")
    rows = {r["id"]: r for r in json.loads(proc.stdout)["rows"]}
    assert {i: r["text"] for i, r in rows.items()} == HOSTILE  # NUL, ESC, C1 round-trip exactly
    assert all(r["tags"] == TAGS and r["meta"] == META for r in rows.values())


def test_json_text_round_trips_every_control_character() -> None:
    value = {"s": "".join(chr(c) for c in range(0, 0xA0)) + "\u2028\u202e\u2066"}
    text = json_text(value)
    assert_no_raw_controls(text, "json_text")
    assert json.loads(text) == value


# -- the app -------------------------------------------------------------------------------


def _screen_text(app: Any) -> str:
    return app.export_screenshot()


@pytest.mark.usefixtures("home")
async def test_app_table_detail_and_rejected_filter_are_safe(hostile: str, lite_server: Any) -> None:
    app = make_app(lite_server.uri, hostile)
    async with app.run_test(size=SIZE) as pilot:
        page = await wait_first_page(pilot, app)
        assert len(page.rows) == len(HOSTILE)
        await wait_until(pilot, lambda: table(app).row_count == len(HOSTILE), what="all rows in the table")
        cells = table(app)
        column = list(cells.columns).index("text")
        shown = {str(cells.get_row_at(i)[column].plain) for i in range(cells.row_count)}
        for text in HOSTILE.values():
            assert printable(text) in shown, f"{printable(text)!r} not in the table: {shown}"
        assert_no_raw_controls(_screen_text(app), "the rendered table")

        # The entity detail of the clear-screen row: JSON with every control escaped.
        row = next(i for i, r in enumerate(page.rows) if r["id"] == 4)
        cells.focus()
        cells.move_cursor(row=row)
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "EntityScreen", what="the detail view")
        await pilot.pause()
        detail = app.screen.as_json(full=False)  # type: ignore[attr-defined]
        assert_no_raw_controls(detail, "the entity detail")
        assert json.loads(detail)["text"] == HOSTILE[4]
        assert_no_raw_controls(_screen_text(app), "the rendered detail view")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="the main screen again")

        # A filter our check rejects, quoting "[/]": it was parsed as markup and crashed the app.
        await submit(pilot, app, "filter", 'text == "[/]" and nosuchfield == 1')
        await wait_until(pilot, lambda: "nosuchfield" in query_error(app), what="the filter error")
        # One the server rejects, its message quoting "[/]": shown in a toast, as text.
        await submit(pilot, app, "filter", 'id in "[/]"')
        await wait_until(pilot, lambda: any('"[/]"' in n for n in notifications(app)), what="the toast")
        await pilot.pause()
        assert app.is_running and '"[/]"' in query_error(app)
        assert_no_raw_controls(_screen_text(app), "the screen with the toast")
        # A filter the server runs, holding an ESC: the title line shows it escaped.
        await submit(pilot, app, "filter", 'text like "%\x1b[2J%"')
        await wait_result(pilot, app, lambda r: r.expr.startswith("text like") and len(r.rows) == 1)
        await pilot.pause()
        assert_no_raw_controls(title(app), "the results title")
        assert "\\x1b[2J" in title(app)


# -- byte vectors --------------------------------------------------------------------------

BYTE_TYPES = {"bin": ("BINARY_VECTOR", DataType.BINARY_VECTOR, 16, "binary_vector"),
              "f16": ("FLOAT16_VECTOR", DataType.FLOAT16_VECTOR, 4, "float16_vector"),
              "bf16": ("BFLOAT16_VECTOR", DataType.BFLOAT16_VECTOR, 4, "bfloat16_vector"),
              "i8": ("INT8_VECTOR", DataType.INT8_VECTOR, 4, "int8_vector")}
NUMBERS = [0.5, 1.5, -2.0, 3.0]
BITS = [1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
INTS = [1, -2, 3, 127]


def _raw(name: str) -> bytes:
    if name == "bin":
        return np.packbits(np.array(BITS, dtype=np.uint8)).tobytes()
    if name == "f16":
        return np.array(NUMBERS, "<f2").tobytes()
    if name == "bf16":
        return (np.array(NUMBERS, "<f4").view("<u4") >> 16).astype("<u2").tobytes()
    return np.array(INTS, np.int8).tobytes()


def byte_vector_rows() -> list[dict[str, Any]]:
    """Two rows as pymilvus's query returns them, decoded by pymilvus from a server's protobuf."""
    from pymilvus.client import entity_helper
    from pymilvus.client.types import HybridExtraList
    from pymilvus.grpc_gen import schema_pb2

    fields = []
    ids = schema_pb2.FieldData(type=DataType.INT64, field_name="id")
    ids.scalars.long_data.data.extend([1, 2])
    fields.append(ids)
    for name, (_, dtype, dim, attr) in BYTE_TYPES.items():
        data = schema_pb2.FieldData(type=dtype, field_name=name)
        data.vectors.dim = dim
        setattr(data.vectors, attr, _raw(name) * 2)
        fields.append(data)
    rows = [dict.fromkeys(f.field_name for f in fields) for _ in range(2)]
    lazy = [f for f in fields if entity_helper.extract_row_data_from_fields_data_v2(f, rows)]
    return [dict(r) for r in HybridExtraList(lazy, rows, extra={}, dynamic_fields=[])]


BYTE_INFO = CollectionInfo("bytes", "default", (FieldInfo("id", "INT64", is_primary=True),
                                                *(FieldInfo(n, t[0], dim=t[2]) for n, t in BYTE_TYPES.items())),
                           enable_dynamic_field=False)
EXPECTED = {"bin": BITS, "f16": NUMBERS, "bf16": NUMBERS, "i8": INTS}
TYPES = {n: t[0] for n, t in BYTE_TYPES.items()}


def test_pymilvus_returns_byte_vectors_as_one_item_lists() -> None:
    row = byte_vector_rows()[0]
    assert all(isinstance(row[n], list) and len(row[n]) == 1 and isinstance(row[n][0], bytes) for n in BYTE_TYPES)


def test_byte_vectors_become_numbers_and_bits() -> None:
    row = byte_vector_rows()[0]
    for name, expected in EXPECTED.items():
        assert vector_numbers(row[name], TYPES[name]) == expected, name
    assert summarize_vector(row["bin"], dtype="BINARY_VECTOR") == "1010000011111111 (16 bits)"
    assert summarize_vector(row["f16"], dtype="FLOAT16_VECTOR") == "[0.500, 1.500, -2.000, 3.000] (4d)"
    assert summarize_vector(row["bf16"], dtype="BFLOAT16_VECTOR") == "[0.500, 1.500, -2.000, 3.000] (4d)"
    assert summarize_vector(row["i8"], dtype="INT8_VECTOR") == "[1, -2, 3, 127] (4d)"
    assert summarize_vector(row["f16"]) == "<8 bytes>"  # type unknown: a size, never a crash
    assert json_row(row, TYPES) == {"id": 1, **EXPECTED}


def test_cli_prints_byte_vectors_by_type(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.cli import _print_rows

    monkeypatch.setenv("COLUMNS", "250")  # one line per row

    result = QueryResult("bytes", "filter", byte_vector_rows(), ["id", *BYTE_TYPES], 0.01)
    _print_rows(result, True, BYTE_INFO)
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"][0] == {"id": 1, **EXPECTED}
    _print_rows(result, False, BYTE_INFO)
    out = capsys.readouterr().out
    assert "1010000011111111 (16 bits)" in out and "[1, -2, 3, 127] (4d)" in out
    assert out.count("[0.500, 1.500, -2.000, 3.000] (4d)") == 4  # float16 and bfloat16, two rows
    assert "\\x" not in out  # raw bytes were printed as b'\x00...'


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_writes_byte_vectors_as_numbers(fmt: str, tmp_path: Path) -> None:
    import csv

    from tui.milvus.export import write_rows
    from tui.milvus.values import vector_types

    path = tmp_path / f"out.{fmt}"
    write_rows(path, byte_vector_rows(), ["id", *BYTE_TYPES], fmt, vector_types(BYTE_INFO))
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        with open(path, newline="") as handle:
            rows = [{k: json.loads(v) for k, v in r.items() if k != "$extra"} for r in csv.DictReader(handle)]
    assert rows[0] == {"id": 1, **EXPECTED}


class _ResultsApp(App[None]):
    def compose(self) -> ComposeResult:
        from tui.widgets.results import ResultsPane

        yield ResultsPane(id="results")


async def test_results_pane_and_detail_show_byte_vectors() -> None:
    """The app crashed here: summarize_vector ran float() over b'…'."""
    from tui.screens.entity import EntityScreen
    from tui.widgets.results import ResultsPane

    app = _ResultsApp()
    rows = byte_vector_rows()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ResultsPane)
        pane.set_schema("id", {f.name: f.dtype for f in BYTE_INFO.vector_fields})
        pane.show_result(QueryResult("bytes", "page", rows, ["id", *BYTE_TYPES], 0.01, page=0, pages=1, total=2))
        await pilot.pause()
        shown = [str(c.plain) for c in pane.table.get_row_at(0)]
        assert "1010000011111111 (16 bits)" in shown and "[1, -2, 3, 127] (4d)" in shown
        screen = EntityScreen("bytes", rows[0], {f.name: f.dtype for f in BYTE_INFO.vector_fields})
        await app.push_screen(screen)
        await pilot.pause()
        assert json.loads(screen.as_json(full=True)) == {"id": 1, **EXPECTED}
        assert json.loads(screen.as_json(full=False))["bin"] == "1010000011111111 (16 bits)"
        assert app.is_running


# -- credentials in the URI ----------------------------------------------------------------

PASSWORD = "pw-canary-4821"


def _with_password(uri: str) -> str:
    return uri.replace("http://", f"http://alice:{PASSWORD}@", 1)


def test_display_uri_masks_passwords_and_token_params() -> None:
    assert display_uri("http://alice:s3cr3t-x@host:19530") == "http://alice:***@host:19530"
    assert display_uri("https://host:443/?token=abcd-1234&db=x") == "https://host:443/?token=***&db=x"
    assert display_uri("./milvus_data") == "./milvus_data"
    assert display_uri("http://host:19530") == "http://host:19530"
    assert "s3cr3t-x" not in scrub("could not reach http://alice:s3cr3t-x@host")  # registered by display_uri


def test_uri_password_stays_out_of_audit_backups_and_output(lite_server: Any, tmp_path: Path) -> None:
    client = MilvusClient(uri=lite_server.uri)
    name = unique_name("cred")
    client.create_collection(name, dimension=4, auto_id=False)
    client.insert(name, [{"id": i, "vector": [0.1, 0.2, 0.3, float(i)]} for i in range(3)])
    client.flush(name)
    home = tmp_path / "home"
    try:
        proc = cli("delete", name, "--ids", "1", "--yes", "--json", home=home, uri=_with_password(lite_server.uri))
        assert proc.returncode == 0, proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr
        written = [p for p in (home / "state").rglob("*") if p.is_file()]
        assert any(p.name == "audit.jsonl" for p in written) and any(p.suffix == ".jsonl" and p.parent.name ==
                                                                       "backups" for p in written), written
        for path in written:
            text = path.read_text(encoding="utf-8")
            assert PASSWORD not in text, f"the password is in {path.name}"
        audit = json.loads((home / "state" / "audit.jsonl").read_text().splitlines()[-1])
        assert "alice:***@" in audit["server"]
    finally:
        client.drop_collection(name)
        client.close()


@pytest.mark.usefixtures("home")
async def test_uri_password_stays_off_the_status_bar_and_out_of_history(hostile: str, lite_server: Any,
                                                                         home: Path) -> None:
    app = make_app(_with_password(lite_server.uri), hostile)
    async with app.run_test(size=SIZE) as pilot:
        await wait_first_page(pilot, app)
        bar = str(status(app).render())
        assert "alice:***@" in bar and PASSWORD not in bar
        await submit(pilot, app, "filter", "id > 2")
        await wait_result(pilot, app, lambda r: r.expr == "id > 2")
        assert PASSWORD not in _screen_text(app)
    history = home / "state" / "history.json"
    assert "id > 2" in history.read_text()
    assert PASSWORD not in history.read_text()


# -- Milvus's own filter syntax ------------------------------------------------------------

FIELDS = ["id", "ts", "bool_array", "doc", "meta", "s"]


@pytest.mark.parametrize("expr", [
    "ts > ISO '2025-01-01T00:30:00Z'",
    "ts + INTERVAL 'P1D' > iso '2025-01-01T00:00:00Z'",
    "bool_array[1] == True",
    "bool_array[0] == False or bool_array[1] == TRUE",
    "id > 0 AND NOT (id in [1, 2]) || id == 9 && meta is not null",
    'text_match(doc, "milvus", minimum_should_match=1)',
    "exists meta[\"k\"] and array_length(bool_array) == 2 and json_contains_any(meta[\"t\"], [1])",
    "s[sub] > 1 and element_filter(bool_array, $[x] == 1)",
    "id == {pk}",
    "doc like r'a\\b%' or doc == u8'x'",
])
def test_milvus_keywords_and_literals_are_not_fields(expr: str) -> None:
    validate(expr, FIELDS, dynamic=False)


def test_typos_are_still_caught() -> None:
    with pytest.raises(UnknownField, match="'tss'"):
        validate("tss > ISO '2025-01-01T00:30:00Z'", FIELDS, dynamic=False)
    with pytest.raises(UnknownField, match="'bool_arry'"):
        validate("bool_arry[1] == True", FIELDS, dynamic=False)


def test_timestamptz_and_bool_array_filters_run_on_the_server(lite_server: Any, conn: Any) -> None:
    from tui.milvus import catalog, queries

    client = MilvusClient(uri=lite_server.uri)
    name = unique_name("tstz")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("ts", DataType.TIMESTAMPTZ)
    schema.add_field("bool_array", DataType.ARRAY, element_type=DataType.BOOL, max_capacity=4)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [
        {"id": 1, "ts": "2025-01-01T01:00:00Z", "bool_array": [True, False], "vector": [0.1] * 4},
        {"id": 2, "ts": "2024-01-01T00:00:00Z", "bool_array": [False, True], "vector": [0.2] * 4},
    ])
    client.flush(name)
    client.load_collection(name)
    try:
        info = conn.run(catalog.describe(name))
        for expr, ids in [("ts > ISO '2025-01-01T00:30:00Z'", [1]), ("bool_array[1] == True", [2]),
                          ("bool_array[1] == False", [1]),
                          ("ts + INTERVAL 'P1D' > ISO '2025-01-01T00:00:00Z'", [1])]:
            result = conn.run(queries.filter_query(info, expr, limit=10))
            assert sorted(r["id"] for r in result.rows) == ids, expr
    finally:
        client.drop_collection(name)
        client.close()
