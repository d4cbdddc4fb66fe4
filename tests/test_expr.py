"""Filter-expression helpers: literals that survive any string, field references, balance checks.

``literal`` is checked against the real server: hostile primary keys are inserted into a
VARCHAR-keyed collection and each is fetched back by ``pk == literal(key)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient

from tests.conftest import unique_name
from tui.milvus import expr as exprs
from tui.errors import InvalidFilter, UnknownField

HOSTILE_KEYS = [
    'a"b',
    "c'd",
    'x") or ("1"=="1',
    "x' or '1'=='1",
    "back\\slash",
    "ends with backslash\\",
    "\\\"",
    "new\nline",
    "tab\there",
    "carriage\rreturn",
    "unicode é ✓ 日本語 🐍",
    "[bracket] (paren) {brace}",
    "$meta",
    "like%_",
    "plain",
]


@pytest.fixture(scope="module")
def hostile_collection(milvus_uri: str) -> Iterator[tuple[MilvusClient, str]]:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("hostile")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("n", DataType.INT64)
    schema.add_field("x", DataType.DOUBLE)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [
        {"pk": key, "n": i, "x": i / 4, "flag": i % 2 == 0, "vec": [float(i), 1.0]}
        for i, key in enumerate(HOSTILE_KEYS)
    ])
    client.flush(name)
    client.load_collection(name)
    yield client, name
    client.drop_collection(name)
    client.close()


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda k: repr(k)[:24])
def test_literal_round_trips_through_the_server(hostile_collection, key: str) -> None:
    client, name = hostile_collection
    rows = client.query(name, filter=f"pk == {exprs.literal(key)}", output_fields=["pk", "n"],
                        consistency_level="Strong")
    assert [r["pk"] for r in rows] == [key]
    assert rows[0]["n"] == HOSTILE_KEYS.index(key)


def test_in_list_selects_exactly_the_hostile_keys(hostile_collection) -> None:
    client, name = hostile_collection
    chosen = HOSTILE_KEYS[:4] + HOSTILE_KEYS[-4:]
    rows = client.query(name, filter=exprs.in_list("pk", chosen), output_fields=["pk"],
                        consistency_level="Strong")
    assert sorted(r["pk"] for r in rows) == sorted(chosen)


def test_injection_attempt_does_not_widen_the_match(hostile_collection) -> None:
    client, name = hostile_collection
    # A value crafted to close the string and add `or true` must match nothing at all.
    for attack in ['nope" or pk != "', "nope' or pk != '", 'z") or (1 == 1']:
        rows = client.query(name, filter=f"pk == {exprs.literal(attack)}", output_fields=["pk"],
                            consistency_level="Strong")
        assert rows == []


def test_literal_numbers_and_bools_through_the_server(hostile_collection) -> None:
    client, name = hostile_collection
    rows = client.query(name, filter=f"n == {exprs.literal(3)}", output_fields=["pk"], consistency_level="Strong")
    assert [r["pk"] for r in rows] == [HOSTILE_KEYS[3]]
    rows = client.query(name, filter=f"x == {exprs.literal(0.75)}", output_fields=["n"], consistency_level="Strong")
    assert [r["n"] for r in rows] == [3]
    rows = client.query(name, filter=f"flag == {exprs.literal(True)} and n < 4", output_fields=["n"],
                        consistency_level="Strong")
    assert sorted(r["n"] for r in rows) == [0, 2]


def test_literal_rendering() -> None:
    assert exprs.literal(True) == "true"
    assert exprs.literal(False) == "false"
    assert exprs.literal(-7) == "-7"
    assert exprs.literal(0.5) == "0.5"
    assert exprs.literal('a"b') == '"a\\"b"'
    assert exprs.literal("a\\b") == '"a\\\\b"'
    assert exprs.literal("a\nb\tc") == '"a\\nb\\tc"'
    assert exprs.literal("it's") == '"it\'s"'
    for bad in (float("nan"), float("inf"), [1, 2], None, b"x"):
        with pytest.raises(InvalidFilter):
            exprs.literal(bad)


def test_in_list_and_conjoin() -> None:
    assert exprs.in_list("id", [1, 2, 3]) == "id in [1, 2, 3]"
    assert exprs.in_list("k", ['a"', "b"]) == 'k in ["a\\"", "b"]'
    assert exprs.conjoin() == ""
    assert exprs.conjoin("", None, "  ") == ""
    assert exprs.conjoin("a > 1") == "a > 1"
    assert exprs.conjoin("a > 1 or b < 2", "id > 5") == "(a > 1 or b < 2) and (id > 5)"


@pytest.mark.parametrize("expression, expected", [
    ("n_args > 2", ["n_args"]),
    ('category == "function" and n_args > 2', ["category", "n_args"]),
    ('meta["package"] == "os" and n_lines >= 3', ["meta", "n_lines"]),
    ('name == "n_args or module"', ["name"]),
    ("name == 'category'", ["name"]),
    ("json_contains(tags, \"x\") or array_length(arr) > 1", ["tags", "arr"]),
    ('not (a in [1, 2]) and b like "x%" or c is null', ["a", "b", "c"]),
    ('$meta["k"] == 1', ["$meta"]),
    ("a > 1 AND a < 5 OR NOT b", ["a", "b"]),
    ("x == true or y == false", ["x", "y"]),
    ("", []),
])
def test_referenced_fields(expression: str, expected: list[str]) -> None:
    assert exprs.referenced_fields(expression) == expected


@pytest.mark.parametrize("expression", [
    "a == 1",
    '(a == 1) and (b in [1, 2])',
    'name == "a(b"',
    'name == "[unclosed"',
    "name == 'it\\'s'",
    'name == "say \\"hi\\""',
    'meta["k"] == {1}',
    "",
])
def test_check_balanced_accepts(expression: str) -> None:
    exprs.check_balanced(expression)


@pytest.mark.parametrize("expression, fragment", [
    ("(a == 1", "'(' at column 1 of the filter is never closed"),
    ("a == 1)", "Unexpected ')' at column 7"),
    ("a in [1, 2)", "Unexpected ')' at column 11"),
    ('name == "abc', 'Unbalanced quote " at column 9'),
    ("name == 'abc", "Unbalanced quote ' at column 9"),
    ('((a == 1) and b == "x"', "'(' at column 1"),
])
def test_check_balanced_rejects(expression: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        exprs.check_balanced(expression)
    assert fragment in str(info.value)


def test_validate_knows_the_schema() -> None:
    fields = ["id", "text", "n_args"]
    exprs.validate("n_args > 1 and id < 5", fields, dynamic=False)
    exprs.validate('$meta["x"] == 1', fields, dynamic=False)
    with pytest.raises(UnknownField) as info:
        exprs.validate("N_ARGS > 1", fields, dynamic=False)
    assert "Unknown field 'N_ARGS'" in str(info.value)
    assert "Did you mean 'n_args'?" in str(info.value)
    assert "id, text, n_args" in str(info.value)
    # With a dynamic field any name is a legal key.
    exprs.validate("whatever > 1", fields, dynamic=True)
    # Balance and NUL checks apply either way.
    with pytest.raises(InvalidFilter):
        exprs.validate("(whatever > 1", fields, dynamic=True)
    with pytest.raises(InvalidFilter, match="NUL"):
        exprs.validate("id == 1\x00", fields, dynamic=True)


# -- filter templates ----------------------------------------------------------------------

TEMPLATE_KEYS = ['a"b', "it's", "back\\slash", "[INST] x [/INST]", "{tui_keys}", "\x1b]8;;x\x07", "nul\x00c", "ü\u0085"]


@pytest.mark.parametrize("keys", [TEMPLATE_KEYS, [1, -2, 2**62]])
def test_a_rendered_template_is_the_quoted_expression(keys: list[Any]) -> None:
    template, params = exprs.in_template("pk", keys)
    assert "{" in template and params == {"tui_keys": keys}
    assert exprs.render(template, params) == exprs.in_list("pk", keys)
    negated, params = exprs.not_in_template("pk", keys)
    assert exprs.render(negated, params) == exprs.not_in_list("pk", keys)


def test_render_leaves_string_literals_and_unknown_names_alone() -> None:
    user = 'title == "{tui_keys}" and note like \'%{tui_keys}%\' and {other} > 1'
    template, params = exprs.in_template("pk", ["x"])
    rendered = exprs.render(exprs.conjoin(user, template), params)
    assert rendered == f'({user}) and (pk in ["x"])'


def test_a_value_no_expression_can_hold_is_refused_before_sending() -> None:
    with pytest.raises(InvalidFilter):
        exprs.in_template("pk", [1.5, float("nan")])
    with pytest.raises(InvalidFilter):
        exprs.compare_template("pk", ">", object(), "tui_cursor")


@pytest.mark.parametrize(("version", "supported"), [
    ("v2.5.0", True), ("v2.6.3", True), ("2.5.4-dev", True), ("v2.4.15", False), ("v2.3.5", False),
    ("milvus_lite-3.2.2", False), ("", False), (None, False), ("zilliz", False),
])
def test_templates_go_to_servers_that_take_them(version: Any, supported: bool) -> None:
    assert exprs.templates_supported(version) is supported


def test_the_driver_sends_templates_as_they_are_or_renders_them() -> None:
    from pymilvus import AnnSearchRequest

    from tui.milvus.ops import with_templates

    template, params = exprs.in_template("pk", ['a"b'])
    kwargs = {"collection_name": "c", "filter": template, "filter_params": params}
    assert with_templates(kwargs, True) is kwargs
    assert with_templates(kwargs, False) == {"collection_name": "c", "filter": 'pk in ["a\\"b"]'}
    part = AnnSearchRequest(data=[[0.1]], anns_field="v", param={}, limit=3, expr="n > 1 and pk not in {tui_not}",
                            expr_params={"tui_not": [7]})
    sent = with_templates({"reqs": [part]}, False)["reqs"][0]
    assert sent.expr == "n > 1 and pk not in [7]" and not sent.expr_params and sent.limit == 3
    assert with_templates({"reqs": [part]}, True)["reqs"][0] is part
