"""Query history per connection, kept across restarts in the state directory.

Keys name the connection by URI and database only, never by token, and the file is
owner-only because queries can contain data.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import write_private

MAX_ENTRIES = 200


class History:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.entries: list[dict[str, str]] = self._read().get(key, [])
        #: per mode: how far back up/down has gone (None = at the newest, not browsing).
        self._cursors: dict[str, int | None] = {}

    def _read(self) -> dict[str, list[dict[str, str]]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def add(self, mode: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        entry = {"mode": mode, "text": text}
        self.entries = [e for e in self.entries if e != entry] + [entry]
        self.entries = self.entries[-MAX_ENTRIES:]
        self._cursors.clear()
        data = self._read()
        data[self.key] = self.entries
        try:
            write_private(self.path, json.dumps(data, ensure_ascii=False, indent=1))
        except OSError:
            pass  # history is a convenience; never fail a query over it

    def older(self, mode: str) -> str | None:
        return self._step(mode, -1)

    def newer(self, mode: str) -> str | None:
        return self._step(mode, +1)

    def _step(self, mode: str, direction: int) -> str | None:
        texts = [e["text"] for e in self.entries if e["mode"] == mode]
        if not texts:
            return None
        cursor = self._cursors.get(mode)
        if cursor is None:
            cursor = len(texts)
        cursor = max(0, min(len(texts), cursor + direction))
        self._cursors[mode] = cursor
        return texts[cursor] if cursor < len(texts) else ""

    def reset(self) -> None:
        self._cursors.clear()
