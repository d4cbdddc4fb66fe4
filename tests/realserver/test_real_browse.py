"""Browsing past Milvus's 16384 result window with the primary-key cursor Pager.

``rs_big`` holds 20000 rows (ids 0..19999) in two sealed segments and one growing one,
inserted in shuffled order. Offsets stop at 16384 on a real server; the Pager's
``pk > last`` cursor (with ``iterator="True"``, so each page is the *smallest* keys after
the cursor across every segment) reaches the last page and every row exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.realserver.conftest import BIG_ROWS, cli, ok_json
from tui.milvus import MilvusConnection, Pager
from tui.session import Session
from tui.milvus.queries import MAX_WINDOW

pytestmark = pytest.mark.realserver


def ids(result: Any) -> list[int]:
    return [row["id"] for row in result.rows]


@pytest.fixture
def big_info(rservice: Session, big: str) -> Any:
    info = rservice.run(rservice.describe(big))
    assert info.loaded and info.row_count == BIG_ROWS
    return info


def test_offsets_stop_at_the_window(raw: Any, big: str) -> None:
    """Why the Pager exists: the server refuses offset + limit > 16384."""
    assert BIG_ROWS > MAX_WINDOW
    with pytest.raises(Exception, match="16384"):
        raw.query(big, filter="id >= 0", limit=50, offset=BIG_ROWS - 50)


def test_last_page_is_reachable(rservice: Session, big_info: Any) -> None:
    pager = Pager(big_info, page_size=50)
    last = rservice.run(rservice.page(pager, -1))
    assert (last.page, last.pages, last.total) == (399, 400, BIG_ROWS)
    assert ids(last) == list(range(BIG_ROWS - 50, BIG_ROWS))
    assert {row["tag"] for row in last.rows} == {"a", "b", "c", "d"}
    # Back to the first page, then a page past the window from the boundaries already found.
    assert ids(rservice.run(rservice.page(pager, 0))) == list(range(50))
    middle = rservice.run(rservice.page(pager, 350))
    assert ids(middle) == list(range(17500, 17550))


def test_jump_then_step_forward(rservice: Session, big_info: Any) -> None:
    pager = Pager(big_info, page_size=100)
    page = rservice.run(rservice.page(pager, 330))  # past the end: clamped to the last of 200 pages
    assert page.pages == 200 and page.page == 199
    assert ids(page) == list(range(19900, 20000))
    pager = Pager(big_info, page_size=100)
    page = rservice.run(rservice.page(pager, 170))  # 17000 > 16384: needs two key scans
    assert ids(page) == list(range(17000, 17100))
    assert ids(rservice.run(rservice.page(pager, 171))) == list(range(17100, 17200))
    assert ids(rservice.run(rservice.page(pager, 169))) == list(range(16900, 17000))


def test_walk_every_page_sees_every_row_once(rservice: Session, big_info: Any) -> None:
    pager = Pager(big_info, page_size=1000, output_fields=["id"])
    seen: list[int] = []
    for n in range(25):
        result = rservice.run(rservice.page(pager, n))
        if result.page != n:  # clamped: past the last page
            break
        seen.extend(ids(result))
    assert seen == list(range(BIG_ROWS))


def test_filtered_pages_to_the_end(rservice: Session, big_info: Any) -> None:
    pager = Pager(big_info, expr='tag == "b"', page_size=40)
    last = rservice.run(rservice.page(pager, -1))
    assert last.total == BIG_ROWS // 4 and last.pages == 125 and last.page == 124
    assert ids(last) == [i for i in range(BIG_ROWS) if i % 4 == 1][-40:]
    assert all(row["tag"] == "b" for row in last.rows)


async def test_async_paging_to_the_end(real_uri: str, big: str) -> None:
    conn = MilvusConnection(real_uri)
    conn.open()
    try:
        svc = Session(conn, None)
        info = await svc.arun(svc.describe(big))
        pager = Pager(info, page_size=50)
        last = await svc.arun(svc.page(pager, -1))
        assert last.mode == "async" and ids(last) == list(range(BIG_ROWS - 50, BIG_ROWS))
        assert ids(await svc.arun(svc.page(pager, 398))) == list(range(BIG_ROWS - 100, BIG_ROWS - 50))
    finally:
        await conn.aclose()
        conn.close()


def test_cli_query_and_export_reach_past_the_window(real_uri: str, big: str, tmp_path: Path) -> None:
    rows = ok_json(cli("query", big, "id >= 19995", "--json", uri=real_uri, home=tmp_path))["rows"]
    assert sorted(r["id"] for r in rows) == list(range(19995, 20000))
    out = tmp_path / "big.jsonl"
    report = ok_json(cli("export", big, str(out), "--json", uri=real_uri, home=tmp_path))
    assert report["rows"] == BIG_ROWS
    exported = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert exported == list(range(BIG_ROWS))
