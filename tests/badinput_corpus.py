"""The bad-input corpus: malformed and hostile values for every place a user can type.

Each ``Case`` names the *surface* it is typed into (the filter box, the search box, k, the
delete-by-filter prompt, a selected key, ...), the collection it is tried on, and what must
happen:

* ``expect`` is a ``MilvusTuiError`` subclass: the data layer must raise it (or a subclass),
  with a non-empty message;
* ``expect`` is ``OK``: the input is hostile but legal (an emoji search, a 100 KB string
  literal) and must simply work;
* ``expect`` is ``EITHER``: the input may work or fail, but a failure must be a
  ``MilvusTuiError`` with a message (never a raw pymilvus/grpc/TypeError).

Collections (built by ``tests/test_bad_input.py`` on the session Lite server):

* ``strict``: no dynamic field; ``pk`` INT64, ``title``/``category`` VARCHAR, ``n_args`` INT64,
  ``tags`` ARRAY<VARCHAR>, ``meta`` JSON, ``vec`` FLOAT_VECTOR(256, the local model's size);
* ``twovec``: two dense vector fields (``a`` 256-d, ``b`` 8-d);
* ``sparse``: only a SPARSE_FLOAT_VECTOR field (SPARSE_INVERTED_INDEX);
* ``novec``: no vector field at all. Milvus Lite refuses to create one ("schema has no
  vector field"), so this one is a ``CollectionInfo`` built by hand, as a server that
  allows it would describe it;
* ``vkeys``: VARCHAR primary keys holding quotes, brackets, backslashes and newlines.

``CLI_CASES`` is the subset run through ``milvus-tui`` itself, with the exit code it must
give (2 bad input, 3 not found).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.errors import (
    AmbiguousField,
    InvalidFilter,
    InvalidInput,
    MilvusTuiError,
    NotFound,
    UnknownField,
)

OK = "ok"
EITHER = "either"

#: Where a value is typed, and how the test drives the data layer with it:
SURFACES = {
    "filter": "filter box: Session.filter(info, value, limit=5) and Pager(info, expr=value)",
    "search": "search box: Session.search(info, value)",
    "search_filter": "filter applied to a search: semantic_search(info, 'read a file', expr=value)",
    "k": "k box: semantic_search(info, 'read a file', k=value)",
    "limit": "CLI --limit: Session.filter(info, '', limit=value)",
    "mmr": "MMR options (fetch_k, lambda): semantic_search(..., mmr=value)",
    "anns_field": "vector field choice / --anns-field: semantic_search(..., anns_field=value)",
    "output_fields": "output fields box: Session.filter(info, '', output_fields=value)",
    "consistency": "consistency option: Session.filter(info, '', consistency_level=value)",
    "vector": "a query vector (search by vector): Session.search_by_vector(info, value)",
    "delete_filter": "D / delete --filter: Session.preview_delete(info, expr=value)",
    "delete_keys": "selected rows / delete --ids: Session.preview_delete(info, keys=value)",
    "similar": "more like this on a selected key: Session.more_like_this(info, value)",
    "collection": "-c / COLLECTION argument: Session.describe(value)",
    "export_path": "export modal / export OUT: Session.export(info, Path(value))",
    "restore_path": "restore BACKUP: Session.restore(Path(value))",
    "ingest_file": "ingest FILE: Session.ingest(new collection, read_documents(Path(value)))",
    "batch_size": "ingest --batch-size: Session.ingest(new collection, good file, batch_size=value)",
}

#: Files the file-path cases point at ("@name" is that file in a temp dir, "@" the dir itself).
FILES: dict[str, bytes] = {
    "good.jsonl": b'{"text": "a fine document", "id": 1}\n',
    "binary.jsonl": b"\xff\xfe\x00garbage\x1b[2J",
    "binary.csv": b"text\n\xff\xfe\x00garbage",
    "array.jsonl": b"[1, 2]\n",
    "bad-json.jsonl": b'{"text": "ok"}\n{nope\n',
    "no-text.jsonl": b'{"title": "no text key here"}\n',
    "not-a-backup.jsonl": b'{"a": 1}\n',
    "damaged-backup.jsonl": b'{"format": "milvus-tui-backup/1", "collection": "x", "count": 2}\n{not json\n',
    "wrong-collection-backup.jsonl": b'{"format": "milvus-tui-backup/1", "collection": "nope_not_here", '
                                     b'"count": 1}\n{"pk": 1}\n',
}


@dataclass(frozen=True)
class Case:
    id: str
    surface: str
    value: Any
    expect: type[MilvusTuiError] | str
    collection: str = "strict"
    why: str = ""


LONG_LITERAL = 'title == "' + "x" * 100_000 + '"'  # a 100 KB filter that is legal
LONG_CHAIN = "pk > 0 and " * 9000 + "pk > 0"  # ~100 KB of legal expression
LONG_GARBAGE = "pk >> " + "(" * 2 + "=" * 100_000  # 100 KB of nonsense
MB_TEXT = "word " * 200_000  # 1 MB of search text
DEEP_NESTING = "(" * 300 + "pk > 0" + ")" * 300

CORPUS: list[Case] = [
    # -- broken filter expressions -------------------------------------------------------------
    Case("filter-dangling-op", "filter", "n_args ==", InvalidFilter),
    Case("filter-double-eq-split", "filter", "n_args = = 3", InvalidFilter),
    Case("filter-bare-and", "filter", "and", InvalidFilter),
    Case("filter-trailing-and", "filter", "n_args > 2 and", InvalidFilter),
    Case("filter-or-or", "filter", "n_args > 2 or or n_args < 1", InvalidFilter),
    Case("filter-bare-not", "filter", "not", InvalidFilter),
    Case("filter-sql-comment", "filter", "pk == 1 --", InvalidFilter),
    Case("filter-sql-injection", "filter", "pk == 1; drop collection strict", InvalidInput),
    Case("filter-chained-compare", "filter", "10 <= n_args < 20", InvalidFilter, why="a Lite gap, see the brief"),
    Case("filter-hex-literal", "filter", "n_args > 0x10", InvalidFilter),
    Case("filter-unknown-escape", "filter", 'title == "\\q"', InvalidFilter),
    Case("filter-fullwidth-gt", "filter", "pk \uff1e 0", InvalidFilter),
    Case("filter-deep-nesting", "filter", DEEP_NESTING, InvalidFilter, why="server recursion limit"),
    Case("filter-100kb-garbage", "filter", LONG_GARBAGE, InvalidFilter),
    Case("filter-int-overflow", "filter", "pk > 99999999999999999999999", InvalidFilter),
    # -- unbalanced quotes and brackets --------------------------------------------------------
    Case("filter-open-paren", "filter", "(n_args > 2", InvalidFilter),
    Case("filter-close-paren", "filter", "n_args > 2)", InvalidFilter),
    Case("filter-open-bracket", "filter", "n_args in [1, 2", InvalidFilter),
    Case("filter-open-dquote", "filter", 'category == "function', InvalidFilter),
    Case("filter-open-squote", "filter", "category == 'function", InvalidFilter),
    Case("filter-like-open-quote", "filter", 'title like "%', InvalidFilter),
    Case("filter-escaped-closing-quote", "filter", "title == 'a\\'", InvalidFilter),
    Case("filter-1001-quotes", "filter", '"' * 1001, InvalidFilter),
    # -- unknown fields (no dynamic field, so a typo is certain) -------------------------------
    Case("filter-unknown-field", "filter", "nope == 1", UnknownField),
    Case("filter-wrong-case-field", "filter", "N_ARGS == 1", UnknownField),
    Case("filter-unknown-json-field", "filter", 'meta2["k"] == 1', UnknownField),
    Case("filter-nan-is-a-name", "filter", "n_args > nan", UnknownField),
    Case("filter-meta-without-dynamic", "filter", '$meta["x"] == 1', InvalidFilter),
    # -- type mismatches -----------------------------------------------------------------------
    Case("filter-int-eq-string", "filter", 'n_args == "x"', InvalidFilter),
    Case("filter-string-gt-int", "filter", "category > 3", InvalidFilter),
    Case("filter-string-eq-int", "filter", "category == 3", InvalidFilter),
    Case("filter-like-on-int", "filter", 'n_args like "a%"', InvalidFilter),
    Case("filter-mixed-in-list", "filter", 'n_args in [1, "a"]', InvalidFilter),
    Case("filter-vector-in-filter", "filter", "vec == 1", InvalidFilter),
    Case("filter-json-whole-compare", "filter", "meta == 3", InvalidFilter),
    Case("filter-array-eq-scalar", "filter", 'tags == "a"', InvalidFilter),
    Case("filter-array-fn-on-int", "filter", "array_contains(n_args, 1)", InvalidFilter),
    Case("filter-json-key-in-list", "filter", 'meta["k"] in [1, 2]', InvalidFilter, why="a Lite gap"),
    # -- JSON and ARRAY fields: these must work ----------------------------------------------
    Case("filter-json-gt", "filter", 'meta["k"] > 3', OK),
    Case("filter-json-like", "filter", 'meta["s"] like "v1%"', OK),
    Case("filter-json-exists", "filter", 'exists meta["k"]', OK),
    Case("filter-json-string-vs-int", "filter", 'meta["k"] > "x"', EITHER),
    Case("filter-json-contains", "filter", 'json_contains(tags, "a")', OK),
    Case("filter-array-contains", "filter", 'array_contains(tags, "a")', OK),
    Case("filter-array-length", "filter", "array_length(tags) > 1", OK),
    Case("filter-array-index", "filter", 'tags[0] == "a"', OK),
    Case("filter-scientific-number", "filter", "n_args < 1e3", OK),
    Case("filter-negative-exponent", "filter", "n_args > -1.5E-2", OK),
    # -- Unicode and control characters --------------------------------------------------------
    Case("filter-nul", "filter", "\x00", InvalidFilter),
    Case("filter-nul-in-literal", "filter", 'title == "a\x00b"', InvalidFilter),
    Case("filter-ansi-clear", "filter", "\x1b[2J", InvalidFilter),
    Case("filter-ansi-before-expr", "filter", "\x1b[31mpk > 0", InvalidFilter),
    Case("filter-emoji-name", "filter", "\U0001f389 == 1", InvalidFilter),
    Case("filter-rtl-mark", "filter", "pk > 0 \u200f", InvalidFilter),
    Case("filter-bom", "filter", "\ufeffpk > 0", InvalidFilter),
    Case("filter-nbsp", "filter", "pk\u00a0> 0", InvalidFilter),
    Case("filter-rtl-override-literal", "filter", 'title == "\u202e"', OK),
    Case("filter-ansi-literal", "filter", 'title == "\x1b[31mred"', OK),
    Case("filter-emoji-literal", "filter", 'title == "\U0001f389"', OK),
    Case("filter-crlf-tail", "filter", "pk > 0\r\n", OK),
    Case("filter-whitespace-only", "filter", " \t\n ", OK, why="empty filter: browse everything"),
    # -- very long strings ---------------------------------------------------------------------
    Case("filter-100kb-literal", "filter", LONG_LITERAL, EITHER),
    Case("filter-100kb-chain", "filter", LONG_CHAIN, EITHER),
    Case("filter-20000-keys", "filter", "pk in [" + ", ".join(map(str, range(20_000))) + "]", EITHER),
    # -- search text ---------------------------------------------------------------------------
    Case("search-empty", "search", "", InvalidInput),
    Case("search-whitespace", "search", "   \n\t", InvalidInput),
    Case("search-none", "search", None, InvalidInput),
    Case("search-nul", "search", "a\x00b", OK),
    Case("search-ansi", "search", "\x1b[2J\x1b[31mred", OK),
    Case("search-rtl", "search", "\u202e\u200fabc", OK),
    Case("search-emoji", "search", "\U0001f389\U0001f525" * 100, OK),
    Case("search-lone-surrogate", "search", "caf\udce9", OK, why="undecodable argv bytes arrive like this"),
    Case("search-1mb", "search", MB_TEXT, OK),
    Case("search-bad-filter", "search_filter", "nope > 1", UnknownField),
    Case("search-broken-filter", "search_filter", "n_args ==", InvalidFilter),
    Case("search-type-mismatch-filter", "search_filter", 'category > 3', InvalidFilter),
    # -- k, limit and MMR numbers --------------------------------------------------------------
    Case("k-zero", "k", 0, InvalidInput),
    Case("k-negative", "k", -1, InvalidInput),
    Case("k-very-negative", "k", -100, InvalidInput),
    Case("k-over-window", "k", 16_385, InvalidInput),
    Case("k-billion", "k", 10**9, InvalidInput),
    Case("k-huge", "k", 10**30, InvalidInput),
    Case("k-string", "k", "5", InvalidInput),
    Case("k-float", "k", 2.5, InvalidInput),
    Case("k-bool", "k", True, InvalidInput),
    Case("k-none", "k", None, InvalidInput),
    Case("limit-zero", "limit", 0, InvalidInput),
    Case("limit-negative", "limit", -1, InvalidInput),
    Case("limit-over-window", "limit", 16_385, InvalidInput),
    Case("limit-huge", "limit", 10**30, InvalidInput),
    Case("limit-text", "limit", "ten", InvalidInput),
    Case("mmr-lambda-above-1", "mmr", (10, 2.0), InvalidInput),
    Case("mmr-lambda-negative", "mmr", (10, -0.1), InvalidInput),
    Case("mmr-fetch-k-zero", "mmr", (0, 0.5), InvalidInput),
    # -- fields and options --------------------------------------------------------------------
    Case("anns-unknown", "anns_field", "nope", InvalidInput),
    Case("anns-scalar", "anns_field", "title", InvalidInput),
    Case("output-unknown", "output_fields", ["nope"], InvalidInput),
    Case("consistency-unknown", "consistency", "Strongest", InvalidInput),
    # -- dimension mismatches ------------------------------------------------------------------
    Case("vector-3-dims", "vector", [0.1, 0.2, 0.3], InvalidInput),
    Case("vector-empty", "vector", [], InvalidInput),
    Case("vector-strings", "vector", ["a"] * 256, MilvusTuiError),
    Case("vector-nan", "vector", [float("nan")] * 256, EITHER),
    Case("search-8d-field-with-256d-model", "anns_field", "b", InvalidInput, collection="twovec"),
    # -- collections without one usable vector field -------------------------------------------
    Case("search-two-vector-fields", "search", "read a file", AmbiguousField, collection="twovec"),
    Case("similar-two-vector-fields", "similar", 1, AmbiguousField, collection="twovec"),
    Case("search-sparse-only", "search", "read a file", InvalidInput, collection="sparse"),
    Case("similar-sparse-only", "similar", 1, InvalidInput, collection="sparse"),
    Case("search-no-vector-field", "search", "read a file", InvalidInput, collection="novec"),
    # -- empty and broken delete requests ------------------------------------------------------
    Case("delete-empty-filter", "delete_filter", "", InvalidFilter),
    Case("delete-whitespace-filter", "delete_filter", "   ", InvalidFilter),
    Case("delete-none-filter", "delete_filter", None, InvalidFilter),
    Case("delete-unknown-field", "delete_filter", "nope == 1", UnknownField),
    Case("delete-type-mismatch", "delete_filter", 'n_args == "x"', InvalidFilter),
    Case("delete-open-paren", "delete_filter", "(pk > 0", InvalidFilter),
    Case("delete-trailing-and", "delete_filter", "pk > 0 and", InvalidFilter),
    Case("delete-nul", "delete_filter", "pk > 0\x00", InvalidFilter),
    Case("delete-no-keys", "delete_keys", [], InvalidInput),
    Case("delete-none-key", "delete_keys", [None], InvalidFilter),
    Case("delete-nan-key", "delete_keys", [float("nan")], InvalidFilter),
    Case("delete-dict-key", "delete_keys", [{}], InvalidFilter),
    Case("delete-string-keys-on-int-pk", "delete_keys", ["1", 'a"b'], OK, why="nothing matches: count 0"),
    # -- selected keys ---------------------------------------------------------------------
    Case("similar-missing-key", "similar", 999_999, NotFound),
    Case("similar-string-key-on-int-pk", "similar", 'a"b', NotFound),
    Case("similar-none-key", "similar", None, InvalidFilter),
    Case("similar-quote-key", "similar", 'a"b', OK, collection="vkeys"),
    Case("similar-injection-key", "similar", 'x" or pk != "', OK, collection="vkeys"),
    Case("similar-newline-key", "similar", "new\nline", OK, collection="vkeys"),
    Case("similar-backslash-key", "similar", "end\\", OK, collection="vkeys"),
    # -- collection names ----------------------------------------------------------------------
    Case("collection-missing", "collection", "nope_not_here", NotFound),
    Case("collection-empty", "collection", "", MilvusTuiError),
    Case("collection-quote", "collection", 'a"b', NotFound),
    Case("collection-nul", "collection", "\x00", MilvusTuiError),
    Case("collection-300-chars", "collection", "x" * 300, MilvusTuiError),
    Case("collection-path", "collection", "../strict", MilvusTuiError),
    # -- file paths and files ------------------------------------------------------------------
    Case("export-to-a-directory", "export_path", "@", InvalidInput),
    Case("export-to-missing-dir", "export_path", "/nonexistent/dir/out.jsonl", NotFound),
    Case("export-unknown-format", "export_path", "@out.xlsx", InvalidInput),
    Case("export-nul-in-path", "export_path", "@out\x00.jsonl", InvalidInput),
    Case("export-empty-path", "export_path", "", InvalidInput),
    Case("restore-missing-file", "restore_path", "/nonexistent/backup.jsonl", NotFound),
    Case("restore-a-directory", "restore_path", "@", InvalidInput),
    Case("restore-binary-file", "restore_path", "@binary.jsonl", InvalidInput),
    Case("restore-not-a-backup", "restore_path", "@not-a-backup.jsonl", InvalidInput),
    Case("restore-damaged-backup", "restore_path", "@damaged-backup.jsonl", MilvusTuiError),
    Case("restore-backup-of-missing-collection", "restore_path", "@wrong-collection-backup.jsonl", NotFound),
    Case("ingest-binary-jsonl", "ingest_file", "@binary.jsonl", InvalidInput),
    Case("ingest-binary-csv", "ingest_file", "@binary.csv", InvalidInput),
    Case("ingest-json-array-line", "ingest_file", "@array.jsonl", InvalidInput),
    Case("ingest-broken-json-line", "ingest_file", "@bad-json.jsonl", InvalidInput),
    Case("ingest-no-text-field", "ingest_file", "@no-text.jsonl", InvalidInput),
    Case("ingest-a-directory", "ingest_file", "@", InvalidInput),
    Case("ingest-missing-file", "ingest_file", "/nonexistent/docs.csv", NotFound),
    Case("ingest-batch-size-zero", "batch_size", 0, InvalidInput, why="used to insert nothing and succeed"),
    Case("ingest-batch-size-negative", "batch_size", -5, InvalidInput),
]

#: VARCHAR keys the ``vkeys`` collection starts with (the property test adds many more).
NASTY_KEYS = [
    'a"b', "c'd", "[x]", "(y)", "{z}", "back\\slash", "new\nline", "tab\tt", "cr\rlf", "uni\U0001f389",
    "\u202eRTL", "end\\", '"', "'", "' or 1==1 or '", 'x" or pk != "', "\\\"", "", "%", "_", "\x00nul",
    "\x1b[2J", "a, b", "]", " lead", "trail ",
]

#: Characters the property test builds keys from: every one that needs escaping, and friends.
KEY_ALPHABET = list('"\'\\[](){},;%_ \n\r\t\x00\x1b\x7f') + ["\u202e", "\u200f", "\ufeff", "\U0001f389", "é", "e\u0301",
                                                               "\\n", "\\\"", " or ", " and ", "==", "!=", "pk"] + list(
    "abcxyz0189")

#: (id, argv after the connection options, exit code) for ``milvus-tui`` itself. ``{strict}``,
#: ``{twovec}``, ``{sparse}`` and ``{ingest}`` (must never be created) are replaced with real
#: collection names, ``@name`` with the files above.
CLI_CASES: list[tuple[str, list[str], int]] = [
    ("query-unknown-field", ["query", "{strict}", "nope == 1"], 2),
    ("query-type-mismatch", ["query", "{strict}", 'n_args == "x"'], 2),
    ("query-string-gt-int", ["query", "{strict}", "category > 3"], 2),
    ("query-open-quote", ["query", "{strict}", 'category == "function'], 2),
    ("query-open-paren", ["query", "{strict}", "(n_args > 2"], 2),
    ("query-nul", ["query", "{strict}", "pk > 0\x00"], 2),
    ("query-ansi", ["query", "{strict}", "\x1b[2J\x1b[31m"], 2),
    ("query-100kb-garbage", ["query", "{strict}", LONG_GARBAGE], 2),
    ("query-limit-zero", ["query", "{strict}", "", "--limit", "0"], 2),
    ("query-limit-negative", ["query", "{strict}", "", "--limit", "-5"], 2),
    ("query-limit-huge", ["query", "{strict}", "", "--limit", str(10**30)], 2),
    ("query-limit-text", ["query", "{strict}", "", "--limit", "ten"], 2),
    ("query-missing-collection", ["query", "nope_not_here", ""], 3),
    ("search-empty-text", ["search", "{strict}", ""], 2),
    ("search-k-zero", ["search", "{strict}", "read a file", "-k", "0"], 2),
    ("search-k-negative", ["search", "{strict}", "read a file", "-k", "-3"], 2),
    ("search-bad-filter", ["search", "{strict}", "read a file", "--filter", "nope > 1"], 2),
    ("search-two-vector-fields", ["search", "{twovec}", "read a file"], 2),
    ("search-dimension-mismatch", ["search", "{twovec}", "read a file", "--anns-field", "b"], 2),
    ("search-sparse-only", ["search", "{sparse}", "read a file"], 2),
    ("search-mmr-lambda", ["search", "{strict}", "read a file", "--mmr", "10", "3"], 2),
    ("delete-empty-filter", ["delete", "{strict}", "--filter", "", "--yes"], 2),
    ("delete-unknown-field", ["delete", "{strict}", "--filter", "nope == 1", "--yes"], 2),
    ("delete-type-mismatch", ["delete", "{strict}", "--filter", 'n_args == "x"', "--yes"], 2),
    ("delete-open-paren", ["delete", "{strict}", "--filter", "(pk > 0", "--yes"], 2),
    ("delete-ids-garbage", ["delete", "{strict}", "--ids", "1,two,3", "--yes"], 2),
    ("delete-ids-float", ["delete", "{strict}", "--ids", "[1.5]", "--yes"], 2),
    ("delete-ids-bool", ["delete", "{strict}", "--ids", "[true]", "--yes"], 2),
    ("delete-ids-bad-json", ["delete", "{strict}", "--ids", "[1, 2", "--yes"], 2),
    ("delete-ids-empty", ["delete", "{strict}", "--ids", ",", "--yes"], 2),
    ("delete-both", ["delete", "{strict}", "--ids", "1", "--filter", "pk > 0", "--yes"], 2),
    ("export-to-missing-dir", ["export", "{strict}", "/nonexistent/dir/out.jsonl"], 3),
    ("export-to-a-directory", ["export", "{strict}", "@"], 2),
    ("restore-missing-file", ["restore", "/nonexistent/backup.jsonl"], 3),
    ("restore-binary-file", ["restore", "@binary.jsonl"], 2),
    ("ingest-binary-file", ["ingest", "@binary.jsonl", "-c", "{ingest}"], 2),
    ("ingest-batch-size-zero", ["ingest", "@good.jsonl", "-c", "{ingest}", "--batch-size", "0"], 2),
]
