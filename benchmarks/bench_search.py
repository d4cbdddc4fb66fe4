"""Search on the demo corpus: quality of dense, BM25 and hybrid search on 50 labelled questions,
and the app's own overhead over the bare pymilvus calls it makes, per search mode, in one run.

    .venv/bin/python benchmarks/bench_search.py [--repeat 30] [--quality-only | --overhead-only]

Data: the demo collection (5,439 standard-library docstrings, local model2vec embeddings, a BM25
function on the text), seeded once into benchmarks/.data/search (a Milvus Lite child).
Quality: benchmarks/search_questions.jsonl holds 50 questions written by us, each with the name
of the function or class that answers it; none names it. hit@1 / hit@5: the answer is the first
/ among the first five hits; MRR: the mean of 1/rank within the first 10 (0 if absent).
Overhead: each mode runs through the Session (what the app and the CLI run) and as the bare
pymilvus call(s) with the same arguments, interleaved, the same question each pair; the ratio
is the median of the Session's times over the median of the bare ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DATA, header, load_now  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent / "search_questions.jsonl"


def open_demo() -> tuple[Any, Any, Any]:
    from tui.demo import DEMO_COLLECTION, seed_demo
    from tui.embeddings import EmbeddingSettings, make_embeddings
    from tui.milvus import MilvusConnection
    from tui.session import Session

    conn = MilvusConnection(str(DATA / "search"))
    conn.open()
    session = Session(conn, make_embeddings(EmbeddingSettings(provider="local")))
    info = session.run(session.describe(DEMO_COLLECTION)) if session.run(session.exists(DEMO_COLLECTION)) else None
    if info is None or "text_sparse" not in info.field_names:
        print("  seeding the demo collection (once; cached under benchmarks/.data/search) …", file=sys.stderr)
        seed_demo(session, reset=True)
    if not session.run(session.describe(DEMO_COLLECTION, with_count=False)).loaded:
        session.run(session.load(DEMO_COLLECTION))
    conn.client.flush(DEMO_COLLECTION)
    return conn, session, session.run(session.describe(DEMO_COLLECTION))


def modes(session: Any, info: Any) -> dict[str, Any]:
    from tui.milvus.search import Fusion, SearchQuery

    return {
        "dense": lambda q, k: session.search(info, q, k=k),
        "BM25": lambda q, k: session.vector_search(info, SearchQuery("text", q, anns_field="text_sparse", k=k)),
        "hybrid (RRF)": lambda q, k: session.hybrid_search(
            info, [SearchQuery("text", q, anns_field="vector", k=20, label="dense"),
                   SearchQuery("text", q, anns_field="text_sparse", k=20, label="bm25")],
            fusion=Fusion("rrf", k=60), k=k),
    }


def more_modes(session: Any, info: Any) -> dict[str, Any]:
    """Overhead only: range, group-by and by-key searches (no labels to score them by)."""
    from tui.milvus.search import SearchQuery, SearchShape

    return {
        "range (COSINE 0.2-1.0)": lambda q, k: session.vector_search(
            info, SearchQuery("text", q, anns_field="vector", k=k), shape=SearchShape(radius=0.2, range_filter=1.0)),
        "group by module": lambda q, k: session.vector_search(
            info, SearchQuery("text", q, anns_field="vector", k=k), shape=SearchShape(group_by="module", group_size=1)),
        "by key": lambda q, k: session.vector_search(info, SearchQuery("key", [KEY], anns_field="vector", k=k)),
    }


KEY = 1


def quality(session: Any, info: Any) -> None:
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    print(f"\n{len(questions)} questions ({QUESTIONS.name}); k = 10\n")
    print("| mode | hit@1 | hit@5 | MRR@10 |")
    print("|---|---|---|---|")
    for name, make in modes(session, info).items():
        ranks = []
        for item in questions:
            rows = session.run(make(item["q"], 10)).rows
            names = [r.get("name") for r in rows]
            ranks.append(names.index(item["answer"]) + 1 if item["answer"] in names else None)
        hit1 = sum(r == 1 for r in ranks) / len(ranks)
        hit5 = sum(r is not None and r <= 5 for r in ranks) / len(ranks)
        mrr = sum(1 / r for r in ranks if r) / len(ranks)
        print(f"| {name} | {hit1:.2f} | {hit5:.2f} | {mrr:.3f} |")


def bare_calls(conn: Any, session: Any, info: Any) -> dict[str, Any]:
    """The pymilvus calls each mode makes, with the arguments the Session sends."""
    from pymilvus import AnnSearchRequest, RRFRanker

    from tui.milvus.queries import resolve_output_fields

    client, model, name = conn.client, session.embeddings, info.name
    fields = [f for f in resolve_output_fields(info, None) if f not in info.function_outputs]
    dense_params = {"metric_type": "COSINE", "params": {}}
    bm25_params = {"metric_type": "BM25", "params": {}}

    def dense(q: str, k: int) -> Any:
        return client.search(name, [model.embed_query(q)], anns_field="vector", limit=k, output_fields=fields)

    def bm25(q: str, k: int) -> Any:
        return client.search(name, [q], anns_field="text_sparse", limit=k, output_fields=fields,
                             search_params=bm25_params)

    def hybrid(q: str, k: int) -> Any:
        v = model.embed_query(q)
        reqs = [AnnSearchRequest([v], "vector", dense_params, 20), AnnSearchRequest([q], "text_sparse", bm25_params, 20)]
        fused = client.hybrid_search(name, reqs, RRFRanker(60), limit=k, output_fields=fields)
        # The parts alone, as the Session runs them to show each hit's rank in each part.
        client.search(name, [v], anns_field="vector", limit=20, output_fields=[info.primary.name],
                      search_params=dense_params)
        client.search(name, [q], anns_field="text_sparse", limit=20, output_fields=[info.primary.name],
                      search_params=bm25_params)
        return fused

    def ranged(q: str, k: int) -> Any:
        return client.search(name, [model.embed_query(q)], anns_field="vector", limit=k, output_fields=fields,
                             search_params={"metric_type": "COSINE", "params": {"radius": 0.2, "range_filter": 1.0}})

    def grouped(q: str, k: int) -> Any:
        return client.search(name, [model.embed_query(q)], anns_field="vector", limit=k, output_fields=fields,
                             search_params=dense_params, group_by_field="module", group_size=1)

    def by_key(q: str, k: int) -> Any:
        stored = client.query(name, filter=f"id in [{KEY}]", output_fields=["id", "vector"], limit=1,
                              consistency_level="Strong")
        return client.search(name, [stored[0]["vector"]], anns_field="vector", limit=k, output_fields=fields,
                             filter=f"id not in [{KEY}]", search_params=dense_params)

    return {"dense": dense, "BM25": bm25, "hybrid (RRF)": hybrid, "range (COSINE 0.2-1.0)": ranged,
            "group by module": grouped, "by key": by_key}


def overhead(conn: Any, session: Any, info: Any, repeat: int) -> None:
    questions = [json.loads(line)["q"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    ours, bare = {**modes(session, info), **more_modes(session, info)}, bare_calls(conn, session, info)
    print(f"\n{repeat} pairs per mode, interleaved (Session first in even pairs), k = 10\n")
    print("| mode | Session median (ms) | bare pymilvus median (ms) | Session / bare |")
    print("|---|---|---|---|")
    for name in ours:
        mine, theirs = [], []
        for i in range(repeat):
            q = questions[i % len(questions)]
            pair = [("s", lambda n=name, q=q: session.run(ours[n](q, 10))), ("b", lambda n=name, q=q: bare[n](q, 10))]
            for tag, fn in (pair if i % 2 == 0 else pair[::-1]):
                t0 = time.perf_counter()
                fn()
                (mine if tag == "s" else theirs).append((time.perf_counter() - t0) * 1000)
        m, b = statistics.median(mine), statistics.median(theirs)
        print(f"| {name} | {m:.2f} | {b:.2f} | {m / b:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--overhead-only", action="store_true")
    args = parser.parse_args()
    header("Search: quality on the demo, and overhead per mode")
    conn, session, info = open_demo()
    try:
        print(f"- data: '{info.name}', {info.row_count:,} entities; {load_now()}")
        if not args.overhead_only:
            quality(session, info)
        if not args.quality_only:
            overhead(conn, session, info, args.repeat)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
