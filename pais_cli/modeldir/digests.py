"""File digests, computed once and remembered.

A small SQLite cache keyed by (path, size, mtime, inode, ctime) lets a re-push skip hashing
files that did not change. Any change to a file changes one of those and misses the cache.
Without a path (a library caller that named no cache) it lives in memory for this process.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

HASH_CHUNK = 4 * 1024 * 1024


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return "sha256:" + h.hexdigest()


class DigestCache:
    """Thread-safe; a cache that cannot be opened degrades to no cache, never to an error."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path if path is not None else ":memory:", check_same_thread=False, timeout=5)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, digest TEXT)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error):
            self._db = None

    def _key(self, path: Path) -> tuple[str, int, int, int, int]:
        st = path.stat()
        return str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino

    def lookup(self, path: Path) -> str | None:
        if self._db is None:
            return None
        key = self._key(path)
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM digests WHERE path=? AND size=? AND mtime_ns=? AND ctime_ns=? AND inode=?", key
            ).fetchone()
        return row[0] if row else None

    def store(self, path: Path, digest: str, key: tuple[str, int, int, int, int]) -> None:
        if self._db is None:
            return
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?)", (*key, digest))
                self._db.commit()
            except sqlite3.Error:
                pass

    def remember(self, path: Path, digest: str) -> None:
        """Record a digest proven some other way (verified while it was written)."""
        self.store(path, digest, self._key(path))

    def digest(self, path: Path) -> str:
        cached = self.lookup(path)
        if cached:
            return cached
        return self.rehash(path)

    def rehash(self, path: Path) -> str:
        """The digest computed from the bytes now, remembered for the next lookup."""
        key = self._key(path)
        digest = hash_file(path)
        # Only remember the digest if the file did not change while we read it.
        if self._key(path) == key:
            self.store(path, digest, key)
        return digest
