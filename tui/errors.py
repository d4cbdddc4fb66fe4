"""The one error hierarchy of the backend (``tui.milvus``, ``tui.embeddings``), the CLI and
the app, each error with a message a user can act on and an exit code for scripts; and the
scrubbing of secrets (tokens, keys, passwords in URIs) from every message shown or stored.

``tui.milvus.errors.translate`` turns pymilvus and grpc exceptions into these classes, so
the UI and the CLI can say what went wrong without knowing pymilvus.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit


class MilvusTuiError(Exception):
    """Base class: ``str(err)`` is a complete sentence fit to show a user.

    Advice that names a key or a flag belongs to one front end, so it is kept apart:
    ``str(err)`` is the message with the app's advice, ``for_cli()`` the message with the
    command line's (the CLI never tells anyone to "press ctrl+r in the app")."""

    #: CLI exit code for this kind of error (scripts can branch on it).
    exit_code = 1

    def __init__(self, message: str = "", *, app_hint: str = "", cli_hint: str = "") -> None:
        super().__init__(_with_hint(message, app_hint))
        self.plain = message
        self.app_hint = app_hint
        self.cli_hint = cli_hint

    def for_cli(self) -> str:
        if not (self.app_hint or self.cli_hint):
            return str(self)
        return _with_hint(self.plain, self.cli_hint)


def _with_hint(message: str, hint: str) -> str:
    return f"{message} {hint}" if message and hint else (message or hint)


class InvalidInput(MilvusTuiError):
    """The user typed something we can reject before asking the server."""

    exit_code = 2


class InvalidFilter(InvalidInput):
    """A filter expression the server (or our own check) cannot parse."""


class UnknownField(InvalidInput):
    """A field name that the collection's schema does not have."""


class AmbiguousField(InvalidInput):
    """More than one field could be meant; the caller must choose one."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class NotFound(MilvusTuiError):
    """A collection, database, entity or file that does not exist."""

    exit_code = 3


class NotLoaded(MilvusTuiError):
    """The collection is released; loading it is a normal, one-key fix."""

    exit_code = 4

    def __init__(self, collection: str, *, cli_hint: str | None = None) -> None:
        super().__init__(
            f"Collection '{collection}' is not loaded.", app_hint="Load it first (press l).",
            cli_hint=cli_hint if cli_hint is not None else f"Load it first: milvus-tui load {collection}",
        )
        self.collection = collection


class ServerUnavailable(MilvusTuiError):
    """The server cannot be reached, or went away mid-operation."""

    exit_code = 5


class DataDirInUse(MilvusTuiError):
    """Another process holds the Milvus Lite data directory."""

    exit_code = 5


class NotSupported(MilvusTuiError):
    """The server does not offer this feature (e.g. sparse vectors on Milvus 2.3)."""

    exit_code = 6


class OperationFailed(MilvusTuiError):
    """The server refused an operation; the message carries its own words."""


class Cancelled(MilvusTuiError):
    """The user cancelled the operation before it finished."""

    exit_code = 130


class DeleteInterrupted(Cancelled):
    """A confirmed delete stopped part-way (ctrl+c, SIGTERM, a cancel): the exact account."""

    def __init__(self, message: str, *, collection: str, requested: int, deleted: int,
                 backup_path: str | None) -> None:
        super().__init__(message)
        self.collection = collection
        self.requested = requested
        self.deleted = deleted
        self.backup_path = backup_path


class RestoreIncomplete(OperationFailed):
    """A restore stopped part-way; ``restored`` entities are back, and running it again is safe."""

    def __init__(self, message: str, *, restored: int, total: int) -> None:
        super().__init__(message)
        self.restored = restored
        self.total = total


class RestoreStopped(RestoreIncomplete, Cancelled):
    """A restore the user stopped (ctrl+c, SIGTERM, a confirmed stop) between batches."""

    exit_code = 130


class EditIncomplete(OperationFailed):
    """A confirmed edit stopped part-way: ``edited`` entities carry the new values, and the
    backup (``backup_path``) holds every previewed entity as it was, so undo puts them back."""

    def __init__(self, message: str, *, collection: str, requested: int, edited: int,
                 backup_path: str | None) -> None:
        super().__init__(message)
        self.collection = collection
        self.requested = requested
        self.edited = edited
        self.backup_path = backup_path


class EditInterrupted(EditIncomplete, Cancelled):
    """A confirmed edit the user stopped (ctrl+c, SIGTERM, a confirmed stop) between batches."""

    exit_code = 130


_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a token or key so that ``scrub`` removes it from any message."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


#: Query parameters of a URI that carry credentials.
_SECRET_PARAMS = {"token", "password", "passwd", "pwd", "secret", "api_key", "apikey", "key", "access_token"}


def uri_secrets(uri: str) -> list[str]:
    """The credentials written into a URI: the userinfo password and secret query values."""
    try:
        parts = urlsplit(uri)
        # Both spellings: an error message may quote the URI as typed or the decoded password.
        found = [parts.password, unquote(parts.password)] if parts.password else []
    except ValueError:  # not a URL (a data directory, or a malformed port): nothing to find
        return []
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in _SECRET_PARAMS and v]
    return found


def display_uri(uri: str) -> str:
    """``uri`` fit to show or store: ``http://user:***@host:19530``, secret query values ``***``.

    The one function every place that shows or writes a URI uses (status bar, history,
    audit log, backup headers). It also registers the secrets with ``scrub``, so an error
    message that echoes the URI is cleaned too.
    """
    secrets = uri_secrets(uri)
    if not secrets:
        return uri
    for secret in secrets:
        register_secret(secret)
    parts = urlsplit(uri)
    netloc = parts.netloc
    if parts.password:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS and v else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every registered secret (and ``user:password`` tokens' parts) with ***."""
    for secret in sorted({*_SECRETS, *secrets}, key=len, reverse=True):
        text = text.replace(secret, "***")
        if ":" in secret:
            for part in secret.split(":"):
                if len(part) >= 4:
                    text = text.replace(part, "***")
    return text
