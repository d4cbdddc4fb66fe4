"""Duplicates and the quality scan against Go Milvus 2.3.5, where duplicate primary keys exist:
an insert under a key already there is accepted and makes a second copy (measured; Lite replaces).
Found by count(*) bisection, brought down to one copy through the backed-up delete and a restore."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realserver.conftest import cli, ok_json
from tui.milvus import duplicates as dups
from tui.milvus import quality
from tui.session import Session

pytestmark = pytest.mark.realserver

DIM = 8
#: keys inserted a second (and, for 7, a third) time, with other vectors
COPIED = {3: 2, 7: 3, 12: 2}


def _unit(rng: random.Random) -> list[float]:
    v = [rng.uniform(-1, 1) for _ in range(DIM)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


@pytest.fixture
def dupes(raw: Any) -> Iterator[str]:
    from pymilvus import DataType, MilvusClient

    name = "rs_dupes"
    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="COSINE")
    raw.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    rng = random.Random(3)
    rows = [{"id": i, "text": f"[INST] row {i} [/INST]", "vec": _unit(rng)} for i in range(40)]
    rows[21]["vec"] = [x + 0.001 for x in rows[20]["vec"]]  # a near-duplicate of 20
    rows[30]["vec"] = [0.0] * DIM
    rows[31]["text"] = "   "
    raw.insert(name, rows)
    raw.flush(name)
    for key, copies in COPIED.items():
        for _ in range(copies - 1):
            raw.insert(name, [{"id": key, "text": f"copy of {key}", "vec": _unit(rng)}])
    yield name
    raw.drop_collection(name)


def test_duplicate_keys_found_and_kept_once_on_go(rservice: Session, dupes: str, raw: Any, tmp_path: Path,
                                                  real_uri: str) -> None:
    report = rservice.run(rservice.find_duplicates(dupes, primary_keys=True))
    assert {g.keys[0]: g.copies for g in report.groups} == COPIED
    near = rservice.run(rservice.find_duplicates(dupes, threshold=0.999))
    assert [g.keys for g in near.groups] == [(20, 21)]
    scan = rservice.run(rservice.scan_quality(dupes, duplicates=True))
    found = {f.check: f for f in scan.findings}
    assert found[quality.ZERO].keys == [30] and found[quality.EMPTY_TEXT].keys == [31]
    assert sorted(found[quality.DUP_KEY].keys) == sorted(COPIED) and found[quality.DUP_KEY].count == 4
    # Keep one copy each, through the CLI: every copy backed up and deleted, one put back.
    out = ok_json(cli("duplicates", dupes, "--primary-keys", "--yes", "--json", home=tmp_path, uri=real_uri))
    assert out["applied"] and out["restored"] == len(COPIED) and out["count_after"] == 40
    count = raw.query(dupes, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
    assert count == 40
    again = rservice.run(rservice.find_duplicates(dupes, primary_keys=True))
    assert again.groups == ()
    ids = sorted(r["id"] for r in raw.query(dupes, filter="id >= 0", output_fields=["id"], limit=100,
                                             consistency_level="Strong"))
    assert ids == list(range(40))
    assert dups.KeepPolicy.parse("first").label == "first"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_export_reads_past_a_page_that_duplicate_keys_made_short(rservice: Session, dupes: str, raw: Any,
                                                                 tmp_path: Path, suffix: str) -> None:
    """Go counts every copy of a key in a query's limit: a page of 5 holding key 3 (2 copies)
    comes back with 4 keys though 35 more follow. The export must not take that for the end."""
    path = tmp_path / f"all{suffix}"
    report = rservice.run(rservice.export(dupes, path, batch_size=5))
    if suffix == ".jsonl":
        import json

        ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        import pyarrow.parquet as pq

        ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(40)) and report.rows == 40


def test_paging_forward_goes_past_a_page_that_duplicate_keys_made_short(rservice: Session, dupes: str) -> None:
    """The same short page in the explorer: next page carries on after its last key."""
    from tui.milvus import Pager

    pager = Pager(rservice.run(rservice.describe(dupes)), page_size=5)
    first = rservice.run(rservice.page(pager, 0))
    assert len(first.rows) < 5  # the short page this is about (key 3's copies counted in the limit)
    seen = [r["id"] for r in first.rows]
    for n in range(1, first.pages):
        seen += [r["id"] for r in rservice.run(rservice.page(pager, n)).rows]
    assert seen == list(range(40))
