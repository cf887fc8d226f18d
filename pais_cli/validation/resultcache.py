"""Check results remembered by content, so the same bytes are judged once.

A key is a hash of everything that decided a result: the check, what it looked at (a file's
digest, or every path and digest of the model for checks that look across files), and the exact
version of the judge (the rule-set version, picklescan's version, ClamAV's engine and the
identity of its signature database, the options). Change any of those and the key changes, so a
new rule or a new signature is never hidden by an old pass.

What may be stored is decided by the caller, never here: only results that prove something
(a file scanned whole, clean or not); "not scanned" and internal errors are never stored.

One SQLite file in the cache directory, shared by concurrent processes (WAL, a busy timeout);
bounded by entries, the least recently used going first. A cache that cannot be opened or
written degrades to no cache, never to an error: it can only save work, never decide a verdict.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .report import Finding, has_error

if TYPE_CHECKING:
    from ..modeldir.snapshot import SnapshotFile

MAX_ENTRIES = 200_000  # a 405B model has ~200 shards; this holds thousands of models' results
BUSY_TIMEOUT_S = 10.0


def cache_key(check: str, subject: Any, judge: dict[str, Any]) -> str:
    """A stable key: sha256 over canonical JSON of the check, its subject and its judge."""
    text = json.dumps({"check": check, "subject": subject, "judge": judge}, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Thread-safe and process-safe. `path=None` keeps results for this process only."""

    def __init__(self, path: Path | None = None, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path if path is not None else ":memory:", check_same_thread=False,
                                 timeout=BUSY_TIMEOUT_S, isolation_level=None)
            if path is not None:
                self._wal(db)
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, check_name TEXT NOT NULL, "
                       "payload TEXT NOT NULL, used REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS results_used ON results(used)")
            self._db = db
        except (OSError, sqlite3.Error):
            self._db = None

    @staticmethod
    def _wal(db: sqlite3.Connection) -> None:
        """Readers never wait for a writer in another process. Switching needs a moment alone
        with the file, which a process starting at the same time may hold: retry briefly."""
        for _ in range(50):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                time.sleep(0.02)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored payloads of those keys that have one; marks them used."""
        wanted = list(dict.fromkeys(keys))
        if self._db is None or not wanted:
            return {}
        found: dict[str, Any] = {}
        with self._lock:
            try:
                for i in range(0, len(wanted), 500):
                    part = wanted[i:i + 500]
                    marks = ",".join("?" * len(part))
                    for key, payload in self._db.execute(
                            f"SELECT key, payload FROM results WHERE key IN ({marks})", part):
                        found[key] = json.loads(payload)
                if found:
                    now = time.time()
                    self._db.executemany("UPDATE results SET used=? WHERE key=?", [(now, k) for k in found])
            except (sqlite3.Error, ValueError):
                return {}
        return found

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def put_many(self, check: str, items: dict[str, Any]) -> None:
        if self._db is None or not items:
            return
        now = time.time()
        try:
            rows = [(key, check, json.dumps(payload, sort_keys=True), now) for key, payload in items.items()]
        except (TypeError, ValueError):
            return  # a result that does not round-trip is judged again next time, never lost
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?)", rows)
                (count,) = self._db.execute("SELECT COUNT(*) FROM results").fetchone()
                if count > self.max_entries:
                    self._db.execute("DELETE FROM results WHERE key IN (SELECT key FROM results ORDER BY used "
                                     "LIMIT ?)", (count - self.max_entries,))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass

    def put(self, check: str, key: str, payload: Any) -> None:
        self.put_many(check, {key: payload})

    def entries(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])


class FileResults:
    """One check's per-file results through the cache, for one snapshot.

    A file is looked up by its path and digest (some rules go by the name) under `judge`, and only
    when its digest was computed from its bytes just now (`fresh`): a digest taken from the digest
    cache proves nothing about the bytes. What the check learns is stored by `save`."""

    def __init__(self, cache: ResultCache | None, check: str, files: Iterable[Any], judge: dict[str, Any]) -> None:
        self.cache = cache
        self.check = check
        self._keys = {f.path: cache_key(check, [f.path, f.digest], judge) for f in files if f.fresh} if cache is not None else {}
        self._known = cache.get_many(self._keys.values()) if cache is not None else {}
        self._learnt: dict[str, Any] = {}
        self.from_cache: list[str] = []

    def known(self, path: str) -> Any | None:
        """The stored result for the file at `path`, recorded as coming from the cache."""
        key = self._keys.get(path)
        payload = self._known.get(key) if key is not None else None
        if payload is not None:
            self.from_cache.append(path)
        return payload

    def learn(self, path: str, payload: Any, errors: bool) -> None:
        """Keep a file's result unless it found an error: a read failure or a time budget hit
        depends on the machine, and a failure is cheap to find again."""
        if path in self._keys and not errors:
            self._learnt[self._keys[path]] = payload

    def save(self) -> None:
        if self.cache is not None:
            self.cache.put_many(self.check, self._learnt)


class PerFileResult(Protocol):
    """A check's result for one file, in the form the cache keeps."""

    findings: list[Finding]

    def to_json(self) -> dict[str, Any]: ...


J = TypeVar("J", bound=PerFileResult)


def judge_each(files: Iterable[SnapshotFile], known: FileResults | None, judge: Callable[[SnapshotFile], J],
               load: Callable[[Any], J]) -> dict[str, J]:
    """Each file's result by path, in the files' order: from the cache where `known` holds it
    (`load` reads it back), else judged now and learnt; what was learnt is saved at the end."""
    judged: dict[str, J] = {}
    for entry in files:
        payload = known.known(entry.path) if known is not None else None
        if payload is not None:
            judged[entry.path] = load(payload)
            continue
        judged[entry.path] = result = judge(entry)
        if known is not None:
            known.learn(entry.path, result.to_json(), has_error(result.findings))
    if known is not None:
        known.save()
    return judged
