"""The ``milvus-tui`` console script, run as a real subprocess against the real Lite server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymilvus import MilvusClient

from tests.conftest import unique_name
from tests.test_lite import lite_pids_for

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "milvus-tui"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tui"]
SUBCOMMANDS = ["collections", "query", "search", "delete", "restore", "ingest", "export", "load", "release", "demo"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def cli(*args: str, home: Path, uri: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MILVUS_", "OPENAI_"))}
    env["MILVUS_TUI_HOME"] = str(home)
    argv = [*COMMAND, *(["--uri", uri] if uri else []), *args]
    return subprocess.run(argv, cwd=home, env=env, capture_output=True, text=True, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def count(client: MilvusClient, collection: str, expr: str = "") -> int:
    return int(client.query(collection, filter=expr, output_fields=["count(*)"],
                            consistency_level="Strong")[0]["count(*)"])


def test_collections_json(milvus_uri: str, docs_collection: str, home: Path) -> None:
    data = ok_json(cli("collections", "--json", uri=milvus_uri, home=home))
    assert "default" in data["databases"] and data["db_name"] == "default"
    by_name = {c["name"]: c for c in data["collections"]}
    docs = by_name[docs_collection]
    assert docs["row_count"] == 600 and docs["count_exact"] is True and docs["load_state"] == "Loaded"
    assert {f["name"]: f["dtype"] for f in docs["fields"]}["vector"] == "FLOAT_VECTOR"
    assert docs["indexes"][0]["metric_type"] == "COSINE"
    # The table form names the collection too.
    table = cli("collections", uri=milvus_uri, home=home)
    assert table.returncode == 0 and docs_collection in table.stdout


def test_query_json(milvus_uri: str, docs_collection: str, raw_client: MilvusClient, home: Path) -> None:
    expr = 'n_args >= 2 and category == "method"'
    data = ok_json(cli("query", docs_collection, expr, "--limit", "5",
                       "-o", "name,n_args", "--consistency", "Strong", "--json", uri=milvus_uri, home=home))
    assert data["collection"] == docs_collection and data["kind"] == "filter"
    assert len(data["rows"]) == 5
    truth = {r["id"] for r in raw_client.query(docs_collection, filter=expr, output_fields=["id"], limit=1000,
                                               consistency_level="Strong")}
    assert len(truth) > 5
    for row in data["rows"]:
        assert set(row) == {"id", "name", "n_args"} and row["n_args"] >= 2 and row["id"] in truth


def test_search_json_has_scores(milvus_uri: str, docs_collection: str, home: Path) -> None:
    data = ok_json(cli("search", docs_collection, "read a file line by line", "-k", "5", "-o", "name", "--json",
                       uri=milvus_uri, home=home))
    assert data["kind"] == "search" and data["metric"] == "COSINE"
    assert len(data["rows"]) == len(data["scores"]) == 5
    assert data["scores"] == sorted(data["scores"], reverse=True)
    assert any("readline" in r["name"] for r in data["rows"])


def test_bad_filter_exits_2_with_one_line(milvus_uri: str, docs_collection: str, home: Path) -> None:
    result = cli("query", docs_collection, "n_args >>> 3", "--json", uri=milvus_uri, home=home)
    assert_clean_error(result, 2, "rejected the filter", "unexpected token")
    assert result.stdout == ""
    unbalanced = cli("query", docs_collection, "(n_args > 3", uri=milvus_uri, home=home)
    assert_clean_error(unbalanced, 2, "never closed")
    assert len(unbalanced.stderr.strip().splitlines()) == 1


def test_unknown_collection_and_bad_input(milvus_uri: str, home: Path) -> None:
    missing = unique_name("missing")
    assert_clean_error(cli("query", missing, "id > 1", uri=milvus_uri, home=home), 3, missing)
    assert_clean_error(cli("export", missing, str(home / "x.jsonl"), uri=milvus_uri, home=home), 3, missing)
    assert_clean_error(cli("delete", missing, uri=milvus_uri, home=home), 2, "exactly one of --filter or --ids")
    assert_clean_error(cli("restore", str(home / "none.jsonl"), uri=milvus_uri, home=home), 3, "does not exist")
    # An unreachable server is its own exit code, also without a traceback.
    assert_clean_error(cli("collections", uri="http://127.0.0.1:9", home=home, timeout=60), 5)


def test_released_collection_exits_4_until_loaded(milvus_uri: str, scratch_collection: str, home: Path) -> None:
    released = cli("release", scratch_collection, uri=milvus_uri, home=home)
    assert released.returncode == 0 and "released" in released.stdout
    assert_clean_error(cli("query", scratch_collection, "id < 5", uri=milvus_uri, home=home), 4, "not loaded")
    data = ok_json(cli("query", scratch_collection, "id < 5", "--load", "--json", uri=milvus_uri, home=home))
    assert sorted(r["id"] for r in data["rows"]) == [1, 2, 3, 4]
    cli("release", scratch_collection, uri=milvus_uri, home=home)
    loaded = cli("load", scratch_collection, uri=milvus_uri, home=home)
    assert loaded.returncode == 0 and "loaded" in loaded.stdout
    assert len(ok_json(cli("query", scratch_collection, "id < 5", "--json", uri=milvus_uri, home=home))["rows"]) == 4


def test_delete_preview_apply_and_restore(milvus_uri: str, scratch_collection: str, raw_client: MilvusClient,
                                          home: Path) -> None:
    expr = 'category == "class"'
    matching = count(raw_client, scratch_collection, expr)
    assert matching > 0

    preview = ok_json(cli("delete", scratch_collection, "--filter", expr, "--json", uri=milvus_uri, home=home))
    assert preview["applied"] is False and preview["matched"] == matching and preview["sample"]
    assert count(raw_client, scratch_collection) == 250  # a preview deletes nothing
    text_preview = cli("delete", scratch_collection, "--filter", expr, uri=milvus_uri, home=home)
    assert text_preview.returncode == 0 and "Nothing deleted" in text_preview.stdout
    assert count(raw_client, scratch_collection) == 250

    applied = ok_json(cli("delete", scratch_collection, "--filter", expr, "--yes", "--json",
                          uri=milvus_uri, home=home))
    assert applied["applied"] is True and applied["deleted"] == matching
    assert applied["count_after"] == 250 - matching == count(raw_client, scratch_collection)
    backup = Path(applied["backup"])
    assert backup.is_file() and backup.parent == home / "state" / "backups"
    assert len(backup.read_text().splitlines()) == 1 + matching + 1  # header, entities, trailer
    assert Path(applied["audit"]) == home / "state" / "audit.jsonl"

    restored = ok_json(cli("restore", str(backup), "--json", uri=milvus_uri, home=home))
    assert restored == {"collection": scratch_collection, "db_name": "default", "restored": matching, "skipped": 0,
                        "method": "upsert", "backup": str(backup), "key_map": {}, "operation": "delete", "notes": []}
    assert count(raw_client, scratch_collection) == 250
    assert count(raw_client, scratch_collection, expr) == matching


def test_delete_by_ids(milvus_uri: str, scratch_collection: str, raw_client: MilvusClient, home: Path) -> None:
    data = ok_json(cli("delete", scratch_collection, "--ids", "[1, 2, 999999]", "--yes", "--json",
                       uri=milvus_uri, home=home))
    assert data["matched"] == 2 and data["deleted"] == 2
    assert count(raw_client, scratch_collection, "id in [1, 2]") == 0
    bad = cli("delete", scratch_collection, "--ids", "a,b", uri=milvus_uri, home=home)
    assert_clean_error(bad, 2, "must be whole numbers")
    assert count(raw_client, scratch_collection) == 248


def test_ingest_and_export(milvus_uri: str, raw_client: MilvusClient, home: Path) -> None:
    name = unique_name("cliingest")
    source = home / "docs.jsonl"
    source.write_text("".join(json.dumps({"text": f"document number {i}", "metadata": {"n": i}}) + "\n"
                              for i in range(12)))
    try:
        data = ok_json(cli("ingest", str(source), "-c", name, "--json", uri=milvus_uri, home=home))
        assert data == {"collection": name, "inserted": 12, "created": True, "skipped_keys": [],
                        "skipped_documents": 0,
                        "keys": {"primary_key": "id", "type": "INT64", "auto_id": True, "user_keys": None,
                                 "kept_as": None, "reason": None}}
        assert count(raw_client, name) == 12

        out = home / "out.csv"
        result = cli("export", name, str(out), "--filter", "n >= 5", uri=milvus_uri, home=home)
        assert result.returncode == 0, result.stderr
        assert "Exported 7 entities" in result.stdout
        lines = out.read_text().splitlines()
        assert lines[0] == "id,text,vector,$extra" and len(lines) == 1 + 7
        as_json = ok_json(cli("export", name, str(home / "out.jsonl"), "--json", uri=milvus_uri, home=home))
        assert as_json["rows"] == 12
        texts = sorted(json.loads(line)["text"] for line in (home / "out.jsonl").read_text().splitlines())
        assert texts == sorted(f"document number {i}" for i in range(12))

        bad = home / "bad.jsonl"
        bad.write_text('{"text": "a"}\n{"text": \n')
        assert_clean_error(cli("ingest", str(bad), "-c", name, uri=milvus_uri, home=home), 2, "bad.jsonl:2")
        assert count(raw_client, name) == 12
    finally:
        if raw_client.has_collection(name):
            raw_client.drop_collection(name)


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_for_every_command(command: str | None, home: Path) -> None:
    result = cli(*([command] if command else []), "--help", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    if command is None:
        for sub in SUBCOMMANDS:
            assert sub in result.stdout
    else:
        assert f" {command} " in result.stdout.splitlines()[0] + " "


def test_embedded_default_starts_and_stops_its_own_lite(home: Path) -> None:
    data_dir = home / "data"
    result = cli("collections", "--json", uri=str(data_dir), home=home)
    assert ok_json(result)["collections"] == []
    assert (data_dir / "LOCK").exists()  # Lite really ran there
    assert lite_pids_for(data_dir.resolve()) == []
    # And the next run can take the directory again (the lock was released).
    second = cli("collections", "--json", uri=str(data_dir), home=home)
    assert ok_json(second)["collections"] == []
    assert lite_pids_for(data_dir.resolve()) == []


def test_profile_from_the_config_file(milvus_uri: str, docs_collection: str, home: Path) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'default_profile = "session"\n[profiles.session]\nuri = "{milvus_uri}"\n'
                      f'[profiles.elsewhere]\nuri = "http://127.0.0.1:9"\n')
    data = ok_json(cli("collections", "--json", home=home))  # no --uri: the default profile's
    assert docs_collection in {c["name"] for c in data["collections"]}
    # A flag beats the profile ...
    assert_clean_error(cli("--uri", "http://127.0.0.1:9", "collections", home=home, timeout=60), 5)
    # ... and an unknown profile is a usage error naming the known ones.
    assert_clean_error(cli("--profile", "nope", "collections", home=home), 2, "No profile 'nope'",
                       "elsewhere, session")


def test_demo_seeds_once_then_reports_existing_data(home: Path) -> None:
    data_dir = home / "demo-data"
    first = cli("demo", "--no-open", "--limit", "40", uri=str(data_dir), home=home)
    assert first.returncode == 0, first.stderr
    assert "Inserted 40 documents" in first.stderr
    listing = ok_json(cli("collections", "--json", uri=str(data_dir), home=home))
    demo = {c["name"]: c for c in listing["collections"]}["python_docs"]
    assert demo["row_count"] == 40
    again = cli("demo", "--no-open", "--limit", "40", uri=str(data_dir), home=home)
    assert again.returncode == 0 and "already has data" in again.stderr
    assert lite_pids_for(data_dir.resolve()) == []
