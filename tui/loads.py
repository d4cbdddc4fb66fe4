"""Which collections were loaded on the app's own Milvus Lite, kept across restarts.

Milvus Lite reports every collection ``released`` after its server restarts, and the embedded
default restarts it on every start of the app, so without this a user would press ``l`` on
each start. Only collections the user loaded (or saw loaded) are remembered, and only the one
being opened is loaded again: nothing is loaded that the user did not load before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import write_private


class RememberedLoads:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key  # data directory and database; a URI with a token never gets here

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def names(self) -> set[str]:
        names = self._read().get(self.key, [])
        return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()

    def _write(self, names: set[str]) -> None:
        data = self._read()
        data[self.key] = sorted(names)
        try:
            write_private(self.path, json.dumps(data))
        except OSError:
            pass  # a read-only state dir costs the convenience, nothing else

    def remember(self, *names: str) -> None:
        known = self.names()
        if not set(names) <= known:
            self._write(known | set(names))

    def forget(self, name: str) -> None:
        known = self.names()
        if name in known:
            self._write(known - {name})


def for_lite(state_dir: Path, conn: Any) -> RememberedLoads | None:
    """The remembered loads of ``conn``'s own Milvus Lite child (the app and the CLI share
    them); None for a remote server, which keeps its load state itself."""
    lite = getattr(conn, "lite", None)
    if lite is None:
        return None
    return RememberedLoads(state_dir / "loaded.json", f"{lite.data_dir}|{conn.db_name}")
