"""One implementation, two ways to run it: the sans-IO operation driver.

Every data-layer operation is written once, as a generator that *yields* requests
(``Call`` a Milvus method, ``Embed`` some texts, run ``Blocking`` file I/O, report
``Progress``) and receives their results. ``run`` drives it with the sync
``MilvusClient`` (for thread workers and scripts); ``arun`` drives the same generator
with ``AsyncMilvusClient`` on the running event loop. So the sync and async forms can
never drift apart, and the timing panel compares like with like.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..errors import Cancelled, InvalidInput, MilvusTuiError, NotFound, OperationFailed
from . import expr as exprs
from .errors import translate

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """Ask the driver to call ``client.<method>(**kwargs)``."""

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: context for error messages: the collection and filter involved, if any.
    collection: str | None = None
    expr: str | None = None
    #: Milvus Lite's async server cannot create collections or indexes (UNIMPLEMENTED
    #: AllocTimestamp), so such calls go to the sync client, in a thread, in async mode.
    sync_only: bool = False
    #: the operation receives the server's refusal (a ``MilvusTuiError``) as the call's value
    #: instead of having it raised, for a question whose "no" is an answer (does this alias exist?).
    soft: bool = False


@dataclass(frozen=True)
class Embed:
    """Ask the driver to embed texts with the operation's embedding model."""

    texts: list[str]
    query: bool = False


@dataclass(frozen=True)
class Blocking:
    """Run a blocking function (file I/O, fsync) off the event loop in async mode."""

    fn: Callable[[], Any]


@dataclass(frozen=True)
class Sleep:
    """Wait between polls (``time.sleep`` in sync mode, ``asyncio.sleep`` in async)."""

    seconds: float


@dataclass(frozen=True)
class Progress:
    """Report progress; ``total`` is None when it cannot be known."""

    done: int
    total: int | None
    what: str = ""


Op = Generator[Any, Any, T]
ProgressCallback = Callable[[Progress], None]


class Embedder(Protocol):
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...
    def embed_query(self, text: str) -> list[float]: ...
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]: ...
    async def aembed_query(self, text: str) -> list[float]: ...


@dataclass
class Context:
    """What a driver needs besides the client: embeddings, progress and cancel hooks."""

    embeddings: Embedder | None = None
    on_progress: ProgressCallback | None = None
    #: polled between steps in sync mode; async mode is cancelled by task cancellation.
    is_cancelled: Callable[[], bool] | None = None
    #: The server takes filter templates (``filter_params``); without them the driver renders
    #: each template into quoted literals before sending (``expr.render``).
    filter_templates: bool = False


def with_templates(kwargs: dict[str, Any], supported: bool) -> dict[str, Any]:
    """A call's arguments as this server takes them: filter templates sent as they are where it
    takes them, rendered where not (in ``filter`` and in each hybrid part's ``expr``)."""
    if supported:
        return kwargs
    out = kwargs
    if "filter_params" in kwargs:
        out = dict(kwargs)
        params = out.pop("filter_params") or {}
        out["filter"] = exprs.render(out.get("filter") or "", params)
    reqs = out.get("reqs")
    if reqs and any(getattr(r, "expr_params", None) for r in reqs):
        from pymilvus import AnnSearchRequest

        out = dict(out)
        out["reqs"] = [AnnSearchRequest(data=r.data, anns_field=r.anns_field, param=r.param, limit=r.limit,
                                        expr=exprs.render(r.expr or "", r.expr_params) or None)
                       if getattr(r, "expr_params", None) else r for r in reqs]
    return out


def _no_embeddings() -> MilvusTuiError:
    return MilvusTuiError("This operation needs an embedding model, and none is configured.")


def run(client: Any, op: Op[T], ctx: Context | None = None) -> T:
    """Drive ``op`` with a sync ``MilvusClient``.

    ctrl+c (KeyboardInterrupt) arrives while the driver waits on the server, outside the
    operation; it is raised inside the operation, so an interrupted delete can account for
    what it did (and write its audit record) before the CLI reports and exits."""
    ctx = ctx or Context()
    send: Any = None
    while True:
        try:
            request = op.send(send)
        except StopIteration as stop:
            return stop.value
        # Checked after the last answer went into the operation, not before: a delete batch
        # the server applied is then counted in its report and audit record.
        if ctx.is_cancelled and ctx.is_cancelled():
            op.close()
            raise Cancelled("Cancelled.")
        try:
            send = _step(client, op, request, ctx)
        except KeyboardInterrupt as exc:
            _throw(op, exc)


