"""Filter expressions: safe literals, key lists, filter templates, and field-name checks.

Expressions we build from data (selected primary keys, paging cursors, a pasted key) are
filter templates: ``pk in {tui_keys}`` with the values in ``filter_params``, so where the
server takes templates (Milvus 2.5 and later) no value is ever spliced into an expression.
Milvus Lite (3.2.2 refuses ``{name}``: "unexpected character") and older servers get the
template rendered by the driver (``render``) with every value through ``literal``, which is
safe for any value, including strings holding quotes, brackets and backslashes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import InvalidFilter, UnknownField

# Milvus string literals use C-style escapes; these are the ones both the Go server
# and Milvus Lite's parser accept.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t]')


def literal(value: Any) -> str:
    """Render a Python value as a Milvus expression literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidFilter(f"{value!r} cannot appear in a filter expression")
        return repr(value)
    if isinstance(value, str):
        return '"' + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], value) + '"'
    raise InvalidFilter(f"Cannot use a {type(value).__name__} value in a filter expression")


def in_list(field: str, values: Iterable[Any]) -> str:
    """``field in [v1, v2, ...]`` with every value safely quoted."""
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def not_in_list(field: str, values: Iterable[Any]) -> str:
    """``field not in [v1, v2, ...]`` with every value safely quoted."""
    return f"{field} not in [{', '.join(literal(v) for v in values)}]"


def templates_supported(version: str | None) -> bool:
    """Whether a server takes filter templates (``filter_params``): Milvus 2.5 and later; not
    Milvus Lite (its own numbering; 3.2.2 refuses them, measured) nor a version we cannot read."""
    text = str(version or "").strip()
    if not text or text.lower().startswith(("milvus_lite", "milvus-lite")):
        return False
    match = re.match(r"v?(\d+)\.(\d+)", text)
    return bool(match) and (int(match[1]), int(match[2])) >= (2, 5)


def in_template(field: str, values: Iterable[Any], name: str = "tui_keys") -> tuple[str, dict[str, Any]]:
    """``field in {name}`` and its parameters; each value is checked now (a value no expression
    can hold is refused before anything is sent, templated or not)."""
    kept = list(values)
    for v in kept:
        literal(v)
    return f"{field} in {{{name}}}", {name: kept}


def not_in_template(field: str, values: Iterable[Any], name: str = "tui_not") -> tuple[str, dict[str, Any]]:
    expr, params = in_template(field, values, name)
    return f"{field} not in {{{name}}}", params


def compare_template(field: str, op: str, value: Any, name: str) -> tuple[str, dict[str, Any]]:
    """``field <op> {name}`` (a paging cursor, "not this entity")."""
    literal(value)
    return f"{field} {op} {{{name}}}", {name: value}


def _rendered(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return literal(value)


_PLACEHOLDER = re.compile(r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}""",
                          re.DOTALL)


def render(expr: str, params: dict[str, Any]) -> str:
    """The template with each ``{name}`` of ``params`` replaced by its quoted literal, for servers
    without templates. Text inside string literals is never touched, nor a ``{name}`` that is
    not one of ``params`` (the server then says what is wrong with it)."""

    def swap(m: re.Match[str]) -> str:
        name = m.group("name")
        if name is None or name not in params:
            return m.group(0)
        return _rendered(params[name])

    return _PLACEHOLDER.sub(swap, expr)


def conjoin(*parts: str | None) -> str:
    """AND together the non-empty parts, each parenthesised so precedence is kept."""
    kept = [p.strip() for p in parts if p and p.strip()]
    if len(kept) <= 1:
        return kept[0] if kept else ""
    return " and ".join(f"({p})" for p in kept)


#: Words of Milvus's filter grammar that are not field names (its ``Plan.g4`` lexer: operators,
#: literals, the TIMESTAMPTZ forms ``ISO '…'`` and ``INTERVAL '…'``, ``is [not] null``, the
#: options inside text_match/match_least). Compared case-insensitively: the grammar takes
#: ``true``/``True``/``TRUE``, and where a case is not Milvus's the server says so, not us.
#: Function names (json_contains, array_length, text_match, …) are known by their ``(``.
_KEYWORDS = frozenset({
    "and", "or", "not", "in", "like", "exists", "is", "null", "true", "false",
    "iso", "interval", "minimum_should_match", "threshold",
})
_TOKEN = re.compile(
    r"""
    (?P<string>(?:u8|[uULrR])?(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))  # u8"…", r'…' too
  | (?P<number>[0-9](?:[eE][+-]?[0-9]|[pP][+-]?[0-9]|[A-Za-z0-9_.])*)  # 1e3, 0x1p-3: exponents are not names
  | (?P<ident>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def referenced_fields(expr: str) -> list[str]:
    """Field names an expression mentions (functions, keywords and strings excluded).

    Only the outer name of ``meta["key"]`` counts: JSON keys are data, not schema. So does
    only the outer name of a struct's ``s[sub]`` and ``s[0][sub]`` (sub-field names), and
    neither ``$[sub]`` (inside element_filter) nor a ``{name}`` template placeholder.
    """
    names: list[str] = []
    tokens = [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(expr)]
    for i, (kind, text, start, end) in enumerate(tokens):
        if kind != "ident" or text.lower() in _KEYWORDS:
            continue
        following = expr[end:].lstrip()[:1]
        if following == "(":  # a function such as json_contains(...) or array_length(...)
            continue
        before = expr[:start]
        if before.endswith("[") and expr[end:end + 1] == "]":
            # ``x[sub]``, ``x[0][sub]`` or ``$[sub]`` with no space: a sub-field of a struct
            # (Milvus lexes these as one token). ``in [a, b]`` has a space or a comma.
            opener = before[:-1]
            if opener.endswith(("$", "]")) or (i >= 2 and tokens[i - 2][0] == "ident"
                                               and tokens[i - 2][3] == start - 1
                                               and tokens[i - 2][1].lower() not in _KEYWORDS):
                continue
        if before.endswith("{") and expr[end:end + 1] == "}":
            continue  # a template placeholder, {name}, filled from filter_params
        if text not in names:
            names.append(text)
    return names


def check_balanced(expr: str) -> None:
    """Reject unbalanced quotes and brackets with a message that points at the problem."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for match in _TOKEN.finditer(expr):
        text = match.group()
        if match.lastgroup == "string":
            continue
        if text in "\"'":
            raise InvalidFilter(f"Unbalanced quote {text} at column {match.start() + 1} of the filter.")
        if text in "([{":
            stack.append((text, match.start()))
        elif text in pairs:
            if not stack or stack[-1][0] != pairs[text]:
                raise InvalidFilter(f"Unexpected '{text}' at column {match.start() + 1} of the filter.")
            stack.pop()
    if stack:
        opener, at = stack[-1]
        raise InvalidFilter(f"'{opener}' at column {at + 1} of the filter is never closed.")


def validate(expr: str, fields: Sequence[str], *, dynamic: bool) -> None:
    """Check an expression against the schema before it reaches the server.

    With the dynamic field enabled any name is a legal dynamic key, so unknown names
    pass; without it they are certainly typos and we say which fields exist.
    """
    if "\x00" in expr:
        raise InvalidFilter("The filter contains a NUL character.")
    check_balanced(expr)
    if dynamic:
        return
    known = set(fields) | {"$meta"}
    for name in referenced_fields(expr):
        if name not in known:
            close = [f for f in fields if f.lower() == name.lower()]
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UnknownField(
                f"Unknown field '{name}' in the filter.{hint} "
                f"Fields of this collection: {', '.join(fields)}."
            )
