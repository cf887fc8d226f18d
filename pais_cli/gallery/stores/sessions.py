"""Open upload sessions, remembered across runs so the next push continues a blob where the
last one stopped instead of sending it again.

One small JSON file (in the cache directory the caller names), changed under an exclusive lock
and by rename, keyed by registry host, repository and blob digest. A session location carries
the registry's upload state, never credentials; the file is private to the user all the same.
Without a path the sessions live in memory, for this process only.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_AGE_S = 7 * 24 * 3600  # registries expire upload sessions; a week-old one is not worth a request


@dataclass(frozen=True)
class UploadSession:
    location: str  # the newest Location the registry gave
    offset: int  # bytes the registry acknowledged


class UploadSessions:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(host: str, repository: str, digest: str) -> str:
        return f"{host}/{repository}@{digest}"

    def get(self, key: str) -> UploadSession | None:
        with self._locked() as entries:
            entry = entries.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str) or not isinstance(entry.get("offset"), int):
            return None
        return UploadSession(entry["location"], entry["offset"])

    def put(self, key: str, session: UploadSession) -> None:
        with self._locked(write=True) as entries:
            entries[key] = {"location": session.location, "offset": session.offset, "updated": int(time.time())}

    def drop(self, key: str) -> None:
        with self._locked(write=True) as entries:
            entries.pop(key, None)

    @contextmanager
    def _locked(self, write: bool = False) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self.path is None:
                yield self._memory
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock = (self.path.parent / f".{self.path.name}.lock").open("a")
            except OSError:
                yield {}  # an unwritable cache only costs resumption, never the push
                return
            with lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                entries = self._read()
                yield entries
                if write:
                    self._write(entries)

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            found = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(found, dict):
            return {}
        now = time.time()
        return {k: v for k, v in found.items() if isinstance(v, dict) and now - v.get("updated", 0) < MAX_AGE_S}

    def _write(self, entries: dict[str, Any]) -> None:
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(entries, sort_keys=True).encode())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
