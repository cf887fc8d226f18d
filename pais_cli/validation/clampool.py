"""A pool of clamd daemons scanning one model together.

Each daemon is asked once for what it is: its engine, the identity of its signature database,
the largest window it scans whole (clamav.establish_window) and how many streams it scans at once
(its STATS thread limit, or MaxThreads from a local config). Windows are planned at the smallest
window of the pool, so every daemon scans each one whole, and handed out from one queue to every
daemon's workers: a large file is spread over all hosts. A window counts only when its daemon's
reply proves it scanned (clamav.WindowResult.proven); a daemon's failure leaves its windows
unproven, never clean.

Daemons whose engines or signature databases differ are refused as one pool: the same bytes
must get the same verdict whichever daemon scans them.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from ..units import parse_size
from . import clamav
from .clamav import ClamdAddress, ClamdClient, ClamdConfig, ClamdVersion, Window, WindowResult


@dataclass(frozen=True)
class DaemonSpec:
    """One `--clamd` value: an address, optionally with `?window=SIZE&jobs=N&conf=PATH`."""

    address: ClamdAddress
    text: str
    window: int | None = None
    jobs: int | None = None
    conf: Path | None = None

    @classmethod
    def parse(cls, text: str) -> DaemonSpec:
        base, _, query = text.strip().partition("?")
        address = ClamdAddress.parse(base)
        window = jobs = None
        conf = None
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "window":
                window = parse_size(value, "window")
            elif key == "jobs" and value.isdigit() and int(value) > 0:
                jobs = int(value)
            elif key == "conf" and value:
                conf = Path(value)
            else:
                raise ValueError(f"invalid clamd option {key}={value!r} in {text!r}: "
                                 "use window=SIZE, jobs=N or conf=PATH")
        return cls(address, base, window, jobs, conf)


@dataclass
class Daemon:
    client: ClamdClient
    version: ClamdVersion
    config: ClamdConfig | None
    jobs: int
    database_id: str | None  # None: the database cannot be identified, so results are not cached
    planned: int | None  # the window its config or the options name, before the canary confirms it
    window: Window | None = None  # established by ready(), only when something is to be scanned
    option: int | None = None

    @property
    def max_scan_time_ms(self) -> int:
        return self.config.max_scan_time_ms if self.config else clamav.DEFAULT_MAX_SCAN_TIME_MS

    def ready(self) -> Window:
        """The window this daemon scans whole, proven with the canary (once per process)."""
        if self.window is None:
            self.window = clamav.establish_window(self.client, self.config, self.option)
        return self.window


_db_ids: dict[tuple[str, ...], str] = {}
_db_lock = threading.Lock()


def database_identity(version: ClamdVersion, config: ClamdConfig | None) -> str | None:
    """The official database's version where clamd reports one; else a hash of the database
    directory of a local daemon (names and contents); else None."""
    if version.database:
        return f"{version.engine}/{version.database}/{version.database_date or ''}"
    if config is None or not config.database_directory:
        return None
    directory = Path(config.database_directory)
    try:
        entries = sorted(p for p in directory.iterdir() if p.is_file())
        stamp = tuple(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in entries)
    except OSError:
        return None
    with _db_lock:  # hashing the official databases (~300 MB) is worth doing once per process
        if (cached := _db_ids.get(stamp)) is not None:
            return cached
        h = hashlib.sha256(version.engine.encode())
        try:
            for p in entries:
                h.update(p.name.encode() + b"\0")
                with p.open("rb") as f:
                    while data := f.read(clamav.FRAME):
                        h.update(data)
        except OSError:
            return None
        _db_ids[stamp] = identity = f"{version.engine}/sha256:{h.hexdigest()}"
        return identity


def connect(spec: DaemonSpec, conf_hint: Path | None, window_option: int | None, jobs_cap: int | None) -> Daemon:
    """What the pool needs to know of one daemon, cheaply (no scan yet). Raises clamav.ClamdError."""
    client = ClamdClient(spec.address)
    client.ping()
    version = client.version()
    config = clamav.find_local_config(spec.address, spec.conf or conf_hint)
    threads = client.max_threads() or (config.max_threads if config else clamav.DEFAULT_REMOTE_JOBS)
    if spec.address.is_loopback:
        threads = min(threads, os.cpu_count() or 2)  # a local daemon's threads share this machine's cores
    for cap in (spec.jobs, jobs_cap):
        if cap:
            threads = min(threads, cap)
    option = spec.window or window_option
    planned = (config.window() if config is not None and (option is None or option >= config.window())
               else option)
    return Daemon(client, version, config, max(1, threads), database_identity(version, config), planned or None,
                  option=option)


def mismatch(daemons: list[Daemon]) -> str | None:
    """Why these daemons cannot be one pool, or None."""
    engines = {d.version.engine for d in daemons}
    if len(engines) > 1:
        return "engines differ: " + ", ".join(f"{d.client.address} runs {d.version.engine}" for d in daemons)
    known = {d.database_id for d in daemons if d.database_id is not None}
    if len(known) > 1:
        return "signature databases differ: " + ", ".join(
            f"{d.client.address} has {d.database_id or 'an unidentified database'}" for d in daemons)
    return None


def scan_pool(daemons: list[Daemon], files: list[tuple[Path, int]], window: int, overlap: int,
              on_window: Callable[[int, int, int], None] | None = None) -> list[WindowResult]:
    """Every window of every file, spread over every daemon's workers. `on_window(file, offset, length)`
    is called as each window is answered (for progress)."""
    work: queue.SimpleQueue[tuple[int, int, int]] = queue.SimpleQueue()
    count = 0
    for i, (_, size) in enumerate(files):
        for off, length in clamav.plan_windows(size, window, overlap):
            work.put((i, off, length))
            count += 1
    results: list[WindowResult] = []
    lock = threading.Lock()

    def worker(daemon: Daemon) -> None:
        buf = bytearray(clamav.FRAME)
        while True:
            try:
                index, offset, length = work.get_nowait()
            except queue.Empty:
                return
            result = clamav.scan_window(daemon.client, files[index][0], index, offset, length, buf,
                                        daemon.max_scan_time_ms)
            with lock:
                results.append(result)
            if on_window is not None:
                on_window(index, offset, length)

    threads = [threading.Thread(target=worker, args=(d,), name=f"clamd-{n}-{j}", daemon=True)
               for n, d in enumerate(daemons) for j in range(min(d.jobs, count) or 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