def _step(client: Any, op: Op[Any], request: Any, ctx: Context) -> Any:
    """Carry out one request of ``op``; returns what to send back into it."""
    if isinstance(request, Call):
        try:
            return getattr(client, request.method)(**with_templates(request.kwargs, ctx.filter_templates))
        except Exception as exc:  # noqa: BLE001 - every pymilvus/grpc error is translated
            error = translate(exc, collection=request.collection, expr=request.expr)
            if request.soft:
                return error  # the operation asked for the refusal as an answer
            _throw(op, error)
    elif isinstance(request, Embed):
        if ctx.embeddings is None:
            _throw(op, _no_embeddings())
        with _retries_reported(ctx):
            return (
                [ctx.embeddings.embed_query(request.texts[0])]
                if request.query
                else ctx.embeddings.embed_documents(request.texts)
            )
    elif isinstance(request, Blocking):
        try:
            return request.fn()
        except Exception as exc:  # noqa: BLE001 - file errors become user-facing errors
            _throw(op, file_error(exc))
    elif isinstance(request, Sleep):
        time.sleep(request.seconds)
    elif isinstance(request, Progress):
        if ctx.on_progress:
            ctx.on_progress(request)
    else:  # pragma: no cover - a programming error in an operation
        raise TypeError(f"unknown request {request!r}")
    return None


async def arun(aclient: Any, op: Op[T], ctx: Context | None = None, sync_client: Any = None) -> T:
    """Drive ``op`` with an ``AsyncMilvusClient`` on the running loop."""
    ctx = ctx or Context()
    send: Any = None
    while True:
        try:
            request = op.send(send)
        except StopIteration as stop:
            return stop.value
        # A stop asked for between steps (never mid-call), after the last answer went in, as in
        # ``run``: the operation's account is exact.
        if ctx.is_cancelled and ctx.is_cancelled():
            op.close()
            raise Cancelled("Cancelled.")
        if isinstance(request, Call):
            try:
                kwargs = with_templates(request.kwargs, ctx.filter_templates)
                if request.sync_only and sync_client is not None:
                    method = getattr(sync_client, request.method)
                    send = await asyncio.to_thread(method, **kwargs)
                else:
                    send = await getattr(aclient, request.method)(**kwargs)
            except asyncio.CancelledError:
                _close_quietly(op)
                raise
            except Exception as exc:  # noqa: BLE001
                send = translate(exc, collection=request.collection, expr=request.expr)
                if not request.soft:
                    error, send = send, None
                    _throw(op, error)
        elif isinstance(request, Embed):
            if ctx.embeddings is None:
                _throw(op, _no_embeddings())
            with _retries_reported(ctx):
                send = (
                    [await ctx.embeddings.aembed_query(request.texts[0])]
                    if request.query
                    else await ctx.embeddings.aembed_documents(request.texts)
                )
        elif isinstance(request, Blocking):
            try:
                send = await asyncio.to_thread(request.fn)
            except asyncio.CancelledError:
                _close_quietly(op)
                raise
            except Exception as exc:  # noqa: BLE001
                send = None
                _throw(op, file_error(exc))
        elif isinstance(request, Sleep):
            send = await asyncio.sleep(request.seconds)
        elif isinstance(request, Progress):
            send = None
            if ctx.on_progress:
                ctx.on_progress(request)
        else:  # pragma: no cover
            raise TypeError(f"unknown request {request!r}")


def file_error(exc: BaseException) -> BaseException:
    """A file operation's failure (a path the user typed, a backup being written or read) as
    a sentence: which file, and what the system said. Other errors pass through unchanged."""
    if isinstance(exc, MilvusTuiError):
        return exc
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        kind = (NotFound if isinstance(exc, FileNotFoundError)
                else InvalidInput if isinstance(exc, (IsADirectoryError, NotADirectoryError, PermissionError,
                                                      FileExistsError))
                else OperationFailed)  # e.g. the disk is full
        return kind(f"Cannot use the file{where}: {exc.strerror or exc}.")
    if isinstance(exc, UnicodeError):
        return InvalidInput(f"The file is not UTF-8 text ({exc}).")
    if isinstance(exc, ValueError) and "null" in str(exc):  # a NUL in a path
        return InvalidInput("The file name contains a NUL character.")
    return exc


@contextlib.contextmanager
def _retries_reported(ctx: Context) -> Iterator[None]:
    """While embedding, announce the provider's retries as progress ("HTTP 500; retry 1/2")."""
    if ctx.on_progress is None:
        yield
        return
    from ..embeddings import RETRY_LISTENER

    report = ctx.on_progress
    token = RETRY_LISTENER.set(lambda text: report(Progress(0, None, text)))
    try:
        yield
    finally:
        RETRY_LISTENER.reset(token)


def _close_quietly(op: Op[Any]) -> None:
    """Close an operation whose task was cancelled: CancelledError must stay what propagates
    (a delete answers a close with DeleteInterrupted, its account, already in the audit log)."""
    with contextlib.suppress(MilvusTuiError):
        op.close()


def _throw(op: Op[Any], error: BaseException) -> None:
    """Raise ``error`` inside the operation so it may clean up, then out of the driver."""
    try:
        op.throw(error)
    except StopIteration:
        pass
    raise error


class Timer:
    """Wall-clock timing for a result's ``elapsed`` field."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
