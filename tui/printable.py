"""Text from data or from the user, made safe to put on a terminal.

Stored text can hold escape sequences (ANSI clear-screen, an OSC title change, an OSC 52
clipboard write), C1 controls and NUL; written to a terminal they act instead of showing.
Every string from data or the user goes through one of these before it reaches the screen:

* ``printable``: control characters become visible escapes, in one form everywhere:
  C0 controls (``\\x00``-``\\x1f``, ESC is ``\\x1b``), DEL and C1 controls
  (``\\x7f``-``\\x9f``) as ``\\xNN``; the Unicode bidi overrides and isolates
  (U+202A-202E, U+2066-2069, which reorder what a line shows) and the line and paragraph
  separators (U+2028/2029) as ``\\uNNNN``. Newline and tab are kept unless the caller
  asks otherwise.
* ``printable_text``: the same as a Rich ``Text`` (never parsed as markup, so ``[/INST]``
  is just text), with the escapes dimmed and reversed so they differ from a literal
  backslash in the data.
* ``json_text``: ``json.dumps`` whose output holds no raw control character: JSON already
  escapes C0 as ``\\u001b``; DEL, C1 and the characters above get ``\\u00NN`` escapes too.
  It is still exact JSON: ``json.loads`` gives back the very same strings.

Imports nothing heavy at module level (the CLI's ``--help`` stays fast).
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: What ``json.dumps(ensure_ascii=False)`` leaves raw that a terminal may act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, keep: str = "\n\t") -> str:
    """``text`` with every control character (except those in ``keep``) as a visible escape."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def printable_text(text: str, style: str = "", keep: str = "\n\t") -> Any:
    """A Rich ``Text`` of ``printable(text)``: no markup, escapes styled apart from the data."""
    from rich.text import Text

    out = Text(style=style)
    at = 0
    for match in _UNSAFE.finditer(text):
        if match.group() in keep:
            continue
        out.append(text[at:match.start()])
        out.append(_escape(match.group()), style="dim reverse")
        at = match.end()
    out.append(text[at:])
    return out


def json_text(value: Any, **kwargs: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **kwargs)`` with no raw control character in it."""
    kwargs.setdefault("ensure_ascii", False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, **kwargs))
