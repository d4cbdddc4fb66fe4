"""Connections: the embedded Lite child or a server URL, with sync and async clients.

``MilvusConnection`` owns everything needed to talk to one Milvus: the Lite child
process (when the URI is a local path), a sync ``MilvusClient`` for thread workers and
scripts, and an ``AsyncMilvusClient`` for the event loop. The async client binds its
gRPC channel to the first loop it runs on, so it is created lazily on the running loop
and refuses (clearly) to be used from another.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Any

from . import expr as exprs
from . import ops
from ..errors import MilvusTuiError, NotFound, ServerUnavailable, display_uri, register_secret
from .errors import translate
from .lite import LiteServer

REMOTE_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")



def quiet_pymilvus() -> None:
    """pymilvus logs every failed RPC with a traceback to stderr, which would draw over a
    full-screen app and could echo request details; we report errors ourselves. It sets
    its logger up on import, so this runs after the import."""
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)


def import_pymilvus() -> None:
    import pymilvus  # noqa: F401

    quiet_pymilvus()


#: No keepalive pings on idle connections. pymilvus pings every 10 s even with no call in
#: flight; Milvus Lite's gRPC server allows one ping per 5 minutes without data and answers
#: with GOAWAY "too_many_pings" after a minute or so of idling, and a call (or the async
#: client's first handshake) racing that GOAWAY failed as "server not answering" (seen in
#: the test suite). Pings during calls still detect a dead server; timeouts do the rest.
GRPC_OPTIONS = {"grpc.keepalive_permit_without_calls": 0}


def is_local(uri: str) -> bool:
    """A URI that names a local data directory (the embedded Milvus Lite default)."""
    return not uri.startswith(REMOTE_SCHEMES)


@functools.cache
def sync_client_class() -> type:
    """``MilvusClient`` plus ``alloc_timestamp``, which pymilvus has only on its handler."""
    from pymilvus import MilvusClient

    class Client(MilvusClient):  # type: ignore[misc]
        def alloc_timestamp(self, timeout: float | None = None) -> int:
            """A fresh timestamp from the server's timestamp oracle (AllocTimestamp): reads
            that carry it as their guarantee see every write acknowledged before it. 0 when
            the server does not implement the call (Milvus Lite 3; pymilvus ignores it)."""
            return int(self._get_connection().alloc_timestamp(timeout=timeout) or 0)

    return Client


@dataclass(frozen=True)
class ServerInfo:
    kind: str  # "Milvus Lite (embedded)", "Milvus server" or "Zilliz Cloud"
    uri: str  # what the user typed, with any password or token in it masked
    db_name: str
    version: str


class MilvusConnection:
    """One Milvus endpoint and the clients that talk to it."""

    def __init__(self, uri: str, *, token: str | None = None, db_name: str = "default",
                 timeout: float = 30.0, startup_timeout: float = 60.0) -> None:
        self.uri = uri
        self.db_name = db_name or "default"
        self.timeout = timeout
        self._token = token or None
        register_secret(self._token)
        #: the URI to show or store: a password or token written into it is masked (and
        #: registered with ``scrub``, so errors quoting the URI are cleaned too).
        self.display_uri = display_uri(uri)
        self.lite: LiteServer | None = LiteServer(uri, startup_timeout=startup_timeout) if is_local(uri) else None
        self._client: Any = None
        self._aclient: Any = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        #: What the server said its version is when last opened ("" before): whether the driver
        #: sends filter templates as they are depends on it.
        self.server_version = ""

    def __repr__(self) -> str:
        return f"MilvusConnection(uri={self.display_uri!r}, db_name={self.db_name!r})"
    def sibling(self, db_name: str) -> MilvusConnection:
        """A connection to another database of the same server (for Lite: the same child)."""
        other = MilvusConnection(self.endpoint, token=self._token, db_name=db_name, timeout=self.timeout)
        other.open()
        return other

    @property
    def kind(self) -> str:
        if self.lite is not None:
            return "Milvus Lite (embedded)"
        if "zillizcloud.com" in self.uri or "zilliz.com" in self.uri:
            return "Zilliz Cloud"
        return "Milvus server"

    @property
    def endpoint(self) -> str:
        """The address clients dial: the Lite child's URL or the user's URI."""
        if self.lite is not None:
            if not self.lite.running:
                raise ServerUnavailable("The embedded Milvus Lite server is not running.")
            return self.lite.uri
        return self.uri

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> ServerInfo:
        """Start the Lite child if needed, connect, and check the server answers (blocking)."""
        if self.lite is not None and not self.lite.running:
            self.lite.spawn()
        if self.lite is not None and not self.lite.ready:
            # Spawned here or earlier (``lite.spawn()`` before the UI loads): pymilvus takes
            # ~0.5 s to import, so do it while the child boots, not after.
            try:
                import_pymilvus()
            except BaseException:
                self.lite.stop()
                raise
            self.lite.wait_ready()
        try:
            version = self.client.get_server_version()
            if self.db_name != "default" and self.db_name not in self.client.list_databases():
                raise NotFound(f"Database '{self.db_name}' does not exist on {self.display_uri}.")
        except MilvusTuiError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from None
        self.server_version = str(version)
        return ServerInfo(self.kind, self.display_uri, self.db_name, str(version))

    def reconnect(self) -> ServerInfo:
        """Drop clients and (for Lite) restart a dead child, then open again."""
        self.close_clients()
        if self.lite is not None and self.lite.running:
            # A child killed a moment ago still looks alive until the kernel reaps it, and a
            # hung one never stops looking alive: when ours does not answer, restart it.
            try:
                return self.open()
            except ServerUnavailable:
                self.close_clients()
                self.lite.stop()
        elif self.lite is not None:
            self.lite.stop()
        return self.open()

    def use_database(self, db_name: str) -> ServerInfo:
        """Switch to another database on the same server (the Lite child keeps running)."""
        previous = self.db_name
        self.close_clients()
        self.db_name = db_name or "default"
        try:
            return self.open()
        except MilvusTuiError:
            self.close_clients()
            self.db_name = previous
            raise

    def close_clients(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        # The async client is closed by ``aclose`` on its own loop; here we just drop it.
        self._aclient = None
        self._aclient_loop = None

    def close(self) -> None:
        """Close clients and stop the Lite child. Safe to call more than once."""
        self.close_clients()
        if self.lite is not None:
            self.lite.stop()

    async def aclose(self) -> None:
        aclient, self._aclient = self._aclient, None
        if aclient is not None:
            with contextlib.suppress(Exception):
                await aclient.close()
        self._aclient_loop = None

    # -- clients -------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            client_class = sync_client_class()
            quiet_pymilvus()
            try:
                self._client = client_class(
                    uri=self.endpoint, token=self._token or "", db_name=self.db_name,
                    timeout=self.timeout, grpc_options=dict(GRPC_OPTIONS),
                )
            except Exception as exc:  # noqa: BLE001
                raise translate(exc) from None
        return self._client

    @property
    def aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._aclient is not None and self._aclient_loop is not loop:
            raise MilvusTuiError(
                "The async Milvus client belongs to another event loop; "
                "create one MilvusConnection per loop."
            )
        if self._aclient is None:
            from pymilvus import AsyncMilvusClient

            quiet_pymilvus()
            self._aclient = AsyncMilvusClient(
                uri=self.endpoint, token=self._token or "", db_name=self.db_name,
                timeout=self.timeout, grpc_options=dict(GRPC_OPTIONS),
            )
            self._aclient_loop = loop
        return self._aclient

    # -- running operations --------------------------------------------------------

    def _ctx(self, ctx: ops.Context | None) -> ops.Context:
        ctx = ctx or ops.Context()
        ctx.filter_templates = exprs.templates_supported(self.server_version)
        return ctx

    def run(self, op: ops.Op[ops.T], ctx: ops.Context | None = None) -> ops.T:
        return ops.run(self.client, op, self._ctx(ctx))

    async def arun(self, op: ops.Op[ops.T], ctx: ops.Context | None = None) -> ops.T:
        return await ops.arun(self.aclient, op, self._ctx(ctx), sync_client=self.client)

    def __enter__(self) -> MilvusConnection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
