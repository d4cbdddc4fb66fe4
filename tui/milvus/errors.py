"""Milvus's own exceptions in our words: ``translate`` maps a pymilvus or grpc exception to
one of the classes of ``tui.errors``, with the server's text, scrubbed of secrets.

pymilvus raises ``MilvusException`` with a numeric code and the server's text, and grpc
raises its own errors when the server is gone.
"""

from __future__ import annotations

import re

from ..errors import (
    InvalidFilter,
    MilvusTuiError,
    NotFound,
    NotLoaded,
    NotSupported,
    OperationFailed,
    ServerUnavailable,
    scrub,
)

_UNAVAILABLE = re.compile(
    r"UNAVAILABLE|failed to connect|Connection refused|connection reset|Socket closed|"
    r"DEADLINE_EXCEEDED|Deadline Exceeded|Fail connecting to server|server unavailable",
    re.IGNORECASE,
)
_NOT_LOADED = re.compile(r"not loaded|state 'released'|collection not loaded|call load\(\)", re.I)
_NOT_FOUND = re.compile(r"collection not found|can't find collection|does not exist|not exist", re.I)
_PARSE = re.compile(
    r"unexpected (token|character)|cannot parse|parse|syntax|unterminated|invalid expression|"
    r"expected literal|unknown escape|field .* not exist|not exist in schema|cannot be casted|"
    r"comparisons between|type mismatch|invalid|no kernel matching|int too large|recursion depth",
    re.IGNORECASE,
)
_UNSUPPORTED = re.compile(r"UNIMPLEMENTED|not supported|unsupported|not implemented|unknown method", re.I)


def server_message(exc: BaseException) -> str:
    """The server's own words from a pymilvus/grpc exception, without the wrapper noise."""
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return scrub(message.strip())
    details = getattr(exc, "details", None)
    if callable(details):
        try:
            text = details()
            if text:
                return scrub(str(text).strip())
        except Exception:  # grpc's details() can itself fail on a dead channel
            pass
    return scrub(str(exc).strip() or type(exc).__name__)


def translate(exc: BaseException, *, collection: str | None = None, expr: str | None = None) -> MilvusTuiError:
    """Map a pymilvus or grpc exception to a ``MilvusTuiError`` with the server's text."""
    if isinstance(exc, MilvusTuiError):
        return exc
    text = server_message(exc)
    code = getattr(exc, "code", None)
    if callable(code):  # a raw grpc error: its status code (an older server lacks the whole RPC)
        try:
            status = getattr(code(), "name", "")
        except Exception:  # noqa: BLE001
            status = ""
        if status == "UNIMPLEMENTED":
            return NotSupported(f"Not supported by this server: {text}")
        code = None
    if _UNAVAILABLE.search(text) or _UNAVAILABLE.search(type(exc).__name__):
        return ServerUnavailable(
            f"The Milvus server is not answering ({text}). Check that it is running.",
            app_hint="Press ctrl+r to reconnect.", cli_hint="Then run the command again.",
        )
    if collection and (code == 101 or _NOT_LOADED.search(text)):
        return NotLoaded(collection)
    if collection and code in (100, 4) or (collection and _NOT_FOUND.search(text) and "field" not in text.lower()):
        return NotFound(f"Collection '{collection}' was not found: {text}")
    if _UNSUPPORTED.search(text):
        return NotSupported(f"Not supported by this server: {text}")
    if expr and (code in (6, 1100) or _PARSE.search(text)):  # "" is no filter at all
        return InvalidFilter(f"The server rejected the filter expression: {text}")
    if not text or text == "()":
        text = f"{type(exc).__name__} (code {code}) with no message from the server"
    return OperationFailed(f"Milvus refused the request: {text}")
